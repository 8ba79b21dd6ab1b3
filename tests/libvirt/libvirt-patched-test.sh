#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# libvirt's own unit tests for the patches of libvirt/, then the test
# guest under the patched libvirtd (build/libvirt-build, make libvirt)
# from the docs' domain with <driver name='vhostdp'/> (run-libvirt.py).
here=$(dirname "$0")
repo=$(cd "$here/../.." && pwd)
"$repo/libvirt/check.sh"
rc=$?
timeout 400 /usr/bin/python3 "$here/run-libvirt.py" \
    --libvirt-build "$repo/build/libvirt-build" "$@" || rc=1
exit $rc
