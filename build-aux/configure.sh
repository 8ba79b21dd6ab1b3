#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Configure the assembled tree (build-aux/assemble.sh) into build/qemu-build
# (build/qemu-build-dev for BASE=dev) with a lean set of features: x86_64 system emulation with TCG and KVM,
# the vhost backends the benchmark compares against, slirp, io_uring and
# the vhost dataplane.  Re-runs configure only when the flags change.

set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
. "$here/apt-env.sh"
vdp_base_select

tree=${1:?usage: configure.sh TREE}
bdir=${VDP_BUILD_DIR:-$repo/build/qemu-build$VDP_SUFFIX}
flags=(
    --python=/usr/bin/python3
    --target-list=x86_64-softmmu
    --without-default-features
    --enable-tcg --enable-kvm
    --enable-vhost-kernel --enable-vhost-net --enable-vhost-user
    --enable-slirp --enable-linux-io-uring --enable-pixman
    --enable-vhost-dp --enable-vhost-dp-dpdk --enable-bpf
    --disable-download --disable-install-blobs --disable-docs
    --disable-tools
    --enable-werror
    ${VHOST_DP_CONFIGURE_EXTRA:-}
)
if [ -x /usr/lib/ccache/gcc ]; then
    flags+=(--cc=/usr/lib/ccache/gcc --cxx=/usr/lib/ccache/g++)
fi

want="$tree ${flags[*]}"
if [ -f "$bdir/build.ninja" ] && [ -f "$bdir/.vhost-dp-configured" ] &&
   [ "$(cat "$bdir/.vhost-dp-configured")" = "$want" ]; then
    exit 0
fi
rm -rf "$bdir"
mkdir -p "$bdir"
vdp_say "configuring QEMU in $bdir"
if ! (cd "$bdir" && "$tree/configure" "${flags[@]}" > configure.log 2>&1); then
    tail -n 30 "$bdir/configure.log" >&2
    vdp_die "QEMU's configure failed (full log: $bdir/configure.log)"
fi
grep -q "vhost-dp support *: *YES" "$bdir/meson-logs/meson-log.txt" ||
    grep -qi "vhost-dp support.*YES" "$bdir/configure.log" ||
    vdp_die "configure did not enable vhost-dp (see $bdir/configure.log)"
echo "$want" > "$bdir/.vhost-dp-configured"
