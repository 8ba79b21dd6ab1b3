#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# make check: the ring fuzzer replays its seed corpus (tests/fuzz/corpus)
# and fuzzes for FUZZ_CHECK_SECONDS (default 60) from it, in a scratch
# copy.  Prints PASS/FAIL lines for run-tests.sh.

set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
seconds=${FUZZ_CHECK_SECONDS:-60}
export VDP_FUZZ_KNOWN_BUGS=${VDP_FUZZ_KNOWN_BUGS-}

if ! command -v clang-16 >/dev/null; then
    echo "SKIP: fuzz: clang-16 is missing (build-aux/deps.sh fuzz)"
    exit 0
fi
if ! bin=$("$here/build.sh" 2>&1 | tail -n 20); then
    echo "$bin"
    echo "FAIL: fuzz: the ring fuzzer does not build"
    exit 1
fi
bin=$(echo "$bin" | tail -n 1)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/corpus" "$work/crashes"
cp "$here"/corpus/* "$work/corpus/"
n=$(ls "$work/corpus" | wc -l)

report() {
    grep -E 'invariant broken|runtime error|ERROR: (Address|libFuzzer|Undefined)|^    #[0-9]+ .* in |Test unit written' "$1" |
        head -n 25
}

if "$bin" -runs=0 -artifact_prefix="$work/crashes/" "$work/corpus" \
       > "$work/replay.log" 2>&1; then
    echo "PASS: fuzz: the ring core replays its $n seeds"
else
    report "$work/replay.log"
    echo "FAIL: fuzz: the ring core replays its $n seeds"
fi

if nice "$bin" -max_total_time="$seconds" -timeout=10 -print_final_stats=1 \
       -artifact_prefix="$work/crashes/" "$work/corpus" \
       > "$work/fuzz.log" 2>&1; then
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/fuzz.log")
    echo "PASS: fuzz: ${seconds} s of the ring core, $execs inputs, no crash"
else
    report "$work/fuzz.log"
    mkdir -p "$repo/build/fuzz/crashes"
    cp "$work"/crashes/* "$repo/build/fuzz/crashes/" 2>/dev/null
    echo "(crash inputs kept in $repo/build/fuzz/crashes)"
    echo "FAIL: fuzz: ${seconds} s of the ring core"
fi
