#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Build the libFuzzer target of the ring core, tests/fuzz/vhost-dp-ring-fuzz.c,
# with clang-16, ASan and UBSan, against the QEMU build of the series:
# hw/virtio/vhost-dp-ring.c from build/qemu-src-tree with the include
# flags of build/qemu-build/compile_commands.json, linked with
# libqemuutil.a as the unit tests are (tests/unit/test-iov's link line).
#
# Usage: build.sh [--coverage]
#   default     build/fuzz/vhost-dp-ring-fuzz (ASan, UBSan)
#   --coverage  build/fuzz/vhost-dp-ring-fuzz-cov (source-based coverage,
#               no sanitizers), for tests/fuzz/coverage.sh
# Prints the binary's path.

set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
qbuild=$repo/build/qemu-build
tree=$repo/build/qemu-src-tree
out=$repo/build/fuzz
CC=${CC:-clang-16}

die() {
    echo "vhost-dp: fuzz: error: $*" >&2
    exit 1
}

[ -f "$qbuild/compile_commands.json" ] && [ -f "$qbuild/libqemuutil.a" ] ||
    die "no QEMU build in $qbuild (run make first)"
command -v "$CC" >/dev/null ||
    die "$CC is missing (build-aux/deps.sh fuzz installs it)"

variant=asan
[ "${1:-}" != --coverage ] || variant=cov
case $variant in
asan)
    bin=$out/vhost-dp-ring-fuzz
    obj=$out/obj
    san=(-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined)
    ;;
cov)
    bin=$out/vhost-dp-ring-fuzz-cov
    obj=$out/obj-cov
    san=(-fsanitize=fuzzer -fprofile-instr-generate -fcoverage-mapping)
    ;;
esac
mkdir -p "$obj"

# The -I/-iquote/-isystem/-D/-std flags QEMU compiles the core with,
# absolute (config-host.h is found in the build directory)
mapfile -t cflags < <(python3 - "$qbuild" <<'PY'
import json, os, shlex, sys
qbuild = sys.argv[1]
for c in json.load(open(os.path.join(qbuild, "compile_commands.json"))):
    if c["file"].endswith("hw/virtio/vhost-dp-ring.c"):
        break
else:
    sys.exit("hw/virtio/vhost-dp-ring.c is not in compile_commands.json")
args = shlex.split(c["command"]) if "command" in c else c["arguments"]
d = c["directory"]
absp = lambda p: p if os.path.isabs(p) else os.path.normpath(os.path.join(d, p))
i = 0
while i < len(args):
    a = args[i]
    if a in ("-iquote", "-isystem", "-I"):
        print(a); print(absp(args[i + 1])); i += 2; continue
    if a.startswith("-I"):
        print("-I" + absp(a[2:]))
    elif a.startswith("-D") or a.startswith("-std="):
        print(a)
    i += 1
PY
)

# The objects and libraries a unit test links with (but its own), absolute
mapfile -t ldflags < <(python3 - "$qbuild" <<'PY'
import os, shlex, sys
qbuild = sys.argv[1]
lines = open(os.path.join(qbuild, "build.ninja")).read().split("\n")
rule = "build tests/unit/test-iov:"
for n, l in enumerate(lines):
    if l.startswith(rule):
        break
else:
    sys.exit("no link rule for tests/unit/test-iov in build.ninja")
for o in l[len(rule):].split("|")[0].split()[1:]:
    if not o.startswith("tests/unit/"):
        print(os.path.join(qbuild, o))
for l in lines[n + 1:]:
    if not l.startswith(" "):
        sys.exit("no LINK_ARGS for tests/unit/test-iov")
    l = l.strip()
    if l.startswith("LINK_ARGS = "):
        break
for a in shlex.split(l[len("LINK_ARGS = "):]):
    if a.endswith((".a", ".so")) and not os.path.isabs(a):
        a = os.path.join(qbuild, a)
    print(a)
PY
)

common=(-g -O1 "${san[@]}" -Wall -Wno-unused-function "${cflags[@]}")
"$CC" "${common[@]}" -c "$tree/hw/virtio/vhost-dp-ring.c" \
    -o "$obj/vhost-dp-ring.o"
"$CC" "${common[@]}" -c "$here/vhost-dp-ring-fuzz.c" \
    -o "$obj/vhost-dp-ring-fuzz.o"
"$CC" -g "${san[@]}" -Wl,--wrap=call_rcu1 -o "$bin.tmp" "$obj/vhost-dp-ring.o" \
    "$obj/vhost-dp-ring-fuzz.o" "${ldflags[@]}"
mv "$bin.tmp" "$bin"
echo "$bin"
