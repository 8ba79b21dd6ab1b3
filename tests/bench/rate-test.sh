#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# make check: the per-queue rate limits of -netdev vhostdp.  The
# guest-less driver of the benchmark (vdp-bench: real split rings in
# shared guest memory) drives the loopback driver as fast as it can:
#  - transmitting (mode=sink) with tx-rate, and receiving (mode=source)
#    with rx-rate, at 100 Mbit/s and 1 Gbit/s: the rate measured over 3
#    seconds is within 5% of the configured one, and the limiter's
#    counter (tx-rate-stalls, rx-rate-drops) shows it at work;
#  - vhost-dp-set-rate under traffic: 100 Mbit/s for the first 1.5
#    seconds, 400 Mbit/s for the next 1.5, 250 on average.
# Prints PASS/FAIL lines for run-tests.sh.

set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
qemu=$repo/build/qemu-system-x86_64
bench=$(mktemp -d)/vdp-bench
trap 'rm -rf "$(dirname "$bench")"' EXIT

if ! cc -O2 -Wall -o "$bench" "$here/vdp-bench.c" 2>&1; then
    echo "FAIL: rate: vdp-bench does not build"
    exit 1
fi
rc=0

# check NAME DIR RATE_BPS COUNTER [vdp-bench arguments...]
check() {
    local name=$1 dir=$2 want=$3 counter=$4 out line got n
    shift 4
    out=$("$bench" --qemu "$qemu" --seconds 3 --size 1500 --no-check \
          --mode "$dir" "$@" 2>&1)
    line=$(echo "$out" | grep '^mode=')
    got=$(echo "$line" | sed -n "s/.* ${dir}_gbps=\([0-9.]*\).*/\1/p")
    n=$(echo "$out" | sed -n "s/.*\"$counter\": \([0-9]*\).*/\1/p" |
        head -n 1)
    if [ -z "$got" ] || [ -z "$n" ]; then
        echo "$out" | tail -n 5
        echo "FAIL: rate: $name: no measurement"
        rc=1
        return
    fi
    if awk -v g="$got" -v w="$want" \
           'BEGIN { exit !(g * 1e9 >= w * 0.95 && g * 1e9 <= w * 1.05) }' &&
       [ "$n" -gt 0 ]; then
        echo "PASS: rate: $name: $got Gbit/s measured, $counter $n"
    else
        echo "FAIL: rate: $name: $got Gbit/s measured (want $want bit/s" \
             "within 5%), $counter $n"
        rc=1
    fi
}

for r in 100000000 1000000000; do
    check "tx-rate=$r" tx "$r" tx-rate-stalls \
        --object vhost-dp-loopback,id=d0,mode=sink \
        --object iothread,id=io0 \
        --netdev "vhostdp,id=bn0,driver=d0,iothread=io0,tx-rate=$r"
    check "rx-rate=$r" rx "$r" rx-rate-drops \
        --object vhost-dp-loopback,id=d0,mode=source,frame-size=1500 \
        --object iothread,id=io0 \
        --netdev "vhostdp,id=bn0,driver=d0,iothread=io0,rx-rate=$r"
done
check "vhost-dp-set-rate 100 to 400 Mbit/s under traffic" tx 250000000 \
    tx-rate-stalls \
    --object vhost-dp-loopback,id=d0,mode=sink --object iothread,id=io0 \
    --netdev "vhostdp,id=bn0,driver=d0,iothread=io0,tx-rate=100000000" \
    --qmp-at '1.5:{"execute": "vhost-dp-set-rate", "arguments":
              {"id": "bn0", "tx-rate": 400000000}}'
exit $rc
