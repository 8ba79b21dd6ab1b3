#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Assemble the QEMU tree of the series for a base ($BASE: stable, the
# default, or dev; see build-aux/base.conf): the base (Debian's QEMU, or
# $QEMU_SRC), the overlay's new files laid in as symlinks (an edit in the
# repository rebuilds incrementally), and the base's hook patches,
# patches/$BASE/series, applied exactly and idempotently.  New files that
# the base needs changed (patches/$BASE/overlay/FILE.diff) are copies with
# their diff applied.  Prints the tree's path.

set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
. "$here/apt-env.sh"
. "$here/base.conf"
vdp_base_select
pdir=$repo/patches/$VDP_BASE
[ -f "$pdir/series" ] || vdp_die "no patch set for BASE=$VDP_BASE ($pdir)"

build=$repo/build
mkdir -p "$build"

# Files of the repository that are not part of the QEMU tree
is_project_file() {
    case "$1" in
    README.md | Makefile | MAINTAINERS | .gitignore | .ci/* | build-aux/* | \
    patches/* | tests/bench/* | tests/guest/* | tests/build/* | \
    tests/fuzz/*) return 0 ;;
    esac
    return 1
}

looks_like_qemu() {
    [ -f "$1/VERSION" ] && [ -f "$1/meson.build" ] &&
        [ -f "$1/hw/virtio/vhost.c" ] && [ -f "$1/net/net.c" ]
}

if [ -n "${QEMU_SRC:-}" ]; then
    tree=$(cd "$QEMU_SRC" 2>/dev/null && pwd) ||
        vdp_die "QEMU_SRC=$QEMU_SRC does not exist"
    looks_like_qemu "$tree" ||
        vdp_die "QEMU_SRC=$QEMU_SRC is not a QEMU source tree" \
                "(no VERSION, meson.build, hw/virtio/vhost.c, net/net.c)"
    if [ "$VDP_BASE" = dev ]; then
        series=$(echo "$QEMU_DEV_DEBIAN_VERSION" |
                 sed -e 's/^[0-9]*://' -e 's/^\([0-9]*\.[0-9]*\).*/\1/')
    else
        series=$QEMU_STABLE_SERIES
    fi
    case "$(cat "$tree/VERSION")" in
    "$series".*) ;;
    *) vdp_say "warning: QEMU_SRC is QEMU $(cat "$tree/VERSION"); BASE=$VDP_BASE" \
               "is $series.x" ;;
    esac
else
    base=$("$here/fetch-base.sh" "$VDP_BASE")
    tree=$build/qemu-src-tree$VDP_SUFFIX
    if [ ! -f "$tree/.vhost-dp/base" ] ||
       [ "$(cat "$tree/.vhost-dp/base")" != "$base" ]; then
        vdp_say "copying the base $base"
        rm -rf "$tree" "$tree.tmp"
        cp -a "$base" "$tree.tmp"
        mkdir -p "$tree.tmp/.vhost-dp"
        echo "$base" > "$tree.tmp/.vhost-dp/base"
        mv "$tree.tmp" "$tree"
    fi
fi

state=$tree/.vhost-dp

# Before touching a tree that has none of the series yet, check that the
# patches apply, on a scratch copy of the files they change.
if [ ! -s "$state/applied/series" ]; then
    scratch=$(mktemp -d)
    trap 'rm -rf "$scratch"' EXIT
    for p in $(grep -v '^#' "$pdir/series"); do
        sed -n 's|^+++ b/||p' "$pdir/$p"
    done | sort -u | while read -r f; do
        if [ -f "$tree/$f" ]; then
            mkdir -p "$scratch/$(dirname "$f")"
            cp "$tree/$f" "$scratch/$f"
        fi
    done
    for p in $(grep -v '^#' "$pdir/series"); do
        if ! (cd "$scratch" &&
              patch -p1 -F0 -s -f --no-backup-if-mismatch < "$pdir/$p" \
              >/dev/null 2>&1) &&
           ! (cd "$tree" &&
              patch -p1 -F0 -R -s -f --dry-run < "$pdir/$p" \
              >/dev/null 2>&1); then
            vdp_die "patch $p does not apply to $tree; the tree is unchanged"
        fi
    done
fi
mkdir -p "$state/applied"

