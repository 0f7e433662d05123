//! Kubo's RPC dialect end to end: option values converted as Kubo's Go parser does
//! (booleans, integers with base prefixes, Kubo's error for anything else), `enc`,
//! and `commands` (Kubo's tree shape), checked against the README's coverage table.

use crate::common;
use crate::rpc;

use std::collections::BTreeSet;

use common::{init_repo, Daemon};
use rpc::Part;
use serde_json::Value;

/// Adds `data` with query `q`; (status, the answer's last JSON line or error).
fn add(port: u16, q: &str, data: &[u8]) -> (u16, Value) {
    let a = rpc::post_multipart(port, &format!("/api/v0/add?{q}"), &[Part::file("f", data)]);
    let v = if a.status == 200 {
        a.lines().pop().expect("an add line")
    } else {
        a.json()
    };
    (a.status, v)
}

fn pinned(port: u16, cid: &str) -> bool {
    let ls = rpc::post(port, "/api/v0/pin/ls?type=recursive").json();
    ls["Keys"].get(cid).is_some()
}

/// A 400 with Kubo's error shape, `Code: 1` and `message`.
fn assert_client_error(a: &rpc::Answer, message: &str) {
    assert_eq!(a.status, 400, "{}", String::from_utf8_lossy(&a.body));
    let v = a.json();
    assert_eq!(v["Code"], 1, "{v}");
    assert_eq!(v["Type"], "error", "{v}");
    assert_eq!(v["Message"], message, "{v}");
}

#[test]
fn booleans_and_integers_as_kubo_parses_them() {
    let (_d, root) = init_repo();
    let d = Daemon::start(&root);
    let port = d.port;
    // Every spelling of Go's ParseBool, lower-cased first as Kubo does.
    for (i, v) in ["1", "t", "T", "true", "True", "TRUE", "tRUE", ""]
        .iter()
        .enumerate()
    {
        let data = format!("pinned {i}");
        let (status, line) = add(port, &format!("pin={v}"), data.as_bytes());
        assert_eq!(status, 200, "pin={v}: {line}");
        let cid = line["Hash"].as_str().unwrap().to_string();
        assert!(pinned(port, &cid), "pin={v} did not pin");
    }
    for (i, v) in ["0", "f", "F", "false", "False", "FALSE"]
        .iter()
        .enumerate()
    {
        let data = format!("not pinned {i}");
        let (status, line) = add(port, &format!("pin={v}"), data.as_bytes());
        assert_eq!(status, 200, "pin={v}: {line}");
        let cid = line["Hash"].as_str().unwrap().to_string();
        assert!(!pinned(port, &cid), "pin={v} pinned");
    }
    // Anything else: Kubo's message, 400, Code 1; nothing added.
    for v in ["yes", "2", "on", "truee"] {
        let a = rpc::post_multipart(
            port,
            &format!("/api/v0/add?pin={v}"),
            &[Part::file("f", b"refused")],
        );
        assert_client_error(
            &a,
            &format!("could not convert value \"{v}\" to type \"bool\" (for option \"-pin\")"),
        );
    }
    // A short alias reports the option's long name, as Kubo.
    let a = rpc::post(port, "/api/v0/refs?arg=x&r=maybe");
    assert_client_error(
        &a,
        "could not convert value \"maybe\" to type \"bool\" (for option \"-recursive\")",
    );

    // Integers: decimal, hex, octal, binary, underscores; signs and ranges.
    let (_, line) = add(port, "pin=false", b"0123456789abcdef");
    let cid = line["Hash"].as_str().unwrap().to_string();
    let cat = |q: &str| rpc::post(port, &format!("/api/v0/cat?arg={cid}&{q}"));
    for (q, want) in [
        ("offset=2&length=3", &b"234"[..]),
        ("offset=0x2&length=0b11", b"234"),
        ("offset=0o12&length=0X3", b"abc"),
        ("offset=012&length=%2B3", b"abc"),
        ("offset=1_0&length=2", b"ab"),
    ] {
        let a = cat(q);
        assert_eq!((a.status, a.body.as_slice()), (200, want), "{q}");
    }
    assert_client_error(&cat("offset=-1"), "cannot specify negative offset");
    assert_client_error(&cat("length=-5"), "cannot specify negative length");
    for (q, v) in [
        ("offset=1.5", "1.5"),
        ("offset=08", "08"),
        ("offset=_1", "_1"),
    ] {
        assert_client_error(
            &cat(q),
            &format!("could not convert value \"{v}\" to type \"int64\" (for option \"-offset\")"),
        );
    }
    assert_client_error(
        &cat("offset="),
        "could not convert empty value to type \"int64\" (for option \"-offset\")",
    );
    // A Go int (32 bits): cid-version=0x1 works, 2^31 does not convert.
    let (status, line) = add(port, "cid-version=0x1&pin=0", b"v1");
    assert_eq!(status, 200, "{line}");
    assert!(line["Hash"].as_str().unwrap().starts_with("baf"), "{line}");
    // block/put's mhlen is an int too: 0x20 is sha2-256's 32.
    let a = rpc::post_multipart(
        port,
        "/api/v0/block/put?mhlen=0x20",
        &[Part::file("b", b"a block")],
    );
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let a = rpc::post_multipart(
        port,
        "/api/v0/block/put?mhlen=thirty-two",
        &[Part::file("b", b"a block")],
    );
    assert_client_error(
        &a,
        "could not convert value \"thirty-two\" to type \"int\" (for option \"-mhlen\")",
    );
    let (status, line) = add(port, "cid-version=2147483648", b"v1");
    assert_eq!(status, 400, "{line}");
    assert_eq!(
        line["Message"],
        "could not convert value \"2147483648\" to type \"int\" (for option \"-cid-version\")"
    );
    d.stop();
}

