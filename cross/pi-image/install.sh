#!/usr/bin/env bash
# Installs acorn into a Raspberry Pi OS (Lite) image file, ready to flash.
#
#   bash cross/pi-image/install.sh <image.img> <acorn_*.deb> [--profile NAME|auto]
#
# The image must be uncompressed (`xz -d 2024-..-raspios-bookworm-arm64-lite.img.xz`).
# Use the .deb of the image's architecture: arm64 for 64-bit Raspberry Pi OS,
# armhf for 32-bit (see cross/README.md for which boards). --profile picks the
# firmware profile the board gets at first boot; `auto` (default) detects it there.
#
# Steps:
# 1. reads the partition table (`sfdisk -J`): boot = the first FAT partition (MBR
#    types 0x0b/0x0c/0x0e/0x06/0xef or GPT basic-data/ESP), root = the first Linux
#    partition (MBR 0x83, GPT Linux filesystem/root);
# 2. mounts the root (ext4) through a loop device at its byte offset (`mount -o
#    loop,offset=,sizelimit=`: needs no partition device nodes, which `losetup -P`
#    only gets where udev runs); the boot partition is read and written with mtools
#    at its offset (`mcopy -i image@@offset`), so no vfat support is needed in the
#    kernel (containers and CI runners often lack it);
# 3. install-root.sh on the root: the package (registered in the image's dpkg
#    database), the acorn user, /var/lib/acorn, acorn.service and
#    acorn-firstboot.service enabled, /etc/acorn/firstboot.conf;
# 4. acorn.txt on the boot partition (ACORN_PROFILE=..., editable from any computer
#    before the first boot; it wins over firstboot.conf);
# 5. unmounts (sync first); a trap unmounts on every exit path, error or signal.
# At first boot acorn-firstboot.service creates the repo on the board with its own
# node key and the profile, writes the MemoryMax drop-in, then acorn.service starts.
#
# Needs root; installs sfdisk (fdisk), mtools and jq when missing.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=cross/lib.sh
. "$HERE/../lib.sh"

usage="usage: install.sh <image.img> <acorn_*.deb> [--profile NAME|auto]"
[ $# -ge 2 ] || die "$usage"
IMAGE=$1
DEB=$2
shift 2
PROFILE=auto
while [ $# -gt 0 ]; do
    case "$1" in
    --profile)
        [ $# -ge 2 ] || die "--profile needs a name"
        PROFILE=$2
        shift 2 ;;
    *) die "unknown argument $1 ($usage)" ;;
    esac
done
[ "$(id -u)" -eq 0 ] || die "run as root (loop mounts, dpkg --root)"
[ -f "$IMAGE" ] || die "$IMAGE not found"
[ -f "$DEB" ] || die "$DEB not found"
case "$IMAGE" in
*.xz | *.gz | *.zip) die "$IMAGE is compressed: unpack it first (xz -d / gunzip / unzip)" ;;
esac
bash "$HERE/install-root.sh" --check "$DEB" --profile "$PROFILE"
command -v sfdisk >/dev/null 2>&1 || ensure_apt fdisk
command -v jq >/dev/null 2>&1 || ensure_apt jq
command -v mcopy >/dev/null 2>&1 || ensure_apt mtools
export MTOOLS_SKIP_CHECK=1 # image FATs need not match a floppy's geometry

# 1. Partitions: "start size" in bytes of the first partition whose type is listed.
table=$(sfdisk -J "$IMAGE" 2>/dev/null) || die "$IMAGE has no partition table sfdisk can read"
partition() { # jq-array-of-types
    jq -r --argjson types "$1" '
        .partitiontable as $t | ($t.sectorsize // 512) as $ss
        | [$t.partitions[] | select((.type | ascii_downcase) as $ty | $types | index($ty))]
        | first | select(. != null) | "\(.start * $ss) \(.size * $ss)"' <<<"$table"
}
fat_types='["b","c","e","6","ef","ebd0a0a2-b9e5-4433-87c0-68b6b72699c7","c12a7328-f81f-11d2-ba4b-00a0c93ec93b"]'
linux_types='["83","0fc63daf-8483-4772-8e79-3d69d8477de4","b921b045-1df0-41c3-af44-4c6f280d3fae","69dad710-2ce4-4e3c-b16c-21a1d49abed3","4f68bce3-e8cd-4db1-96e7-fbcaf984b709"]'
boot=$(partition "$fat_types")
root=$(partition "$linux_types")
[ -n "$root" ] || die "no Linux (ext4 root) partition in $IMAGE: $(jq -c '[.partitiontable.partitions[].type]' <<<"$table")"
[ -n "$boot" ] || die "no FAT (boot) partition in $IMAGE: $(jq -c '[.partitiontable.partitions[].type]' <<<"$table")"

# 2. Root mounted (undone by the trap whatever happens from here on); boot by mtools.
MNT=$(mktemp -d /tmp/acorn-pi-image.XXXXXX)
mounted=()
cleanup() {
    local rc=$? m
    sync
    for m in "${mounted[@]}"; do
        umount "$m" 2>/dev/null || umount -l "$m" || echo "pi-image: could not unmount $m" >&2
    done
    rm -rf "$MNT/bootfiles"
    rmdir "$MNT/root" "$MNT" 2>/dev/null || true
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
FAT="$IMAGE@@${boot% *}"
mdir -b -i "$FAT" ::/ >/dev/null 2>&1 || die "the boot partition (byte ${boot% *}) of $IMAGE is not a FAT file system"
mtype -i "$FAT" ::/config.txt >/dev/null 2>&1 ||
    echo "pi-image: warning: no config.txt on the boot partition: is this a Raspberry Pi image?" >&2
mkdir -p "$MNT/root"
mount -t ext4 -o "loop,offset=${root% *},sizelimit=${root#* }" "$IMAGE" "$MNT/root" ||
    die "cannot mount the ext4 root partition at byte ${root% *} of $IMAGE"
mounted=("$MNT/root")
say "mounted the root partition of $IMAGE (ext4, byte ${root% *}); boot is FAT at byte ${boot% *}"
free_kib=$(df -Pk "$MNT/root" | awk 'NR == 2 { print $4 }')
need_kib=$(( $(dpkg-deb -f "$DEB" Installed-Size) + 1024 ))
[ "$free_kib" -ge "$need_kib" ] || die "the root partition has $free_kib KiB free, the package needs $need_kib KiB"

# 3. The package; 4. acorn.txt (written by install-root.sh into a directory, copied to the FAT).
mkdir -p "$MNT/bootfiles"
bash "$HERE/install-root.sh" "$MNT/root" "$DEB" --profile "$PROFILE" --boot "$MNT/bootfiles"
mcopy -o -i "$FAT" "$MNT/bootfiles/acorn.txt" ::/acorn.txt || die "cannot write acorn.txt to the boot partition"
echo "pi-image: $IMAGE is ready to flash"