# 1. The overlay: symlink every file of the series into the tree, or
# copy it with its diff for this base applied.
mkdir -p "$state/overlay"
(cd "$repo" && git ls-files --cached --others --exclude-standard) | while read -r f; do
    is_project_file "$f" && continue
    diff=$pdir/overlay/$f.diff
    stamp=$state/overlay/$(echo "$f" | tr / _)
    if [ -f "$diff" ]; then
        want="$(sha256sum < "$repo/$f") $(sha256sum < "$diff")"
        if [ -f "$tree/$f" ] && [ ! -L "$tree/$f" ] && [ -f "$stamp" ] &&
           [ "$(cat "$stamp")" = "$want" ]; then
            continue
        fi
        if [ -e "$tree/$f" ] && [ ! -L "$tree/$f" ] && [ ! -f "$stamp" ]; then
            vdp_die "overlay file $f would replace a file of the QEMU tree"
        fi
        mkdir -p "$tree/$(dirname "$f")"
        rm -f "$tree/$f"
        cp "$repo/$f" "$tree/$f.new"
        patch -F0 -s -f --no-backup-if-mismatch "$tree/$f.new" < "$diff" \
              >/dev/null 2>&1 ||
            { rm -f "$tree/$f.new" "$tree/$f.new.rej";
              vdp_die "patches/$VDP_BASE/overlay/$f.diff does not apply" \
                      "exactly to $f"; }
        mv "$tree/$f.new" "$tree/$f"
        echo "$want" > "$stamp"
        continue
    fi
    if [ -e "$tree/$f" ] && [ ! -L "$tree/$f" ] && [ ! -f "$stamp" ]; then
        vdp_die "overlay file $f would replace a file of the QEMU tree"
    fi
    mkdir -p "$tree/$(dirname "$f")"
    rm -f "$stamp"
    [ "$(readlink "$tree/$f" 2>/dev/null)" = "$repo/$f" ] ||
        ln -sfn "$repo/$f" "$tree/$f"
done
# drop links to files the repository no longer has
find "$tree" -path "$tree/.vhost-dp" -prune -o -type l -lname "$repo/*" \
     -print 2>/dev/null | while read -r l; do
    [ -e "$l" ] || rm -f "$l"
done

# 2. The hook patches, in order.  What is applied is recorded in
# .vhost-dp/applied; a changed series is re-applied from the first patch
# that differs, after reverting the old ones from there.
mapfile -t want < <(grep -v '^#' "$pdir/series" | sed '/^$/d')
mapfile -t have < <(cat "$state/applied/series" 2>/dev/null || true)
keep=0
while [ $keep -lt ${#want[@]} ] && [ $keep -lt ${#have[@]} ] &&
      [ "${want[$keep]}" = "${have[$keep]}" ] &&
      cmp -s "$pdir/${want[$keep]}" "$state/applied/${have[$keep]}"; do
    keep=$((keep + 1))
done
for ((i = ${#have[@]} - 1; i >= keep; i--)); do
    p=$state/applied/${have[$i]}
    vdp_say "reverting ${have[$i]}"
    (cd "$tree" && patch -p1 -F0 -R -s -f --no-backup-if-mismatch < "$p") ||
        vdp_die "could not revert ${have[$i]} in $tree"
    rm -f "$p"
    printf '%s\n' "${have[@]:0:$i}" | sed '/^$/d' > "$state/applied/series"
done
for ((i = keep; i < ${#want[@]}; i++)); do
    p=$pdir/${want[$i]}
    [ -f "$p" ] || vdp_die "patches/$VDP_BASE/series names ${want[$i]}, which is missing"
    if ! (cd "$tree" && patch -p1 -F0 -s -f --dry-run < "$p" >/dev/null 2>&1); then
        if (cd "$tree" && patch -p1 -F0 -R -s -f --dry-run < "$p" >/dev/null 2>&1)
        then
            vdp_say "${want[$i]} is already applied to $tree"
        else
            (cd "$tree" && patch -p1 -F0 -f --dry-run < "$p") >&2 || true
            vdp_die "patch ${want[$i]} does not apply to $tree"
        fi
    else
        vdp_say "applying ${want[$i]}"
        (cd "$tree" && patch -p1 -F0 -s -f --no-backup-if-mismatch < "$p") ||
            vdp_die "patch ${want[$i]} failed on $tree"
    fi
    cp "$p" "$state/applied/${want[$i]}"
    printf '%s\n' "${want[@]:0:$((i + 1))}" > "$state/applied/series"
done
"$here/maintainers.sh" "$tree"
ln -sfn "$tree" "$build/qemu-src$VDP_SUFFIX"
echo "$tree"
