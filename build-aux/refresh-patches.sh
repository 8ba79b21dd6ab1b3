#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Maintainer tool: regenerate a base's hook patches, patches/$BASE/ (BASE
# stable or dev), from a git tree of that base whose commits after
# BASE_COMMIT are the hook patches (see README.md, "Editing the hook
# patches").  Both bases keep the same patch names: series.manifest
# names them once.
#
# Usage: BASE=stable|dev refresh-patches.sh GIT_TREE BASE_COMMIT

set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
. "$here/apt-env.sh"
vdp_base_select
tree=${1:?usage: BASE=stable|dev refresh-patches.sh GIT_TREE BASE_COMMIT}
base=${2:?usage: BASE=stable|dev refresh-patches.sh GIT_TREE BASE_COMMIT}
pdir=$repo/patches/$VDP_BASE

mkdir -p "$pdir"
rm -f "$pdir"/*.patch
git -C "$tree" format-patch -q --no-signature --zero-commit -N \
    --no-numbered -o "$pdir" "$base..HEAD"
# stable content: no dates, so that an unchanged patch stays unchanged
sed -i '/^Date: /d' "$pdir"/*.patch
(cd "$pdir" && ls -1 *.patch > series)
