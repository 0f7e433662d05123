//! Raw HTTP helpers for the RPC API tests (`#[path = "common/rpc.rs"] mod rpc;`):
//! one request per connection, chunked bodies undone.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// An answer: status, head (status line and headers), body with chunking undone.
pub struct Answer {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as one JSON value.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }

    /// The body as newline-delimited JSON.
    pub fn lines(&self) -> Vec<serde_json::Value> {
        String::from_utf8_lossy(&self.body)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }

    /// The value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }
}

/// Sends one request with extra `headers`.
pub fn request(
    port: u16,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Answer {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut req = format!(
        "{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("head");
    let head = String::from_utf8(raw[..split].to_vec()).unwrap();
    let mut rest = &raw[split + 4..];
    let status = head[9..12].parse().unwrap();
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        let mut out = Vec::new();
        loop {
            let eol = rest.windows(2).position(|w| w == b"\r\n").unwrap();
            let n = usize::from_str_radix(std::str::from_utf8(&rest[..eol]).unwrap(), 16).unwrap();
            rest = &rest[eol + 2..];
            if n == 0 {
                break;
            }
            out.extend_from_slice(&rest[..n]);
            rest = &rest[n + 2..];
        }
        out
    } else {
        rest.to_vec()
    };
    Answer { status, head, body }
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
