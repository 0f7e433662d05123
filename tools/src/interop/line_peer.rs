//! A peer process driven by newline-delimited JSON: the plumbing shared by the
//! Helia (`helia.rs`) and Kubo (`kubo.rs`) interop peers.
//!
//! What: [`LinePeer::spawn`] starts the child with piped stdio, waits for its ready
//! line (`{"event":"ready","peerId":…,"addrs":[…]}`), then [`LinePeer::request`]
//! sends one JSON command per line with a fresh `id` and waits for the reply that
//! carries the same `id`. A reply with an `error` field is an `Err`. Dropping the
//! peer kills the child; [`LinePeer::stop`] sends `stop` and waits for the exit.
//!
//! Limits: stdout is read by a thread into a channel of [`LINE_QUEUE_CAP`] lines
//! (the reader blocks when full); stderr is kept as its last [`STDERR_TAIL_LINES`]
//! lines and shown in every failure message.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// Stdout lines buffered between the reader thread and the test.
pub const LINE_QUEUE_CAP: usize = 64;
/// Stderr lines of the child kept for failure messages (oldest dropped first).
pub const STDERR_TAIL_LINES: usize = 40;
/// Longest wait for the child to exit after `stop`.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// A running child that speaks the line protocol.
pub struct LinePeer {
    /// Name used in failure messages (`helia peer`, `kubo peer`).
    name: &'static str,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    stderr: Arc<Mutex<VecDeque<String>>>,
    peer_id: String,
    addrs: Vec<String>,
    next_id: u64,
}

impl LinePeer {
    /// Spawns `cmd` and waits up to `ready_timeout` for its ready line; panics with
    /// the child's stderr if it does not come or lacks `peerId`/`addrs`.
    pub fn spawn(name: &'static str, mut cmd: Command, ready_timeout: Duration) -> LinePeer {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{name}: cannot run {cmd:?}: {e}"));
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

        let mut peer = LinePeer {
            name,
            child,
            stdin: Some(stdin),
            lines,
            stderr,
            peer_id: String::new(),
            addrs: Vec::new(),
            next_id: 1,
        };
        let ready = peer
            .next_line(ready_timeout)
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

    /// The peer's id, as its ready line gave it.
    pub fn peer_id(&self) -> &str {
        &self.peer_id
    }

    /// Its listen addresses, each ending in `/p2p/ID`.
    pub fn addrs(&self) -> &[String] {
        &self.addrs
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
            return Err(format!("{}: stdin closed", self.name));
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

    /// `r`'s value, or a panic naming the command and the peer's error.
    pub fn expect<T>(&self, r: Result<T, String>, what: &str) -> T {
        r.unwrap_or_else(|e| panic!("{} {what} failed: {e}", self.name))
    }

    /// Stops the child cleanly and waits for it to exit (killed after [`STOP_TIMEOUT`]).
    pub fn stop(mut self) {
        let _ = self.request(json!({"cmd": "stop"}), STOP_TIMEOUT);
        self.stdin = None;
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // Drop kills it.
    }

    /// Next stdout line as JSON, within `timeout`.
    fn next_line(&mut self, timeout: Duration) -> Result<Value, String> {
        match self.lines.recv_timeout(timeout) {
            Ok(line) => serde_json::from_str(&line).map_err(|e| format!("bad line {line:?}: {e}")),
            Err(RecvTimeoutError::Timeout) => Err(format!("no reply within {timeout:?}")),
            Err(RecvTimeoutError::Disconnected) => {
                let status = self.child.try_wait().ok().flatten();
                Err(format!("{} exited ({status:?})", self.name))
            }
        }
    }

    /// `msg` with the child's stderr tail appended.
    pub fn failure(&self, msg: &str) -> String {
        let tail = self.stderr.lock().unwrap_or_else(|p| p.into_inner());
        let tail: Vec<&str> = tail.iter().map(String::as_str).collect();
        format!(
            "{} {}: {msg}\n--- stderr (last {} lines) ---\n{}",
            self.name,
            self.peer_id,
            tail.len(),
            tail.join("\n")
        )
    }
}

impl Drop for LinePeer {
    fn drop(&mut self) {
        self.stdin = None;
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The strings of a JSON array (other elements skipped); empty for a non-array.
pub fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// `d` in whole milliseconds (saturating).
pub fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
