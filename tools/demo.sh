#!/usr/bin/env bash
# Run the node, offline (until the daemon lands): build, create a repo if there is
# none, add a file and a directory, read them back, and show the repo.
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