#[test]
fn encoding_json_is_accepted_and_others_refused() {
    let (_d, root) = init_repo();
    let d = Daemon::start(&root);
    for q in ["enc=json", "encoding=json", "enc=json&stream-channels=true"] {
        let a = rpc::post(d.port, &format!("/api/v0/version?{q}"));
        assert_eq!(a.status, 200, "{q}");
        assert!(a.json()["Version"].is_string(), "{q}");
    }
    for v in ["text", "xml", "JSON"] {
        let a = rpc::post(d.port, &format!("/api/v0/version?enc={v}"));
        assert_client_error(
            &a,
            &format!("invalid encoding: \"{v}\" (Acorn's API answers json only)"),
        );
    }
    d.stop();
}

/// Every node path of a `commands` tree (`/add`, `/pin`, `/pin/ls`, …).
fn tree_paths(node: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    for sub in node["Subcommands"].as_array().expect("Subcommands") {
        let name = sub["Name"].as_str().expect("Name");
        assert!(sub["Options"].is_array(), "{sub}");
        let path = format!("{prefix}/{name}");
        out.insert(path.clone());
        tree_paths(sub, &path, out);
    }
}

/// The README's coverage table: (endpoint path, Acorn answers it).
fn readme_table() -> Vec<(String, bool)> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let start = readme
        .find("| endpoint | Kubo | Acorn |")
        .expect("the coverage table in README.md");
    readme[start..]
        .lines()
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let path = cells[1]
                .trim_matches('`')
                .strip_prefix("/api/v0")
                .unwrap_or_else(|| panic!("{l}"))
                .to_string();
            assert_eq!(cells[2], "yes", "{l}");
            let acorn = match cells[3] {
                "yes" => true,
                "no" => false,
                other => panic!("{other:?} in {l}"),
            };
            (path, acorn)
        })
        .collect()
}

#[test]
fn commands_lists_what_is_served_and_the_readme_agrees() {
    let (_d, root) = init_repo();
    let d = Daemon::start(&root);
    let a = rpc::post(d.port, "/api/v0/commands");
    assert_eq!(a.status, 200);
    let tree = a.json();
    assert_eq!(tree["Name"], "ipfs");
    assert_eq!(
        tree["Options"],
        serde_json::json!([{"Names": ["encoding", "enc"]}])
    );
    let mut paths = BTreeSet::new();
    tree_paths(&tree, "", &mut paths);
    // A command's options, as Kubo lists them.
    let cat = tree["Subcommands"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["Name"] == "cat")
        .expect("cat");
    assert_eq!(
        cat["Options"],
        serde_json::json!([{"Names": ["offset", "o"]}, {"Names": ["length", "l"]}])
    );
    // Served: a GET on an endpoint is 405 (it exists, POST only), on a mere group
    // 404 — without running anything.
    let served: BTreeSet<String> = paths
        .iter()
        .filter(|p| {
            let a = rpc::request(d.port, "GET", &format!("/api/v0{p}"), &[], b"");
            assert!(matches!(a.status, 404 | 405), "{p}: {}", a.status);
            a.status == 405
        })
        .cloned()
        .collect();
    for p in [
        "/add",
        "/cat",
        "/pin/ls",
        "/commands",
        "/swarm/addrs",
        "/swarm/addrs/local",
    ] {
        assert!(served.contains(p), "{p} not in {served:?}");
    }
    // Groups listed are groups of served endpoints only.
    for p in &paths {
        assert!(
            served.contains(p) || served.iter().any(|s| s.starts_with(&format!("{p}/"))),
            "{p} is listed but nothing under it is served"
        );
    }
    // The README table: Kubo's endpoints; Acorn's column is exactly what is served.
    let table = readme_table();
    assert_eq!(table.len(), 150, "Kubo v0.22 has 150 RPC endpoints");
    let readme_yes: BTreeSet<String> = table
        .iter()
        .filter(|(_, acorn)| *acorn)
        .map(|(p, _)| p.clone())
        .collect();
    assert_eq!(
        readme_yes, served,
        "README coverage table vs /api/v0/commands"
    );
    let all: BTreeSet<&String> = table.iter().map(|(p, _)| p).collect();
    assert_eq!(all.len(), table.len(), "duplicate rows");
    // Kubo's 404 for what is not served, e.g. a missing endpoint from the table.
    let a = rpc::post(d.port, "/api/v0/files/ls");
    assert_eq!(a.status, 404);
    d.stop();
}
