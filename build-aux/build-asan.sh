#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Build the sanitizer QEMU that make check runs the series' qtests and
# its ring-core unit test on again: the assembled tree (build/qemu-src,
# see assemble.sh) configured like build/qemu-build plus --enable-asan
# --enable-ubsan, with UBSan aborting on its first report
# (-fno-sanitize-recover=undefined, as QEMU's own clang-system CI job
# does), in build/qemu-build-asan.  Its objects differ from the main
# build's, but ccache keeps them too, so a rebuild after a fresh clone is
# mostly cache hits.
#
# Prints what it builds, a progress line every minute while ninja runs,
# and the ninja count at the end; the full log is ninja.log there.

set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
. "$here/apt-env.sh"
# the stable tree (build/qemu-src) is the one built with sanitizers
export BASE=stable

bdir=${VDP_ASAN_BUILD_DIR:-$repo/build/qemu-build-asan}
jobs=${NINJA_JOBS:-$(nproc)}
rel=${bdir#"$repo"/}
tree=$(readlink -f "$repo/build/qemu-src" 2>/dev/null) && [ -d "$tree" ] ||
    vdp_die "no assembled tree in build/qemu-src: run make build first"

VDP_BUILD_DIR=$bdir \
VHOST_DP_CONFIGURE_EXTRA="${VHOST_DP_CONFIGURE_EXTRA:-} --enable-asan
    --enable-ubsan --extra-cflags=-fno-sanitize-recover=undefined" \
    "$here/configure.sh" "$tree"

mapfile -t targets < <("$here/qtests.sh" | sed 's|^|tests/qtest/|')
targets=(qemu-system-x86_64 "${targets[@]}" tests/unit/test-vhost-dp-ring)
vdp_say "building the ASan+UBSan QEMU as needed in $rel (ninja -j$jobs):" \
        "${targets[*]}"

"$here/ninja-build.sh" "ASan build" "$bdir" "${targets[@]}"
"$here/firmware.sh" "$bdir"
