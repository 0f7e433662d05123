//! A Helia peer for interop tests: drives `tools/interop/helia-peer.mjs` (Helia 5,
//! js-libp2p 2.10, bitswap 1.2.0, pinned by `tools/interop/package-lock.json`).
//!
//! What: [`HeliaPeer::start`] spawns `node tools/interop/helia-peer.mjs`, waits for its
//! ready line (peer id and its `/ip4/127.0.0.1/tcp/PORT/p2p/ID` address), and then sends
//! one JSON command per line and waits for the reply with the same `id`: [`HeliaPeer::dial`],
//! [`HeliaPeer::add_file`], [`HeliaPeer::cat`], [`HeliaPeer::peers`]. Each has a `try_`
//! form that returns the peer's error text instead of panicking, for negative tests.
//! Dropping the peer kills the child; [`HeliaPeer::stop`] stops it cleanly.
//!
//! Use it from a test crate with
//! `#[path = "common/helia.rs"] mod helia;` (it needs nothing from `common/mod.rs`).
//!
//! Spec: the line protocol is documented at the top of `tools/interop/helia-peer.mjs`.
//! The peer listens on 127.0.0.1 only and dials nobody by itself (no bootstrap, no DHT,
//! no routers): it exchanges blocks only with peers it dialed or that dialed it.
//!
//! Limits: replies are read by a thread into a channel of [`LINE_QUEUE_CAP`] lines (the
//! reader blocks when full); the child's stderr is kept as its last [`STDERR_TAIL_LINES`]
//! lines and shown in every failure message. Helia's blockstore is in memory.
//!
//! Needs Node >= 20 and `npm ci --prefix tools/interop`; without them the tests FAIL with
//! that instruction (as `tests/helia_parity.rs` does), they never skip.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// Longest wait for the ready line (node start, module loading, libp2p listen).
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest wait for the reply to a command other than `cat` and `dial`.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(60);
/// Extra wait for a reply beyond the timeout the peer itself applies (dial, cat).
pub const REPLY_MARGIN: Duration = Duration::from_secs(10);
/// Dial timeout passed to the peer (it also waits up to 5 s for identify after connecting).
pub const DIAL_TIMEOUT: Duration = Duration::from_secs(10);
/// Stdout lines buffered between the reader thread and the test.
pub const LINE_QUEUE_CAP: usize = 64;
/// Stderr lines of the child kept for failure messages (oldest dropped first).
pub const STDERR_TAIL_LINES: usize = 40;

/// `tools/interop` inside the repository.
pub fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/interop")
}

/// The interop directory, or a failure that says how to install it.
pub fn require_installed() -> PathBuf {
    let dir = interop_dir();
    for marker in [
        "node_modules/@helia/utils/package.json",
        "node_modules/@helia/block-brokers/package.json",
        "node_modules/libp2p/package.json",
    ] {
        let marker = dir.join(marker);
        assert!(
            marker.is_file(),
            "Helia peer is not installed ({} missing). Run `npm ci --prefix tools/interop` \
             (needs Node >= 20 and the npm registry), then re-run this test.",
            marker.display()
        );
    }
    dir
}

/// One connection of the Helia peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// Remote peer id.
    pub peer: String,
    /// Remote multiaddr of the connection.
    pub addr: String,
}

/// Reply to a successful dial.
#[derive(Debug, Clone)]
pub struct Dialed {
    /// Peer id of the dialed peer.
    pub peer: String,
    /// Whether identify finished within the peer's wait (5 s).
    pub identified: bool,
    /// Protocols the dialed peer announced over identify (bitswap must be among them).
    pub protocols: Vec<String>,
}

/// Reply to a successful cat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catted {
    /// Bytes written to the output file.
    pub bytes: u64,
    /// Lowercase hex sha256 of those bytes.
    pub sha256: String,
}

/// A running `helia-peer.mjs` child.
pub struct HeliaPeer {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    stderr: Arc<Mutex<VecDeque<String>>>,
    peer_id: String,
    addrs: Vec<String>,
    next_id: u64,
}

