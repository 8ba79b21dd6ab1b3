#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Build the sanitizer QEMU that make check runs the series' qtests and
# its split-ring unit test on again: the assembled tree (build/qemu-src,
# see assemble.sh) configured like build/qemu-build plus --enable-asan
# --enable-ubsan, with UBSan aborting on its first report
# (-fno-sanitize-recover=undefined, as QEMU's own clang-system CI job
# does), in build/qemu-build-asan.  Its objects differ from the main
# build's, but ccache keeps them too, so a rebuild after a fresh clone is
# mostly cache hits.
#
# Prints what it builds, a progress line every two minutes while ninja
# runs, and the ninja count at the end; the full log is ninja.log there.

set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
. "$here/apt-env.sh"

bdir=${VDP_ASAN_BUILD_DIR:-$repo/build/qemu-build-asan}
jobs=${NINJA_JOBS:-$(nproc)}
tree=$(readlink -f "$repo/build/qemu-src" 2>/dev/null) && [ -d "$tree" ] ||
    vdp_die "no assembled tree in build/qemu-src: run make build first"

VDP_BUILD_DIR=$bdir \
VHOST_DP_CONFIGURE_EXTRA="${VHOST_DP_CONFIGURE_EXTRA:-} --enable-asan
    --enable-ubsan --extra-cflags=-fno-sanitize-recover=undefined" \
    "$here/configure.sh" "$tree"

mapfile -t targets < <("$here/qtests.sh" | sed 's|^|tests/qtest/|')
targets=(qemu-system-x86_64 "${targets[@]}" tests/unit/test-vhost-dp-ring)
rel=${bdir#"$repo"/}
vdp_say "building the ASan+UBSan QEMU as needed in $rel (ninja -j$jobs):" \
        "${targets[*]}"

start=$(date +%s)
(cd "$bdir" && exec nice ninja -j"$jobs" "${targets[@]}") \
    > "$bdir/ninja.log" 2>&1 &
pid=$!
while kill -0 "$pid" 2>/dev/null; do
    for _ in $(seq 120); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 1
    done
    if kill -0 "$pid" 2>/dev/null; then
        step=$(grep -o '^\[[0-9]*/[0-9]*\]' "$bdir/ninja.log" | tail -n 1)
        vdp_say "ASan build: ${step:-starting}," \
                "$(( $(date +%s) - start )) s so far"
    fi
done
rc=0
wait "$pid" || rc=$?
secs=$(( $(date +%s) - start ))
if [ $rc -ne 0 ]; then
    if grep -q '^FAILED: ' "$bdir/ninja.log"; then
        grep -A12 '^FAILED: ' "$bdir/ninja.log" | head -60 >&2
    else
        tail -n 5 "$bdir/ninja.log" >&2
    fi
    vdp_die "the ASan build failed (log: $bdir/ninja.log)"
fi
"$here/firmware.sh" "$bdir"
if grep -q '^ninja: no work to do' "$bdir/ninja.log"; then
    vdp_say "ASan build: $rel is up to date"
else
    steps=$(grep -c '^\[[0-9]*/[0-9]*\]' "$bdir/ninja.log" || true)
    vdp_say "ASan build: $steps ninja steps in $secs s;" \
            "built $rel/qemu-system-x86_64"
fi
