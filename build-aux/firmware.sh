#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Debian's qemu source package ships no firmware.  Link Debian's binary
# firmware (seabios, qemu-system-data, ipxe-qemu) into the build tree's
# qemu-bundle, where a QEMU run from the build tree looks for it.
#
# Usage: firmware.sh BUILD_DIR

set -euo pipefail
bdir=${1:?usage: firmware.sh BUILD_DIR}
dest=$bdir/qemu-bundle/usr/local/share/qemu
mkdir -p "$dest"
for f in /usr/share/seabios/*.bin /usr/share/qemu/*.bin \
         /usr/lib/ipxe/qemu/*.rom; do
    [ -e "$f" ] || continue
    ln -sfn "$f" "$dest/$(basename "$f")"
done
[ -e "$dest/bios-256k.bin" ] || {
    echo "vhost-dp: error: no bios-256k.bin: install Debian's seabios" >&2
    exit 1
}
[ -e "$dest/efi-virtio.rom" ] || {
    echo "vhost-dp: error: no efi-virtio.rom: install Debian's ipxe-qemu" >&2
    exit 1
}
