#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# fetch-base.sh and the dev base's pin, against Debian's real registry,
# in a cache of its own: a pin that has vanished from the registry gives
# a clear warning and the newest version whose files download; a pinned
# checksum that does not match is refused.

set -uo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
. "$repo/build-aux/base.conf"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

fail() {
    echo "FAIL: fetch-base: $*"
    exit 1
}

run() {
    VHOST_DP_CACHE=$scratch/cache VDP_BASE_CONF=$scratch/base.conf \
        "$repo/build-aux/fetch-base.sh" dev > "$scratch/out" 2>&1
}

# 1. a pin Debian no longer lists
sed 's/^QEMU_DEV_DEBIAN_VERSION=.*/QEMU_DEV_DEBIAN_VERSION=1:10.2.0+ds-9/' \
    "$repo/build-aux/base.conf" > "$scratch/base.conf"
run || fail "a vanished pin was not replaced: $(tail -n 3 "$scratch/out")"
grep -q "warning: the dev pin qemu 1:10.2.0+ds-9 has vanished" \
    "$scratch/out" || fail "no warning for a vanished pin: $(cat "$scratch/out")"
grep -q "QEMU_DEV_DEBIAN_VERSION=" "$scratch/out" ||
    fail "the warning does not say what to pin"
took=$(sed -n 's/.*taking the newest that downloads, \([^ ]*\).*/\1/p' \
       "$scratch/out")
[ -n "$took" ] && [ -f "$(tail -n 1 "$scratch/out")/VERSION" ] ||
    fail "no tree for the version taken: $(tail -n 3 "$scratch/out")"
dpkg --compare-versions "$took" ge "$QEMU_DEV_DEBIAN_VERSION" ||
    fail "took $took, older than the real pin $QEMU_DEV_DEBIAN_VERSION"
echo "PASS: fetch-base: a vanished dev pin: warned, took $took"

# 2. the real pin with a checksum that does not match
rm -rf "$scratch/cache/base"
sed 's/^QEMU_DEV_DSC_SHA256=.*/QEMU_DEV_DSC_SHA256=0000/' \
    "$repo/build-aux/base.conf" > "$scratch/base.conf"
if run; then
    fail "a wrong pinned checksum was accepted"
fi
grep -q "has checksum .*, not the pinned 0000" "$scratch/out" ||
    fail "no clear message for a wrong checksum: $(tail -n 3 "$scratch/out")"
[ ! -e "$scratch/cache/base/current-dev" ] ||
    fail "a base was recorded despite the wrong checksum"
echo "PASS: fetch-base: a dev pin whose checksum differs is refused"
