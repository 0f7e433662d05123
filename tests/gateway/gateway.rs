//! The HTTP gateway end to end: a daemon on port 0 with a temp repo, content added
//! offline first, then plain HTTP/1.1 requests to the URL in `$ACORN_PATH/gateway`.

use crate::common;
use crate::http;

use std::path::Path;

use common::{init_repo, ok, run, Daemon};
use http::Answer;

/// A raw HTTP/1.1 exchange with extra `headers`; a failed stream fails the test.
fn get(addr: &str, method: &str, target: &str, headers: &[(&str, &str)]) -> Answer {
    let a = http::request(addr, method, target, headers, b"");
    assert!(
        !a.trailer.contains("X-Stream-Error"),
        "{target}: stream error {}",
        a.trailer
    );
    a
}

/// `added <cid> <name>` lines of `acorn add` → the CID of `name`.
fn cid_of(added: &str, name: &str) -> String {
    added
        .lines()
        .find_map(|l| {
            let mut w = l.split(' ');
            (w.next() == Some("added")).then_some(())?;
            let cid = w.next()?;
            (w.collect::<Vec<_>>().join(" ") == name).then(|| cid.to_string())
        })
        .unwrap_or_else(|| panic!("{name} not in {added}"))
}

fn gateway_addr(root: &Path) -> String {
    let url = std::fs::read_to_string(root.join("gateway")).expect("gateway file");
    let addr = url.strip_prefix("http://127.0.0.1:").expect(&url);
    assert_ne!(addr, "0", "gateway file holds the real port");
    format!("127.0.0.1:{addr}")
}

