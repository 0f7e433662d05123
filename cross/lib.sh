# Shared by cross/build.sh, cross/ci.sh and cross/test-deb.sh (sourced, not run).
#
# Target table, and "make sure X is installed" helpers that install what is
# missing (rustup targets, Debian packages) and FAIL LOUDLY when they cannot:
# nothing here skips a target silently.

die() {
    printf '\n*** cross: error: %s\n\n' "$*" >&2
    exit 1
}

say() {
    printf '==> %s\n' "$*"
}

# target_info <rust-target>: sets DEB_ARCH, GCC_PKGS (space separated), QEMU,
# SYSROOT (for qemu -L), LINKER. Unknown target: dies.
target_info() {
    case "$1" in
    x86_64-unknown-linux-gnu)
        DEB_ARCH=amd64 GCC_PKGS="gcc libc6-dev" QEMU="" SYSROOT="" LINKER=cc ;;
    aarch64-unknown-linux-gnu)
        DEB_ARCH=arm64 GCC_PKGS="gcc-aarch64-linux-gnu libc6-dev-arm64-cross"
        QEMU=qemu-aarch64 SYSROOT=/usr/aarch64-linux-gnu LINKER=aarch64-linux-gnu-gcc ;;
    armv7-unknown-linux-gnueabihf)
        DEB_ARCH=armhf GCC_PKGS="gcc-arm-linux-gnueabihf libc6-dev-armhf-cross"
        QEMU=qemu-arm SYSROOT=/usr/arm-linux-gnueabihf LINKER=arm-linux-gnueabihf-gcc ;;
    arm-unknown-linux-gnueabihf)
        # ARMv6 (Pi Zero/Zero W/Pi 1). Debian's arm-linux-gnueabihf libc is built for
        # ARMv7, so linking with it gives a binary that dies on ARMv6 (SIGILL): this
        # target needs an ARMv6 sysroot (cross/README.md, "ARMv6").
        DEB_ARCH=armhf GCC_PKGS="" QEMU=qemu-arm SYSROOT="${ARMV6_SYSROOT:-}" LINKER="${ARMV6_LINKER:-}" ;;
    *) die "unknown target '$1' (known: x86_64-unknown-linux-gnu aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf arm-unknown-linux-gnueabihf)" ;;
    esac
}

host_target() {
    rustc -vV | sed -n 's/^host: //p'
}

# as_root CMD...: run as root (directly, or with sudo when available).
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "need root to run: $* (no sudo)"
    fi
}

# ensure_apt PKG...: installs the Debian packages that are not installed yet.
ensure_apt() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    command -v apt-get >/dev/null 2>&1 || die "missing packages ${missing[*]} and no apt-get to install them"
    say "apt-get install ${missing[*]}"
    as_root apt-get update -qq || die "apt-get update failed (needed for: ${missing[*]})"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" \
        || die "apt-get install ${missing[*]} failed"
}

# ensure_rust_target TARGET: rustup target add when missing.
ensure_rust_target() {
    rustup target list --installed 2>/dev/null | grep -qx "$1" && return 0
    command -v rustup >/dev/null 2>&1 || die "Rust target $1 is not installed and there is no rustup"
    say "rustup target add $1"
    rustup target add "$1" || die "rustup target add $1 failed (see the message above)"
}

# ensure_toolchain TARGET: Rust target + cross gcc (+ qemu-user for foreign targets).
ensure_toolchain() {
    target_info "$1"
    if [ "$1" = arm-unknown-linux-gnueabihf ]; then
        [ -n "$LINKER" ] && [ -n "$SYSROOT" ] ||
            die "arm-unknown-linux-gnueabihf (ARMv6) needs ARMV6_LINKER and ARMV6_SYSROOT (an ARMv6 gcc and sysroot); see cross/README.md"
    fi
    ensure_rust_target "$1"
    # shellcheck disable=SC2086
    [ -n "$GCC_PKGS" ] && ensure_apt $GCC_PKGS
    [ -n "$QEMU" ] && ensure_apt qemu-user
    command -v "$LINKER" >/dev/null 2>&1 || die "linker $LINKER for $1 not found after install"
    if [ -n "$QEMU" ]; then command -v "$QEMU" >/dev/null 2>&1 || die "$QEMU not found after installing qemu-user"; fi
}

# run_target TARGET BINARY ARGS...: runs a binary built for TARGET (qemu when foreign).
run_target() {
    local t=$1
    shift
    target_info "$t"
    if [ -z "$QEMU" ] || [ "$t" = "$(host_target)" ]; then
        "$@"
    else
        "$QEMU" -L "$SYSROOT" "$@"
    fi
}

# Workspace version (the [workspace.package] version in Cargo.toml).
workspace_version() {
    awk '/^\[workspace.package\]/{w=1; next} /^\[/{w=0} w && /^version *=/{gsub(/[" ]/,"",$0); sub(/version=/,""); print; exit}' "$1/Cargo.toml"
}

# Test checks: `check "what" command...` prints ok/FAIL and counts failures in the
# caller's `fails` (set it to 0 first; exit non-zero when it is not 0 at the end).
check() {
    local what=$1
    shift
    if "$@"; then
        printf '  ok    %s\n' "$what"
    else
        printf '  FAIL  %s\n' "$what"
        fails=$((fails + 1))
    fi
}
