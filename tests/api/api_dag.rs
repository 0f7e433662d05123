//! The block, DAG, path and pin-maintenance endpoints end to end: `block/put`
//! options, `block/rm`, `dag/put|get|export|import|stat`, `refs/local`, `resolve`,
//! `pin/verify`, `repo/stat|gc` options, bad input (wrong argument counts, bad
//! CIDs, malformed multipart) answered with Kubo's error body while the daemon
//! keeps serving; and the CLI through the daemon giving the offline output.

use crate::common;
use crate::http;

use acorn_storage::car::CarWriter;
use acorn_storage::cids;
use common::{err, init_repo, ok, pseudo_random, run, Daemon};
use http::{call, post_parts, request, Answer};
use serde_json::{json, Value};

fn s(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("not a string: {v}"))
        .to_string()
}

fn body(r: &Answer) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

/// A Kubo error body with `code` (0: HTTP 500, 1: HTTP 400); returns the message.
fn kubo_error(r: &Answer, code: u64) -> String {
    assert_eq!(r.status, if code == 1 { 400 } else { 500 }, "{}", body(r));
    let v = r.json();
    assert_eq!(
        (v["Type"].as_str(), v["Code"].as_u64()),
        (Some("error"), Some(code)),
        "{v}"
    );
    s(&v["Message"])
}

fn raw(port: u16, target: &str, ctype: &str, data: &[u8]) -> Answer {
    request(
        &format!("127.0.0.1:{port}"),
        "POST",
        target,
        &[("Content-Type", ctype)],
        data,
    )
}

