#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Print the names of the series' x86_64 qtests, one a line, as the hook
# patches register them in tests/qtest/meson.build
# ("qtests_x86_64 += ['vhost-dp-test', ...]", on one line or several):
# what the builds make and make check runs, in every build directory.

set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
. "$here/apt-env.sh"
vdp_base_select
pdir=$repo/patches/$VDP_BASE

names=$(grep -v '^#' "$pdir/series" | sed '/^$/d' |
        while read -r p; do
            sed -n 's/^+//p' "$pdir/$p" | tr '\n' ' '
            echo
        done |
        grep -o "qtests_x86_64 *+= *\[[^]]*\]" |
        sed 's/.*\[\(.*\)\]/\1/' | tr ',' '\n' | tr -d " '\"" |
        sed '/^$/d' | sort -u)
if [ -z "$names" ]; then
    echo "vhost-dp: error: patches/$VDP_BASE registers no x86_64 qtest" >&2
    exit 1
fi
echo "$names"
