#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# libvirt with the vhost-dp patches: Debian 12's libvirt source package
# (fetched with apt-get source, like the QEMU base), the series of
# libvirt/patches applied with git am, built in build/libvirt-build.
#
#   build.sh            fetch, apply and build (quick when nothing changed)
#   build.sh export     write the commits of build/libvirt-src on top of
#                       the base back to libvirt/patches (development)
#
# Built: libvirtd, virtlogd, virsh, the QEMU driver and the unit tests
# libvirt/check.sh runs.  Not installed: tests/libvirt runs them from
# the build directory.

set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
. "$repo/build-aux/apt-env.sh"

# Debian 12's libvirt; apt-get source takes the newest 9.0.0 it serves
LIBVIRT_SERIES=9.0.0
src=$repo/build/libvirt-src
bld=$repo/build/libvirt-build
cache=$VDP_CACHE/libvirt
base_msg="libvirt base: Debian's source package with Debian's patches"

export CCACHE_DIR=${CCACHE_DIR:-$VDP_CACHE/ccache}
export CCACHE_BASEDIR=$repo/build
export CCACHE_NOHASHDIR=1

patches=("$here"/patches/*.patch)

if [ "${1:-}" = export ]; then
    base=$(git -C "$src" log --format=%H --grep="^$base_msg" | tail -n 1)
    [ -n "$base" ] || vdp_die "$src has no base commit"
    rm -f "$here"/patches/*.patch
    git -C "$src" format-patch -q --no-signature --zero-commit \
        -o "$here/patches" "$base..HEAD"
    vdp_say "exported $(ls "$here"/patches/*.patch | wc -l) patches to" \
            "libvirt/patches"
    exit 0
fi

# The unpacked source package, once per version, in the shared cache
fetch() {
    local v work
    [ -f "$cache/current" ] && [ -d "$(cat "$cache/current")" ] &&
        { cat "$cache/current"; return; }
    vdp_apt_setup
    vdp_apt_update
    v=$(apt-cache "${VDP_APT_OPTS[@]}" showsrc libvirt 2>/dev/null |
        sed -n 's/^Version: //p' | grep "^$LIBVIRT_SERIES-" | sort -V |
        tail -n 1)
    [ -n "$v" ] || vdp_die "Debian serves no libvirt $LIBVIRT_SERIES source"
    vdp_say "fetching libvirt $v source from Debian"
    mkdir -p "$cache"
    work=$(mktemp -d "$cache/fetch.XXXXXX")
    chown _apt "$work" 2>/dev/null || true
    (cd "$work" &&
     apt-get "${VDP_APT_OPTS[@]}" -q --download-only source "libvirt=$v" \
         > download.log 2>&1 &&
     dpkg-source --no-check -x libvirt_*.dsc src > unpack.log 2>&1) ||
        { tail -n 20 "$work"/*.log >&2; rm -rf "$work";
          vdp_die "could not fetch or unpack libvirt $v"; }
    rm -rf "$cache/libvirt-$v"
    mv "$work/src" "$cache/libvirt-$v"
    rm -rf "$cache/libvirt-$v/.pc" "$work"
    echo "$v" > "$cache/libvirt-$v/.vhost-dp-version"
    echo "$cache/libvirt-$v" > "$cache/current"
    echo "$cache/libvirt-$v"
}

mkdir -p "$repo/build"
pristine=$(fetch)
version=$(cat "$pristine/.vhost-dp-version")
want=$( (echo "$version"; cat "${patches[@]}") | sha256sum | cut -c1-16)

# The tree: the base commit and the series, remade when either changed
if [ "$(cat "$src/.vhost-dp-stamp" 2>/dev/null)" != "$want" ]; then
    if [ -d "$src/.git" ] && [ -n "$(git -C "$src" status --porcelain)" ]; then
        vdp_die "$src has uncommitted changes: commit and run" \
                "'libvirt/build.sh export', or remove it"
    fi
    vdp_say "applying ${#patches[@]} patches to libvirt $version"
    rm -rf "$src"
    cp -a "$pristine" "$src"
    git -C "$src" init -q
    git -C "$src" add -A
    git -C "$src" -c user.name=vhost-dp -c user.email=vhost-dp@localhost \
        commit -q -m "$base_msg" -m "libvirt $version"
    git -C "$src" -c user.name=vhost-dp -c user.email=vhost-dp@localhost \
        am -q --committer-date-is-author-date "${patches[@]}" ||
        vdp_die "the libvirt patches do not apply to $version"
    echo "$want" > "$src/.vhost-dp-stamp"
    echo ".vhost-dp-stamp" >> "$src/.git/info/exclude"
fi

if [ ! -f "$bld/build.ninja" ]; then
    vdp_say "configuring libvirt (meson)"
    CC="ccache gcc" meson setup "$bld" "$src" \
        --prefix=/usr --sysconfdir=/etc --localstatedir=/var \
        -Dtests=enabled -Ddocs=disabled -Dnls=disabled \
        -Dexpensive_tests=disabled \
        -Ddriver_qemu=enabled -Ddriver_libvirtd=enabled \
        -Ddriver_remote=enabled -Ddriver_test=enabled \
        -Ddriver_network=disabled -Ddriver_interface=disabled \
        -Ddriver_bhyve=disabled -Ddriver_esx=disabled \
        -Ddriver_hyperv=disabled -Ddriver_libxl=disabled \
        -Ddriver_lxc=disabled -Ddriver_ch=disabled \
        -Ddriver_openvz=disabled -Ddriver_vbox=disabled \
        -Ddriver_vmware=disabled -Ddriver_vz=disabled \
        -Ddriver_secrets=disabled \
        -Dstorage_dir=disabled -Dstorage_disk=disabled \
        -Dstorage_fs=disabled -Dstorage_gluster=disabled \
        -Dstorage_iscsi=disabled -Dstorage_iscsi_direct=disabled \
        -Dstorage_lvm=disabled -Dstorage_mpath=disabled \
        -Dstorage_rbd=disabled -Dstorage_scsi=disabled \
        -Dstorage_vstorage=disabled -Dstorage_zfs=disabled \
        -Dapparmor=disabled -Dsecdriver_apparmor=disabled \
        -Dapparmor_profiles=disabled -Dselinux=disabled \
        -Dsecdriver_selinux=disabled -Dfirewalld=disabled \
        -Dfirewalld_zone=disabled -Dpolkit=disabled -Dsanlock=disabled \
        -Dwireshark_dissector=disabled -Dglusterfs=disabled \
        -Dhost_validate=disabled -Dlogin_shell=disabled \
        -Dinit_script=none -Ddtrace=disabled -Dbash_completion=disabled \
        -Dlibssh=disabled -Dlibssh2=disabled -Dsasl=disabled \
        -Dcurl=disabled -Dfuse=disabled -Dnumactl=disabled \
        -Dnetcf=disabled -Daudit=disabled -Dpm_utils=disabled \
        > "$repo/build/libvirt-configure.log" 2>&1 ||
        { tail -n 30 "$repo/build/libvirt-configure.log" >&2;
          vdp_die "meson setup of libvirt failed"; }
fi

targets=(src/libvirtd src/virtlogd tools/virsh src/libvirt_driver_qemu.so
         src/libvirt_iohelper)
targets+=($("$here/check.sh" --list))
"$repo/build-aux/ninja-build.sh" libvirt "$bld" "${targets[@]}"
