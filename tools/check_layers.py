#!/usr/bin/env python3
"""Checks that the arrows between source files run one way.

Reads every `crate::`, `super::` and `self::` path (in `use` trees and in code) and
every path through a child module declared with `mod x;`, resolves each to the
file that defines the module it names, and fails on:

1. an import circle between files (a strongly connected set of more than one file),
   in src/, storage/src and net/src. A module's own file (`mod.rs`) and the files
   of its submodules are one room: arrows between a file and its ancestors do not
   count toward circles (the parent declares its children, they use its types);

2. in src/, an arrow that runs back against the layers, lowest first:

     leaf      config, identity, profiles, logs, notify, pool, endpoints: shared
               by every layer, using only other leaves (and http)
     http      one HTTP room: parsing, chunked writer, request slots, connection
               counting, CORS, multipart bodies. It knows neither API nor the
               node: like a leaf, it may use only leaves, and any layer may use
               it (the config builds its settings, the RPC client encodes queries)
     node      core.rs, repo_glue, fetch, kubo_import, swarm, budget: the node's logic
     core_api  the core API (`Local`, `Remote`)
     front     cli, api (the RPC API), gateway: each uses only core_api, http and
               leaves, never the node's logic, acorn_storage or acorn_net
               directly (nor the node through `Local::node()`), and never
               another front end
     daemon    wires the front ends to the core API
     main      main.rs

Code under `#[cfg(test)]` is not read, nor a file that is a test module of its own
(declared `#[cfg(test)] mod tests;`, and the files below it): a test may reach
across layers to check that two rooms agree (for instance the RPC client's bodies
against the server's parser).

3. a source file longer than SIZE_LIMIT_LINES lines of code (its lines before an
   inline `#[cfg(test)] mod tests { ... }` at its end; a test-only file does not
   count) unless its top doc says why in a `**Size.**` paragraph. Files already
   too long are listed in SIZE_ALLOWED, which only shrinks.

Known arrows not yet turned around are listed in ALLOWED with the reason; the check
also fails when an allowed arrow no longer exists, so the list only shrinks.

Usage: tools/check_layers.py [repo root]   (exit status 1 on any violation)
       tools/check_layers.py --self-test   (the check against a made-up tree)
"""

import os
import re
import sys
from pathlib import Path

# Layer of each top-level module of src/ (by its first path segment).
LAYERS = {
    "config": "leaf",
    "identity": "leaf",
    "profiles": "leaf",
    "logs": "leaf",
    "notify": "leaf",
    "pool": "leaf",
    "endpoints": "leaf",
    "metrics": "leaf",
    "core": "node",
    "repo_glue": "node",
    "fetch": "node",
    "diag": "node",
    "kubo_import": "node",
    "swarm": "node",
    "budget": "node",
    "core_api": "core_api",
    "http": "http",
    "cli": "front",
    "api": "front",
    "gateway": "front",
    "daemon": "daemon",
    "main": "main",
}
RANK = {"leaf": 0, "http": 0, "node": 1, "core_api": 2, "front": 3, "daemon": 4, "main": 5}

# External crates below the core API: a front end reaches them through core_api.
BELOW_CORE_API = ["acorn_storage", "acorn_net"]

# Known edges, as "from -> to" with file paths relative to the repo root.
# storage/ and net/ are being untangled separately; their circles are listed here
# until then.
ALLOWED: set = set()

CRATES = [("src", "main.rs", True), ("storage/src", "lib.rs", False), ("net/src", "lib.rs", False)]

# Longest source file, in lines of code, without a written reason at its top.
SIZE_LIMIT_LINES = 800

# Files over SIZE_LIMIT_LINES not yet split; remove each as it shrinks.
SIZE_ALLOWED: set = set()

TEST_MOD_RE = re.compile(r"#\[cfg\(test\)\]\s*(?:pub(?:\([\w:]+\))?\s+)?mod\s+(\w+)\s*;")


def test_files(crate, files):
    """The files that are test modules of their own (`#[cfg(test)] mod x;`) and the
    files below them."""
    roots = set()
    for f in files:
        for name in TEST_MOD_RE.findall(strip(f.read_text())):
            roots.add(tuple(crate.module_of(f) + [name]))
    return {f for f in files if any(tuple(crate.module_of(f)[: len(r)]) == r for r in roots)}


def code_lines(text):
    """Lines of `text` before its inline test module (`#[cfg(test)]` then `mod x {`
    at the top level), or all of them."""
    lines = text.split("\n")
    for i in range(len(lines) - 1):
        if lines[i].strip() == "#[cfg(test)]" and re.match(r"^(pub(\([\w:]+\))?\s+)?mod\s+\w+\s*\{", lines[i + 1]):
            return i
    return len(lines)


