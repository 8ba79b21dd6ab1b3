#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# A real guest on vhostdp + vhost-dp-slirp (see run-guest.py).
exec timeout 300 /usr/bin/python3 "$(dirname "$0")/run-guest.py" slirp
