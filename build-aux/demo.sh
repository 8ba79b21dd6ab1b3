#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# The main job: boot a real Linux guest whose virtio-net driver talks
# through -netdev vhostdp with the slirp driver on an IOThread (no
# privileges, nothing to configure), check the network from both sides
# and print a summary.  Non-zero exit on any failure.

set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
echo "vhost-dp demo: a guest (Debian's cloud kernel, a busybox initramfs)" \
     "on -object vhost-dp-slirp, -netdev vhostdp (IOThread io0)," \
     "-device virtio-net-pci; TCG unless VDP_ACCEL=kvm"
exec /usr/bin/python3 "$repo/tests/guest/run-guest.py" slirp --demo
