#!/usr/bin/env bash
# CI test of cross/pi-image/: builds a small synthetic Raspberry Pi OS-like image,
# runs install.sh on it and inspects the result; also runs the pi-gen stage on a
# root directory, and first boot (acorn-firstboot's script) on the installed image.
#
#   bash cross/pi-image/test.sh [dist/acorn_<version>_amd64.deb]
#   (build it first: bash cross/build.sh x86_64-unknown-linux-gnu)
#
# The image: MBR table (sfdisk) with a FAT32 boot partition (type 0x0c, config.txt,
# cmdline.txt) and an ext4 root (type 0x83, mkfs.ext4 -d) holding a minimal
# /etc/passwd, group, shadow, gshadow, login.defs, /etc/systemd/system and a dpkg
# database whose dpkg package says Architecture: amd64, so the host's amd64 .deb
# is the right one. (An ARM .deb cannot run here, and install.sh runs nothing from
# the package anyway.) Root only: loop mounts and dpkg --root.
#
# Checks (each printed ok/FAIL; any FAIL fails the script):
#   install.sh: binary and units in place, acorn registered in the image's dpkg
#   database, acorn.service + acorn-firstboot.service enabled, acorn system user
#   (passwd, group, shadow), /var/lib/acorn 0750 owned by acorn and empty (no node
#   key baked into the image), firstboot.conf and acorn.txt with the profile, no
#   MemoryMax drop-in yet, nothing left mounted; a second run changes nothing
#   harmful; bad arguments and an image without a root partition fail before
#   touching it; first boot (DPKG_ROOT=<mounted image> firstboot) makes the repo as
#   acorn with the profile and its MemoryMax drop-in, and acorn.txt wins over
#   firstboot.conf; the pi-gen stage does the same on a directory.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
# shellcheck source=cross/lib.sh
. "$REPO/cross/lib.sh"

VERSION=$(workspace_version "$REPO")
DEB=${1:-$REPO/dist/acorn_${VERSION}_amd64.deb}
[ -f "$DEB" ] || die "$DEB not found: run bash cross/build.sh x86_64-unknown-linux-gnu first"
[ "$(id -u)" -eq 0 ] || die "run as root (loop mounts, dpkg --root)"
command -v sfdisk >/dev/null 2>&1 || ensure_apt fdisk
command -v mkfs.vfat >/dev/null 2>&1 || ensure_apt dosfstools
command -v mkfs.ext4 >/dev/null 2>&1 || ensure_apt e2fsprogs
command -v jq >/dev/null 2>&1 || ensure_apt jq
command -v mcopy >/dev/null 2>&1 || ensure_apt mtools
export MTOOLS_SKIP_CHECK=1

fails=0 # counted by check (cross/lib.sh)

work=$(mktemp -d /tmp/acorn-pi-test.XXXXXX)
chmod 0755 "$work"
inspect=$work/mnt
mkdir -p "$inspect"
cleanup() {
    local rc=$?
    mountpoint -q "$inspect" && umount "$inspect"
    rm -rf "$work"
    exit "$rc"
}
trap cleanup EXIT

# Image layout (512-byte sectors): boot 2048 + 81920 (40 MiB), root after it (88 MiB).
BOOT_START=2048
BOOT_SECTORS=81920
ROOT_START=$((BOOT_START + BOOT_SECTORS))
ROOT_SECTORS=180224
IMAGE_SECTORS=$((ROOT_START + ROOT_SECTORS))

