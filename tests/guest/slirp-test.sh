#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# A real guest on vhostdp + vhost-dp-slirp, then the same behind an Intel
# vIOMMU the guest uses, without and with ATS; then with packed
# virtqueues, also behind the vIOMMU (see run-guest.py).
here=$(dirname "$0")
rc=0
for mode in slirp iommu iommu-ats "slirp --packed" "iommu --packed"; do
    # shellcheck disable=SC2086
    timeout 300 /usr/bin/python3 "$here/run-guest.py" $mode || rc=1
done
exit $rc