def size_problem(f, text, limit):
    """A message when `f` is too long with no reason at its top, else None."""
    n = code_lines(text)
    if n <= limit:
        return None
    top = "\n".join(l for l in text.split("\n") if l.startswith("//!"))
    if "**Size.**" in top:
        return None
    return f"{f}: {n} lines of code, over {limit}, and its top doc gives no **Size.** reason: split it by job"


def strip(text):
    """Blanks comments, strings and char literals, keeping newlines and braces
    outside them."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            i = j
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append("\n" * text.count("\n", i, j))
            i = j
        elif (m := re.compile(r'b?r(#*)"').match(text, i)) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            end = '"' + m.group(1)
            j = text.find(end, m.end())
            j = n if j < 0 else j + len(end)
            out.append('""' + "\n" * text.count("\n", i, j))
            i = j
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append('""' + "\n" * text.count("\n", i, j))
            i = j + 1
        elif c == "'" and (m := re.compile(r"'(\\[^']{1,10}|[^\\'])'").match(text, i)):
            out.append("' '")
            i = m.end()
        else:
            out.append(c)
            i += 1
    return "".join(out)


def expand_use(tree):
    """Expands a use tree (`a::{b, c::{d as e}}`) into its paths."""
    tree = re.sub(r"\s+as\s+\w+", "", tree)
    tree = re.sub(r"\s+", "", tree)
    paths = []

    def go(prefix, s):
        # split s on top-level commas
        parts, depth, cur = [], 0, ""
        for ch in s:
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            if ch == "," and depth == 0:
                parts.append(cur)
                cur = ""
            else:
                cur += ch
        if cur:
            parts.append(cur)
        for p in parts:
            k = p.find("{")
            if k >= 0:
                go(prefix + p[:k], p[k + 1 : p.rfind("}")])
            else:
                paths.append(prefix + p)

    go("", tree)
    # `use a::{self, b}` gives `a::self`: the module itself
    return [re.sub(r"::self$", "", p) for p in paths if p]


class Crate:
    def __init__(self, root, top):
        self.root = root
        self.top = top

    def module_file(self, segs):
        """The file defining module `segs` (a list of names), or None."""
        if not segs:
            return self.root / self.top
        base = self.root.joinpath(*segs)
        for f in (base.with_suffix(".rs"), base / "mod.rs"):
            if f.is_file():
                return f
        return None

    def module_of(self, path):
        rel = path.relative_to(self.root).with_suffix("")
        segs = list(rel.parts)
        if segs[-1] == "mod":
            segs.pop()
        if segs == [self.top[:-3]]:
            segs = []
        return segs

    def resolve(self, segs):
        """The file of the longest module prefix of `segs`."""
        for k in range(len(segs), -1, -1):
            f = self.module_file(segs[:k])
            if f is not None:
                return f
        return None


PATH_RE = re.compile(r"(?<![\w:])((?:crate|super|self)(?:::(?:\w+|\{))+)")


def file_edges(crate, path):
    """(target file, line) for every path in `path` that names another file of the crate,
    plus the external crates below the core API it names."""
    text = strip(path.read_text())
    file_mod = crate.module_of(path)
    children = set(re.findall(r"^\s*(?:pub(?:\([\w:]+\))?\s+)?mod\s+(\w+)\s*;", text, re.M))
    edges, externs = [], []
    # Walk tokens, tracking inline `mod x { ... }` (skipping #[cfg(test)] ones).
    stack = []  # (name or None, depth at open, is_test)
    depth = 0
    pending_test = False
    pending_mod = None
    i = 0
    line = 1
    tok = re.compile(r"#\[cfg\(test\)\]|\bmod\s+\w+\s*;|\bmod\s+(\w+)\s*\{|\buse\s+([^;]+);|[{}\n]|(?<![\w:])((?:crate|super|self)::[\w:]*(?:\{[^;]*?\})?)|(?<![\w:])(\w+)::|\.node\(\)")
    for m in tok.finditer(text):
        s = m.group(0)
        in_test = any(t for _, _, t in stack)
        if s == "\n":
            line += 1
            continue
        if s == "#[cfg(test)]":
            pending_test = True
            continue
        if s.startswith("mod") and s.endswith(";"):
            pending_test = False
            continue
        if m.group(1):
            stack.append((m.group(1), depth, pending_test))
            depth += 1
            pending_test = False
            continue
        if s == "{":
            depth += 1
            pending_test = False
            continue
        if s == "}":
            depth -= 1
            if stack and stack[-1][1] == depth:
                stack.pop()
            continue
        if s == ".node()":
            # `core_api::Local::node()` hands out the node itself: a front end
            # asks the core API instead.
            if not (in_test or pending_test):
                externs.append(("Local::node()", line))
            continue
        here = file_mod + [name for name, _, _ in stack]
        if m.group(2) is not None:
            line_here = line
            line += s.count("\n")
            if pending_test or in_test:
                pending_test = False
                continue
            paths = expand_use(m.group(2))
        elif m.group(3) is not None:
            line_here = line
            line += s.count("\n")
            if in_test or pending_test:
                continue
            paths = expand_use(m.group(3))
        else:
            line_here = line
            if in_test or pending_test:
                continue
            paths = [m.group(4) + "::x"]
        for p in paths:
            segs = [x for x in p.split("::") if x]
            if not segs:
                continue
            if segs[0] in BELOW_CORE_API:
                externs.append((segs[0], line_here))
                continue
            if segs[0] == "crate":
                segs = segs[1:]
            elif segs[0] in ("super", "self"):
                cur = list(here)
                while segs and segs[0] in ("super", "self"):
                    if segs[0] == "super":
                        cur = cur[:-1]
                    segs = segs[1:]
                segs = cur + segs
            elif segs[0] in children and not stack:
                segs = file_mod + segs
            else:
                continue
            target = crate.resolve(segs)
            if target is not None and target != path:
                edges.append((target, line_here))
        if m.group(2) is not None:
            pending_test = False
    return edges, externs


def layer_of(rel):
    """Layer of a src/ file given as a path relative to src/."""
    first = rel.parts[0]
    if first.endswith(".rs"):
        first = first[:-3]
    return first, LAYERS.get(first)


def sccs(graph):
    index, low, on, st, out = {}, {}, set(), [], []
    counter = [0]
    sys.setrecursionlimit(10000)

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        st.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = st.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(comp)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def check(repo, allowed, size_limit=SIZE_LIMIT_LINES):
    """The problems found in the repo at `repo` (paths in them relative to it)."""
    os.chdir(repo)
    ALLOWED = allowed
    problems = []
    seen_allowed = set()

    reported = set()

    def report(edge_key, msg):
        if edge_key in reported:
            return
        reported.add(edge_key)
        if edge_key in ALLOWED:
            seen_allowed.add(edge_key)
        else:
            problems.append(msg)

    for root, top, layered in CRATES:
        crate = Crate(Path(root), top)
        graph, where = {}, {}
        files = sorted(Path(root).rglob("*.rs"))
        tests = test_files(crate, files)
        for f in files:
            if f in tests:
                continue
            size = size_problem(f, f.read_text(), size_limit)
            if size is not None:
                report(f"size {f}", size)
            edges, externs = file_edges(crate, f)
            graph.setdefault(str(f), set())
            for t, ln in edges:
                # A module and its own submodules form one room: the parent declares
                # and re-exports its children, the children use the parent's shared
                # types (`super::`). Circles count only between other files.
                a, b = crate.module_of(f), crate.module_of(t)
                if a[: len(b)] == b or b[: len(a)] == a:
                    continue
                graph[str(f)].add(str(t))
                where.setdefault((str(f), str(t)), ln)
            if not layered:
                continue
            room, layer = layer_of(f.relative_to(root))
            if layer is None:
                problems.append(f"{f}: module `{room}` has no layer in tools/check_layers.py")
                continue
            if layer == "front":
                for ext, ln in externs:
                    key = f"{f} -> {ext}"
                    report(key, f"{f}:{ln}: front end `{room}` uses `{ext}` (below the core API: go through core_api)")
            for t, ln in edges:
                troom, tlayer = layer_of(t.relative_to(root))
                if tlayer is None or troom == room:
                    continue
                key = f"{f} -> {t}"
                if RANK[tlayer] > RANK[layer]:
                    report(key, f"{f}:{ln}: {layer} `{room}` -> {tlayer} `{troom}` ({t}): runs back up the layers")
                elif layer == "front" and tlayer == "front":
                    report(key, f"{f}:{ln}: front end `{room}` -> front end `{troom}` ({t})")
                elif layer == "front" and tlayer == "node":
                    report(key, f"{f}:{ln}: front end `{room}` -> node `{troom}` ({t}): reaches below the core API")
        for comp in sccs(graph):
            if len(comp) < 2:
                continue
            members = set(comp)
            cyc = []
            for a in sorted(comp):
                for b in sorted(graph[a] & members):
                    cyc.append((a, b))
            shown = [f"{a}:{where[(a, b)]} -> {b}" for a, b in cyc if f"{a} -> {b}" not in ALLOWED]
            for a, b in cyc:
                if f"{a} -> {b}" in ALLOWED:
                    seen_allowed.add(f"{a} -> {b}")
            if shown:
                problems.append("import circle between " + ", ".join(sorted(comp)) + ":\n      " + "\n      ".join(shown))

    for key in sorted(ALLOWED - seen_allowed):
        problems.append(f"allowed edge no longer found (remove it from ALLOWED): {key}")
    return problems


def self_test():
    """Runs the check on a small made-up tree holding one of each kind of
    problem, and on the same tree fixed."""
    import tempfile

    files = {
        "src/main.rs": "mod cli; mod core; mod core_api; mod daemon; mod config;\nfn main() { daemon::run(); }\n",
        "src/config.rs": "pub struct Config;\n",
        "src/core.rs": "use crate::config::Config;\npub fn node(_: Config) {}\n",
        # core_api reaching up into the daemon, once in code and once in a use tree
        "src/core_api/mod.rs": "mod x;\nuse crate::{core, daemon::{self as d}};\npub fn f() { d::run(); core::node(crate::config::Config) }\n"
        "#[cfg(test)]\nmod tests { use crate::cli::a; }\n"
        '// crate::cli::a in a comment\nconst S: &str = "crate::cli::a";\n',
        "src/core_api/x.rs": "use super::f;\n",
        "src/cli/mod.rs": "mod a;\n#[cfg(test)]\nmod t;\nmod b;\nuse crate::core::node;\n",
        # a front end below the core API, and a circle a <-> b
        "src/cli/a.rs": "use super::b::B;\nuse acorn_storage::Cid;\npub struct A;\n",
        "src/cli/b.rs": "pub struct B(super::a::A);\nfn g() { crate::core::node(crate::config::Config) }\nfn h(l: L) { l.node().x() }\n",
        "src/daemon/mod.rs": "use crate::core_api::f;\npub fn run() { f() }\n",
        # a test-only file may reach anywhere, and its length does not count
        "src/cli/t.rs": "use crate::core::node;\nuse crate::daemon::run;\n" + "fn f() {}\n" * 20,
        # too long, and as long with its reason at the top
        "src/pool.rs": "fn f() {}\n" * 8,
        "src/logs.rs": "//! **Size.** one table.\n" + "fn f() {}\n" * 8,
        "storage/src/lib.rs": "mod p; mod q;\n",
        "storage/src/p.rs": "use crate::q::Q;\npub struct P;\n",
        "storage/src/q.rs": "use super::p::P;\npub struct Q;\n",
        "net/src/lib.rs": "\n",
    }
    expect = [
        "src/cli/a.rs:2: front end `cli` uses `acorn_storage`",
        "src/cli/mod.rs:5: front end `cli` -> node `core`",
        "src/cli/b.rs:2: front end `cli` -> node `core`",
        "src/cli/b.rs:3: front end `cli` uses `Local::node()`",
        "src/core_api/mod.rs:2: core_api `core_api` -> daemon `daemon`",
        "import circle between src/cli/a.rs, src/cli/b.rs",
        "import circle between src/core_api/mod.rs, src/daemon/mod.rs",
        "import circle between storage/src/p.rs, storage/src/q.rs",
        "src/pool.rs: 9 lines of code, over 6",
    ]
    here = os.getcwd()
    with tempfile.TemporaryDirectory() as d:
        for name, text in files.items():
            f = Path(d, name)
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text(text)
        found = check(d, set(), size_limit=6)
        for fix in ["src/cli/a.rs", "src/cli/b.rs", "src/cli/mod.rs", "src/core_api/mod.rs", "storage/src/q.rs", "src/pool.rs"]:
            Path(d, fix).write_text("\n")
        Path(d, "src/cli/mod.rs").write_text("#[cfg(test)]\nmod t;\n")
        fixed = check(d, set(), size_limit=6)
    os.chdir(here)
    missing = [e for e in expect if not any(p.startswith(e) for p in found)]
    extra = [p for p in found if not any(p.startswith(e) for e in expect)]
    ok = not missing and not extra and not fixed
    for what, items in [("missing", missing), ("unexpected", extra), ("left after the fix", fixed)]:
        for i in items:
            print(f"self-test: {what}: {i}")
    print("layer check self-test: " + ("ok" if ok else "FAILED"))
    return ok


def main():
    if sys.argv[1:] == ["--self-test"]:
        sys.exit(0 if self_test() else 1)
    repo = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent)
    problems = check(repo, ALLOWED | {f"size {f}" for f in SIZE_ALLOWED})
    if problems:
        print(f"layer check: {len(problems)} problem(s)")
        for p in problems:
            print("  " + p)
        sys.exit(1)
    print("layer check: arrows run one way")


if __name__ == "__main__":
    main()
