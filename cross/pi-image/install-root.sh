#!/usr/bin/env bash
# Installs the acorn .deb into a Raspberry Pi OS root file system that is not
# running (a mounted image, or pi-gen's ${ROOTFS_DIR}), for its first boot.
#
#   install-root.sh <rootfs-dir> <acorn_*.deb> [--profile NAME|auto] [--boot DIR]
#   install-root.sh --check <acorn_*.deb> [--profile NAME|auto]   (checks 0 only)
#
# The image's CPU is not this host's (arm64/armhf on an x86_64 builder), so nothing
# from the package may run here. What it does:
# 0. checks the .deb is acorn's and has the profile (before anything is written);
# 1. writes /etc/acorn/firstboot.conf with ACORN_PROFILE=NAME (default auto: board
#    detection at first boot);
# 2. `dpkg --root=<rootfs> --force-script-chrootless -i` the .deb, so the image's
#    dpkg database has the package (apt upgrades and removes it on the board). The
#    postinst runs on this host with DPKG_ROOT=<rootfs> and only writes there: it
#    creates the acorn system user (`useradd --prefix`, the image's passwd/group/
#    shadow), /var/lib/acorn (0750, acorn) and the enable links of acorn.service;
#    because firstboot.conf exists it does NOT run `acorn init` and writes no
#    MemoryMax drop-in, and it enables acorn-firstboot.service instead, which does
#    both on the board at first boot (own node key per card, profile of the real
#    board, native binary);
# 3. checks what dpkg left (binary, units, links, user, /var/lib/acorn);
# 4. with --boot DIR (the FAT boot partition): DIR/acorn.txt with the same
#    ACORN_PROFILE line, CRLF, editable from any computer before the first boot
#    (first boot reads it before /etc/acorn/firstboot.conf).
# Needs root and the host's dpkg and useradd (Debian/Ubuntu: dpkg, passwd).
set -euo pipefail

die() {
    printf '\n*** pi-image: error: %s\n\n' "$*" >&2
    exit 1
}

usage="usage: install-root.sh <rootfs-dir> <acorn_*.deb> [--profile NAME|auto] [--boot DIR]"
[ $# -ge 2 ] || die "$usage"
ROOTFS=$1
DEB=$2
shift 2
PROFILE=auto
BOOT=
while [ $# -gt 0 ]; do
    case "$1" in
    --profile)
        [ $# -ge 2 ] || die "--profile needs a name"
        PROFILE=$2
        shift 2 ;;
    --boot)
        [ $# -ge 2 ] || die "--boot needs a directory"
        BOOT=$2
        shift 2 ;;
    *) die "unknown argument $1 ($usage)" ;;
    esac
done

[[ "$PROFILE" =~ ^[A-Za-z0-9_-]+$ ]] || die "bad profile name '$PROFILE'"
[ -f "$DEB" ] || die "$DEB not found"
command -v dpkg-deb >/dev/null 2>&1 || die "'dpkg-deb' not found on this host (Debian package dpkg)"
[ "$(dpkg-deb -f "$DEB" Package 2>/dev/null)" = acorn ] || die "$DEB is not the acorn package"
if [ "$PROFILE" != auto ]; then
    known=$(dpkg-deb -c "$DEB" | sed -n 's|.*/usr/share/acorn/firmware-profiles/\(.*\)\.toml$|\1|p')
    grep -qx -- "$PROFILE" <<<"$known" ||
        die "no firmware profile '$PROFILE' in $DEB (known: $(tr '\n' ' ' <<<"$known")auto)"
fi
if [ "$ROOTFS" = --check ]; then exit 0; fi

[ "$(id -u)" -eq 0 ] || die "run as root (dpkg --root, file ownership in the image)"
[ -d "$ROOTFS/etc" ] || die "$ROOTFS does not look like a root file system (no etc/)"
[ -z "$BOOT" ] || [ -d "$BOOT" ] || die "boot directory $BOOT not found"
for tool in dpkg dpkg-deb useradd; do
    command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found on this host (Debian packages dpkg, passwd)"
done
[ -f "$ROOTFS/var/lib/dpkg/status" ] || die "$ROOTFS has no dpkg database (var/lib/dpkg/status): not a Debian-based image"
[ -f "$ROOTFS/etc/passwd" ] && [ -f "$ROOTFS/etc/group" ] || die "$ROOTFS has no etc/passwd or etc/group"

deb_arch=$(dpkg-deb -f "$DEB" Architecture)

# The image's architecture: its own dpkg package's, else the ELF machine of its dpkg.
image_arch=$(awk '/^Package: /{p=$2} /^Architecture: /{if (p == "dpkg") {print $2; exit}}' "$ROOTFS/var/lib/dpkg/status")
if [ -z "$image_arch" ] && [ -f "$ROOTFS/usr/bin/dpkg" ] && command -v readelf >/dev/null 2>&1; then
    case "$(readelf -h "$ROOTFS/usr/bin/dpkg" | sed -n 's/^ *Machine: *//p')" in
    AArch64) image_arch=arm64 ;;
    ARM) image_arch=armhf ;;
    *X86-64*) image_arch=amd64 ;;
    esac
