#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Run every test of the series and end with the line
# "N passed, N failed", counted from QEMU's test runner (meson test) and
# the project's own test scripts.  Exits non-zero when a test failed or
# when no test ran.
#
# The series' qtests run twice: on build/qemu-build, then on the ASan and
# UBSan build of build-aux/build-asan.sh (build/qemu-build-asan), where
# their lines start with "asan: " and any sanitizer report, of QEMU or of
# the test binary, is a failure.  VDP_ASAN=0 skips that second run.
# Then once more on the dev base (build/qemu-build-dev, lines "dev: ").

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
# (meson test runs under the command in the array meson_wrap, if set)
run_meson_test() {
    local bdir=$1 prefix=$2 name=$3 out
    shift 3
    out=$(cd "$bdir" && ${meson_wrap[@]+"${meson_wrap[@]}"} \
              meson test --no-rebuild --verbose --print-errorlogs \
              "$@" "$name" 2>&1)
    echo "$out" >> "$log"
    meson_out=$out
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

# The qtests and the ring-core unit test again on the sanitizer build.
# QEMU inherits the test's stderr, so every report, of QEMU or of the
# test binary, is in meson test's output, where it is counted: each
# report (each sanitizer's SUMMARY line, or a sanitizer's own fatal
# error) is one failure, shown in full, even when the test that caused it
# passed (it expected QEMU to fail, say).  halt_on_error/abort_on_error
# also make QEMU die on the first report, which fails the test that was
# running.
run_asan_tests() {
    local abuild=$repo/build/qemu-build-asan
    local t n start
    local halt=halt_on_error=1:abort_on_error=1:print_summary=1
    local supp=suppressions=$here/lsan-suppressions.txt:print_suppressions=0
    # Allocation stacks stop at glib's g_malloc (built without frame
    # pointers) with ASan's fast unwinder; VDP_ASAN_OPTIONS=
    # fast_unwind_on_malloc=0 gives whole ones, as QEMU's CI's ASan job
    # uses, but makes vhost-dp-test's traffic tests take 4-5 times as long.
    local extra=${VDP_ASAN_OPTIONS:+:$VDP_ASAN_OPTIONS}
    # where a report starts, and its last line
    local fatal='Sanitizer has encountered|Sanitizer CHECK failed'
    local first="==[0-9]+==ERROR: |: runtime error: |$fatal"
    local last="^SUMMARY: [A-Za-z]+Sanitizer|$fatal"
    if [ "${VDP_ASAN:-1}" = 0 ]; then
        echo "SKIP: asan: the qtests on the ASan+UBSan build (VDP_ASAN=0)"
        skipped=$((skipped + 1))
        return
    fi
    if [ ! -x "$abuild/qemu-system-x86_64" ]; then
        echo "FAIL: asan: no ASan+UBSan build in $abuild (make build-asan)"
        failed=$((failed + 1))
        return
    fi
    # The sanitizer build is slower to set a TAP up, and the kernel's IPv6
    # chatter on a new TAP (MLD reports, DAD, router solicitations) can
    # then fill the few receive buffers a TAP test posts before its own
    # frame arrives.  As root, run the tests in a network namespace of
    # their own, where new interfaces have no IPv6.
    local meson_wrap=()
    if [ "$(id -u)" = 0 ] && unshare --net true 2>/dev/null; then
        meson_wrap=(unshare --net sh -c 'ip link set lo up &&
            sysctl -qw net.ipv6.conf.default.disable_ipv6=1 && exec "$@"' sh)
    fi
    start=$(date +%s)
    for t in "${qtests[@]/#/qtest-x86_64/}" test-vhost-dp-ring; do
        meson_out=
        ASAN_OPTIONS="$halt:detect_leaks=1$extra" \
        LSAN_OPTIONS=$supp UBSAN_OPTIONS="$halt:print_stacktrace=1" \
            run_meson_test "$abuild" "asan: " "$t" \
                --timeout-multiplier 3
        n=$(echo "$meson_out" | grep -cE "$last")
        [ "$n" -gt 0 ] || continue
        echo "FAIL: asan: ${t#qtest-x86_64/}: $n sanitizer report(s):"
        echo "$meson_out" | awk -v a="$first" -v z="$last" \
            '$0 ~ a { p = 1 } p { print } $0 ~ z { p = 0 }'
        failed=$((failed + n))
    done
    echo "(asan: the qtests took $(( $(date +%s) - start )) s)" | tee -a "$log"
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

# The qtests and the unit test on the dev base (make build-dev): the
# series as upstream gets it, on the newest QEMU Debian serves.
run_dev_tests() {
    local dbuild=$repo/build/qemu-build-dev t
    if [ ! -x "$dbuild/qemu-system-x86_64" ]; then
        echo "FAIL: dev: no dev-base build in $dbuild (make build-dev)"
        failed=$((failed + 1))
        return
    fi
    mapfile -t dqtests < <(BASE=dev "$here/qtests.sh")
    for t in "${dqtests[@]}"; do
        run_meson_test "$dbuild" "dev: " "qtest-x86_64/$t"
    done
    run_meson_test "$dbuild" "dev: " test-vhost-dp-ring
}

mapfile -t qtests < <(BASE=stable "$here/qtests.sh")
for t in "${qtests[@]}"; do
    run_meson_test "$qbuild" "" "qtest-x86_64/$t"
done
run_meson_test "$qbuild" "" test-vhost-dp-ring
run_asan_tests
run_dev_tests
for t in "$repo"/tests/build/*-test.sh "$repo"/tests/fuzz/*-test.sh \
         "$repo"/tests/bench/*-test.sh "$repo"/tests/guest/*-test.sh \
         "$repo"/tests/libvirt/*-test.sh; do
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
