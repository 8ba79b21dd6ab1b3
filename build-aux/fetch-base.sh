#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Fetch the QEMU base: Debian 13's qemu source package, unpacked with
# Debian's own patches applied, into a cache shared by every clone.
# Prints the path of the pristine tree.

set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/apt-env.sh"
. "$here/base.conf"

command -v dpkg-source >/dev/null ||
    vdp_die "dpkg-source is missing: run build-aux/deps.sh first"

base_dir=$VDP_CACHE/base
mkdir -p "$base_dir"

# Fast path: a base that was already unpacked for this pin.
if [ -f "$base_dir/current" ] && [ "${1:-}" != refresh ]; then
    tree=$(cat "$base_dir/current")
    if [ -f "$tree/.vhost-dp-base" ] &&
       grep -qx "pin=$QEMU_BASE_DEBIAN_VERSION" "$tree/.vhost-dp-base"; then
        echo "$tree"
        exit 0
    fi
fi

vdp_apt_setup
vdp_apt_update
avail=$(apt-cache "${VDP_APT_OPTS[@]}" showsrc qemu 2>/dev/null |
        sed -n 's/^Version: //p' | sort -u)
[ -n "$avail" ] ||
    vdp_die "Debian's qemu source package was not found in the package lists"
upstream_of() { echo "$1" | sed -e 's/^[0-9]*://' -e 's/[+~-].*//'; }
pick=
for v in $avail; do
    case "$(upstream_of "$v")" in
    "$QEMU_BASE_SERIES".*) ;;
    *) continue ;;
    esac
    if [ -z "$pick" ] || dpkg --compare-versions "$v" gt "$pick"; then
        pick=$v
    fi
done
[ -n "$pick" ] ||
    vdp_die "no QEMU $QEMU_BASE_SERIES.x source in Debian (found: $avail)"
if [ "$pick" != "$QEMU_BASE_DEBIAN_VERSION" ]; then
    if dpkg --compare-versions "$pick" gt "$QEMU_BASE_DEBIAN_VERSION"; then
        vdp_say "note: Debian has moved on to qemu $pick;" \
                "using it instead of the pinned $QEMU_BASE_DEBIAN_VERSION"
    else
        vdp_say "note: the pinned qemu $QEMU_BASE_DEBIAN_VERSION is not" \
                "offered; using $pick"
    fi
fi

upstream=$(upstream_of "$pick")
tree=$base_dir/qemu-$upstream
if [ ! -f "$tree/.vhost-dp-base" ] ||
   ! grep -qx "version=$pick" "$tree/.vhost-dp-base"; then
    work=$(mktemp -d "$base_dir/fetch.XXXXXX")
    # apt's sandbox user writes the download there
    chown _apt "$work" 2>/dev/null || true
    trap 'rm -rf "$work"' EXIT
    vdp_say "fetching qemu $pick source from Debian"
    (cd "$work" &&
     apt-get "${VDP_APT_OPTS[@]}" -q --download-only source "qemu=$pick" >&2) ||
        vdp_die "could not download the qemu $pick source package"
    dsc=$(ls "$work"/qemu_*.dsc)
    vdp_say "unpacking with Debian's patches"
    # --skip-debianization is not used: Debian's quilt series (which drops
    # the bundled firmware and the pycotap requirement) must be applied.
    (cd "$work" && dpkg-source --no-check -x "$dsc" src >&2) ||
        vdp_die "dpkg-source could not unpack $dsc"
    rm -rf "$tree"
    mv "$work/src" "$tree"
    [ -f "$tree/VERSION" ] || vdp_die "$tree does not look like a QEMU tree"
    printf 'version=%s\n' "$pick" > "$tree/.vhost-dp-base"
fi
# Remember which pin this tree serves, so the next call is instant.
grep -qx "pin=$QEMU_BASE_DEBIAN_VERSION" "$tree/.vhost-dp-base" ||
    printf 'pin=%s\n' "$QEMU_BASE_DEBIAN_VERSION" >> "$tree/.vhost-dp-base"
echo "$tree" > "$base_dir/current"
echo "$tree"
