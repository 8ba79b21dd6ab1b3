#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Install what building and testing vhost-dp needs, from Debian's packages.
# Unattended and idempotent; quick when everything is present.
#
# Usage: deps.sh [bench|fuzz]   (bench: also what make bench needs;
#                               fuzz: also the ring fuzzer's toolchain)

set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/apt-env.sh"

[ "$(id -u)" = 0 ] || vdp_die "installing packages needs root (try: sudo make check)"

build_pkgs=(
    build-essential ninja-build pkg-config ccache dpkg-dev git perl
    python3 python3-venv python3-setuptools flex bison bzip2 xz-utils
    libglib2.0-dev libfdt-dev libpixman-1-dev zlib1g-dev
    libslirp-dev liburing-dev libdpdk-dev libxdp-dev libbpf-dev
    # libvirt/: Debian 12's libvirt with the vhost-dp patches
    libxml2-dev libxml2-utils xsltproc libgnutls28-dev libyajl-dev
    libtirpc-dev libcap-ng-dev libnl-3-dev libnl-route-3-dev libudev-dev
    libpciaccess-dev libreadline-dev python3-docutils
)
run_pkgs=(
    seabios qemu-system-data ipxe-qemu iproute2 procps iperf3 ethtool
    libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients
)

bench_pkgs=(
    dpdk-dev python3-matplotlib
)

# tests/fuzz: libFuzzer with ASan/UBSan, and llvm-cov for its coverage
fuzz_pkgs=(
    clang-16 libclang-rt-16-dev libfuzzer-16-dev llvm-16
)

want=("${build_pkgs[@]}" "${run_pkgs[@]}")
case "${1:-}" in
bench) want+=("${bench_pkgs[@]}") ;;
fuzz) want+=("${fuzz_pkgs[@]}") ;;
esac
missing=()
for p in "${want[@]}"; do
    dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qx installed ||
        missing+=("$p")
done

meson_ok() {
    command -v meson >/dev/null &&
        dpkg --compare-versions "$(meson --version 2>/dev/null || echo 0)" ge 1.5
}

if [ ${#missing[@]} -eq 0 ] && meson_ok; then
    exit 0
fi

vdp_apt_setup
vdp_apt_update
export DEBIAN_FRONTEND=noninteractive
# apt-get with its output in a log: a line of progress every 20 seconds
# and a count at the end, the log's tail if it fails
apt_get() {
    local log=$VDP_APT/install.log pid rc

    apt-get "${VDP_APT_OPTS[@]}" -q -y --no-install-recommends "$@" \
        > "$log" 2>&1 &
    pid=$!
    while ! wait_timeout "$pid" 20; do
        vdp_say "  ... $(grep -c '^Setting up' "$log") packages set up"
    done
    wait "$pid"
    rc=$?
    [ $rc -eq 0 ] || tail -n 30 "$log"
    vdp_say "  $(grep -c '^Setting up' "$log") packages set up (log: $log)"
    return $rc
}

# Has process $1 ended within $2 seconds?
wait_timeout() {
    local i

    for ((i = 0; i < $2; i++)); do
        kill -0 "$1" 2>/dev/null || return 0
        sleep 1
    done
    ! kill -0 "$1" 2>/dev/null
}
if [ ${#missing[@]} -gt 0 ]; then
    vdp_say "installing: ${missing[*]}"
    apt_get install "${missing[@]}" ||
        vdp_die "could not install ${missing[*]} from the Debian package" \
                "registry (see above)"
fi
if ! meson_ok; then
    vdp_say "installing meson from bookworm-backports"
    apt_get install -t bookworm-backports meson ||
        vdp_die "could not install meson from bookworm-backports (see above)"
fi
meson_ok || vdp_die "meson >= 1.5 is needed, found $(meson --version 2>/dev/null || echo none)"
