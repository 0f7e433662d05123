#!/usr/bin/env bash
# Installs the amd64 .deb into throwaway roots and checks what it did.
#
#   bash cross/test-deb.sh [dist/acorn_<version>_amd64.deb]
#   (build it first: bash cross/build.sh x86_64-unknown-linux-gnu)
#
# How: `dpkg --root=R --force-script-chrootless` runs the maintainer scripts on the
# host with DPKG_ROOT=R (a chroot would need a whole Debian inside R); postinst and
# postrm write only under $DPKG_ROOT. --force-depends because R's dpkg database
# has no libc6. Must run as root (dpkg --root, setpriv to the acorn user).
#
# Checks: package fields (Depends is libc only), file list and modes; board
# detection on fixture /proc files; install: acorn system user, repo initialised
# as that user with a node key, MemoryMax drop-in for the profile, unit enabled;
# ACORN_PROFILE override; reinstall keeps the repo byte for byte; remove and purge
# keep /var/lib/acorn and remove the drop-in and the enable link.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=cross/lib.sh
. "$REPO/cross/lib.sh"

VERSION=$(workspace_version "$REPO")
DEB=${1:-$REPO/dist/acorn_${VERSION}_amd64.deb}
[ -f "$DEB" ] || die "$DEB not found: run bash cross/build.sh x86_64-unknown-linux-gnu first"
[ "$(id -u)" -eq 0 ] || die "run as root (dpkg --root and setpriv need it)"
command -v jq >/dev/null 2>&1 || ensure_apt jq

fails=0 # counted by check (cross/lib.sh)

work=$(mktemp -d)
chmod 0755 "$work" # the acorn user must reach the roots inside
trap 'rm -rf "$work"' EXIT

say "package fields: $DEB"
field() { dpkg-deb -f "$DEB" "$1"; }
check "Package is acorn" [ "$(field Package)" = acorn ]
check "Architecture is amd64" [ "$(field Architecture)" = amd64 ]
check "Version is $VERSION" [ "$(field Version)" = "$VERSION" ]
# libgcc-s1 is what libc6 itself depends on (Rust's std links libgcc_s for unwinding).
check "Depends only on libc ($(field Depends))" \
    bash -c '[[ "$1" =~ ^libc6\ \(\>=\ 2\.[0-9]+\)(,\ libgcc-s1)?$ ]]' _ "$(field Depends)"
contents=$(dpkg-deb -c "$DEB")
for f in ./usr/bin/acorn ./usr/lib/systemd/system/acorn.service ./usr/lib/acorn/detect-profile \
    ./usr/lib/systemd/system/acorn-firstboot.service ./usr/lib/acorn/init-repo ./usr/lib/acorn/firstboot \
    ./usr/share/acorn/config.default.json ./usr/share/acorn/firmware-profiles/pi-zero.toml \
    ./usr/share/acorn/firmware-profiles/pi3.toml ./usr/share/acorn/firmware-profiles/pi4.toml \
    ./usr/share/acorn/firmware-profiles/vps-256m.toml ./usr/share/doc/acorn/copyright; do
    check "contains $f" grep -q " $f\$" <<<"$contents"
done
check "nothing under /var/lib/acorn or /etc in the package" \
    bash -c '! grep -qE " \./(var/lib/acorn|etc)/" <<<"$1"' _ "$contents"
check "acorn is root:root 0755" grep -qE '^-rwxr-xr-x root/root .* \./usr/bin/acorn$' <<<"$contents"
dpkg-deb -x "$DEB" "$work/x"
dpkg-deb -e "$DEB" "$work/x/DEBIAN"
check "shipped config has no private key" bash -c '! grep -q PrivKey "$1"' _ "$work/x/usr/share/acorn/config.default.json"
check "maintainer scripts are POSIX sh that parses" \
    bash -c 'for s in postinst prerm postrm; do sh -n "$1/$s" || exit 1; done' _ "$work/x/DEBIAN"
check "helper scripts are POSIX sh that parses" \
    bash -c 'for s in detect-profile init-repo firstboot; do sh -n "$1/$s" || exit 1; done' _ "$work/x/usr/lib/acorn"

