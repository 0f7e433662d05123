#!/usr/bin/env bash
# Release build of `acorn` for one or more targets, packaged into dist/.
#
#   cross/build.sh aarch64-unknown-linux-gnu [armv7-unknown-linux-gnueabihf ...]
#   cross/build.sh all        # x86_64, aarch64, armv7 (+ ARMv6 when configured)
#
# Per target: installs the Rust target, the Debian cross gcc and qemu-user when
# missing (fails loudly if it cannot), builds with the size profile
# `release-small` (Cargo.toml), checks the binary (architecture, stripped, size
# limit, `acorn version` runs, under qemu for ARM), and writes
#   dist/acorn-<version>-<rust-target>.tar.gz
#   dist/acorn_<version>_<deb-arch>.deb
# then prints the size table. Layouts: cross/README.md.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=cross/lib.sh
. "$REPO/cross/lib.sh"

PROFILE=release-small
# Largest stripped binary we ship (issue 6: armv7 ≤ 8 MiB); checked for every target.
MAX_BINARY_BYTES=$((8 * 1024 * 1024))
DIST=$REPO/dist

[ $# -ge 1 ] || die "usage: cross/build.sh <rust-target>... | all"
targets=("$@")
if [ "$1" = all ]; then
    targets=(x86_64-unknown-linux-gnu aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf)
    if [ -n "${ARMV6_LINKER:-}" ]; then targets+=(arm-unknown-linux-gnueabihf); fi
fi

VERSION=$(workspace_version "$REPO")
[ -n "$VERSION" ] || die "cannot read [workspace.package] version from Cargo.toml"
# Reproducible archives: file times from the last commit. Only the archive tools
# get it when we chose it: build scripts that compile C (ring, via the cc crate)
# rerun when SOURCE_DATE_EPOCH changes, so exporting a per-commit value to cargo
# rebuilt ring, libp2p and acorn from scratch after every commit.
cargo_env=()
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
    SOURCE_DATE_EPOCH=$(git -C "$REPO" log -1 --format=%ct 2>/dev/null || date +%s)
    cargo_env=(env -u SOURCE_DATE_EPOCH)
fi
export SOURCE_DATE_EPOCH

command -v dpkg-deb >/dev/null 2>&1 || die "dpkg-deb not found (Debian package dpkg)"
command -v readelf >/dev/null 2>&1 || ensure_apt binutils
command -v jq >/dev/null 2>&1 || ensure_apt jq

mkdir -p "$DIST"
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT

# Default config: what `acorn init` writes, minus the identity (every node makes
# its own key at init; a shipped key would be shared by every install).
default_config() { # target binary out
    local repo=$STAGE/init-repo
    rm -rf "$repo"
    ACORN_PATH=$repo run_target "$1" "$2" init >/dev/null ||
        die "'acorn init' failed for $1 (binary $2)"
    jq 'del(.Identity.PrivKey, .Identity.PeerID)' "$repo/config" >"$3"
    if grep -q PrivKey "$3"; then die "private key still in the default config"; fi
    rm -rf "$repo"
}

# Depends: from the binary's DT_NEEDED and its highest GLIBC_ symbol version.
deb_depends() { # binary
    local needed lib glibc deps=""
    needed=$(readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
    glibc=$(readelf -V -W "$1" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -1)
    for lib in $needed; do
        case "$lib" in
        libc.so.6 | libm.so.6 | libdl.so.2 | libpthread.so.0 | librt.so.1 | ld-linux*.so.*) ;;
        libgcc_s.so.1) deps="libgcc-s1" ;;
        *) die "$1 needs $lib: no Debian dependency mapped for it (Depends must stay libc-only)" ;;
        esac
    done
    echo "libc6 (>= ${glibc:-2.17})${deps:+, $deps}"
}

licence_file() { # out
    local f
    for f in LICENSE LICENSE-MIT LICENSE.md COPYING; do
        if [ -f "$REPO/$f" ]; then cp "$REPO/$f" "$1"; return; fi
    done
    cat >"$1" <<'LIC'
Acorn is dual-licensed under the MIT License or the Apache License, Version 2.0,
at your option (SPDX: MIT OR Apache-2.0), as declared in its Cargo.toml.
Texts: https://opensource.org/license/mit and https://www.apache.org/licenses/LICENSE-2.0
LIC
}

