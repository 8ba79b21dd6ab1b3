#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The test guest on vhostdp under a real libvirtd, from the domain XML of
# the docs (see run-libvirt.py).  Needs root; skipped otherwise.
here=$(dirname "$0")
exec timeout 400 /usr/bin/python3 "$here/run-libvirt.py" "$@"
