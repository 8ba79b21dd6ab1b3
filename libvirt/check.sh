#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# libvirt's own unit tests that cover the vhost-dp patches, run in
# build/libvirt-build (make libvirt): one PASS or FAIL line each, with the
# count of libvirt's cases.
#
#   check.sh          run them
#   check.sh --list   the ninja targets they need

set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bld=$(dirname "$here")/build/libvirt-build

# XML to command line (net-vhostdp*), XML round trip and schema
# (net-vhostdp), capability probing, QMP monitor code, hotplug, and the
# domain capabilities
tests=(qemuxml2argvtest qemuxml2xmltest virschematest qemucapabilitiestest
       qemumonitorjsontest qemuhotplugtest domaincapstest)

if [ "${1:-}" = --list ]; then
    printf 'tests/%s\n' "${tests[@]}"
    # and the mock libraries they preload
    ninja -C "$bld" -t targets all | grep -Eo '^tests/lib[a-z0-9_]*\.so'
    exit 0
fi

failed=0
for t in "${tests[@]}"; do
    if [ ! -x "$bld/tests/$t" ]; then
        echo "FAIL: libvirt: $t: not built (make libvirt)"
        failed=1
        continue
    fi
    out=$(cd "$bld" && "./tests/$t" 2>&1)
    rc=$?
    # the last line of a libvirt test: "   ....   1113 OK" or "FAIL"
    count=$(echo "$out" | grep -Eo '[0-9]+ +(OK|FAIL)$' | tail -n 1 | tr -s ' ')
    if [ $rc -eq 0 ]; then
        echo "PASS: libvirt: $t: ${count% OK} cases"
    else
        echo "FAIL: libvirt: $t ($count)"
        echo "$out" | grep -E '^[0-9]+\) .*FAILED' | head -n 10
        failed=1
    fi
done
exit $failed
