//! RPC API helpers for the tests (`#[path = "../common/rpc.rs"] mod rpc;` in a room's
//! `main.rs`) on top of the raw HTTP of `common/http.rs` (`rpc::http`): requests by
//! port, and multipart parts with extra part headers (`Abspath` for `add?nocopy`).
#![allow(dead_code)]

#[path = "http.rs"]
pub mod http;

pub use http::Answer;

/// Sends one request with extra `headers` to the RPC API on `127.0.0.1:port`.
pub fn request(
    port: u16,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Answer {
    http::request(&format!("127.0.0.1:{port}"), method, target, headers, body)
}

/// `POST target` with no body.
pub fn post(port: u16, target: &str) -> Answer {
    request(port, "POST", target, &[], b"")
}

/// `POST target` with a multipart body.
pub fn post_multipart(port: u16, target: &str, parts: &[Part<'_>]) -> Answer {
    let (ct, body) = multipart(parts);
    request(port, "POST", target, &[("Content-Type", &ct)], &body)
}

/// One multipart part: escaped file name, content type, extra headers, bytes.
pub struct Part<'a> {
    pub name: &'a str,
    pub ctype: &'a str,
    pub headers: Vec<(&'a str, String)>,
    pub data: &'a [u8],
}

impl<'a> Part<'a> {
    pub fn file(name: &'a str, data: &'a [u8]) -> Part<'a> {
        Part {
            name,
            ctype: "application/octet-stream",
            headers: Vec::new(),
            data,
        }
    }
}

/// A `multipart/form-data` body as Kubo's clients send it.
pub fn multipart(parts: &[Part<'_>]) -> (String, Vec<u8>) {
    let b = "acornRpcTestBoundary7";
    let mut body = Vec::new();
    for p in parts {
        body.extend_from_slice(
            format!(
                "--{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{}\"\r\n\
                 Content-Type: {}\r\n",
                p.name, p.ctype
            )
            .as_bytes(),
        );
        for (n, v) in &p.headers {
            body.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
        }
        body.extend_from_slice(b"\r\n");
        body.extend_from_slice(p.data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{b}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={b}"), body)
}
