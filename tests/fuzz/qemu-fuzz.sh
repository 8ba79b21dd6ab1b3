#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# QEMU's own fuzzer on the series: build qemu-fuzz-x86_64 (clang-16,
# --enable-fuzzing, ASan) in build/qemu-build-fuzz from the assembled
# tree, and run its fuzz targets on a virtio-net-pci device on
# -netdev vhostdp with the loopback driver.
#
# Usage: qemu-fuzz.sh [SECONDS]   (default 300)
# Half the time goes to the series' own qos targets, virtio-net-vhostdp
# and its twins (zero-copy: the loopback driver holds transmitted frames
# in guest memory; rx-read; packed: packed virtqueues), which write rings
# and descriptors; the other half to
# generic-fuzz on
# the device's registers, with the queue pair in the main loop and in an
# IOThread.  Crashes land in build/qemu-fuzz/.

set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
. "$repo/build-aux/apt-env.sh"
seconds=${1:-300}
tree=$(readlink -f "$repo/build/qemu-src")
bdir=$repo/build/qemu-build-fuzz
out=$repo/build/qemu-fuzz

command -v clang-16 >/dev/null ||
    vdp_die "clang-16 is missing (build-aux/deps.sh fuzz installs it)"
[ -f "$tree/VERSION" ] || vdp_die "no assembled tree (run make first)"

cc=clang-16 cxx=clang++-16
if [ -x /usr/lib/ccache/clang-16 ]; then
    cc=/usr/lib/ccache/clang-16 cxx=/usr/lib/ccache/clang++-16
fi
want="$tree $cc"
if [ ! -f "$bdir/build.ninja" ] ||
   [ "$(cat "$bdir/.vhost-dp-configured" 2>/dev/null)" != "$want" ]; then
    rm -rf "$bdir"
    mkdir -p "$bdir"
    vdp_say "configuring QEMU's fuzzer in $bdir"
    (cd "$bdir" &&
     "$tree/configure" --python=/usr/bin/python3 --cc="$cc" --cxx="$cxx" \
        --target-list=x86_64-softmmu --without-default-features \
        --enable-fuzzing --enable-asan --enable-tcg --enable-vhost-net \
        --enable-vhost-user --enable-vhost-dp --enable-slirp \
        --disable-docs --disable-tools --disable-download \
        --disable-install-blobs > configure.log 2>&1) ||
        vdp_die "configure failed (see $bdir/configure.log)"
    echo "$want" > "$bdir/.vhost-dp-configured"
fi
vdp_say "building qemu-fuzz-x86_64 (ninja -j$(nproc))"
(cd "$bdir" && ninja qemu-fuzz-x86_64 2>&1 |
    awk '/^\[[0-9]+\/[0-9]+\]/ { split($1, a, "[/\\[\\]]");
                                 if (a[2] % 200 == 0 || a[2] == a[3])
                                     { print "vhost-dp:   " $1; fflush() }
                                 next }
         /error|FAILED/ { print }') ||
    vdp_die "the fuzzer build failed (see $bdir)"
[ -x "$bdir/qemu-fuzz-x86_64" ] || vdp_die "no qemu-fuzz-x86_64 in $bdir"
"$repo/build-aux/firmware.sh" "$bdir"

mkdir -p "$out"
run() {
    local name=$1 args=$2 secs=$3 log
    log=$out/$name.log
    mkdir -p "$out/$name-corpus"
    vdp_say "generic-fuzz on $name for $secs s"
    (cd "$out" &&
     QEMU_FUZZ_ARGS="$args" QEMU_FUZZ_OBJECTS="virtio*" \
     ASAN_OPTIONS=detect_leaks=0 \
     timeout $((secs + 120)) "$bdir/qemu-fuzz-x86_64" \
        --fuzz-target=generic-fuzz -max_total_time="$secs" \
        -artifact_prefix="$out/$name-" "$out/$name-corpus" \
        > "$log" 2>&1) || {
        tail -40 "$log"
        vdp_die "generic-fuzz on $name failed (see $log)"
    }
    grep -E '^(#[0-9]+ +DONE|Done [0-9]+ runs)' "$log" | tail -2 |
        sed 's/^/vhost-dp:   /'
}
run_target() {
    local name=$1 secs=$2 log
    log=$out/$name.log
    mkdir -p "$out/$name-corpus"
    vdp_say "$name for $secs s"
    (cd "$out" &&
     ASAN_OPTIONS=detect_leaks=0 \
     timeout $((secs + 120)) "$bdir/qemu-fuzz-x86_64" \
        --fuzz-target="$name" -max_total_time="$secs" \
        -artifact_prefix="$out/$name-" "$out/$name-corpus" \
        > "$log" 2>&1) || {
        tail -40 "$log"
        vdp_die "$name failed (see $log)"
    }
    grep -E '^Done [0-9]+ runs' "$log" | tail -1 | sed 's/^/vhost-dp:   /'
}
# The rings: the target writes them itself (tests/qtest/fuzz/vhost_dp_fuzz.c)
run_target virtio-net-vhostdp $((seconds / 8))
run_target virtio-net-vhostdp-zero-copy $((seconds / 8))
run_target virtio-net-vhostdp-rx-read $((seconds / 8))
run_target virtio-net-vhostdp-packed $((seconds / 2 - 3 * (seconds / 8)))
seconds=$((seconds - seconds / 2))

# The device's registers: generic-fuzz (it cannot fill rings the
# dataplane reads: it feeds memory through DMA read hooks)
dev="-device virtio-net-pci,netdev=net0,mq=on"
run vhostdp-main "-M q35 -nodefaults -object vhost-dp-loopback,id=drv0 \
-netdev vhostdp,id=net0,driver=drv0,queues=2 $dev" $((seconds / 2))
run vhostdp-iothread "-M q35 -nodefaults -object iothread,id=io0 \
-object vhost-dp-loopback,id=drv0 \
-netdev vhostdp,id=net0,driver=drv0,queues=2,iothread=io0 $dev" \
    $((seconds - seconds / 2))
vdp_say "generic-fuzz found no crash"
