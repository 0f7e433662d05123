//! Raw HTTP/1.1 for the end-to-end tests of the RPC API and the gateway: one
//! request per connection, the answer read whole, chunking undone, the trailer kept.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// One answer.
pub struct Answer {
    pub status: u16,
    /// Status line and headers.
    pub head: String,
    /// The body with chunking undone.
    pub body: Vec<u8>,
    /// What followed the last chunk (`X-Stream-Error: ...` when a stream failed).
    pub trailer: String,
}

impl Answer {
    /// Header `name` (any case).
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }

    /// The body as one JSON value.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{e}: {} {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The body as newline-delimited JSON.
    pub fn lines(&self) -> Vec<serde_json::Value> {
        String::from_utf8_lossy(&self.body)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }
}

/// Sends `method target` to `addr` with extra `headers` and `body` (a
/// Content-Length body when not empty, or when `method` is POST).
pub fn request(
    addr: &str,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Answer {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut req = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
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
    let mut trailer = String::new();
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
                trailer = String::from_utf8_lossy(rest).into_owned();
                break;
            }
            out.extend_from_slice(&rest[..n]);
            rest = &rest[n + 2..];
        }
        out
    } else {
        rest.to_vec()
    };
    Answer {
        status,
        head,
        body,
        trailer,
    }
}

/// A request to the RPC API on `127.0.0.1:port`; returns (status, head, body).
pub fn http(
    port: u16,
    method: &str,
    target: &str,
    ctype: &str,
    body: &[u8],
) -> (u16, String, Vec<u8>) {
    let headers: Vec<(&str, &str)> = if ctype.is_empty() {
        Vec::new()
    } else {
        vec![("Content-Type", ctype)]
    };
    let a = request(&format!("127.0.0.1:{port}"), method, target, &headers, body);
    (a.status, a.head, a.body)
}

/// An empty POST to the RPC API; returns (status, body as JSON).
pub fn post(port: u16, target: &str) -> (u16, serde_json::Value) {
    let (status, _, body) = http(port, "POST", target, "", b"");
    let v = serde_json::from_slice(&body)
        .unwrap_or_else(|e| panic!("{target}: {e}: {}", String::from_utf8_lossy(&body)));
    (status, v)
}

/// A POST to the RPC API with a multipart body of `parts` (see [`multipart`]).
pub fn post_parts(port: u16, target: &str, parts: &[(&str, &str, &[u8])]) -> Answer {
    let (ct, body) = multipart(parts);
    request(
        &format!("127.0.0.1:{port}"),
        "POST",
        target,
        &[("Content-Type", &ct)],
        &body,
    )
}

/// An empty POST to the RPC API, the whole answer.
pub fn call(port: u16, target: &str) -> Answer {
    request(&format!("127.0.0.1:{port}"), "POST", target, &[], b"")
}

/// A `multipart/form-data` body of `(filename, content type, data)` parts, as
/// Kubo's clients send files; returns (Content-Type, body).
pub fn multipart(parts: &[(&str, &str, &[u8])]) -> (String, Vec<u8>) {
    let b = "acornTestBoundary42";
    let mut body = Vec::new();
    for (name, ctype, data) in parts {
        body.extend_from_slice(
            format!(
                "--{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
                 Content-Type: {ctype}\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{b}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={b}"), body)
}