# A minimal root file system, as Raspberry Pi OS Lite has it where install.sh looks.
make_rootfs() { # dir [dpkg-arch]
    local r=$1 arch=${2:-amd64}
    mkdir -p "$r/etc/systemd/system/multi-user.target.wants" "$r/var/lib/dpkg/info" \
        "$r/var/lib/dpkg/updates" "$r/var/lib/dpkg/triggers" "$r/usr/bin" "$r/usr/sbin" \
        "$r/usr/lib/systemd/system" "$r/boot/firmware" "$r/var/lib" "$r/tmp"
    chmod 1777 "$r/tmp"
    cat >"$r/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
systemd-network:x:998:998:systemd Network Management:/:/usr/sbin/nologin
pi:x:1000:1000:,,,:/home/pi:/bin/bash
EOF
    cat >"$r/etc/group" <<'EOF'
root:x:0:
daemon:x:1:
systemd-network:x:998:
pi:x:1000:
EOF
    printf 'root:*:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\nsystemd-network:!*:19000::::::\npi:!:19000:0:99999:7:::\n' >"$r/etc/shadow"
    printf 'root:*::\ndaemon:*::\nsystemd-network:!*::\npi:!::\n' >"$r/etc/gshadow"
    chmod 0640 "$r/etc/shadow" "$r/etc/gshadow"
    printf 'UID_MIN 1000\nUID_MAX 60000\nSYS_UID_MIN 100\nSYS_UID_MAX 999\nGID_MIN 1000\nGID_MAX 60000\nSYS_GID_MIN 100\nSYS_GID_MAX 999\n' >"$r/etc/login.defs"
    printf 'proc /proc proc defaults 0 0\nPARTUUID=00000000-01 /boot/firmware vfat defaults 0 2\nPARTUUID=00000000-02 / ext4 defaults,noatime 0 1\n' >"$r/etc/fstab"
    ln -s /usr/lib/systemd/system/ssh.service "$r/etc/systemd/system/multi-user.target.wants/ssh.service"
    cat >"$r/var/lib/dpkg/status" <<'EOF'
Package: dpkg
Essential: yes
Status: install ok installed
Priority: required
Section: admin
Installed-Size: 6000
Maintainer: Dpkg Developers <debian-dpkg@lists.debian.org>
Architecture: ARCH
Version: 1.21.22
Description: Debian package management system

EOF
    sed -i "s/^Architecture: ARCH\$/Architecture: $arch/" "$r/var/lib/dpkg/status"
    : >"$r/var/lib/dpkg/available"
    : >"$r/var/lib/dpkg/info/dpkg.list"
}

# make_image IMAGE [no-root|ARCH]: MBR table, FAT32 boot, and (unless no-root) an
# ext4 root whose dpkg is ARCH (default amd64).
make_image() {
    local img=$1 rootfs=$work/rootfs-src
    rm -f "$img"
    truncate -s $((IMAGE_SECTORS * 512)) "$img"
    if [ "${2:-}" = no-root ]; then
        printf 'label: dos\nstart=%d, size=%d, type=c\n' "$BOOT_START" "$BOOT_SECTORS" | sfdisk -q "$img"
    else
        printf 'label: dos\nstart=%d, size=%d, type=c\nstart=%d, size=%d, type=83\n' \
            "$BOOT_START" "$BOOT_SECTORS" "$ROOT_START" "$ROOT_SECTORS" | sfdisk -q "$img"
        rm -rf "$rootfs"
        make_rootfs "$rootfs" "${2:-amd64}"
        mkfs.ext4 -q -F -L rootfs -d "$rootfs" -E offset=$((ROOT_START * 512)) "$img" $((ROOT_SECTORS / 2))k
    fi
    mkfs.vfat -F 32 -n BOOTFS --offset "$BOOT_START" "$img" $((BOOT_SECTORS / 2)) >"$work/mkfs.log" 2>&1 ||
        { cat "$work/mkfs.log"; die "mkfs.vfat failed"; }
    # config.txt and cmdline.txt on the FAT partition (mtools: no vfat in the kernel needed).
    printf 'arm_64bit=1\n' >"$work/config.txt"
    printf 'console=serial0,115200 root=PARTUUID=00000000-02 rootfstype=ext4 fsck.repair=yes rootwait\n' >"$work/cmdline.txt"
    mcopy -i "$img@@$((BOOT_START * 512))" "$work/config.txt" "$work/cmdline.txt" ::/
}
mount_root() { # image
    mount -t ext4 -o "loop,offset=$((ROOT_START * 512)),sizelimit=$((ROOT_SECTORS * 512))" "$1" "$inspect"
}
boot_file() { # image name: prints the file from the FAT partition
    mtype -i "$1@@$((BOOT_START * 512))" "::/$2"
}
no_loop_left() { # image
    [ -z "$(losetup -j "$1")" ] && ! grep -q acorn-pi-image /proc/mounts
}