#[test]
fn gateway_serves_files_directories_and_trustless_answers() {
    let (dir, root) = init_repo();
    let tree = dir.path().join("tree");
    std::fs::create_dir_all(tree.join("site")).unwrap();
    let big = common::pseudo_random(700_000, 11);
    std::fs::write(tree.join("b.bin"), &big).unwrap();
    std::fs::write(tree.join("a.txt"), b"alpha\n").unwrap();
    std::fs::write(tree.join("<x>&.txt"), b"odd name\n").unwrap();
    std::fs::write(tree.join("site/index.html"), b"<h1>hi</h1>\n").unwrap();
    std::fs::write(tree.join("site/style.css"), b"h1 {}\n").unwrap();
    let added = ok(&run(
        &root,
        &["add", "-r", &tree.display().to_string()],
        None,
    ));
    let root_cid = cid_of(&added, "tree");
    let bin_cid = cid_of(&added, "tree/b.bin");
    let raw_root = run(&root, &["block", "get", &root_cid], None);
    assert!(raw_root.ok);
    let export = run(&root, &["dag", "export", &root_cid], None);
    assert!(export.ok, "{}", export.stderr);

    let d = Daemon::start(&root);
    let gw = gateway_addr(&root);

    // A file: bytes and headers.
    let bin_path = format!("/ipfs/{root_cid}/b.bin");
    let a = get(&gw, "GET", &bin_path, &[]);
    assert_eq!(a.status, 200, "{}", a.head);
    assert!(a.body == big, "b.bin body differs ({} bytes)", a.body.len());
    assert_eq!(a.header("content-length").as_deref(), Some("700000"));
    let etag = format!("\"{bin_cid}\"");
    assert_eq!(a.header("etag"), Some(etag.clone()));
    assert_eq!(
        a.header("cache-control").as_deref(),
        Some("public, max-age=29030400, immutable")
    );
    assert_eq!(a.header("x-ipfs-path"), Some(bin_path.clone()));
    assert_eq!(
        a.header("content-type").as_deref(),
        Some("application/octet-stream")
    );
    let a = get(&gw, "GET", &format!("/ipfs/{root_cid}/a.txt"), &[]);
    assert_eq!((a.status, a.body.as_slice()), (200, &b"alpha\n"[..]));
    assert!(a.header("content-type").unwrap().starts_with("text/plain"));
    let a = get(&gw, "HEAD", &bin_path, &[]);
    assert_eq!(a.status, 200);
    assert_eq!(a.header("content-length").as_deref(), Some("700000"));
    assert!(a.body.is_empty());

    // Range.
    let a = get(&gw, "GET", &bin_path, &[("Range", "bytes=1000-70999")]);
    assert_eq!(a.status, 206, "{}", a.head);
    assert_eq!(
        a.header("content-range").as_deref(),
        Some("bytes 1000-70999/700000")
    );
    assert!(a.body == big[1000..71000]);
    let a = get(&gw, "GET", &bin_path, &[("Range", "bytes=-100")]);
    assert_eq!(a.status, 206);
    assert!(a.body == big[big.len() - 100..]);
    let a = get(&gw, "GET", &bin_path, &[("Range", "bytes=699990-")]);
    assert_eq!((a.status, a.body.len()), (206, 10));
    let a = get(&gw, "GET", &bin_path, &[("Range", "bytes=700000-")]);
    assert_eq!(a.status, 416, "{}", a.head);
    assert_eq!(a.header("content-range").as_deref(), Some("bytes */700000"));

    // ETag / If-None-Match.
    let a = get(&gw, "GET", &bin_path, &[("If-None-Match", &etag)]);
    assert_eq!(a.status, 304, "{}", a.head);
    assert!(a.body.is_empty());
    let a = get(&gw, "GET", &bin_path, &[("If-None-Match", "\"other\"")]);
    assert_eq!(a.status, 200);

    // A directory without index.html: redirect to the slash form, then a listing.
    let a = get(&gw, "GET", &format!("/ipfs/{root_cid}"), &[]);
    assert_eq!(a.status, 301, "{}", a.head);
    assert_eq!(a.header("location"), Some(format!("/ipfs/{root_cid}/")));
    let a = get(&gw, "GET", &format!("/ipfs/{root_cid}/"), &[]);
    assert_eq!(a.status, 200, "{}", a.head);
    assert!(a.header("content-type").unwrap().starts_with("text/html"));
    let html = String::from_utf8(a.body).unwrap();
    assert!(html.contains(">a.txt<"), "{html}");
    assert!(html.contains(">b.bin<"), "{html}");
    assert!(html.contains("site/"), "{html}");
    assert!(html.contains("&lt;x&gt;&amp;.txt"), "{html}");
    assert!(!html.contains("<x>"), "unescaped name: {html}");

    // A directory with index.html.
    let a = get(&gw, "GET", &format!("/ipfs/{root_cid}/site"), &[]);
    assert_eq!(a.status, 301);
    let a = get(&gw, "GET", &format!("/ipfs/{root_cid}/site/"), &[]);
    assert_eq!(a.status, 200, "{}", a.head);
    assert_eq!(a.body, b"<h1>hi</h1>\n");
    assert!(a.header("content-type").unwrap().starts_with("text/html"));
    let a = get(&gw, "GET", &format!("/ipfs/{root_cid}/site/style.css"), &[]);
    assert!(a.header("content-type").unwrap().starts_with("text/css"));

    // Trustless: one raw block.
    for (target, hdrs) in [
        (format!("/ipfs/{root_cid}?format=raw"), vec![]),
        (
            format!("/ipfs/{root_cid}"),
            vec![("Accept", "application/vnd.ipld.raw")],
        ),
    ] {
        let a = get(&gw, "GET", &target, &hdrs);
        assert_eq!(a.status, 200, "{target}: {}", a.head);
        assert_eq!(
            a.header("content-type").as_deref(),
            Some("application/vnd.ipld.raw")
        );
        assert!(a.body == raw_root.stdout, "{target}: raw block differs");
    }

    // Trustless: a CAR, byte for byte `dag export`, and it re-imports.
    let a = get(&gw, "GET", &format!("/ipfs/{root_cid}?format=car"), &[]);
    assert_eq!(a.status, 200, "{}", a.head);
    assert_eq!(
        a.header("content-type").as_deref(),
        Some("application/vnd.ipld.car; version=1")
    );
    assert!(a.body == export.stdout, "CAR differs from dag export");
    let car_path = dir.path().join("gw.car");
    std::fs::write(&car_path, &a.body).unwrap();
    let (_d2, fresh) = init_repo();
    let imported = ok(&run(
        &fresh,
        &["dag", "import", &car_path.display().to_string()],
        None,
    ));
    assert!(imported.contains(&root_cid), "{imported}");
    let cat = run(&fresh, &["cat", &format!("{root_cid}/b.bin")], None);
    assert!(cat.ok, "{}", cat.stderr);
    assert!(cat.stdout == big, "re-imported b.bin differs");
    let a2 = get(
        &gw,
        "GET",
        &format!("/ipfs/{root_cid}"),
        &[("Accept", "application/vnd.ipld.car")],
    );
    assert!(a2.body == a.body, "Accept: car differs from ?format=car");
    // dag-scope=block: the root block alone.
    let b = get(
        &gw,
        "GET",
        &format!("/ipfs/{root_cid}?format=car&dag-scope=block"),
        &[],
    );
    assert_eq!(b.status, 200, "{}", b.head);
    assert!(b.body.len() < a.body.len());
    assert!(b.body.ends_with(&raw_root.stdout));
    let prefix_len = b.body.len() - raw_root.stdout.len();
    assert!(a.body.starts_with(&b.body[..prefix_len]));

    // Errors.
    let a = get(&gw, "GET", "/ipfs/QmNotACid/x", &[]);
    assert_eq!(a.status, 400, "{}", a.head);
    let a = get(&gw, "GET", &format!("/ipfs/{root_cid}/nope.txt"), &[]);
    assert_eq!(a.status, 404, "{}", a.head);
    let a = get(&gw, "GET", &format!("/ipfs/{root_cid}?format=zip"), &[]);
    assert_eq!(a.status, 400, "{}", a.head);
    let a = get(&gw, "POST", &bin_path, &[("Content-Length", "0")]);
    assert_eq!(a.status, 405, "{}", a.head);
    let a = get(&gw, "GET", "/", &[]);
    assert_eq!(a.status, 404, "{}", a.head);

    let (stopped, stdout, stderr) = d.stop();
    assert!(stopped, "{stderr}");
    assert!(
        stdout.contains("Gateway server listening on /ip4/127.0.0.1/tcp/"),
        "{stdout}"
    );
    assert!(!root.join("gateway").exists(), "gateway file left behind");
}
