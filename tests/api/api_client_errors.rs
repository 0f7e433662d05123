//! Client errors in a request body are answered as Kubo answers them (HTTP 400,
//! `Code: 1`), not as a failure of the node (500, `Code: 0`): a chunk-size line
//! that overflows, a multipart body that breaks its framing, and an entry path with
//! a `..` component.

use crate::common;
use crate::http;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{init_repo, Daemon};
use http::{multipart, request, Answer};

/// Asserts Kubo's client-error answer whose message contains `want`.
fn assert_client_error(a: &Answer, want: &str) {
    let body = String::from_utf8_lossy(&a.body);
    assert_eq!(a.status, 400, "{}\n{body}", a.head);
    let v = a.json();
    assert_eq!(v["Code"], 1, "{v}");
    assert_eq!(v["Type"], "error", "{v}");
    let msg = v["Message"].as_str().unwrap();
    assert!(msg.contains(want), "{msg:?} lacks {want:?}");
}

/// POSTs `add` with a chunked body whose raw bytes (chunk framing included) are
/// `chunked`, and returns the status and the JSON body.
fn add_chunked(port: u16, chunked: &[u8]) -> (u16, serde_json::Value) {
    let (ct, _) = multipart(&[]);
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let head = format!(
        "POST /api/v0/add HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\
         Content-Type: {ct}\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(chunked).unwrap();
    let mut raw = Vec::new();
    // The server may close while bytes of ours are unread: keep what came.
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text[9..12].parse().unwrap_or_else(|_| panic!("{text}"));
    let (_, body) = text.split_once("\r\n\r\n").unwrap();
    let v = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {text}"));
    (status, v)
}

#[test]
fn malformed_bodies_and_entry_paths_are_client_errors() {
    let (_d, root) = init_repo();
    let d = Daemon::start(&root);
    let port = d.port;

    // A chunk size that does not fit in 64 bits.
    let (status, v) = add_chunked(port, b"10000000000000000000000\r\nhello\r\n0\r\n\r\n");
    assert_eq!((status, &v["Code"]), (400, &1.into()), "{v}");
    assert!(v["Message"].as_str().unwrap().contains("chunk"), "{v}");
    // A chunk-size line longer than any server reads.
    let mut long = vec![b'1'; 8192];
    long.extend_from_slice(b"\r\n");
    let (status, v) = add_chunked(port, &long);
    assert_eq!((status, &v["Code"]), (400, &1.into()), "{v}");

    // A multipart body that ends before its closing boundary.
    let (ct, mut body) = multipart(&[("a.txt", "application/octet-stream", b"hello")]);
    let cut = body.len() - "\r\n--acornTestBoundary42--\r\n".len();
    body.truncate(cut);
    let a = request(
        &format!("127.0.0.1:{port}"),
        "POST",
        "/api/v0/add",
        &[("Content-Type", &ct)],
        &body,
    );
    assert_client_error(&a, "multipart body ends");

    // An entry path that climbs out of its directory.
    let (ct, body) = multipart(&[
        ("d", "application/x-directory", b""),
        ("d/../x", "application/octet-stream", b"hello"),
    ]);
    let a = request(
        &format!("127.0.0.1:{port}"),
        "POST",
        "/api/v0/add",
        &[("Content-Type", &ct)],
        &body,
    );
    assert_client_error(&a, "invalid entry path");

    // The node itself is fine: a well-formed add still works.
    let (ct, body) = multipart(&[("a.txt", "application/octet-stream", b"hello")]);
    let a = request(
        &format!("127.0.0.1:{port}"),
        "POST",
        "/api/v0/add",
        &[("Content-Type", &ct)],
        &body,
    );
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    drop(d);
}