impl HeliaPeer {
    /// Starts a Helia peer listening on `/ip4/127.0.0.1/tcp/0`; panics (with the child's
    /// stderr) if it is not installed or not ready within [`READY_TIMEOUT`].
    pub fn start() -> HeliaPeer {
        let dir = require_installed();
        let mut child = Command::new("node")
            .arg(dir.join("helia-peer.mjs"))
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run `node` (Node >= 20 needed): {e}"));
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr_pipe = child.stderr.take().expect("piped stderr");

        let (tx, lines) = sync_channel(LINE_QUEUE_CAP);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(VecDeque::with_capacity(STDERR_TAIL_LINES)));
        let tail = Arc::clone(&stderr);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr_pipe).lines() {
                let Ok(line) = line else { break };
                let mut tail = tail.lock().unwrap_or_else(|p| p.into_inner());
                if tail.len() == STDERR_TAIL_LINES {
                    tail.pop_front();
                }
                tail.push_back(line);
            }
        });

        let mut peer = HeliaPeer {
            child,
            stdin: Some(stdin),
            lines,
            stderr,
            peer_id: String::new(),
            addrs: Vec::new(),
            next_id: 1,
        };
        let ready = peer
            .next_line(READY_TIMEOUT)
            .unwrap_or_else(|e| panic!("{}", peer.failure(&format!("no ready line: {e}"))));
        if ready["event"] != "ready" {
            panic!(
                "{}",
                peer.failure(&format!("first line is not ready: {ready}"))
            );
        }
        peer.peer_id = ready["peerId"].as_str().unwrap_or_default().to_owned();
        peer.addrs = strings(&ready["addrs"]);
        if peer.peer_id.is_empty() || peer.addrs.is_empty() {
            panic!(
                "{}",
                peer.failure(&format!("ready line lacks peerId/addrs: {ready}"))
            );
        }
        peer
    }

    /// The peer's id (`12D3Koo…`).
    pub fn peer_id(&self) -> &str {
        &self.peer_id
    }

    /// Its listen addresses, each `/ip4/127.0.0.1/tcp/PORT/p2p/ID`.
    pub fn addrs(&self) -> &[String] {
        &self.addrs
    }

    /// Its first listen address with `/p2p/ID`, ready for `acorn swarm connect`.
    pub fn addr(&self) -> &str {
        &self.addrs[0]
    }

    /// Dials `addr` (a multiaddr ending in `/p2p/ID`) and waits for identify; panics on error.
    pub fn dial(&mut self, addr: &str) -> Dialed {
        let r = self.try_dial(addr);
        self.expect(r, "dial")
    }

    /// Dials `addr`; `Err` carries the peer's error text.
    pub fn try_dial(&mut self, addr: &str) -> Result<Dialed, String> {
        let ms = millis(DIAL_TIMEOUT);
        let r = self.request(
            json!({"cmd": "dial", "addr": addr, "timeoutMs": ms}),
            DIAL_TIMEOUT + REPLY_MARGIN,
        )?;
        Ok(Dialed {
            peer: r["peer"].as_str().unwrap_or_default().to_owned(),
            identified: r["identified"].as_bool().unwrap_or(false),
            protocols: strings(&r["protocols"]),
        })
    }

    /// Adds the file at `path` to the peer's blockstore as Kubo's `ipfs add` would
    /// (262144-byte chunks, balanced layout, 174 links) and returns the root CID; panics
    /// on error. CIDv0 needs `raw_leaves == false`.
    pub fn add_file(&mut self, path: &Path, cid_version: u8, raw_leaves: bool) -> String {
        let r = self.try_add_file(path, cid_version, raw_leaves);
        self.expect(r, "addFile")
    }

    /// Adds a file; `Err` carries the peer's error text.
    pub fn try_add_file(
        &mut self,
        path: &Path,
        cid_version: u8,
        raw_leaves: bool,
    ) -> Result<String, String> {
        let path = path
            .to_str()
            .ok_or_else(|| format!("path is not UTF-8: {}", path.display()))?;
        let r = self.request(
            json!({"cmd": "addFile", "path": path, "cidVersion": cid_version, "rawLeaves": raw_leaves}),
            REPLY_TIMEOUT,
        )?;
        r["cid"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("addFile reply without cid: {r}"))
    }

    /// Fetches the UnixFS file `cid` (over bitswap from connected peers when missing) and
    /// writes its bytes to `out`; the peer gives up after `timeout`. Panics on error.
    pub fn cat(&mut self, cid: &str, out: &Path, timeout: Duration) -> Catted {
        let r = self.try_cat(cid, out, timeout);
        self.expect(r, "cat")
    }

    /// Fetches a file; `Err` carries the peer's error text (e.g. a timeout).
    pub fn try_cat(&mut self, cid: &str, out: &Path, timeout: Duration) -> Result<Catted, String> {
        let out = out
            .to_str()
            .ok_or_else(|| format!("path is not UTF-8: {}", out.display()))?;
        let r = self.request(
            json!({"cmd": "cat", "cid": cid, "out": out, "timeoutMs": millis(timeout)}),
            timeout + REPLY_MARGIN,
        )?;
        Ok(Catted {
            bytes: r["bytes"]
                .as_u64()
                .ok_or_else(|| format!("cat reply without bytes: {r}"))?,
            sha256: r["sha256"].as_str().unwrap_or_default().to_owned(),
        })
    }

    /// Ids of the connected peers (each once, sorted).
    pub fn peers(&mut self) -> Vec<String> {
        let mut ids: Vec<String> = self.connections().into_iter().map(|c| c.peer).collect();
        ids.sort();
        ids.dedup();
        ids
    }

    /// Every open connection (a peer may have several).
    pub fn connections(&mut self) -> Vec<Connection> {
        let r = self.request(json!({"cmd": "peers"}), REPLY_TIMEOUT);
        let r = self.expect(r, "peers");
        r["peers"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|c| Connection {
                        peer: c["peer"].as_str().unwrap_or_default().to_owned(),
                        addr: c["addr"].as_str().unwrap_or_default().to_owned(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Stops the node cleanly and waits for the process to exit (kills it after
    /// [`REPLY_TIMEOUT`]).
    pub fn stop(mut self) {
        let _ = self.request(json!({"cmd": "stop"}), REPLY_TIMEOUT);
        self.stdin = None;
        let deadline = Instant::now() + REPLY_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // Drop kills it.
    }

    /// Sends `cmd` (a JSON object; an `id` is added) and waits up to `timeout` for the
    /// reply with that id. `Err` is the peer's `error` text, or a timeout / exit, each
    /// with the child's stderr tail.
    pub fn request(&mut self, mut cmd: Value, timeout: Duration) -> Result<Value, String> {
        let id = self.next_id;
        self.next_id += 1;
        cmd["id"] = json!(id);
        let what = cmd["cmd"].as_str().unwrap_or("?").to_owned();
        let Some(stdin) = self.stdin.as_mut() else {
            return Err("helia peer: stdin closed".to_owned());
        };
        let sent = writeln!(stdin, "{cmd}").and_then(|()| stdin.flush());
        if let Err(e) = sent {
            return Err(self.failure(&format!("cannot send {what}: {e}")));
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .next_line(left)
                .map_err(|e| self.failure(&format!("{what}: {e}")))?;
            if line["id"] != json!(id) {
                // A reply to an earlier command that timed out here, or an unasked line.
                continue;
            }
            return match line["error"].as_str() {
                Some(err) => Err(err.to_owned()),
                None => Ok(line),
            };
        }
    }

    /// Next stdout line as JSON, within `timeout`.
    fn next_line(&mut self, timeout: Duration) -> Result<Value, String> {
        match self.lines.recv_timeout(timeout) {
            Ok(line) => serde_json::from_str(&line).map_err(|e| format!("bad line {line:?}: {e}")),
            Err(RecvTimeoutError::Timeout) => Err(format!("no reply within {timeout:?}")),
            Err(RecvTimeoutError::Disconnected) => {
                let status = self.child.try_wait().ok().flatten();
                Err(format!("helia peer exited ({status:?})"))
            }
        }
    }

    fn expect<T>(&self, r: Result<T, String>, what: &str) -> T {
        r.unwrap_or_else(|e| panic!("helia peer {what} failed: {e}"))
    }

    /// `msg` with the child's stderr tail appended.
    fn failure(&self, msg: &str) -> String {
        let tail = self.stderr.lock().unwrap_or_else(|p| p.into_inner());
        let tail: Vec<&str> = tail.iter().map(String::as_str).collect();
        format!(
            "helia peer {}: {msg}\n--- helia-peer stderr (last {} lines) ---\n{}",
            self.peer_id,
            tail.len(),
            tail.join("\n")
        )
    }
}

impl Drop for HeliaPeer {
    fn drop(&mut self) {
        self.stdin = None;
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
