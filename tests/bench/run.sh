#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# The benchmark harness: vdp-bench (a guest-less virtio-net driver) against
# -netdev vhostdp with the loopback driver in its three modes.  Prints one
# line per case with packets/s, Gb/s and the CPU seconds per second of
# QEMU's threads.  SECONDS_PER_RUN and RUNS tune it.

set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
bench=$repo/build/vdp-bench
qemu=$repo/build/qemu-system-x86_64
secs=${SECONDS_PER_RUN:-3}

cc -O2 -Wall -o "$bench" "$repo/tests/bench/vdp-bench.c"

run() {
    local label=$1
    shift
    printf '%-28s ' "$label"
    "$bench" --quiet --qemu "$qemu" --seconds "$secs" "$@"
}

lb() {
    echo "--netdev vhostdp,id=bn0,driver=d0,iothread=io0" \
         "--object iothread,id=io0 --object vhost-dp-loopback,id=d0,mode=$1"
}

for size in 64 512 1500; do
    run "vhostdp sink tx $size" $(lb sink) --mode tx --size $size
    run "vhostdp source rx $size" $(lb source),frame-size=$size \
        --mode rx --size $size
    run "vhostdp loopback $size" $(lb loopback) --mode both --size $size
done
run "vhostdp loopback tso64k" $(lb loopback) --mode both --tso --size 65535
run "vhostdp loopback 2q 64" \
    --netdev '{"type":"vhostdp","id":"bn0","driver":"d0","queues":2,"iothreads":["io0","io1"]}' \
    --object iothread,id=io0 --object iothread,id=io1 \
    --object vhost-dp-loopback,id=d0 --mode both --queues 2 --size 64
