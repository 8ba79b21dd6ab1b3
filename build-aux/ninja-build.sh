#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Run ninja in a build directory with a progress line (the ninja count)
# every minute, the count at the end, and the failing steps on error;
# the full log is ninja.log there.
#
# Usage: ninja-build.sh LABEL BUILD_DIR TARGET...

set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/apt-env.sh"

label=${1:?usage: ninja-build.sh LABEL BUILD_DIR TARGET...}
bdir=${2:?usage: ninja-build.sh LABEL BUILD_DIR TARGET...}
shift 2
jobs=${NINJA_JOBS:-$(nproc)}

start=$(date +%s)
(cd "$bdir" && exec nice ninja -j"$jobs" "$@") > "$bdir/ninja.log" 2>&1 &
pid=$!
while kill -0 "$pid" 2>/dev/null; do
    for _ in $(seq 60); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 1
    done
    if kill -0 "$pid" 2>/dev/null; then
        step=$(grep -o '^\[[0-9]*/[0-9]*\]' "$bdir/ninja.log" | tail -n 1)
        vdp_say "$label: ${step:-starting}, $(( $(date +%s) - start )) s so far"
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
    vdp_die "$label failed (log: $bdir/ninja.log)"
fi
if grep -q '^ninja: no work to do' "$bdir/ninja.log"; then
    vdp_say "$label: up to date"
else
    steps=$(grep -c '^\[[0-9]*/[0-9]*\]' "$bdir/ninja.log" || true)
    vdp_say "$label: $steps ninja steps in $secs s"
fi
