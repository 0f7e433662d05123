//! The gateway's Kubo habits end to end: `?filename=` and `download=true`
//! (`Content-Disposition`), content sniffing for names without an extension, and
//! the subdomain gateway (`localhost` by default, and hosts from
//! `Gateway.PublicGateways`), on a daemon with a temp repo.

use crate::common;
use crate::http;

use std::path::Path;

use common::{init_repo, ok, run, Daemon};
use http::Answer;

fn get(addr: &str, target: &str, headers: &[(&str, &str)]) -> Answer {
    let a = http::request(addr, "GET", target, headers, b"");
    assert!(
        !a.trailer.contains("X-Stream-Error"),
        "{target}: {}",
        a.trailer
    );
    a
}

fn gateway_addr(root: &Path) -> String {
    let url = std::fs::read_to_string(root.join("gateway")).expect("gateway file");
    url.trim().strip_prefix("http://").expect(&url).to_string()
}

/// `acorn add -Q [flags] file` → the CID.
fn add(root: &Path, file: &Path, flags: &[&str]) -> String {
    let mut args = vec!["add", "-Q"];
    args.extend_from_slice(flags);
    let f = file.display().to_string();
    args.push(&f);
    ok(&run(root, &args, None)).trim().to_string()
}

/// PNG signature and the start of an IHDR chunk.
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0";

#[test]
fn filename_download_and_sniffing() {
    let (dir, root) = init_repo();
    let text = dir.path().join("notes");
    std::fs::write(&text, "plain words, no extension\n".repeat(50)).unwrap();
    let png = dir.path().join("picture");
    std::fs::write(&png, PNG).unwrap();
    let bin = dir.path().join("blob");
    std::fs::write(&bin, common::pseudo_random(2000, 3)).unwrap();
    let text_cid = add(&root, &text, &[]);
    let png_cid = add(&root, &png, &[]);
    let bin_cid = add(&root, &bin, &[]);
    let d = Daemon::start(&root);
    let gw = gateway_addr(&root);

    // Bare CIDs: the type comes from the bytes.
    let ctype = |target: &str| get(&gw, target, &[]).header("content-type");
    assert_eq!(
        ctype(&format!("/ipfs/{text_cid}")).as_deref(),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(
        ctype(&format!("/ipfs/{png_cid}")).as_deref(),
        Some("image/png")
    );
    assert_eq!(
        ctype(&format!("/ipfs/{bin_cid}")).as_deref(),
        Some("application/octet-stream")
    );
    // A range of a sniffed file still gets the whole file's type.
    let a = get(
        &gw,
        &format!("/ipfs/{png_cid}"),
        &[("Range", "bytes=10-12")],
    );
    assert_eq!((a.status, a.body.as_slice()), (206, &PNG[10..13]));
    assert_eq!(a.header("content-type").as_deref(), Some("image/png"));

    // ?filename=: inline, its extension gives the type; no header without it.
    let a = get(&gw, &format!("/ipfs/{bin_cid}?filename=report.pdf"), &[]);
    assert_eq!(a.status, 200);
    assert_eq!(a.header("content-type").as_deref(), Some("application/pdf"));
    assert_eq!(
        a.header("content-disposition").as_deref(),
        Some("inline; filename=\"report.pdf\"; filename*=UTF-8''report.pdf")
    );
    assert_eq!(
        get(&gw, &format!("/ipfs/{bin_cid}"), &[]).header("content-disposition"),
        None
    );
    // download=true: attachment; a non-ASCII name in both forms (RFC 6266/5987).
    let a = get(
        &gw,
        &format!("/ipfs/{text_cid}?filename=r%C3%A9sum%C3%A9%20v2.txt&download=true"),
        &[],
    );
    assert_eq!(
        a.header("content-disposition").as_deref(),
        Some(
            "attachment; filename=\"r_sum_%20v2.txt\"; \
             filename*=UTF-8''r%C3%A9sum%C3%A9%20v2.txt"
        )
    );
    assert_eq!(a.body, std::fs::read(&text).unwrap());
    // download=true alone changes nothing (Kubo needs a filename).
    let a = get(&gw, &format!("/ipfs/{text_cid}?download=true"), &[]);
    assert_eq!(a.header("content-disposition"), None);
    d.stop();
}

/// Whether `s` looks like a dag-pb sha2-256 CIDv1 in base32 (the redirect's form;
/// that it names the same content is checked by fetching it).
fn is_cidv1_base32(s: &str) -> bool {
    s.starts_with("bafy")
        && s.len() == 59
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b))
}