# check_installed ROOT PROFILE: what install-root.sh must leave in a root.
check_installed() {
    local R=$1 profile=$2 user uid gid
    check "/usr/bin/acorn is the package's binary" \
        cmp -s "$R/usr/bin/acorn" "$work/deb/usr/bin/acorn"
    check "acorn.service installed" [ -f "$R/usr/lib/systemd/system/acorn.service" ]
    check "acorn-firstboot.service installed" [ -f "$R/usr/lib/systemd/system/acorn-firstboot.service" ]
    check "dpkg database: acorn install ok installed, $(dpkg-deb -f "$DEB" Architecture)" \
        bash -c 'dpkg --root="$1" -s acorn 2>/dev/null | grep -q "^Status: install ok installed" &&
                 dpkg --root="$1" -s acorn | grep -q "^Architecture: $2"' _ "$R" "$(dpkg-deb -f "$DEB" Architecture)"
    check "acorn.service enabled (multi-user.target.wants link)" \
        [ "$(readlink "$R/etc/systemd/system/multi-user.target.wants/acorn.service")" = /usr/lib/systemd/system/acorn.service ]
    check "acorn-firstboot.service enabled (wants link)" \
        [ "$(readlink "$R/etc/systemd/system/multi-user.target.wants/acorn-firstboot.service")" = /usr/lib/systemd/system/acorn-firstboot.service ]
    check "acorn.service requires acorn-firstboot.service (requires link)" \
        [ "$(readlink "$R/etc/systemd/system/acorn.service.requires/acorn-firstboot.service")" = /usr/lib/systemd/system/acorn-firstboot.service ]
    check "the image's other links kept (ssh.service)" [ -L "$R/etc/systemd/system/multi-user.target.wants/ssh.service" ]
    user=$(awk -F: '$1 == "acorn"' "$R/etc/passwd")
    uid=$(cut -d: -f3 <<<"$user")
    gid=$(cut -d: -f4 <<<"$user")
    check "one acorn user in the image's passwd ($user)" [ "$(grep -c '^acorn:' "$R/etc/passwd")" = 1 ]
    check "acorn is a system user (100..999) with nologin, home /var/lib/acorn" \
        bash -c '[ "$1" -ge 100 ] && [ "$1" -lt 1000 ] && [[ "$2" == *:/var/lib/acorn:/usr/sbin/nologin ]]' _ "${uid:-0}" "$user"
    check "uid is not one the image already had" bash -c '! grep -v "^acorn:" "$1" | cut -d: -f3 | grep -qx "$2"' _ "$R/etc/passwd" "${uid:-0}"
    check "acorn group ($gid) in group, acorn in shadow and gshadow" \
        bash -c 'grep -q "^acorn:x:$2:" "$1/etc/group" && grep -q "^acorn:" "$1/etc/shadow" && grep -q "^acorn:" "$1/etc/gshadow"' _ "$R" "${gid:-x}"
    check "host's passwd untouched (no acorn user added here by mistake)" \
        bash -c '[ "$(sha256sum </etc/passwd)" = "$1" ]' _ "$HOST_PASSWD_SUM"
    check "/var/lib/acorn owned by acorn:acorn" [ "$(stat -c %u:%g "$R/var/lib/acorn")" = "$uid:$gid" ]
    check "/var/lib/acorn is 0750" [ "$(stat -c %a "$R/var/lib/acorn")" = 750 ]
    check "/var/lib/acorn is empty (no node key in the image)" [ -z "$(ls -A "$R/var/lib/acorn")" ]
    check "firstboot.conf says ACORN_PROFILE=$profile" grep -qx "ACORN_PROFILE=$profile" "$R/etc/acorn/firstboot.conf"
    check "no MemoryMax drop-in before first boot" [ ! -e "$R/etc/systemd/system/acorn.service.d/50-profile.conf" ]
}

