# SPDX-License-Identifier: GPL-2.0-or-later
#
# Private apt configuration for the vhost-dp build scripts (sourced).
#
# The scripts need archives the machine may not list: the source
# packages of Debian 13, sid and experimental (the QEMU bases), of
# Debian 12 (libvirt, for libvirt/) and bookworm-backports (meson >= 1.5).
# Rather than edit the system's sources, this builds a private apt
# configuration from the Debian mirror the machine is already configured
# with, and every apt call of the project goes through it.

VDP_CACHE=${VHOST_DP_CACHE:-/var/cache/vhost-dp}
VDP_APT=$VDP_CACHE/apt

vdp_die() {
    echo "vhost-dp: error: $*" >&2
    exit 1
}

vdp_say() {
    echo "vhost-dp: $*" >&2
}

# Print the URI that serves suite $1 (component main) in the system's
# apt configuration, one-line or deb822 format.
vdp_find_uri() {
    local suite=$1 f
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -r "$f" ] || continue
        awk -v s="$suite" '
            $1 == "deb" {
                i = 2
                if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
                if ($(i + 1) == s) { print $i; exit }
            }' "$f"
    done
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -r "$f" ] || continue
        awk -v s="$suite" '
            function flush() {
                if (types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " s " "))
                    { split(uris, u, " "); print u[1]; found = 1 }
                types = uris = suites = ""
            }
            /^[ \t]*$/ { flush(); if (found) exit; next }
            /^Types:/ { sub(/^Types:[ \t]*/, ""); types = $0 }
            /^URIs:/ { sub(/^URIs:[ \t]*/, ""); uris = $0 }
            /^Suites:/ { sub(/^Suites:[ \t]*/, ""); suites = $0 }
            END { if (!found) flush() }' "$f"
    done
}

# Write the private configuration; $VDP_APT_OPTS then holds the options
# that make apt-get and apt-cache use it.
vdp_apt_setup() {
    local codename mirror security keyring
    codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
    [ "$codename" = bookworm ] ||
        vdp_say "warning: this is '$codename', the scripts expect Debian 12 (bookworm)"
    mirror=$(vdp_find_uri "$codename" | head -n 1)
    [ -n "$mirror" ] ||
        vdp_die "no Debian mirror for '$codename' found in /etc/apt; configure apt first"
    security=$(vdp_find_uri "$codename-security" | head -n 1)
    keyring=/usr/share/keyrings/debian-archive-keyring.gpg
    mkdir -p "$VDP_APT/lists/partial" "$VDP_APT/archives/partial" \
             "$VDP_APT/parts" "$VDP_APT/prefs"
    {
        echo "deb [signed-by=$keyring] $mirror $codename main"
        echo "deb [signed-by=$keyring] $mirror $codename-updates main"
        echo "deb [signed-by=$keyring] $mirror $codename-backports main"
        [ -z "$security" ] ||
            echo "deb [signed-by=$keyring] $security $codename-security main"
        # QEMU bases (build-aux/base.conf): stable, and dev's suites.  A
        # mirror's sid and experimental Release files expire within days;
        # the dev base's .dsc checksum is pinned, so an expired index
        # cannot slip an older source in.
        # libvirt/: Debian 12's libvirt source, which its patches apply to
        echo "deb-src [signed-by=$keyring] $mirror $codename main"
        echo "deb-src [signed-by=$keyring] $mirror $codename-updates main"
        [ -z "$security" ] ||
            echo "deb-src [signed-by=$keyring] $security $codename-security main"
        echo "deb-src [signed-by=$keyring] $mirror trixie main"
        echo "deb-src [signed-by=$keyring check-valid-until=no] $mirror sid main"
        echo "deb-src [signed-by=$keyring check-valid-until=no] $mirror" \
             "experimental main"
    } > "$VDP_APT/sources.list.new"
    if ! cmp -s "$VDP_APT/sources.list.new" "$VDP_APT/sources.list"; then
        mv "$VDP_APT/sources.list.new" "$VDP_APT/sources.list"
        rm -f "$VDP_APT/updated"
    else
        rm -f "$VDP_APT/sources.list.new"
    fi
    VDP_APT_OPTS=(
        -o "Dir::Etc::SourceList=$VDP_APT/sources.list"
        -o "Dir::Etc::SourceParts=$VDP_APT/parts"
        -o "Dir::Etc::PreferencesParts=$VDP_APT/prefs"
        -o "Dir::State::Lists=$VDP_APT/lists"
        -o "Dir::Cache::Archives=$VDP_APT/archives"
        -o "APT::Get::List-Cleanup=false"
        -o "Acquire::Retries=3"
    )
}

# Refresh the private package lists when they are older than a day.
vdp_apt_update() {
    if [ -n "$(find "$VDP_APT/updated" -mmin -1440 2>/dev/null)" ] &&
       [ "${1:-}" != force ]; then
        return 0
    fi
    vdp_say "refreshing package lists"
    if ! apt-get "${VDP_APT_OPTS[@]}" -q update >"$VDP_APT/update.log" 2>&1 ||
       grep -qE '^(E:|Err:)' "$VDP_APT/update.log"; then
        cat "$VDP_APT/update.log" >&2
        vdp_die "the Debian package registry could not be reached (see above)"
    fi
    touch "$VDP_APT/updated"
}

# The QEMU base to work on (build-aux/base.conf): $BASE, stable by
# default.  Sets VDP_BASE and VDP_SUFFIX, the suffix of its directories
# under build/ ("" for stable, "-dev" for dev).
vdp_base_select() {
    VDP_BASE=${1:-${BASE:-stable}}
    case "$VDP_BASE" in
    stable) VDP_SUFFIX= ;;
    dev) VDP_SUFFIX=-dev ;;
    *) vdp_die "BASE=$VDP_BASE: the bases are 'stable' and 'dev'" ;;
    esac
}
