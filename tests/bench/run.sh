#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# make bench: the benchmark harness (see run.py); as root.
exec /usr/bin/python3 "$(dirname "$0")/run.py" "$@"