say "board detection (fixture /proc files)"
detect=$work/x/usr/lib/acorn/detect-profile
fixture() { # name model mem_kib -> prints profile
    printf '%s\0' "$2" >"$work/model-$1"
    printf 'MemTotal:       %s kB\nMemFree:          1000 kB\n' "$3" >"$work/meminfo-$1"
    [ -n "$2" ] || rm -f "$work/model-$1"
    "$detect" "$work/model-$1" "$work/meminfo-$1"
}
while read -r want mem model; do
    got=$(fixture "$want$mem" "$model" "$mem")
    check "${model:-no device tree}, $((mem / 1024)) MiB -> $want (got $got)" [ "$got" = "$want" ]
done <<'EOF_FIX'
pi-zero 439000 Raspberry Pi Zero 2 W Rev 1.0
pi-zero 443000 Raspberry Pi Model B Rev 2
pi-zero 437000 Raspberry Pi 3 Model A Plus Rev 1.0
pi3 948000 Raspberry Pi 3 Model B Plus Rev 1.3
pi3 945000 Raspberry Pi 4 Model B Rev 1.1
pi4 3884000 Raspberry Pi 4 Model B Rev 1.4
pi4 8139000 Raspberry Pi 5 Model B Rev 1.0
vps-256m 233000
pi3 1004000
pi4 16000000
EOF_FIX

# A throwaway root with just what dpkg and useradd need.
new_root() {
    local r=$1
    mkdir -p "$r/var/lib/dpkg/info" "$r/var/lib/dpkg/updates" "$r/etc" "$r/var/lib" "$r/usr/sbin"
    : >"$r/var/lib/dpkg/status"
    : >"$r/var/lib/dpkg/available"
    printf 'root:x:0:0:root:/root:/bin/bash\n' >"$r/etc/passwd"
    printf 'root:x:0:\n' >"$r/etc/group"
    printf 'root:*:19000:0:99999:7:::\n' >"$r/etc/shadow"
    printf 'root:*::\n' >"$r/etc/gshadow"
    chmod 0640 "$r/etc/shadow" "$r/etc/gshadow"
}
dpkg_root() { # root args...
    local r=$1
    shift
    dpkg --root="$r" --force-script-chrootless --force-depends --force-not-root "$@"
}

say "install into a throwaway root (profile from this machine's board detection)"
R=$work/root1
new_root "$R"
expect=$("$detect")
dpkg_root "$R" -i "$DEB" >"$work/install1.log" 2>&1 || { cat "$work/install1.log"; die "dpkg -i failed"; }
sed 's/^/    | /' "$work/install1.log"
check "dpkg says installed" bash -c 'dpkg --root="$1" -s acorn | grep -q "^Status: install ok installed"' _ "$R"
check "/usr/bin/acorn runs" bash -c '"$1" version >/dev/null' _ "$R/usr/bin/acorn"
user=$(awk -F: '$1 == "acorn"' "$R/etc/passwd")
uid=$(cut -d: -f3 <<<"$user")
gid=$(cut -d: -f4 <<<"$user")
check "acorn user exists ($user)" [ -n "$user" ]
check "acorn is a system user (uid < 1000) with nologin" \
    bash -c '[ "$1" -lt 1000 ] && [[ "$2" == *:/var/lib/acorn:/usr/sbin/nologin ]]' _ "${uid:-99999}" "$user"
check "acorn group exists" grep -q '^acorn:' "$R/etc/group"
check "/var/lib/acorn/config exists" [ -f "$R/var/lib/acorn/config" ]
check "repo is owned by acorn" [ "$(stat -c %u "$R/var/lib/acorn")" = "$uid" ]
check "config is owned by acorn" [ "$(stat -c %u "$R/var/lib/acorn/config")" = "$uid" ]
check "/var/lib/acorn is not world-readable" [ "$(stat -c %a "$R/var/lib/acorn")" = 750 ]
check "the node has its own key" \
    bash -c 'jq -e ".Identity.PrivKey | length > 20" "$1" >/dev/null' _ "$R/var/lib/acorn/config"
check "the repo opens (acorn repo stat as acorn)" \
    setpriv --reuid="$uid" --regid="$gid" --clear-groups env ACORN_PATH="$R/var/lib/acorn" "$R/usr/bin/acorn" repo stat >/dev/null
