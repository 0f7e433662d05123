#!/usr/bin/env bash
# Run the node: build, create a repo if there is none, add a file and a directory,
# read them back, show the repo, then run the daemon in the foreground (Ctrl-C stops
# it cleanly). While it runs, `acorn ...` in another shell goes through its RPC API.
#   bash tools/demo.sh            (repo: $ACORN_PATH, default ~/.acorn)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo build --release --locked --quiet
acorn=target/release/acorn
export ACORN_PATH="${ACORN_PATH:-$HOME/.acorn}"
if [ ! -f "$ACORN_PATH/config" ]; then
    "$acorn" init
fi
echo "==> add 'hello world'"
cid=$(printf 'hello world\n' | "$acorn" add -Q)
echo "$cid"
echo "==> cat $cid"
"$acorn" cat "$cid"
echo "==> add -w README.md (wrapped in a directory)"
"$acorn" add -r -w README.md
echo "==> repo stat"
"$acorn" repo stat
echo "==> acorn daemon (Ctrl-C to stop)"
exec "$acorn" daemon
