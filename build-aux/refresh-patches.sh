#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Maintainer tool: regenerate patches/ from a git tree of the base whose
# commits after BASE are the hook patches (see README.md, "Editing the
# hook patches").
#
# Usage: refresh-patches.sh GIT_TREE BASE_COMMIT

set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
tree=${1:?usage: refresh-patches.sh GIT_TREE BASE_COMMIT}
base=${2:?usage: refresh-patches.sh GIT_TREE BASE_COMMIT}

rm -f "$repo"/patches/*.patch
git -C "$tree" format-patch -q --no-signature --zero-commit -N \
    --no-numbered -o "$repo/patches" "$base..HEAD"
# stable content: no dates, so that an unchanged patch stays unchanged
sed -i '/^Date: /d' "$repo"/patches/*.patch
(cd "$repo/patches" && ls -1 *.patch > series)
