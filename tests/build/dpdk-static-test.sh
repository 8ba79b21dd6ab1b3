#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# The build option that links DPDK statically (--enable-vhost-dp-dpdk-
# static): build QEMU with it in build/qemu-build-dpdk-static (ccache makes
# this mostly a link), check that no DPDK shared library is linked, and run
# the DPDK qtests with that binary.

set -uo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
bdir=$repo/build/qemu-build-dpdk-static
tree=$repo/build/qemu-src

if ! VDP_BUILD_DIR=$bdir \
     VHOST_DP_CONFIGURE_EXTRA=--enable-vhost-dp-dpdk-static \
     "$repo/build-aux/configure.sh" "$(readlink -f "$tree")" >/dev/null ||
   ! (cd "$bdir" && ninja qemu-system-x86_64 > ninja.log 2>&1); then
    echo "FAIL: dpdk-static: the build failed (see $bdir)"
    exit 1
fi
"$repo/build-aux/firmware.sh" "$bdir"
if ldd "$bdir/qemu-system-x86_64" | grep -q librte_; then
    echo "FAIL: dpdk-static: DPDK shared libraries are still linked"
else
    echo "PASS: dpdk-static: qemu-system-x86_64 links no DPDK shared library"
fi
out=$(cd "$bdir" && QTEST_QEMU_BINARY=./qemu-system-x86_64 timeout 300 \
      "$repo/build/qemu-build/tests/qtest/vhost-dp-drivers-test" --tap -k \
      -r /x86_64/pc/i440FX-pcihost/pci-bus-pc/pci-bus/virtio-net-pci/virtio-net/virtio-net-tests/vhost-dp/dpdk \
      2>&1)
echo "$out" | grep -v '# SKIP' |
    sed -n 's|^ok [0-9]* .*/\(dpdk/[a-z]*\)$|PASS: dpdk-static: \1|p'
echo "$out" | sed -n 's|^ok [0-9]* .*/\(dpdk/[a-z]*\) # SKIP \(.*\)|SKIP: dpdk-static: \1: \2|p'
echo "$out" | sed -n 's|^not ok [0-9]* .*/\(dpdk/[a-z]*\).*|FAIL: dpdk-static: \1|p'
echo "$out" | grep -q '^ok' || { echo "$out" | tail -20; exit 1; }
