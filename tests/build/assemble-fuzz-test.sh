#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# assemble.sh applies the hook patches exactly or not at all.  Make a
# small QEMU tree (QEMU_SRC) of the files the patches touch, change one
# context line of the first hunk of patches/stable/0001 so that the hunk
# would still apply with patch's default fuzz, and expect assemble.sh to
# refuse with a clear message and leave every file of the tree as it was.

set -uo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
base=$(cat "$repo/build/qemu-src-tree/.vhost-dp/base" 2>/dev/null) || {
    echo "FAIL: assemble-fuzz: no base (run make build first)"
    exit 1
}
scratch=$(mktemp -d)
# assemble.sh points build/qemu-src at the tree it assembled: put it back
link=$(readlink "$repo/build/qemu-src" 2>/dev/null || true)
trap 'rm -rf "$scratch"; [ -z "$link" ] || ln -sfn "$link" "$repo/build/qemu-src"' EXIT
tree=$scratch/qemu

fail() {
    echo "FAIL: assemble-fuzz: $*"
    exit 1
}

# the files the patches touch, and what assemble.sh checks a tree by
for p in $(grep -v '^#' "$repo/patches/stable/series"); do
    sed -n 's|^+++ b/||p' "$repo/patches/stable/$p"
done | sort -u | cat - <(printf '%s\n' VERSION meson.build hw/virtio/vhost.c \
                         net/net.c MAINTAINERS) | sort -u | while read -r f; do
    if [ -f "$base/$f" ]; then
        mkdir -p "$tree/$(dirname "$f")"
        cp "$base/$f" "$tree/$f"
    fi
done

# The first hunk of 0001: its first context line, changed
p1=$repo/patches/stable/$(grep -v '^#' "$repo/patches/stable/series" | head -1)
file=$(sed -n 's|^+++ b/||p' "$p1" | head -1)
ctx=$(awk '/^@@/ { h = 1; next } h && /^ / { print substr($0, 2); exit }' \
      "$p1")
[ -n "$file" ] && [ -n "$ctx" ] || fail "no context line in $p1"
line=$(grep -nF -- "$ctx" "$tree/$file" | head -1 | cut -d: -f1)
[ -n "$line" ] || fail "the context line is not in $file"
sed -i "${line}s/\$/ \/* changed *\//" "$tree/$file"

# patch's default fuzz would take it: the case is a real one
(cd "$tree" && patch -p1 -s -f --dry-run < "$p1" >/dev/null 2>&1) ||
    fail "the changed tree refuses $p1 even with fuzz; the test proves nothing"
(cd "$tree" && find . -type f -exec md5sum {} + | sort) > "$scratch/before"

out=$(QEMU_SRC=$tree "$repo/build-aux/assemble.sh" 2>&1)
rc=$?
(cd "$tree" && find . -type f -exec md5sum {} + | sort) > "$scratch/after"
if [ $rc -eq 0 ]; then
    fail "assemble.sh applied $(basename "$p1") with fuzz"
fi
echo "$out" | grep -q "$(basename "$p1") does not apply" ||
    fail "no clear message: $out"
cmp -s "$scratch/before" "$scratch/after" ||
    fail "assemble.sh changed the tree it refused"
echo "PASS: assemble-fuzz: a hunk that applies only with fuzz is refused," \
     "the tree is unchanged"
