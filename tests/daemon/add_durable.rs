//! A CID that `add` prints (CLI) or streams (RPC) is durable: kill -9 the process
//! right after the first one appears, and every CID it had printed by then is
//! complete in the repo afterwards.

use crate::common;
use crate::http;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{init_repo, ok, run, Daemon};

/// Files in each add: more than one held group, so the first CIDs are printed
/// while the add still runs.
const FILES: usize = 3000;

fn file_data(i: usize) -> Vec<u8> {
    format!("file number {i}\n").repeat(8).into_bytes()
}

/// Every CID in `cids` is stored, and so is every block below it (`refs -r`
/// reads each node below it; these files are one block each).
fn assert_complete(root: &Path, cids: &[String]) {
    assert!(!cids.is_empty());
    let first = ok(&run(root, &["block", "stat", &cids[0]], None));
    assert!(first.contains(&cids[0]), "{first}");
    for group in cids.chunks(500) {
        let mut args = vec!["refs", "-r"];
        args.extend(group.iter().map(String::as_str));
        let r = run(root, &args, None);
        assert!(
            r.ok,
            "a printed CID is incomplete after kill -9: {}",
            r.stderr
        );
    }
}

#[test]
fn offline_add_prints_only_durable_cids() {
    let (d, root) = init_repo();
    let src = d.path().join("tree");
    std::fs::create_dir(&src).unwrap();
    for i in 0..FILES {
        std::fs::write(src.join(format!("f{i:05}")), file_data(i)).unwrap();
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_acorn"))
        .args(["add", "-r", "--progress=false", src.to_str().unwrap()])
        .env("ACORN_PATH", &root)
        .env_remove("ACORN_LOG")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    assert!(first.starts_with("added "), "{first:?}");
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // What else it printed before it died is still in the pipe.
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    let cids: Vec<String> = std::iter::once(first.as_str())
        .chain(rest.lines())
        .filter_map(|l| l.strip_prefix("added "))
        .map(|l| l.split(' ').next().unwrap().to_string())
        .collect();
    assert_complete(&root, &cids);
}

/// Undoes HTTP chunking as far as whole chunks go.
fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    while let Some(eol) = raw.windows(2).position(|w| w == b"\r\n") {
        let Ok(len) = usize::from_str_radix(std::str::from_utf8(&raw[..eol]).unwrap_or("x"), 16)
        else {
            break;
        };
        if len == 0 || raw.len() < eol + 2 + len {
            body.extend_from_slice(&raw[(eol + 2).min(raw.len())..raw.len().min(eol + 2 + len)]);
            break;
        }
        body.extend_from_slice(&raw[eol + 2..eol + 2 + len]);
        raw = &raw[(eol + 4 + len).min(raw.len())..];
    }
    body
}

#[test]
fn rpc_add_streams_only_durable_cids() {
    let (_d, root) = init_repo();
    let mut daemon = Daemon::start(&root);
    let names: Vec<String> = (0..FILES).map(|i| format!("d/f{i:05}")).collect();
    let datas: Vec<Vec<u8>> = (0..FILES).map(file_data).collect();
    let mut parts: Vec<(&str, &str, &[u8])> = vec![("d", "application/x-directory", b"")];
    for (n, data) in names.iter().zip(&datas) {
        parts.push((n, "application/octet-stream", data));
    }
    let (ctype, body) = http::multipart(&parts);
    let mut s = TcpStream::connect(("127.0.0.1", daemon.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut w = s.try_clone().unwrap();
    let head = format!(
        "POST /api/v0/add HTTP/1.1\r\nHost: x\r\nContent-Type: {ctype}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    // The body goes on a thread of its own: the answer streams while it is sent.
    let sender = std::thread::spawn(move || {
        let _ = w.write_all(head.as_bytes());
        let _ = w.write_all(&body);
    });
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        let n = s.read(&mut buf).unwrap();
        assert_ne!(
            n,
            0,
            "answer ended early: {}",
            String::from_utf8_lossy(&raw)
        );
        raw.extend_from_slice(&buf[..n]);
        let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        if raw[end..].windows(7).any(|w| w == b"\"Hash\":") {
            break end + 4;
        }
    };
    let child = daemon.child.as_mut().unwrap();
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // Whatever else arrived before it died.
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
    }
    let _ = sender.join();
    let head = String::from_utf8_lossy(&raw[..head_end]);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let body = dechunk(&raw[head_end..]);
    let cids: Vec<String> = String::from_utf8_lossy(&body)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["Hash"].as_str().map(str::to_string))
        .collect();
    assert_complete(&root, &cids);
}
