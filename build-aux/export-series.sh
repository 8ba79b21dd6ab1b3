#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Export the series as git format-patch files with a cover letter,
# following build-aux/series.manifest, against a QEMU base: $BASE=dev (the
# default: the newest QEMU in Debian, the series upstream reviews) or
# stable (the backport to Debian 13's 10.0).  Writes build/series/ (dev)
# or build/series-stable/.
#
#   export-series.sh           export
#   export-series.sh --check   export, then apply it with git am to a
#                              pristine copy of the base and run QEMU's
#                              checkpatch.pl on every patch
#   export-series.sh --build-each
#                              --check, and build every commit

set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
. "$here/apt-env.sh"
vdp_base_select "${BASE:-dev}"
pdir=$repo/patches/$VDP_BASE

check=false
build_each=false
case "${1:-}" in
"") ;;
--check) check=true ;;
--build-each) check=true; build_each=true ;;
*) vdp_die "usage: export-series.sh [--check|--build-each]" ;;
esac

manifest=$here/series.manifest
if [ "$VDP_BASE" = dev ]; then
    out=$repo/build/series
else
    out=$repo/build/series-stable
fi
work=$repo/build/export-$VDP_BASE
base=$("$here/fetch-base.sh" "$VDP_BASE")
author_name=$(git -C "$repo" config user.name || echo "vhost-dp developers")
author_email=$(git -C "$repo" config user.email || echo "dev@vhost-dp.invalid")
export GIT_AUTHOR_NAME=$author_name GIT_AUTHOR_EMAIL=$author_email
export GIT_COMMITTER_NAME=$author_name GIT_COMMITTER_EMAIL=$author_email
export GIT_AUTHOR_DATE="2026-01-01T00:00:00Z"
export GIT_COMMITTER_DATE=$GIT_AUTHOR_DATE

# A git repository of the pristine base, made once per base and reused.
base_git() {
    local dest=$1 stamp
    stamp="v2 $base $(cat "$base/.vhost-dp-base" | tr '\n' ' ')"
    if [ -f "$dest/.git/vhost-dp-base" ] &&
       [ "$(cat "$dest/.git/vhost-dp-base")" = "$stamp" ]; then
        git -C "$dest" am --abort >/dev/null 2>&1 || true
        git -C "$dest" reset -q --hard base
        git -C "$dest" clean -q -fd
        return
    fi
    rm -rf "$dest"
    vdp_say "making a git copy of the base in $dest"
    cp -a "$base" "$dest"
    rm -f "$dest/.vhost-dp-base"
    git -C "$dest" init -q
    # -f: the base's subprojects are in QEMU's .gitignore
    git -C "$dest" add -A -f
    git -C "$dest" commit -q -m "QEMU $(cat "$dest/VERSION") (Debian base)"
    git -C "$dest" tag base
    echo "$stamp" > "$dest/.git/vhost-dp-base"
}

# Copy an overlay file; meson.build files keep only the lines whose
# source files (and subdir()s) exist in the tree at this commit.
copy_file() {
    local f=$1 tree=$2
    [ -f "$repo/$f" ] || vdp_die "series.manifest names $f, which is missing"
    mkdir -p "$tree/$(dirname "$f")"
    if [ "$(basename "$f")" = meson.build ]; then
        local dir line src
        dir=$(dirname "$f")
        : > "$tree/$f"
        while IFS= read -r line; do
            src=$(echo "$line" | sed -n "s/.*'\([^']*\.c\)'.*/\1/p")
            if [ -n "$src" ] && [ ! -f "$tree/$dir/$src" ]; then
                continue
            fi
            src=$(echo "$line" | sed -n "s/^ *subdir('\([^']*\)') *$/\1/p")
            if [ -n "$src" ] && [ ! -f "$tree/$dir/$src/meson.build" ]; then
                continue
            fi
            printf '%s\n' "$line" >> "$tree/$f"
        done < "$repo/$f"
    else
        cp "$repo/$f" "$tree/$f"
    fi
    # the file as this base needs it
    if [ -f "$pdir/overlay/$f.diff" ]; then
        patch -F0 -s -f --no-backup-if-mismatch "$tree/$f" \
              < "$pdir/overlay/$f.diff" > /dev/null ||
            vdp_die "patches/$VDP_BASE/overlay/$f.diff does not apply"
    fi
}

