#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Assemble, configure and build QEMU with the series on a base ($BASE:
# stable or dev): qemu-system-x86_64, the series' qtests and its unit
# test, in build/qemu-build (stable) or build/qemu-build-dev.

set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
. "$here/apt-env.sh"
vdp_base_select

tree=$("$here/assemble.sh")
"$here/configure.sh" "$tree"
bdir=$repo/build/qemu-build$VDP_SUFFIX
mapfile -t targets < <("$here/qtests.sh" | sed 's|^|tests/qtest/|')
targets=(qemu-system-x86_64 "${targets[@]}" tests/unit/test-vhost-dp-ring)
vdp_say "building QEMU $(cat "$tree/VERSION") ($VDP_BASE base) as needed" \
        "in ${bdir#"$repo"/} (ninja -j${NINJA_JOBS:-$(nproc)})"
"$here/ninja-build.sh" "build ($VDP_BASE)" "$bdir" "${targets[@]}"
"$here/firmware.sh" "$bdir"
