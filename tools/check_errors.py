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

Every core API signature is typed: rule 1 has no exceptions. Signatures not yet
converted to rule 2 are listed in ALLOWED_STRING, as "room::function" (room: the
top folder, so that moving a function between files of a room keeps its entry;
functions of the same name in one room share it); the check also fails when a
listed one no longer breaks the rule (or no longer exists), so the list only
shrinks.

Usage: tools/check_errors.py [repo root]   (exit status 1 on any violation)
"""

import re
import sys
from pathlib import Path

# A function's signature: from `fn` to its body or its `;`.
SIGNATURE = re.compile(r"(?P<pub>\bpub(?:\([^)]*\))?\s+)?(?:(?:const|async|unsafe)\s+)*fn\s+(?P<name>\w+)(?P<rest>[^;{]*)(?P<end>[;{])")
STRING_ERROR = re.compile(r"Result<.*,\s*String\s*>")

# Signatures not yet converted: none left.
ALLOWED_STRING: set = set()


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
    errors = compare("anyhow in a core API signature", anyhow_in_core_api(root), set())
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
