#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# make fuzz: build the ring fuzzer (build.sh) and run it for FUZZ_SECONDS
# (default 300) on build/fuzz/corpus, a copy of tests/fuzz/corpus that
# keeps what earlier runs found.  One job, niced.  Prints a few lines of
# progress and a summary; a crash leaves its input in build/fuzz/crashes
# and fails.
#
# VDP_FUZZ_KNOWN_BUGS (default: none) names core bugs already reported
# that the target is to tolerate while they are being fixed.

set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
out=$repo/build/fuzz
seconds=${FUZZ_SECONDS:-300}
export VDP_FUZZ_KNOWN_BUGS=${VDP_FUZZ_KNOWN_BUGS-}

bin=$("$here/build.sh") || exit 1
mkdir -p "$out/corpus" "$out/crashes"
cp -n "$here"/corpus/* "$out/corpus/"
log=$out/fuzz.log
echo "vhost-dp: fuzz: ${seconds} s on $(ls "$out/corpus" | wc -l) inputs" \
     "(known bugs tolerated: ${VDP_FUZZ_KNOWN_BUGS:-none}; log: $log)"
start=$(date +%s)
nice "$bin" -max_total_time="$seconds" -timeout=10 -print_final_stats=1 \
    -artifact_prefix="$out/crashes/" "$out/corpus" > "$log" 2>&1
rc=$?
# progress: libFuzzer's pulse lines (at powers of two), a few of them
grep -E '^#[0-9]+[[:space:]]+(INITED|pulse|DONE)' "$log" |
    awk '{ line = sprintf("  %-9s", $1)
           for (i = 2; i < NF; i++)
               if ($i ~ /^(cov|corp|exec\/s):$/)
                   line = line sprintf(" %s %s", $i, $(i + 1))
           print line }' |
    tail -n 8
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
echo "vhost-dp: fuzz: ${execs:-?} executions in $(( $(date +%s) - start )) s" \
     "(${rate:-?} exec/s), corpus $(ls "$out/corpus" | wc -l) inputs"
if [ $rc -ne 0 ]; then
    grep -E 'invariant broken|runtime error|ERROR: (Address|libFuzzer|Undefined)|^    #[0-9]+ .* in ' "$log" |
        head -n 25
    grep -E "^artifact_prefix|Test unit written" "$log"
    echo "vhost-dp: fuzz: a crash (reproduce: $bin FILE)"
    exit 1
fi
