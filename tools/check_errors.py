#!/usr/bin/env python3
"""Checks the error rules of the library code.

Fails on:

1. `anyhow` in the core API's public signatures (src/core_api/*.rs): a trait
   method's declaration or a `pub fn`. The core API fails with its typed
   `core_api::Error`, whose kind the front ends map to an answer in one table;
   an `anyhow::Error` there would send them back to downcasting.

2. `Result<_, String>` in a function signature of library code (storage/src,
   net/src, src/ outside tests): an error is a typed enum with context, which the
   caller can match on, not a string it would have to search.

Code from a file's `#[cfg(test)]` module on is not read.

src/core_api/error.rs is the one place where the node's `anyhow` errors become
typed ones, so its own bridge functions are not read for rule 1.

Signatures not yet converted are listed in ALLOWED_ANYHOW and ALLOWED_STRING, as
"room::function" (room: the top folder, or the file's stem under src/core_api, so
that moving a function between files of a room keeps its entry; functions of the
same name in one room share it); the check also fails when a listed one no longer breaks the
rule (or no longer exists), so the lists only shrink.

Usage: tools/check_errors.py [repo root]   (exit status 1 on any violation)
"""

import re
import sys
from pathlib import Path

# A function's signature: from `fn` to its body or its `;`.
SIGNATURE = re.compile(r"(?P<pub>\bpub(?:\([^)]*\))?\s+)?(?:(?:const|async|unsafe)\s+)*fn\s+(?P<name>\w+)(?P<rest>[^;{]*)(?P<end>[;{])")
STRING_ERROR = re.compile(r"Result<.*,\s*String\s*>")

# The core API's groups still to convert (Settings is done).
ALLOWED_ANYHOW = {
    "core_api/answer::array",
    "core_api/answer::cid_field",
    "core_api/answer::cid_value",
    "core_api/answer::field",
    "core_api/answer::str_field",
    "core_api/answer::strings",
    "core_api/answer::u64_field",
    "core_api/blocks::block_fetch",
    "core_api/blocks::block_get",
    "core_api/blocks::block_put",
    "core_api/blocks::block_rm",
    "core_api/blocks::block_stat",
    "core_api/blocks::mhlen_from_arg",
    "core_api/blocks::mhtype_from_name",
    "core_api/client::connect",
    "core_api/client::discover",
    "core_api/client::finish",
    "core_api/client::for_add",
    "core_api/client::json",
    "core_api/client::ndjson",
    "core_api/client::post",
    "core_api/content::add",
    "core_api/content::add_unstored",
    "core_api/content::cat",
    "core_api/content::default_name",
    "core_api/content::get",
    "core_api/content::get_tar",
    "core_api/content::ls",
    "core_api/content::new",
    "core_api/content::refs_formatted",
    "core_api/content::refs_local",
    "core_api/content::resolve",
    "core_api/content::stat",
    "core_api/content::unpack_tar",
    "core_api/dag::car_export",
    "core_api/dag::dag_export",
    "core_api/dag::dag_get",
    "core_api/dag::dag_import",
    "core_api/dag::dag_put",
    "core_api/dag::dag_resolve",
    "core_api/dag::dag_stat",
    "core_api/dag::hash_from_name",
    "core_api/dag::parse_dag_stat",
    "core_api/filestore::filestore_dups",
    "core_api/filestore::filestore_list",
    "core_api/filestore::filestore_rm",
    "core_api/mod::diag_sys",
    "core_api/mod::net",
    "core_api/mod::online",
    "core_api/mod::open",
    "core_api/network::bitswap_stat",
    "core_api/network::bitswap_wantlist",
    "core_api/network::find_peer",
    "core_api/network::find_providers",
    "core_api/network::id",
    "core_api/network::ping",
    "core_api/network::provide",
    "core_api/network::stats_bw",
    "core_api/network::swarm_addrs",
    "core_api/network::swarm_addrs_local",
    "core_api/network::swarm_connect",
    "core_api/network::swarm_disconnect",
    "core_api/network::swarm_peers",
    "core_api/pins::pin_add",
    "core_api/pins::pin_ls",
    "core_api/pins::pin_rm",
    "core_api/pins::pin_update",
    "core_api/pins::pin_verify",
    "core_api/repo::init",
    "core_api/repo::init_from_kubo",
    "core_api/repo::repo_gc",
    "core_api/repo::repo_import_kubo",
    "core_api/repo::repo_stat",
    "core_api/repo::repo_verify",
}
# Parsers and helpers still returning a message.
ALLOWED_STRING = {
    "src::apply",
    "src::apply_named",
    "src::default_networking",
    "src::dns_label",
    "src::from_json",
    "src::from_str",
    "src::from_value",
    "src::local_discovery",
    "src::lowpower",
    "src::parse_bool",
    "src::parse_bytes",
    "src::parse_duration",
    "src::parse_go_duration",
    "src::parse_key",
    "src::parse_pin_type",
    "src::parse_string",
    "src::parse_value",
    "src::ping",
    "src::randomports",
    "src::routing_slot",
    "src::server",
    "src::set_level",
    "src::start_on_both",
    "src::subdomain_url",
    "src::subscribe",
    "src::test",
}


def library_text(path: Path) -> str:
    """The file up to its test module."""
    text = path.read_text()
    cut = re.search(r"^\s*#\[cfg\(test\)\]\s*\n\s*(pub\s+)?mod\s+\w+", text, re.M)
    return text[: cut.start()] if cut else text


def signatures(path: Path):
    """(name, signature text, public) of each function in the file's library code."""
    for m in SIGNATURE.finditer(library_text(path)):
        public = bool(m.group("pub")) or m.group("end") == ";"
        yield m.group("name"), m.group("rest"), public


def anyhow_in_core_api(root: Path) -> set:
    found = set()
    for path in sorted((root / "src" / "core_api").glob("*.rs")):
        if path.name == "error.rs":
            continue
        for name, sig, public in signatures(path):
            if public and "anyhow" in sig:
                found.add(f"core_api/{path.stem}::{name}")
    return found


def string_errors(root: Path) -> set:
    found = set()
    for top in ["src", "storage/src", "net/src"]:
        room = top.split("/")[0]
        for path in sorted((root / top).rglob("*.rs")):
            for name, sig, _ in signatures(path):
                if STRING_ERROR.search(sig):
                    found.add(f"{room}::{name}")
    return found


def compare(what: str, found: set, allowed: set) -> list:
    errors = [f"{what}: {x}" for x in sorted(found - allowed)]
    errors += [
        f"{what}: {x} is listed as allowed but no longer breaks the rule; remove it from the list"
        for x in sorted(allowed - found)
    ]
    return errors


def main() -> int:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent
    if "--print" in sys.argv:
        for x in sorted(anyhow_in_core_api(root)):
            print("A", x)
        for x in sorted(string_errors(root)):
            print("S", x)
        return 0
    errors = compare("anyhow in a core API signature", anyhow_in_core_api(root), ALLOWED_ANYHOW)
    errors += compare("Result<_, String> in library code", string_errors(root), ALLOWED_STRING)
    for e in errors:
        print(e)
    if errors:
        print(f"check_errors: {len(errors)} violation(s)")
        return 1
    print("check_errors: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