# Parse the manifest into blocks and replay them as commits.
export_commits() {
    local tree=$1 kind="" subject="" body="" used_files="" used_patches=""
    local only=""
    local -a files=() patches=()
    local maint=false cover_subject="" cover_body=""

    flush() {
        case "$kind" in
        cover)
            cover_subject=$subject
            cover_body=$body
            ;;
        commit)
            local p f
            if [ -n "$only" ] && [ "$only" != "$VDP_BASE" ]; then
                kind="" subject="" body="" files=() patches=() maint=false
                only=""
                return
            fi
            for p in "${patches[@]}"; do
                git -C "$tree" apply --index "$pdir/$p" ||
                    vdp_die "patches/$VDP_BASE/$p does not apply at '$subject'"
                used_patches+=" $p"
            done
            for f in "${files[@]}"; do
                copy_file "$f" "$tree"
                used_files+=" $f"
            done
            # files of earlier commits whose meson lines may now resolve
            for f in $used_files; do
                [ "$(basename "$f")" = meson.build ] && copy_file "$f" "$tree"
            done
            if $maint; then
                "$here/maintainers.sh" "$tree"
            fi
            git -C "$tree" add -A
            printf '%s\n\n%s\nSigned-off-by: %s <%s>\n' "$subject" \
                "$(printf '%s' "$body" | sed -e :a -e '/^\n*$/{$d;N;ba' -e '}')" \
                "$author_name" "$author_email" |
                git -C "$tree" commit -q -F - ||
                vdp_die "commit '$subject' is empty"
            ;;
        esac
        kind="" subject="" body="" files=() patches=() maint=false only=""
    }

    while IFS= read -r line || [ -n "$line" ]; do
        case "$line" in
        "#"*) continue ;;
        "%cover "*) flush; kind=cover; subject=${line#%cover } ;;
        "%commit "*) flush; kind=commit; subject=${line#%commit } ;;
        "%patch "*) patches+=("${line#%patch }") ;;
        "%file "*) files+=("${line#%file }") ;;
        "%maintainers") maint=true ;;
        "%only "*) only=${line#%only } ;;
        "%$VDP_BASE "*) body+="${line#%"$VDP_BASE" }"$'\n' ;;
        "%dev "* | "%stable "*) ;;
        *) [ -n "$kind" ] && body+="$line"$'\n' ;;
        esac
    done < "$manifest"
    flush

    # everything of the series must be in some commit
    local p f missing=""
    for p in $(grep -v '^#' "$pdir/series"); do
        case " $used_patches " in *" $p "*) ;; *) missing+=" patches/$VDP_BASE/$p" ;; esac
    done
    while read -r f; do
        case "$f" in
        README.md | Makefile | MAINTAINERS | .gitignore | .ci/* | \
        build-aux/* | patches/* | tests/bench/* | tests/guest/* | \
        tests/build/* | tests/fuzz/* | tests/libvirt/* | libvirt/*) continue ;;
        esac
        case " $used_files " in *" $f "*) ;; *) missing+=" $f" ;; esac
    done < <(git -C "$repo" ls-files --cached --others --exclude-standard)
    [ -z "$missing" ] ||
        vdp_die "not in build-aux/series.manifest:$missing"

    COVER_SUBJECT=$cover_subject
    COVER_BODY=$cover_body
}

mkdir -p "$work"
base_git "$work/tree"
export_commits "$work/tree"
rm -rf "$out"
git -C "$work/tree" format-patch -q --cover-letter --no-signature \
    --zero-commit -o "$out" base..HEAD
cover=$(ls "$out"/0000-cover-letter.patch)
COVER_FILE=$(mktemp)
printf '%s' "$COVER_BODY" > "$COVER_FILE"
awk -v subj="$COVER_SUBJECT" -v bodyfile="$COVER_FILE" '
    /\*\*\* SUBJECT HERE \*\*\*/ { sub(/\*\*\* SUBJECT HERE \*\*\*/, subj) }
    /\*\*\* BLURB HERE \*\*\*/ {
        while ((getline l < bodyfile) > 0) print l
        next
    }
    { print }' "$cover" > "$cover.new"
