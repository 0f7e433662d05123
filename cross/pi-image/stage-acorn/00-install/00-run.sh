#!/bin/bash -e
# pi-gen sub-stage: installs acorn into ${ROOTFS_DIR} (run on the build host, not in
# the chroot: the repo and node key must be made on the board at first boot, see
# ../../install-root.sh, which files/install-root.sh links to).
#
# Put exactly one acorn_<version>_<arch>.deb (arch of the image: arm64 or armhf)
# into files/, or set ACORN_DEB to its path. ACORN_PROFILE (pi-gen's config may
# export it): firmware profile for the first boot, default auto (board detection).
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
deb=${ACORN_DEB:-}
if [ -z "$deb" ]; then
    shopt -s nullglob
    debs=("$HERE"/files/acorn_*.deb)
    shopt -u nullglob
    if [ ${#debs[@]} -ne 1 ]; then
        echo "stage-acorn: need exactly one acorn_*.deb in $HERE/files (found ${#debs[@]}) or ACORN_DEB" >&2
        exit 1
    fi
    deb=${debs[0]}
fi
# The FAT boot partition (pi-gen mounts it at /boot/firmware on bookworm, /boot before).
boot=()
for dir in "${ROOTFS_DIR:?ROOTFS_DIR is not set (run by pi-gen)}/boot/firmware" "${ROOTFS_DIR}/boot"; do
    if [ -f "$dir/config.txt" ]; then
        boot=(--boot "$dir")
        break
    fi
done
bash "$HERE/files/install-root.sh" "${ROOTFS_DIR}" "$deb" --profile "${ACORN_PROFILE:-auto}" "${boot[@]}"