#[test]
fn subdomain_gateway_on_localhost_and_configured_hosts() {
    let (dir, root) = init_repo();
    let tree = dir.path().join("site");
    std::fs::create_dir_all(tree.join("sub")).unwrap();
    std::fs::write(tree.join("index.html"), b"<h1>home</h1>\n").unwrap();
    std::fs::write(tree.join("sub/a.txt"), b"alpha\n").unwrap();
    let v0 = add(&root, &tree, &["-r"]);
    assert!(v0.starts_with("Qm"), "{v0}");
    // A subdomain host and a path-only host; localhost stays the default.
    ok(&run(
        &root,
        &[
            "config",
            "--json",
            "Gateway.PublicGateways",
            r#"{"dweb.test": {"Paths": ["/ipfs"], "UseSubdomains": true},
                "paths.test": {"Paths": ["/ipfs"], "UseSubdomains": false}}"#,
        ],
        None,
    ));
    let d = Daemon::start(&root);
    let gw = gateway_addr(&root);
    let port = gw.rsplit(':').next().unwrap();
    let with_host = |target: &str, host: &str| get(&gw, target, &[("X-Forwarded-Host", host)]);

    // A path request on localhost: 301 to the CIDv1 base32 subdomain, rest and
    // query kept.
    let host = format!("localhost:{port}");
    let a = with_host(&format!("/ipfs/{v0}/sub/a.txt?x=1"), &host);
    assert_eq!(a.status, 301, "{}", a.head);
    let location = a.header("location").unwrap();
    let rest = location
        .strip_prefix("http://")
        .and_then(|l| l.strip_suffix(&format!(".ipfs.localhost:{port}/sub/a.txt?x=1")))
        .unwrap_or_else(|| panic!("{location}"));
    assert!(is_cidv1_base32(rest), "{location}");
    let v1 = rest.to_string();
    // The subdomain serves the content at its root.
    let sub = format!("{v1}.ipfs.localhost:{port}");
    let a = with_host("/sub/a.txt", &sub);
    assert_eq!(
        (a.status, a.body.as_slice()),
        (200, &b"alpha\n"[..]),
        "{}",
        a.head
    );
    assert_eq!(a.header("etag").as_deref().map(|e| e.len() > 2), Some(true));
    let a = with_host("/", &sub);
    assert_eq!(
        (a.status, a.body.as_slice()),
        (200, &b"<h1>home</h1>\n"[..])
    );
    // A directory without its slash: redirected within the subdomain.
    let a = with_host("/sub", &sub);
    assert_eq!(a.status, 301);
    assert_eq!(a.header("location").as_deref(), Some("/sub/"));
    // A listing links other content through the gateway host, not the subdomain.
    let a = with_host("/sub/", &sub);
    assert_eq!(a.status, 200);
    let html = String::from_utf8_lossy(&a.body);
    assert!(
        html.contains(&format!("href=\"http://localhost:{port}/ipfs/")),
        "{html}"
    );
    assert!(!html.contains("href=\"/ipfs/"), "{html}");
    // A CIDv0 typed as a subdomain: redirected to the CIDv1 one.
    let a = with_host("/sub/a.txt", &format!("{v0}.ipfs.localhost:{port}"));
    assert_eq!(a.status, 301);
    assert_eq!(
        a.header("location"),
        Some(format!("http://{v1}.ipfs.localhost:{port}/sub/a.txt"))
    );
    // localhost's other paths are not served; 127.0.0.1 stays a path gateway.
    assert_eq!(with_host("/", &host).status, 404);
    let a = get(&gw, &format!("/ipfs/{v0}/sub/a.txt"), &[]);
    assert_eq!((a.status, a.body.as_slice()), (200, &b"alpha\n"[..]));

    // Configured hosts: a subdomain gateway over https (reverse proxy), a path one.
    let a = get(
        &gw,
        &format!("/ipfs/{v0}/"),
        &[
            ("X-Forwarded-Host", "dweb.test"),
            ("X-Forwarded-Proto", "https"),
        ],
    );
    assert_eq!(a.status, 301);
    assert_eq!(
        a.header("location"),
        Some(format!("https://{v1}.ipfs.dweb.test/"))
    );
    let a = with_host("/sub/a.txt", &format!("{v1}.ipfs.dweb.test"));
    assert_eq!((a.status, a.body.as_slice()), (200, &b"alpha\n"[..]));
    let a = with_host(&format!("/ipfs/{v0}/sub/a.txt"), "paths.test");
    assert_eq!((a.status, a.body.as_slice()), (200, &b"alpha\n"[..]));
    assert_eq!(with_host("/", "paths.test").status, 404);

    // A CID too long for a DNS label in base32 and base36 (sha2-512): 400.
    let mh = cid::multihash::Multihash::<64>::wrap(0x13, &[7u8; 64]).unwrap();
    let long = cid::Cid::new_v1(0x55, mh);
    let a = with_host(&format!("/ipfs/{long}"), &host);
    assert_eq!(a.status, 400, "{}", a.head);
    assert!(
        String::from_utf8_lossy(&a.body).contains("DNS label length limit of 63"),
        "{}",
        String::from_utf8_lossy(&a.body)
    );
    d.stop();
}
