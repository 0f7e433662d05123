//! A minimal HTTP/1.1 client for the RPC API, strict about what counts as
//! success: the soak must tell "the daemon acknowledged" from "the connection
//! died half way", so an answer is complete only with its whole body (the
//! `Content-Length` bytes, or a chunked body up to its last chunk) and a
//! streamed answer fails when its trailer carries `X-Stream-Error`.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// One answer of the RPC API.
pub(crate) struct Answer {
    /// HTTP status.
    pub(crate) status: u16,
    /// The body (de-chunked).
    pub(crate) body: Vec<u8>,
    /// The whole body arrived and no trailer reported an error.
    pub(crate) complete: bool,
}

impl Answer {
    /// Status 200 and complete.
    pub(crate) fn ok(&self) -> bool {
        self.status == 200 && self.complete
    }

    /// The body's lines that are JSON objects.
    pub(crate) fn json_lines(&self) -> Vec<serde_json::Value> {
        String::from_utf8_lossy(&self.body)
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

/// How often a read waiting for the server looks at its `cancel` flag.
const POLL: Duration = Duration::from_millis(50);

/// POSTs `/api/v0/<cmd_and_query>` to 127.0.0.1:`port` with an optional
/// `(content type, bytes)` body; reads until the server closes.
pub(crate) fn post(
    port: u16,
    cmd_and_query: &str,
    body: Option<(&str, &[u8])>,
    timeout: Duration,
) -> std::io::Result<Answer> {
    post_until(port, cmd_and_query, body, timeout, &AtomicBool::new(false))
}

/// [`post`], but hangs up (an incomplete answer) as soon as `cancel` is set.
pub(crate) fn post_until(
    port: u16,
    cmd_and_query: &str,
    body: Option<(&str, &[u8])>,
    timeout: Duration,
    cancel: &AtomicBool,
) -> std::io::Result<Answer> {
    let deadline = Instant::now() + timeout;
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(POLL))?;
    s.set_write_timeout(Some(timeout))?;
    let (ctype, bytes) = body.unwrap_or(("application/octet-stream", &[]));
    write!(
        s,
        "POST /api/v0/{cmd_and_query} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {ctype}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        bytes.len()
    )?;
    s.write_all(bytes)?;
    let mut raw = Vec::new();
    // A reset after part of the answer still leaves what arrived to judge.
    let mut buf = [0u8; 64 << 10];
    let read = loop {
        match s.read(&mut buf) {
            Ok(0) => break Ok(()),
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if cancel.load(Ordering::Relaxed) || Instant::now() > deadline {
                    break Err(e);
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => break Err(e),
        }
    };
    let Some(head_end) = find(&raw, b"\r\n\r\n") else {
        read?;
        return Err(std::io::Error::other("no HTTP header in the answer"));
    };
    let head = String::from_utf8_lossy(&raw[..head_end]).to_ascii_lowercase();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let rest = &raw[head_end + 4..];
    let header = |name: &str| {
        head.lines()
            .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
    };
    let (body, complete) = if header("transfer-encoding:").is_some_and(|v| v == "chunked") {
        dechunk(rest)
    } else if let Some(len) = header("content-length:").and_then(|v| v.parse::<usize>().ok()) {
        (rest[..len.min(rest.len())].to_vec(), rest.len() >= len)
    } else {
        (rest.to_vec(), read.is_ok())
    };
    Ok(Answer {
        status,
        body,
        complete,
    })
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A chunked body: (the data, whether the last chunk and a clean trailer came).
fn dechunk(mut rest: &[u8]) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    loop {
        let Some(eol) = find(rest, b"\r\n") else {
            return (out, false);
        };
        let size_text = String::from_utf8_lossy(&rest[..eol]);
        let Ok(size) = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
        else {
            return (out, false);
        };
        rest = &rest[eol + 2..];
        if size == 0 {
            // The trailer: header lines up to an empty line.
            let trailer = String::from_utf8_lossy(rest).to_ascii_lowercase();
            let clean = trailer.contains("\r\n")
                && !trailer.lines().any(|l| {
                    l.starts_with("x-stream-error:") && l.len() > "x-stream-error:".len() + 1
                });
            return (out, clean);
        }
        if rest.len() < size + 2 {
            out.extend_from_slice(&rest[..size.min(rest.len())]);
            return (out, false);
        }
        out.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_bodies_are_complete_only_with_their_end() {
        assert_eq!(dechunk(b"3\r\nabc\r\n0\r\n\r\n"), (b"abc".to_vec(), true));
        assert_eq!(dechunk(b"3\r\nabc\r\n"), (b"abc".to_vec(), false));
        assert_eq!(dechunk(b"5\r\nab"), (b"ab".to_vec(), false));
        let failed = b"3\r\nabc\r\n0\r\nX-Stream-Error: disk full\r\n\r\n";
        assert_eq!(dechunk(failed), (b"abc".to_vec(), false));
        let empty_trailer = b"3\r\nabc\r\n0\r\nX-Stream-Error: \r\n\r\n";
        assert_eq!(dechunk(empty_trailer), (b"abc".to_vec(), true));
    }
}