HOST_PASSWD_SUM=$(sha256sum </etc/passwd)
dpkg-deb -x "$DEB" "$work/deb"

say "install.sh on a synthetic image (profile auto)"
IMG=$work/pi.img
make_image "$IMG"
check "sfdisk sees boot (c) and root (83)" \
    bash -c '[ "$(sfdisk -J "$1" | jq -c "[.partitiontable.partitions[].type]")" = "[\"c\",\"83\"]" ]' _ "$IMG"
bash "$HERE/install.sh" "$IMG" "$DEB" >"$work/install1.log" 2>&1 || { cat "$work/install1.log"; die "install.sh failed"; }
sed 's/^/    | /' "$work/install1.log"
check "nothing left mounted or attached" no_loop_left "$IMG"
check "postinst deferred the repo to first boot" grep -q 'repo is created at first boot' "$work/install1.log"
mount_root "$IMG"
check_installed "$inspect" auto
umount "$inspect"
boot_file "$IMG" acorn.txt >"$work/acorn.txt" || true
check "acorn.txt on the boot partition: ACORN_PROFILE=auto (CRLF)" grep -q $'^ACORN_PROFILE=auto\r$' "$work/acorn.txt"
boot_file "$IMG" config.txt >"$work/config-after.txt" || true
check "config.txt kept" grep -q arm_64bit "$work/config-after.txt"

say "install.sh again on the same image"
bash "$HERE/install.sh" "$IMG" "$DEB" --profile pi3 >"$work/install2.log" 2>&1 || { cat "$work/install2.log"; die "second install.sh failed"; }
check "nothing left mounted or attached" no_loop_left "$IMG"
mount_root "$IMG"
check_installed "$inspect" pi3
umount "$inspect"

say "first boot (the unit's script, DPKG_ROOT=<image root>; acorn.txt says pi-zero)"
boot_file "$IMG" acorn.txt >"$work/acorn2.txt"
check "second run rewrote acorn.txt: pi3" grep -q $'^ACORN_PROFILE=pi3\r$' "$work/acorn2.txt"
# The user edits acorn.txt on the card (any computer), then boots: first boot sees the
# FAT at /boot/firmware.
printf 'ACORN_PROFILE=pi-zero\r\n' >"$work/acorn3.txt"
mcopy -o -i "$IMG@@$((BOOT_START * 512))" "$work/acorn3.txt" ::/acorn.txt
mount_root "$IMG"
R=$inspect
boot_file "$IMG" acorn.txt >"$R/boot/firmware/acorn.txt"
if DPKG_ROOT=$R "$R/usr/lib/acorn/firstboot" >"$work/firstboot.log" 2>&1; then r=0; else r=$?; fi
sed 's/^/    | /' "$work/firstboot.log"
check "firstboot succeeded" [ "$r" = 0 ]
check "acorn.txt (pi-zero) won over firstboot.conf (pi3)" grep -q 'ACORN_PROFILE=pi-zero from /boot/firmware/acorn.txt' "$work/firstboot.log"
uid=$(awk -F: '$1 == "acorn" { print $3 }' "$R/etc/passwd")
check "repo created, owned by acorn" [ "$(stat -c %u "$R/var/lib/acorn/config" 2>/dev/null)" = "$uid" ]
check "repo has its own node key" bash -c 'jq -e ".Identity.PrivKey | length > 20" "$1" >/dev/null' _ "$R/var/lib/acorn/config"
check "repo has pi-zero's MaxMemory" bash -c 'jq -e ".Swarm.ResourceMgr.MaxMemory == \"24MiB\"" "$1" >/dev/null' _ "$R/var/lib/acorn/config"
check "drop-in MemoryMax=48M (pi-zero)" grep -qx 'MemoryMax=48M' "$R/etc/systemd/system/acorn.service.d/50-profile.conf"
before=$(sha256sum "$R/var/lib/acorn/config")
DPKG_ROOT=$R "$R/usr/lib/acorn/firstboot" >/dev/null 2>&1 || true
check "a second first boot keeps the repo" [ "$(sha256sum "$R/var/lib/acorn/config")" = "$before" ]
umount "$inspect"

