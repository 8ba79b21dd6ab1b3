#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# A real guest on vhostdp + vhost-dp-slirp with the QEMU of the dev base
# (the newest QEMU Debian serves, make build-dev): no root needed.
here=$(dirname "$0")
qemu=$here/../../build/qemu-build-dev/qemu-system-x86_64
if [ ! -x "$qemu" ]; then
    echo "FAIL: dev: slirp: no dev-base QEMU (make build-dev)"
    exit 1
fi
VDP_QEMU=$qemu VDP_LABEL="dev: " \
    timeout 300 /usr/bin/python3 "$here/run-guest.py" slirp