build_one() {
    local t=$1 bin name dir deb arch size machine
    say "build $t ($PROFILE)"
    ensure_toolchain "$t"
    arch=$DEB_ARCH
    (cd "$REPO" && "${cargo_env[@]}" cargo build --locked --profile "$PROFILE" --target "$t" -p acorn --bin acorn) ||
        die "cargo build for $t failed"
    bin=$REPO/target/$t/$PROFILE/acorn
    [ -x "$bin" ] || die "no binary at $bin"

    # Checks: right machine, stripped, size limit, runs.
    machine=$(readelf -h "$bin" | sed -n 's/^ *Machine: *//p')
    case "$t:$machine" in
    x86_64-*:*X86-64* | aarch64-*:AArch64 | arm*:ARM) ;;
    *) die "$bin is for '$machine', not $t" ;;
    esac
    if readelf -S -W "$bin" | grep -q '\.symtab'; then die "$bin is not stripped"; fi
    size=$(stat -c %s "$bin")
    [ "$size" -le "$MAX_BINARY_BYTES" ] || die "$bin is $size bytes, over the $MAX_BINARY_BYTES limit"
    run_target "$t" "$bin" version >/dev/null || die "'acorn version' does not run for $t"

    # Tarball.
    name=acorn-$VERSION-$t
    dir=$STAGE/$name
    rm -rf "$dir"
    mkdir -p "$dir/systemd"
    install -m 0755 "$bin" "$dir/acorn"
    install -m 0644 "$REPO/README.md" "$dir/README.md"
    licence_file "$dir/LICENSE"
    default_config "$t" "$bin" "$dir/config.default.json"
    cp -r "$REPO/firmware-profiles" "$dir/firmware-profiles"
    install -m 0644 "$REPO/cross/acorn.service" "$dir/systemd/acorn.service"
    tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$SOURCE_DATE_EPOCH" \
        -C "$STAGE" -czf "$DIST/$name.tar.gz" "$name"

    # .deb
    deb=$STAGE/deb-$arch
    rm -rf "$deb"
    install -d "$deb/DEBIAN" "$deb/usr/bin" "$deb/usr/lib/systemd/system" "$deb/usr/lib/acorn" \
        "$deb/usr/share/acorn/firmware-profiles" "$deb/usr/share/doc/acorn"
    install -m 0755 "$bin" "$deb/usr/bin/acorn"
    install -m 0644 "$REPO/cross/acorn.service" "$deb/usr/lib/systemd/system/acorn.service"
    install -m 0644 "$REPO/cross/acorn-firstboot.service" "$deb/usr/lib/systemd/system/acorn-firstboot.service"
    for s in detect-profile init-repo firstboot; do
        install -m 0755 "$REPO/cross/deb/$s" "$deb/usr/lib/acorn/$s"
    done
    install -m 0644 "$REPO"/firmware-profiles/*.toml "$deb/usr/share/acorn/firmware-profiles/"
    install -m 0644 "$dir/config.default.json" "$deb/usr/share/acorn/config.default.json"
    install -m 0644 "$REPO/README.md" "$deb/usr/share/doc/acorn/README.md"
    install -m 0644 "$dir/LICENSE" "$deb/usr/share/doc/acorn/copyright"
    for s in postinst prerm postrm; do install -m 0755 "$REPO/cross/deb/$s" "$deb/DEBIAN/$s"; done
    cat >"$deb/DEBIAN/control" <<CONTROL
Package: acorn
Version: $VERSION
Architecture: $arch
Maintainer: Acorn developers <acorn@invalid>
Installed-Size: $(du -sk --exclude=DEBIAN "$deb" | cut -f1)
Depends: $(deb_depends "$bin")
Section: net
Priority: optional
Homepage: https://github.com/acorn-ipfs/acorn
Description: IPFS node for small machines
 Acorn is an IPFS node written in Rust for Raspberry Pi boards, ARM
 single-board computers and low-memory VPS nodes. This package installs the
 acorn binary, a hardened systemd service (Type=notify, watchdog) and the
 firmware profiles; it creates the acorn user and a repo in /var/lib/acorn
 set up for the detected board. Removing the package keeps /var/lib/acorn.
CONTROL
    find "$deb" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
    dpkg-deb --root-owner-group -Zxz --build "$deb" "$DIST/acorn_${VERSION}_$arch.deb" >/dev/null ||
        die "dpkg-deb --build failed for $arch"
    printf '%s\t%s\t%s\n' "$t" "$size" "$(stat -c %s "$DIST/acorn_${VERSION}_$arch.deb")" >>"$STAGE/sizes"
    say "wrote dist/$name.tar.gz and dist/acorn_${VERSION}_$arch.deb"
}

for t in "${targets[@]}"; do build_one "$t"; done

echo
echo "Binary sizes (stripped, profile $PROFILE, limit $((MAX_BINARY_BYTES / 1048576)) MiB):"
printf '%-32s %12s %9s %12s\n' target "binary bytes" MiB ".deb bytes"
while IFS=$'\t' read -r t s d; do
    printf '%-32s %12d %9s %12d\n' "$t" "$s" "$(awk -v s="$s" 'BEGIN { printf "%.2f", s / 1048576 }')" "$d"
done <"$STAGE/sizes"
