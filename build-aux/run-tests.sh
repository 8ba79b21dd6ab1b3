#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Run every test of the series and end with the line
# "N passed, N failed", counted from QEMU's test runner (meson test) and
# the project's own test scripts.  Exits non-zero when a test failed or
# when no test ran.

set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
qbuild=$repo/build/qemu-build
log=$repo/build/test-results.log
: > "$log"

passed=0
failed=0
skipped=0

# QEMU's qtests of the series, through meson test.  Each subtest is one
# line "▶ i/n NAME  OK|FAIL|SKIP" in verbose mode.
# Usage: run_meson_test BUILD_DIR PREFIX NAME [MESON_TEST_ARGS...]
run_meson_test() {
    local bdir=$1 prefix=$2 name=$3 out
    shift 3
    out=$(cd "$bdir" && meson test --no-rebuild --verbose \
              --print-errorlogs "$@" "$name" 2>&1)
    echo "$out" >> "$log"
    echo "$out" | grep -E '^▶ [0-9]+/[0-9]+ ' |
        sed "s/^▶ [0-9]*\/[0-9]* /$prefix/"
    local p f s
    p=$(echo "$out" | grep -cE '^▶ [0-9]+/[0-9]+ .* OK *$')
    f=$(echo "$out" | grep -cE '^▶ [0-9]+/[0-9]+ .* (FAIL|ERROR|TIMEOUT) *$')
    s=$(echo "$out" | grep -cE '^▶ [0-9]+/[0-9]+ .* SKIP *$')
    # subtests that never ran because the binary crashed count as failed
    local gap
    gap=$(echo "$out" |
          sed -n 's/.*Too few tests run (expected \([0-9]*\), got \([0-9]*\)).*/\1 \2/p' |
          head -n 1)
    if [ -n "$gap" ]; then
        set -- $gap
        f=$((f + $1 - $2))
    fi
    # a test binary that crashed or timed out has no subtest line for it
    if echo "$out" | grep -qE '^Fail: +[1-9]|^Timeout: +[1-9]'; then
        [ "$f" -gt 0 ] || f=1
        echo "$out" | tail -n 40
    fi
    passed=$((passed + p))
    failed=$((failed + f))
    skipped=$((skipped + s))
}

# Project scripts: each prints "PASS: name", "FAIL: name" or "SKIP: name"
run_script_test() {
    local script=$1 out rc
    out=$("$script" 2>&1)
    rc=$?
    echo "$out" >> "$log"
    echo "$out" | grep -E '^(PASS|FAIL|SKIP): '
    local p f s
    p=$(echo "$out" | grep -c '^PASS: ')
    f=$(echo "$out" | grep -c '^FAIL: ')
    s=$(echo "$out" | grep -c '^SKIP: ')
    if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "FAIL: $(basename "$script") exited with $rc"
        echo "$out" | tail -n 30
        f=1
    fi
    passed=$((passed + p))
    failed=$((failed + f))
    skipped=$((skipped + s))
}

mapfile -t qtests < <("$here/qtests.sh")
for t in "${qtests[@]}"; do
    run_meson_test "$qbuild" "" "qtest-x86_64/$t"
done
run_meson_test "$qbuild" "" test-vhost-dp-ring
for t in "$repo"/tests/build/*-test.sh "$repo"/tests/guest/*-test.sh; do
    [ -x "$t" ] && run_script_test "$t"
done

echo "(full output: $log)"
if [ $((passed + failed)) -eq 0 ]; then
    echo "vhost-dp: error: no test ran" >&2
    echo "0 passed, 1 failed"
    exit 1
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
