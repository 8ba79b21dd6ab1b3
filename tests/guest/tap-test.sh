#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# A real guest on vhostdp + vhost-dp-tap, then on QEMU's -netdev tap for
# comparison, each with the TAP's host side in a namespace of its own,
# then live-migrated between two QEMUs on vhost-dp-tap while it downloads;
# then the guest with RSS over 4 queue pairs (ethtool -X), then the
# vhostdp runs again with packed virtqueues (see run-guest.py).
# Needs root; skipped otherwise.
here=$(dirname "$0")
rc=0
for mode in tap qemu-tap migrate rss "tap --packed" "migrate --packed"; do
    # shellcheck disable=SC2086
    timeout 300 /usr/bin/python3 "$here/run-guest.py" $mode --demo || rc=1
done
exit $rc
