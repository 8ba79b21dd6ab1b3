#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# make fuzz-coverage: the line coverage of hw/virtio/vhost-dp-ring.c when
# the fuzz target runs the seed corpus (tests/fuzz/corpus) and what the
# fuzz runs found (build/fuzz/corpus, see run.sh), or the directories
# given.  Source-based coverage: clang-16 -fprofile-instr-generate
# -fcoverage-mapping, llvm-profdata-16 and llvm-cov-16.  The annotated
# source goes to build/fuzz/coverage/vhost-dp-ring.c.txt.

set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
out=$repo/build/fuzz/coverage
export VDP_FUZZ_KNOWN_BUGS=${VDP_FUZZ_KNOWN_BUGS-}

bin=$("$here/build.sh" --coverage)
dirs=("$@")
if [ ${#dirs[@]} -eq 0 ]; then
    dirs=("$here/corpus")
    [ ! -d "$repo/build/fuzz/corpus" ] || dirs+=("$repo/build/fuzz/corpus")
fi
rm -rf "$out"
mkdir -p "$out"
n=0
for d in "${dirs[@]}"; do
    n=$((n + $(ls "$d" | wc -l)))
done
LLVM_PROFILE_FILE="$out/fuzz.profraw" "$bin" -runs=0 "${dirs[@]}" \
    > "$out/run.log" 2>&1 ||
    { tail -n 30 "$out/run.log"; echo "vhost-dp: fuzz: the run failed"; exit 1; }
llvm-profdata-16 merge -sparse "$out/fuzz.profraw" -o "$out/fuzz.profdata"
src=$(readlink -f "$repo/build/qemu-src-tree/hw/virtio/vhost-dp-ring.c")
llvm-cov-16 show "$bin" -instr-profile="$out/fuzz.profdata" \
    "$repo/build/qemu-src-tree/hw/virtio/vhost-dp-ring.c" \
    > "$out/vhost-dp-ring.c.txt" 2>/dev/null || true
llvm-cov-16 report "$bin" -instr-profile="$out/fuzz.profdata" \
    > "$out/report.txt"
line=$(grep -E 'vhost-dp-ring\.c ' "$out/report.txt" | head -n 1)
[ -n "$line" ] || { cat "$out/report.txt"; exit 1; }
# Filename Regions Missed Cover Functions Missed Executed Lines Missed Cover
# Branches Missed Cover
set -- $line
echo "vhost-dp: fuzz: $n inputs: vhost-dp-ring.c lines ${10} covered" \
     "($(( $8 - $9 )) of $8), regions $4, branches ${13}"
echo "vhost-dp: fuzz: annotated source: $out/vhost-dp-ring.c.txt"
