#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Build the test guest from Debian packages: the cloud kernel (it boots
# fastest under TCG) and a busybox initramfs with the virtio-net modules,
# iperf3 and an init that runs the guest-side checks and prints PASS/FAIL
# lines on the serial console.  Cached: rebuilt only when an input
# changes.  Prints the directory holding vmlinuz and initrd.gz.

set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
. "$repo/build-aux/apt-env.sh"

out=$repo/build/guest
cache=$VDP_CACHE/guest
mkdir -p "$out" "$cache/debs"

vdp_apt_setup
# the kernel package the cloud metapackage points at, and busybox
kpkg=$(apt-cache "${VDP_APT_OPTS[@]}" depends linux-image-cloud-amd64 \
           2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[^ ]*\).*/\1/p' |
       head -n 1)
if [ -z "$kpkg" ]; then
    vdp_apt_update force
    kpkg=$(apt-cache "${VDP_APT_OPTS[@]}" depends linux-image-cloud-amd64 \
               2>/dev/null |
           sed -n 's/^ *Depends: \(linux-image-[^ ]*\).*/\1/p' | head -n 1)
fi
[ -n "$kpkg" ] || vdp_die "linux-image-cloud-amd64 not found in Debian"
kver=${kpkg#linux-image-}

stamp="$kpkg $(cat "$here/init" "$here/udhcpc.sh" "$0" | sha256sum | cut -c1-16)"
stamp+=" $(dpkg-query -W -f='${Version}' iperf3 2>/dev/null)"
stamp+=" $(dpkg-query -W -f='${Version}' ethtool 2>/dev/null)"
if [ -f "$out/stamp" ] && [ "$(cat "$out/stamp")" = "$stamp" ] &&
   [ -f "$out/vmlinuz" ] && [ -f "$out/initrd.gz" ]; then
    echo "$out"
    exit 0
fi

fetch() {
    local pkg=$1
    if ! ls "$cache/debs/${pkg}_"*.deb >/dev/null 2>&1; then
        vdp_say "downloading $pkg"
        (cd "$cache/debs" && { chown _apt . 2>/dev/null || true; } &&
         apt-get "${VDP_APT_OPTS[@]}" -q download "$pkg" >&2) ||
            vdp_die "could not download $pkg"
    fi
    ls "$cache/debs/${pkg}_"*.deb | tail -n 1
}

kdeb=$(fetch "$kpkg")
bdeb=$(fetch busybox-static)
command -v iperf3 >/dev/null || vdp_die "iperf3 is missing: run build-aux/deps.sh"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dpkg-deb -x "$kdeb" "$work/k"
dpkg-deb -x "$bdeb" "$work/bb"
bb=$work/bb/bin/busybox
root=$work/root
mkdir -p "$root"/{bin,sbin,etc,proc,sys,dev,tmp,lib/modules,usr/bin}
cp "$bb" "$root/bin/busybox"
cp "$here/init" "$root/init"
cp "$here/udhcpc.sh" "$root/etc/udhcpc.sh"
chmod 755 "$root/init" "$root/etc/udhcpc.sh"

# virtio-net and virtio-pci with their dependencies, in load order
mods=$work/k/lib/modules/$kver/kernel
declare -A seen=()
order=()
add_mod() {
    local m=$1 f dep
    [ -n "${seen[$m]:-}" ] && return
    seen[$m]=1
    f=$(find "$mods" -name "$m.ko" | head -n 1)
    if [ -z "$f" ]; then
        # built into the kernel
        grep -q "/$m.ko$" "$work/k/lib/modules/$kver/modules.builtin" ||
            vdp_die "kernel module $m not found in $kpkg"
        return
    fi
    for dep in $(grep -a -o 'depends=[a-z0-9_,-]*' "$f" | head -n 1 |
                 sed 's/depends=//; s/,/ /g'); do
        add_mod "${dep//-/_}"
    done
    cp "$f" "$root/lib/modules/$m.ko"
    order+=("$m")
}
add_mod virtio_pci
add_mod virtio_net
printf '%s\n' "${order[@]}" > "$root/modules.order"

# iperf3 and ethtool (RSS), and the libraries they need, from the host's
# Debian packages
for tool in iperf3 ethtool; do
    exe=$(command -v "$tool" || echo "/usr/sbin/$tool")
    [ -x "$exe" ] || vdp_die "$tool is missing: run build-aux/deps.sh"
    cp "$exe" "$root/usr/bin/$tool"
    for lib in $(ldd "$exe" | grep -o '/[^ ]*'); do
        mkdir -p "$root/$(dirname "$lib")"
        cp -L "$lib" "$root/$lib"
    done
done

cp "$work/k/boot/vmlinuz-$kver" "$out/vmlinuz.new"
(cd "$root" && find . | "$bb" cpio -o -H newc 2>/dev/null) |
    gzip -6 > "$out/initrd.gz.new"
mv "$out/vmlinuz.new" "$out/vmlinuz"
mv "$out/initrd.gz.new" "$out/initrd.gz"
cp "$bb" "$out/busybox"
echo "$stamp" > "$out/stamp"
vdp_say "guest image: $kpkg, modules: ${order[*]}"
echo "$out"