dropin=$R/etc/systemd/system/acorn.service.d/50-profile.conf
want_mib=$(sed -n 's/^systemd_memory_max_mib *= *//p' "$R/usr/share/acorn/firmware-profiles/$expect.toml")
check "drop-in MemoryMax=${want_mib}M for profile $expect" grep -qx "MemoryMax=${want_mib}M" "$dropin"
check "unit enabled (multi-user.target.wants link)" \
    [ "$(readlink "$R/etc/systemd/system/multi-user.target.wants/acorn.service")" = /usr/lib/systemd/system/acorn.service ]
check "postinst used 'acorn init --profile $expect' (no fallback)" \
    bash -c '! grep -q "has no .* init profile" "$1"' _ "$work/install1.log"
# The repo has the profile's [config] values (every "Key" = value line of the file).
profile_keys_applied() { # config profile.toml
    local key value json
    while IFS= read -r line; do
        key=$(sed -n 's/^"\([A-Za-z.]*\)" *= *.*/\1/p' <<<"$line")
        [ -n "$key" ] || continue
        value=$(sed 's/^[^=]*= *//; s/ *#.*//' <<<"$line")
        json=$(jq -c ".$key" "$1")
        [ "$json" = "$value" ] || { echo "    $key: repo has $json, profile $value"; return 1; }
    done <"$2"
}
check "repo config has profile $expect's values" \
    profile_keys_applied "$R/var/lib/acorn/config" "$R/usr/share/acorn/firmware-profiles/$expect.toml"

say "reinstall keeps the repo"
before=$(sha256sum "$R/var/lib/acorn/config")
dpkg_root "$R" -i "$DEB" >"$work/install2.log" 2>&1 || { cat "$work/install2.log"; die "reinstall failed"; }
check "config unchanged by reinstall" [ "$(sha256sum "$R/var/lib/acorn/config")" = "$before" ]
check "one acorn user" [ "$(grep -c '^acorn:' "$R/etc/passwd")" = 1 ]

say "remove, then purge: /var/lib/acorn stays"
dpkg_root "$R" -r acorn >"$work/remove.log" 2>&1 || { cat "$work/remove.log"; die "dpkg -r failed"; }
check "binary gone after remove" [ ! -e "$R/usr/bin/acorn" ]
check "repo kept after remove" [ "$(sha256sum "$R/var/lib/acorn/config")" = "$before" ]
check "enable link gone after remove" [ ! -L "$R/etc/systemd/system/multi-user.target.wants/acorn.service" ]
dpkg_root "$R" -P acorn >"$work/purge.log" 2>&1 || { cat "$work/purge.log"; die "dpkg -P failed"; }
check "repo kept after purge" [ "$(sha256sum "$R/var/lib/acorn/config")" = "$before" ]
check "drop-in gone after purge" [ ! -e "$dropin" ]
check "purge says it kept /var/lib/acorn" grep -q 'kept /var/lib/acorn' "$work/purge.log"
check "install again over a kept repo reuses it" \
    bash -c 'dpkg --root="$1" --force-script-chrootless --force-depends -i "$2" >/dev/null 2>&1 && [ "$(sha256sum "$1/var/lib/acorn/config")" = "$3" ]' \
    _ "$R" "$DEB" "$before"

say "ACORN_PROFILE=pi-zero overrides detection"
R2=$work/root2
new_root "$R2"
ACORN_PROFILE=pi-zero dpkg_root "$R2" -i "$DEB" >"$work/install3.log" 2>&1 || { cat "$work/install3.log"; die "dpkg -i (pi-zero) failed"; }
check "drop-in MemoryMax=48M for pi-zero" grep -qx "MemoryMax=48M" "$R2/etc/systemd/system/acorn.service.d/50-profile.conf"
check "repo initialised" [ -f "$R2/var/lib/acorn/config" ]
check "repo config has pi-zero's values" \
    profile_keys_applied "$R2/var/lib/acorn/config" "$R2/usr/share/acorn/firmware-profiles/pi-zero.toml"

echo
if [ "$fails" -ne 0 ]; then die "$fails check(s) failed"; fi
echo "test-deb: all checks passed"