fi
if [ -z "$image_arch" ]; then
    echo "pi-image: warning: cannot tell the image's architecture; installing the $deb_arch package" >&2
elif [ "$image_arch" != "$deb_arch" ]; then
    die "the image is $image_arch but $DEB is $deb_arch (use acorn_*_$image_arch.deb)"
fi

# 1. First-boot config (postinst sees it and leaves the repo to first boot).
install -d -m 0755 "$ROOTFS/etc/acorn"
cat >"$ROOTFS/etc/acorn/firstboot.conf" <<EOF
# Read once, at first boot, by acorn-firstboot.service (/usr/lib/acorn/firstboot),
# which creates /var/lib/acorn with this firmware profile. ACORN_PROFILE=auto picks
# it from the board (/usr/lib/acorn/detect-profile). acorn.txt on the boot
# partition, if it has an ACORN_PROFILE= line, wins over this file.
ACORN_PROFILE=$PROFILE
EOF
chmod 0644 "$ROOTFS/etc/acorn/firstboot.conf"

# 2. The package, registered in the image's dpkg database.
#    --force-architecture: this host's dpkg has its own native architecture;
#    --force-depends: dpkg on this host does not count the image's libc6:<arch>;
#    --no-triggers: never run another package's trigger (its scripts) on this host.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! dpkg --root="$ROOTFS" --force-script-chrootless --force-architecture --force-depends \
    --no-triggers -i "$DEB" >"$log" 2>&1; then
    sed 's/^/    | /' "$log" >&2
    die "dpkg -i into $ROOTFS failed"
fi
sed 's/^/    | /' "$log"

# 3. What must be there now.
units=/usr/lib/systemd/system
wants=$ROOTFS/etc/systemd/system/multi-user.target.wants
for f in /usr/bin/acorn $units/acorn.service $units/acorn-firstboot.service /usr/lib/acorn/firstboot; do
    [ -e "$ROOTFS$f" ] || die "$f missing in the image after dpkg -i"
done
[ "$(readlink "$wants/acorn.service")" = $units/acorn.service ] || die "acorn.service is not enabled"
[ "$(readlink "$wants/acorn-firstboot.service")" = $units/acorn-firstboot.service ] ||
    die "acorn-firstboot.service is not enabled (postinst did not see /etc/acorn/firstboot.conf?)"
uid=$(awk -F: '$1 == "acorn" { print $3; exit }' "$ROOTFS/etc/passwd")
[ -n "$uid" ] || die "no acorn user in the image's /etc/passwd"
[ "$(stat -c %u "$ROOTFS/var/lib/acorn")" = "$uid" ] || die "/var/lib/acorn is not owned by acorn"
if [ -e "$ROOTFS/var/lib/acorn/config" ]; then
    echo "pi-image: note: the image already has a repo in /var/lib/acorn (kept; first boot will not touch it)"
fi
if [ -n "$BOOT" ]; then
    printf '%s\r\n' \
        "# Acorn IPFS node: firmware profile for the first boot (pi-zero, vps-256m, pi3, pi4," \
        "# or auto = detect the board). Read once, when /var/lib/acorn is created." \
        "ACORN_PROFILE=$PROFILE" >"$BOOT/acorn.txt"
    echo "pi-image: wrote acorn.txt on the boot partition (ACORN_PROFILE=$PROFILE)"
fi
echo "pi-image: acorn $(dpkg-deb -f "$DEB" Version) ($deb_arch) installed into $ROOTFS; profile at first boot: $PROFILE"
