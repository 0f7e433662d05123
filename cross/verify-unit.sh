#!/usr/bin/env bash
# `systemd-analyze verify` on cross/acorn.service and cross/acorn-firstboot.service,
# strict: any warning fails.
#
# verify checks that ExecStart's binary exists and that the units it refers to
# (multi-user.target, network-online.target, ...) load, so it runs inside a
# throwaway root: the host's unit files, an executable /usr/bin/acorn (the one
# given as $1, or a stub), and our unit. systemd-analyze exits 0 even for unknown
# keys or bad values, so this script fails when it prints anything at all.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=cross/lib.sh
. "$REPO/cross/lib.sh"

command -v systemd-analyze >/dev/null 2>&1 || ensure_apt systemd
UNITS=
for d in /usr/lib/systemd/system /lib/systemd/system; do
    if [ -f "$d/multi-user.target" ]; then UNITS=$d; break; fi
done
[ -n "$UNITS" ] || die "no systemd unit directory with multi-user.target on this host"

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/usr/bin" "$root/usr/lib/systemd" "$root/etc/systemd/system"
cp -a "$UNITS" "$root/usr/lib/systemd/system"
if [ $# -ge 1 ]; then
    install -m 0755 "$1" "$root/usr/bin/acorn"
else
    printf '#!/bin/sh\nexit 0\n' >"$root/usr/bin/acorn"
    chmod 0755 "$root/usr/bin/acorn"
fi
mkdir -p "$root/usr/lib/acorn"
printf '#!/bin/sh\nexit 0\n' >"$root/usr/lib/acorn/firstboot"
chmod 0755 "$root/usr/lib/acorn/firstboot"
for unit in acorn.service acorn-firstboot.service; do
    install -m 0644 "$REPO/cross/$unit" "$root/usr/lib/systemd/system/$unit"
done
for unit in acorn.service acorn-firstboot.service; do
    say "systemd-analyze verify $unit ($(systemd-analyze --version | head -1))"
    out=$(systemd-analyze verify --man=no --root="$root" "$root/usr/lib/systemd/system/$unit" 2>&1) ||
        die "systemd-analyze verify $unit failed: $out"
    [ -z "$out" ] || die "systemd-analyze verify $unit printed warnings: $out"
    echo "$unit: verify clean"
done
