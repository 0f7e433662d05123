#!/usr/bin/env bash
# Cross CI: build and RUN the acorn-storage and acorn-net test suites for ARM
# under qemu-user (aarch64, and armv7 where usize is 4 bytes).
#
#   bash cross/ci.sh                      # aarch64 + armv7
#   bash cross/ci.sh armv7-unknown-linux-gnueabihf
#   bash cross/ci.sh --deb                # also: build the amd64 .deb, test-deb.sh,
#                                         # pi-image/test.sh (first, they are quick)
#
# Always first: verify-unit.sh (systemd-analyze verify on the units).
#
# Installs what is missing (rustup targets, Debian cross gcc + libc, qemu-user)
# and fails loudly if an install fails: a target is never skipped silently.
# The qemu runners come from .cargo/config.toml; QEMU_LD_PREFIX is set as well so
# test binaries that start other processes find the target's libc too.
# ACORN_TEST_RUNNER carries the same qemu command to tests that start a copy of
# their own binary (storage/tests/storage/store.rs: lock holder, kill -9 child): without
# binfmt_misc the host cannot exec an ARM binary directly.
# Prints the wall time per step and in total.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=cross/lib.sh
. "$REPO/cross/lib.sh"
cd "$REPO"

deb=0
targets=()
for a in "$@"; do
    case "$a" in
    --deb) deb=1 ;;
    -*) die "unknown option $a (usage: cross/ci.sh [--deb] [rust-target...])" ;;
    *) targets+=("$a") ;;
    esac
done
[ ${#targets[@]} -gt 0 ] || targets=(aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf)
CRATES=(-p acorn-storage -p acorn-net)

echo "acorn cross CI: ${targets[*]}"
echo "rustc: $(rustc --version)"
t0=$(date +%s)
summary=()
failed=()
bash "$REPO/cross/verify-unit.sh"
if [ "$deb" = 1 ]; then
    # Root for dpkg --root and loop mounts (as_root: sudo when not root, else fails).
    s=$(date +%s)
    bash "$REPO/cross/build.sh" x86_64-unknown-linux-gnu
    as_root bash "$REPO/cross/test-deb.sh"
    as_root bash "$REPO/cross/pi-image/test.sh"
    e=$(($(date +%s) - s))
    summary+=("$(printf '%-32s %-6s %3dm%02ds' "amd64 .deb, test-deb, pi-image" ok $((e / 60)) $((e % 60)))")
fi
for t in "${targets[@]}"; do
    s=$(date +%s)
    ensure_toolchain "$t"
    [ -n "$QEMU" ] || die "$t is not a qemu target"
    "$QEMU" --version | head -1
    say "cargo test ${CRATES[*]} --target $t (under $QEMU)"
    # --no-fail-fast: one failing test binary does not hide the others' results.
    if QEMU_LD_PREFIX=$SYSROOT ACORN_TEST_RUNNER="$QEMU -L $SYSROOT" \
        cargo test --locked --no-fail-fast "${CRATES[@]}" --target "$t"; then
        r=ok
    else
        r=FAILED
        failed+=("$t")
    fi
    e=$(($(date +%s) - s))
    summary+=("$(printf '%-32s %-6s %3dm%02ds' "$t" "$r" $((e / 60)) $((e % 60)))")
done
total=$(($(date +%s) - t0))
echo
echo "cross CI summary (acorn-storage + acorn-net under qemu-user):"
printf '  %s\n' "${summary[@]}"
printf '  total %dm%02ds\n' $((total / 60)) $((total % 60))
[ ${#failed[@]} -eq 0 ] || die "tests failed under qemu for: ${failed[*]}"