mv "$cover.new" "$cover"
rm -f "$COVER_FILE"
n=$(ls "$out"/*.patch | wc -l)
vdp_say "wrote $((n - 1)) patches for QEMU $(cat "$base/VERSION") ($VDP_BASE)" \
        "and a cover letter to ${out#"$repo"/}"

$check || exit 0

# Apply to a pristine copy with git am, then checkpatch every patch.
base_git "$work/am"
mapfile -t pl < <(ls "$out"/*.patch | grep -v 0000-cover-letter)
git -C "$work/am" am -q "${pl[@]}" ||
    vdp_die "git am could not apply the series to a pristine base"
am_count=$(git -C "$work/am" rev-list --count base..HEAD)
[ "$am_count" -eq $((n - 1)) ] ||
    vdp_die "git am applied $am_count of $((n - 1)) patches"
vdp_say "git am applied all $am_count patches to a pristine base"

errors=0
for p in "${pl[@]}"; do
    rc=0
    res=$(cd "$work/am" && perl scripts/checkpatch.pl --patch "$p" 2>&1) ||
        rc=$?
    if [ $rc -ne 0 ] || ! echo "$res" | grep -q '^total: 0 errors'; then
        echo "== $(basename "$p")"
        echo "$res" | grep -E -A4 '^(ERROR|fatal|total)' | head -40
        errors=$((errors + 1))
    fi
done
if [ $errors -gt 0 ]; then
    vdp_die "checkpatch found errors in $errors patches"
fi
vdp_say "checkpatch: no errors in $am_count patches"

$build_each || exit 0
cc_flags=()
if [ -x /usr/lib/ccache/gcc ]; then
    cc_flags=(--cc=/usr/lib/ccache/gcc --cxx=/usr/lib/ccache/g++)
    export CCACHE_DIR=${CCACHE_DIR:-$VDP_CACHE/ccache}
fi
# One build directory for the whole walk: configured again only where a
# commit adds a build option the walk turns on, else built incrementally
# (meson notices the meson.build files a commit changes).
bdir=$work/build-each
configured=none
rm -rf "$bdir"
for c in $(git -C "$work/am" rev-list --reverse base..HEAD); do
    git -C "$work/am" checkout -q "$c"
    vdp_say "building $(git -C "$work/am" log -1 --format=%s)"
    opts=()
    grep -q "'vhost_dp'" "$work/am/meson_options.txt" &&
        opts+=(--enable-vhost-dp)
    grep -q "'vhost_dp_dpdk'" "$work/am/meson_options.txt" &&
        opts+=(--enable-vhost-dp-dpdk)
    if [ "${opts[*]:-}" != "$configured" ]; then
        rm -rf "$bdir"
        mkdir -p "$bdir"
        (cd "$bdir" &&
         "$work/am/configure" --python=/usr/bin/python3 "${cc_flags[@]}" \
            --target-list=x86_64-softmmu --without-default-features \
            --enable-tcg --enable-vhost-net --enable-vhost-user \
            --enable-slirp --enable-linux-io-uring --disable-docs \
            --disable-tools --disable-download --disable-install-blobs \
            --enable-werror "${opts[@]}" > configure.log 2>&1) ||
            vdp_die "commit $c does not configure (see $bdir/configure.log)"
        configured=${opts[*]:-}
    fi
    # the QEMU binary and every test binary of the series at this commit
    # (build.ninja first: meson regenerates it for changed meson.build)
    (cd "$bdir" &&
     ninja build.ninja > build.log 2>&1 &&
     targets=$(ninja -t targets all |
               sed -n 's|^\(tests/[a-z]*/[a-z-]*vhost-dp[a-z-]*\): .*|\1|p' |
               sort -u) &&
     ninja qemu-system-x86_64 $targets >> build.log 2>&1 &&
     echo "$targets" | sed '/^$/d; s/^/vhost-dp:   built /') ||
        vdp_die "commit $c does not build (see $bdir/build.log)"
done
vdp_say "every commit builds"