say "refusals leave the image alone"
IMG2=$work/pi2.img
make_image "$IMG2"
sum=$(sha256sum <"$IMG2")
check "unknown profile refused" bash -c '! bash "$1" "$2" "$3" --profile bogus >/dev/null 2>&1' _ "$HERE/install.sh" "$IMG2" "$DEB"
check "image unchanged after the refusal" [ "$(sha256sum <"$IMG2")" = "$sum" ]
check "nothing left mounted or attached" no_loop_left "$IMG2"
mkdir -p "$work/other/DEBIAN"
printf 'Package: other\nVersion: 1\nArchitecture: all\nMaintainer: t <t@invalid>\nDescription: t\n' >"$work/other/DEBIAN/control"
dpkg-deb --root-owner-group --build "$work/other" "$work/other.deb" >/dev/null
if bash "$HERE/install.sh" "$IMG2" "$work/other.deb" >"$work/other.log" 2>&1; then r=0; else r=$?; fi
check "a .deb that is not acorn is refused" \
    bash -c '[ "$1" != 0 ] && grep -q "is not the acorn package" "$2"' _ "$r" "$work/other.log"
check "image unchanged after the refusal" [ "$(sha256sum <"$IMG2")" = "$sum" ]
check "nothing left mounted or attached" no_loop_left "$IMG2"
IMG3=$work/noroot.img
make_image "$IMG3" no-root
if bash "$HERE/install.sh" "$IMG3" "$DEB" >"$work/noroot.log" 2>&1; then r=0; else r=$?; fi
check "image without a Linux partition: fails, saying so" \
    bash -c '[ "$1" != 0 ] && grep -q "no Linux (ext4 root) partition" "$2"' _ "$r" "$work/noroot.log"
check "nothing left mounted or attached" no_loop_left "$IMG3"
IMG4=$work/arm64.img
make_image "$IMG4" arm64
if bash "$HERE/install.sh" "$IMG4" "$DEB" >"$work/arm64.log" 2>&1; then r=0; else r=$?; fi
check "arm64 image + amd64 .deb: fails after mounting, saying so" \
    bash -c '[ "$1" != 0 ] && grep -q "the image is arm64 but" "$2"' _ "$r" "$work/arm64.log"
check "nothing left mounted or attached (error after mount)" no_loop_left "$IMG4"
mount_root "$IMG4"
check "nothing installed into the arm64 image" [ ! -e "$inspect/usr/bin/acorn" ]
umount "$inspect"
rm -f "$IMG2" "$IMG3" "$IMG4"

say "pi-gen stage (00-install/00-run.sh on a root directory, ACORN_PROFILE=pi4)"
stage=$work/stage-acorn
cp -rL "$HERE/stage-acorn" "$stage"
cp "$DEB" "$stage/00-install/files/"
ROOTFS=$work/pigen-rootfs
make_rootfs "$ROOTFS"
printf 'arm_64bit=1\n' >"$ROOTFS/boot/firmware/config.txt"
if (cd "$stage/00-install" && ROOTFS_DIR=$ROOTFS ACORN_PROFILE=pi4 ./00-run.sh) >"$work/pigen.log" 2>&1; then r=0; else r=$?; fi
sed 's/^/    | /' "$work/pigen.log"
check "stage ran" [ "$r" = 0 ]
check_installed "$ROOTFS" pi4
check "acorn.txt in /boot/firmware says pi4" grep -q '^ACORN_PROFILE=pi4' "$ROOTFS/boot/firmware/acorn.txt"
check "stage has pi-gen's files (prerun.sh, EXPORT_IMAGE)" \
    bash -c '[ -x "$1/prerun.sh" ] && grep -q IMG_SUFFIX "$1/EXPORT_IMAGE"' _ "$stage"

echo
if [ "$fails" -ne 0 ]; then die "$fails check(s) failed"; fi
echo "pi-image test: all checks passed"
