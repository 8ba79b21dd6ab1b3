#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Fetch a QEMU base (build-aux/base.conf): Debian's qemu source package,
# unpacked with Debian's own patches applied, into a cache shared by
# every clone.  Prints the path of the pristine tree.
#
#   fetch-base.sh [stable|dev] [refresh]     (default: $BASE, or stable)
#
# stable: the newest 10.0.x Debian 13 serves (normally the pin).
# dev: the pinned version, its .dsc checked against the pinned checksum.
# Debian serving a newer one is reported; if the pin has vanished from
# the registry, the newest version whose files download is taken.

set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/apt-env.sh"
. "${VDP_BASE_CONF:-$here/base.conf}"

case "${1:-}" in
stable | dev) vdp_base_select "$1"; shift ;;
*) vdp_base_select ;;
esac
refresh=${1:-}

command -v dpkg-source >/dev/null ||
    vdp_die "dpkg-source is missing: run build-aux/deps.sh first"

if [ "$VDP_BASE" = dev ]; then
    pin=$QEMU_DEV_DEBIAN_VERSION
else
    pin=$QEMU_STABLE_DEBIAN_VERSION
fi
base_dir=$VDP_CACHE/base
mkdir -p "$base_dir"

# Fast path: a base that was already unpacked for this pin.
if [ -f "$base_dir/current$VDP_SUFFIX" ] && [ "$refresh" != refresh ]; then
    tree=$(cat "$base_dir/current$VDP_SUFFIX")
    if [ -f "$tree/.vhost-dp-base" ] &&
       grep -qx "pin=$pin" "$tree/.vhost-dp-base"; then
        echo "$tree"
        exit 0
    fi
fi

vdp_apt_setup
vdp_apt_update
upstream_of() { echo "$1" | sed -e 's/^[0-9]*://' -e 's/[+~-].*//'; }

# The versions of qemu's source Debian offers, newest first
offered() {
    apt-cache "${VDP_APT_OPTS[@]}" showsrc qemu 2>/dev/null |
        sed -n 's/^Version: //p' | sort -u | sort -r -V
}

work=$(mktemp -d "$base_dir/fetch.XXXXXX")
# apt's sandbox user writes the download there
chown _apt "$work" 2>/dev/null || true
trap 'rm -rf "$work"' EXIT

# Download the source package of version $1 into $work/$1
download() {
    mkdir -p "$work/$1"
    chown _apt "$work/$1" 2>/dev/null || true
    (cd "$work/$1" &&
     apt-get "${VDP_APT_OPTS[@]}" -q --download-only source "qemu=$1" \
         > download.log 2>&1)
}

if [ "$VDP_BASE" = stable ]; then
    pick=
    for v in $(offered); do
        case "$(upstream_of "$v")" in
        "$QEMU_STABLE_SERIES".*) ;;
        *) continue ;;
        esac
        if [ -z "$pick" ] || dpkg --compare-versions "$v" gt "$pick"; then
            pick=$v
        fi
    done
    [ -n "$pick" ] ||
        vdp_die "no QEMU $QEMU_STABLE_SERIES.x source in Debian"
    if [ "$pick" != "$pin" ]; then
        if dpkg --compare-versions "$pick" gt "$pin"; then
            vdp_say "note: Debian has moved on to qemu $pick;" \
                    "using it instead of the pinned $pin"
        else
            vdp_say "note: the pinned qemu $pin is not offered; using $pick"
        fi
    fi
    vdp_say "fetching qemu $pick source from Debian"
    download "$pick" ||
        { cat "$work/$pick/download.log" >&2;
          vdp_die "could not download the qemu $pick source package"; }
else
    mapfile -t all < <(offered)
    newer=()
    pinned=false
    for v in "${all[@]}"; do
        if [ "$v" = "$pin" ]; then
            pinned=true
        elif dpkg --compare-versions "$v" gt "$pin"; then
            newer+=("$v")
        fi
    done
    # The newest newer version whose files download
    take=
    for v in "${newer[@]}"; do
        if download "$v"; then
            take=$v
            break
        fi
        vdp_say "note: Debian lists qemu $v, but its files do not download"
    done
    if $pinned; then
        if [ -n "$take" ]; then
            vdp_say "note: Debian serves qemu $take, newer than the dev" \
                    "pin $pin; to move to it, set in build-aux/base.conf:" \
                    "QEMU_DEV_DEBIAN_VERSION=$take" \
                    "QEMU_DEV_DSC_SHA256=$(sha256sum "$work/$take"/*.dsc |
                                           cut -d' ' -f1)"
        fi
        pick=$pin
        vdp_say "fetching qemu $pick source from Debian"
        download "$pick" ||
            { cat "$work/$pick/download.log" >&2;
              vdp_die "could not download the qemu $pick source package"; }
        sum=$(sha256sum "$work/$pick"/*.dsc | cut -d' ' -f1)
        [ "$sum" = "$QEMU_DEV_DSC_SHA256" ] ||
            vdp_die "the .dsc of qemu $pick has checksum $sum, not the" \
                    "pinned $QEMU_DEV_DSC_SHA256"
    elif [ -n "$take" ]; then
        pick=$take
        vdp_say "warning: the dev pin qemu $pin has vanished from Debian's" \
                "registry; taking the newest that downloads, $pick" \
                "(pin it in build-aux/base.conf: QEMU_DEV_DEBIAN_VERSION=$pick" \
                "QEMU_DEV_DSC_SHA256=$(sha256sum "$work/$pick"/*.dsc |
                                       cut -d' ' -f1))"
    else
        vdp_die "the dev pin qemu $pin has vanished from Debian's registry," \
                "and nothing newer downloads (offered: ${all[*]:-none})"
    fi
fi

upstream=$(upstream_of "$pick")
tree=$base_dir/qemu-$upstream
if [ ! -f "$tree/.vhost-dp-base" ] ||
   ! grep -qx "version=$pick" "$tree/.vhost-dp-base"; then
    dsc=$(ls "$work/$pick"/qemu_*.dsc)
    vdp_say "unpacking qemu $pick with Debian's patches"
    # --skip-debianization is not used: Debian's quilt series (which drops
    # the bundled firmware and the pycotap requirement) must be applied.
    (cd "$work" && dpkg-source --no-check -x "$dsc" src \
         > "$work/unpack.log" 2>&1) ||
        { tail -n 20 "$work/unpack.log" >&2;
          vdp_die "dpkg-source could not unpack $dsc"; }
    rm -rf "$tree"
    mv "$work/src" "$tree"
    [ -f "$tree/VERSION" ] || vdp_die "$tree does not look like a QEMU tree"
    printf 'version=%s\n' "$pick" > "$tree/.vhost-dp-base"
fi
# Remember which pin this tree serves, so the next call is instant.
grep -qx "pin=$pin" "$tree/.vhost-dp-base" ||
    printf 'pin=%s\n' "$pin" >> "$tree/.vhost-dp-base"
echo "$tree" > "$base_dir/current$VDP_SUFFIX"
echo "$tree"
