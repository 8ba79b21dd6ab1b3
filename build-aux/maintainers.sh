#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Add the series' MAINTAINERS section (the repository's MAINTAINERS) to
# the MAINTAINERS file of a QEMU tree, after the network backends.
# Idempotent.  Usage: maintainers.sh QEMU_TREE

set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
tree=${1:?usage: maintainers.sh QEMU_TREE}
m=$tree/MAINTAINERS
title=$(head -n 1 "$repo/MAINTAINERS")

[ -f "$m" ] || exit 0
grep -qxF "$title" "$m" && exit 0
if grep -qx 'Host Memory Backends' "$m"; then
    awk -v sect="$repo/MAINTAINERS" '
        $0 == "Host Memory Backends" && !done {
            while ((getline l < sect) > 0) print l
            print ""
            done = 1
        }
        { print }' "$m" > "$m.new"
    mv "$m.new" "$m"
else
    { echo; cat "$repo/MAINTAINERS"; } >> "$m"
fi