#[test]
fn block_dag_and_path_endpoints_speak_kubo() {
    let (_d, root) = init_repo();
    let d = Daemon::start(&root);
    let port = d.port;
    let octet = "application/octet-stream";

    // block/put: legacy format=v0 gives CIDv0 dag-pb; format with a custom
    // cid-codec is refused; over 1 MiB needs allow-big-block.
    let empty_dir = [0x0a, 0x02, 0x08, 0x01];
    let r = post_parts(
        port,
        "/api/v0/block/put?format=v0",
        &[("", octet, &empty_dir)],
    );
    assert_eq!(
        r.lines(),
        [json!({"Key": "QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn", "Size": 4})]
    );
    let r = post_parts(
        port,
        "/api/v0/block/put?format=v0&cid-codec=dag-cbor",
        &[("", octet, b"x")],
    );
    kubo_error(&r, 1);
    let big = pseudo_random((1 << 20) + 1, 5);
    let r = post_parts(port, "/api/v0/block/put", &[("", octet, &big)]);
    assert!(kubo_error(&r, 0).contains("over 1MiB"));
    let r = post_parts(
        port,
        "/api/v0/block/put?allow-big-block=true",
        &[("", octet, &big)],
    );
    assert_eq!(r.lines()[0]["Size"], (1 << 20) + 1);
    let big_key = s(&r.lines()[0]["Key"]);

    // block/rm: per-block {"Hash"} / {"Hash","Error"}; the command goes on.
    let put = |data: &[u8], pin: bool| {
        let r = post_parts(
            port,
            &format!("/api/v0/block/put?pin={pin}"),
            &[("", octet, data)],
        );
        s(&r.lines()[0]["Key"])
    };
    let (a, kept) = (put(b"rm me", false), put(b"keep me", true));
    let missing = cids::cid_of(1, cids::RAW, b"never stored").to_string();
    let r = call(
        port,
        &format!("/api/v0/block/rm?arg={a}&arg={kept}&arg={missing}"),
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        r.lines(),
        [
            json!({"Hash": a}),
            json!({"Hash": kept, "Error": "pinned: recursive"}),
            json!({"Hash": missing, "Error": "block not found"}),
        ]
    );
    let r = call(
        port,
        &format!("/api/v0/block/rm?arg={missing}&arg={big_key}&force=true&quiet=true"),
    );
    assert_eq!((r.status, r.lines().len()), (200, 0));
    // A missing block is the node's failure (HTTP 500, `Code: 0`) with the
    // node's message; a CID that does not parse is the client's (400, `Code: 1`).
    for cmd in ["block/stat", "block/get"] {
        assert_eq!(
            kubo_error(&call(port, &format!("/api/v0/{cmd}?arg={big_key}")), 0),
            format!("block {big_key} not found"),
            "{cmd}"
        );
        let m = kubo_error(&call(port, &format!("/api/v0/{cmd}?arg=QmNotACid")), 1);
        assert!(m.contains("QmNotACid"), "{cmd}: {m}");
    }
    assert_eq!(
        kubo_error(&call(port, &format!("/api/v0/pin/rm?arg={big_key}")), 0),
        format!("{big_key} is not pinned")
    );
    kubo_error(&call(port, "/api/v0/block/rm"), 1);
    assert!(kubo_error(&call(port, "/api/v0/block/rm?arg=QmNotACid"), 1).contains("QmNotACid"));

    // dag/put: one {"Cid":{"/":..}} line per part; dag-json in, dag-cbor stored.
    let leaf = put(b"a leaf", false);
    let doc = format!(r#"{{"n":1,"l":{{"/":"{leaf}"}},"s":["x","y"]}}"#);
    let r = post_parts(
        port,
        "/api/v0/dag/put?pin=true",
        &[("", octet, doc.as_bytes()), ("", octet, b"[1,2]")],
    );
    assert_eq!(r.status, 200, "{}", body(&r));
    let lines = r.lines();
    assert_eq!(lines.len(), 2);
    let node = s(&lines[0]["Cid"]["/"]);
    assert!(node.starts_with("bafyrei"), "{node}");
    let r = post_parts(
        port,
        "/api/v0/dag/put?input-codec=raw&store-codec=raw",
        &[("", octet, b"raw bytes")],
    );
    assert_eq!(
        r.lines()[0]["Cid"]["/"],
        cids::cid_of(1, cids::RAW, b"raw bytes").to_string()
    );
    kubo_error(
        &post_parts(port, "/api/v0/dag/put", &[("", octet, b"{not json")]),
        0,
    );
    kubo_error(
        &post_parts(
            port,
            "/api/v0/dag/put?store-codec=dag-xml",
            &[("", octet, b"1")],
        ),
        1,
    );

    // dag/get: dag-json by default, IPLD paths inside the node and across links.
    let r = call(port, &format!("/api/v0/dag/get?arg={node}"));
    assert_eq!(
        body(&r),
        format!(r#"{{"l":{{"/":"{leaf}"}},"n":1,"s":["x","y"]}}"#)
    );
    assert_eq!(
        body(&call(port, &format!("/api/v0/dag/get?arg={node}/s/1"))),
        r#""y""#
    );
    let r = call(
        port,
        &format!("/api/v0/dag/get?arg=/ipfs/{node}/n&output-codec=dag-cbor"),
    );
    assert_eq!(r.body, [0x01]);
    kubo_error(&call(port, "/api/v0/dag/get"), 1);
    kubo_error(
        &call(port, &format!("/api/v0/dag/get?arg={node}&arg={node}")),
        1,
    );

    // dag/stat: Kubo 0.2x's summary; progress lines first by default.
    let r = call(port, &format!("/api/v0/dag/stat?arg={node}&progress=false"));
    let stat = r.json();
    let node_size = call(port, &format!("/api/v0/block/stat?arg={node}")).json()["Size"]
        .as_u64()
        .unwrap();
    assert_eq!(
        stat,
        json!({"UniqueBlocks": 2, "TotalSize": node_size + 6, "Ratio": 1.0,
               "DagStats": [{"Cid": node, "Size": node_size + 6, "NumBlocks": 2}]})
    );
    let lines = call(port, &format!("/api/v0/dag/stat?arg={node}")).lines();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert_eq!(lines[2], stat);
    assert!(lines[0].get("UniqueBlocks").is_none());
    let two = call(
        port,
        &format!("/api/v0/dag/stat?arg={node}&arg={leaf}&progress=false"),
    )
    .json();
    assert_eq!(two["SharedSize"], 6);
    assert_eq!(two["UniqueBlocks"], 2);
    assert_eq!(
        two["DagStats"][1],
        json!({"Cid": leaf, "Size": 6, "NumBlocks": 1})
    );

    // dag/export → CAR; after unpin + gc, dag/import puts it back and pins its root.
    let car = call(port, &format!("/api/v0/dag/export?arg={node}")).body;
    assert_eq!(
        call(port, &format!("/api/v0/pin/rm?arg={node}")).status,
        200
    );
    call(port, "/api/v0/repo/gc");
    assert_eq!(
        call(port, &format!("/api/v0/block/stat?arg={node}")).status,
        500
    );
    let cut = &car[..car.len() - 3];
    let r = post_parts(port, "/api/v0/dag/import", &[("a.car", octet, cut)]);
    kubo_error(&r, 0);
    assert_eq!(
        call(port, &format!("/api/v0/block/stat?arg={node}")).status,
        500,
        "nothing of a bad CAR is stored"
    );
    let r = post_parts(
        port,
        "/api/v0/dag/import?stats=true",
        &[("a.car", octet, &car)],
    );
    assert_eq!(r.status, 200, "{}", body(&r));
    assert_eq!(
        r.lines(),
        [
            json!({"Root": {"Cid": {"/": node}, "PinErrorMsg": ""}}),
            json!({"Stats": {"BlockCount": 2, "BlockBytesCount": node_size + 6}}),
        ]
    );
    assert_eq!(
        call(port, &format!("/api/v0/pin/ls?arg={node}")).json()["Keys"][&node]["Type"],
        "recursive"
    );
    // A root the CARs do not hold: that root's pin fails, the blocks are stored.
    let absent = cids::cid_of(1, cids::DAG_CBOR, b"\xa0");
    let mut partial = CarWriter::new(Vec::new(), &[absent]).unwrap();
    let lone = cids::cid_of(1, cids::RAW, b"lone block");
    partial.write_block(&lone, b"lone block").unwrap();
    let partial = partial.finish().unwrap();
    let r = post_parts(port, "/api/v0/dag/import", &[("p.car", octet, &partial)]);
    let lines = r.lines();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["Root"]["Cid"]["/"], absent.to_string());
    assert!(!s(&lines[0]["Root"]["PinErrorMsg"]).is_empty(), "{lines:?}");
    assert_eq!(
        call(port, &format!("/api/v0/block/stat?arg={lone}")).status,
        200
    );
    let r = post_parts(
        port,
        "/api/v0/dag/import?pin-roots=false",
        &[("p.car", octet, &partial)],
    );
    assert_eq!((r.status, r.lines().len()), (200, 0));

    // refs/local: {"Ref","Err"} lines, raw CIDv1 of every block.
    let refs = call(port, "/api/v0/refs/local").lines();
    for l in &refs {
        assert_eq!(l["Err"], "", "{l}");
    }
    let refs: Vec<String> = refs.iter().map(|l| s(&l["Ref"])).collect();
    assert!(
        refs.contains(&lone.to_string()) && refs.contains(&leaf),
        "{refs:?}"
    );

    // resolve: {"Path":"/ipfs/<cid>"}; /ipns is a clear error; one argument.
    let r = call(port, &format!("/api/v0/resolve?arg={node}"));
    assert_eq!(r.json(), json!({"Path": format!("/ipfs/{node}")}));
    assert!(kubo_error(&call(port, "/api/v0/resolve?arg=/ipns/example.com"), 0).contains("IPNS"));
    kubo_error(&call(port, "/api/v0/resolve"), 1);
    kubo_error(
        &call(port, &format!("/api/v0/resolve?arg={node}&arg={node}")),
        1,
    );

    // pin/verify: nothing for good pins, {"Cid","Ok":true} with verbose.
    let r = call(port, "/api/v0/pin/verify");
    assert_eq!((r.status, r.lines().len()), (200, 0));
    let r = call(port, "/api/v0/pin/verify?verbose=true");
    assert!(
        r.lines().contains(&json!({"Cid": node, "Ok": true})),
        "{}",
        body(&r)
    );
    kubo_error(&call(port, "/api/v0/pin/verify?verbose=true&quiet=true"), 1);

    // pin/add without progress: one JSON value; pin/update needs two arguments.
    let r = call(port, &format!("/api/v0/pin/add?arg={leaf}"));
    assert!(r.header("X-Chunked-Output").is_none());
    assert_eq!(r.json(), json!({"Pins": [leaf]}));
    kubo_error(&call(port, &format!("/api/v0/pin/update?arg={leaf}")), 1);

    // repo/stat and repo/gc options.
    let st = call(port, "/api/v0/repo/stat?human=true").json();
    assert!(st["NumObjects"].as_u64().is_some(), "{st}");
    kubo_error(&call(port, "/api/v0/repo/stat?human=maybe"), 1);
    let r = call(port, "/api/v0/repo/gc?quiet=true&stream-errors=true");
    assert_eq!(r.status, 200);
    assert!(r.lines().iter().all(|l| l.get("Error").is_none()));

    // Malformed multipart: a client error body each time, and the daemon keeps
    // serving.
    for cmd in ["block/put", "dag/put", "dag/import"] {
        let r = raw(
            port,
            &format!("/api/v0/{cmd}"),
            "multipart/form-data; boundary=zz",
            b"--zz\r\nbroken",
        );
        assert!(kubo_error(&r, 1).contains("multipart"), "{cmd}");
        kubo_error(&raw(port, &format!("/api/v0/{cmd}"), "text/plain", b"x"), 1);
    }
    assert_eq!(call(port, "/api/v0/version").status, 200);

    let (stopped, _, stderr) = d.stop();
    assert!(stopped, "{stderr}");
}

#[test]
fn cli_dag_pin_block_commands_through_the_daemon_match_offline() {
    let (dir, root) = init_repo();
    let f = dir.path().join("f.bin");
    std::fs::write(&f, pseudo_random(600_000, 9)).unwrap();
    let added = ok(&run(&root, &["add", "-w", "-Q", f.to_str().unwrap()], None));
    let dir_cid = added.trim().to_string();
    let file_path = format!("/ipfs/{dir_cid}/f.bin");
    let obj = br#"{"a":[1,2,{"b":true}]}"#;
    let node = ok(&run(&root, &["dag", "put", "--pin=true"], Some(obj)))
        .trim()
        .to_string();
    let car = dir.path().join("d.car");

    // Read-only commands: the same output offline and through the daemon.
    let commands: Vec<Vec<String>> = [
        vec!["dag", "get", &node],
        vec![
            "dag",
            "get",
            "--output-codec=dag-cbor",
            &format!("{node}/a/2"),
        ],
        vec!["dag", "stat", &dir_cid, &node],
        vec!["dag", "export", &dir_cid],
        vec!["refs", "local"],
        vec!["resolve", &file_path],
        vec!["pin", "verify", "--verbose"],
    ]
    .iter()
    .map(|c| c.iter().map(|s| s.to_string()).collect())
    .collect();
    let offline: Vec<Vec<u8>> = commands
        .iter()
        .map(|c| {
            let args: Vec<&str> = c.iter().map(String::as_str).collect();
            let r = run(&root, &args, None);
            assert!(r.ok, "{c:?}: {}", r.stderr);
            r.stdout
        })
        .collect();
    std::fs::write(&car, &offline[3]).unwrap();
    assert!(String::from_utf8_lossy(&offline[5]).starts_with("/ipfs/Qm"));
    assert!(String::from_utf8_lossy(&offline[2]).contains("Unique Blocks: "));

    let d = Daemon::start(&root);
    for (c, off) in commands.iter().zip(&offline) {
        let args: Vec<&str> = c.iter().map(String::as_str).collect();
        let r = run(&root, &args, None);
        assert!(r.ok, "{c:?}: {}", r.stderr);
        assert!(
            &r.stdout == off,
            "acorn {c:?} through the daemon:\n{}\noffline:\n{}",
            String::from_utf8_lossy(&r.stdout),
            String::from_utf8_lossy(off)
        );
    }
    // Writing commands through the daemon (the repo is locked by it).
    assert_eq!(ok(&run(&root, &["dag", "put"], Some(obj))).trim(), node);
    assert_eq!(
        ok(&run(
            &root,
            &["dag", "import", "--stats", car.to_str().unwrap()],
            None
        )),
        format!(
            "Pinned root\t{dir_cid}\tsuccess\nImported 5 blocks ({} bytes)\n",
            {
                let st = ok(&run(&root, &["dag", "stat", &dir_cid], None));
                st.lines()
                    .find_map(|l| l.strip_prefix("Total Size: "))
                    .unwrap()
                    .to_string()
            }
        )
    );
    let file_cid = ok(&run(&root, &["resolve", &file_path], None))
        .trim()
        .trim_start_matches("/ipfs/")
        .to_string();
    assert_eq!(
        ok(&run(
            &root,
            &["pin", "update", "--unpin=false", &dir_cid, &file_cid],
            None
        )),
        format!("updated {dir_cid} to {file_cid}\n")
    );
    let block = ok(&run(&root, &["block", "put"], Some(b"throwaway")));
    let block = block.trim();
    assert_eq!(
        ok(&run(&root, &["block", "rm", block], None)),
        format!("removed {block}\n")
    );
    let e = err(&run(&root, &["block", "rm", &file_cid], None));
    assert_eq!(
        e,
        format!("Error: cannot remove {file_cid}: pinned: recursive")
    );
    let e = err(&run(&root, &["resolve", "/ipns/example.com"], None));
    assert!(e.contains("IPNS"), "{e}");
    drop(d);
}
