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
//! Use it from a test crate with `#[path = "../common/helia.rs"] mod helia;` (it needs
//! nothing from `common/mod.rs`; the child-process plumbing it shares with the Kubo
//! peer is `acorn_tools::interop::line_peer`).
//!
//! Spec: the line protocol is documented at the top of `tools/interop/helia-peer.mjs`.
//! The peer listens on 127.0.0.1 only and dials nobody by itself (no bootstrap, no DHT,
//! no routers): it exchanges blocks only with peers it dialed or that dialed it.
//!
//! Limits: those of [`LinePeer`] (bounded line queue, stderr tail in failure messages).
//! Helia's blockstore is in memory.
//!
//! Needs Node >= 20 and `npm ci --prefix tools/interop`; without them the tests FAIL with
//! that instruction (as `tests/helia_parity.rs` does), they never skip.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};

use acorn_tools::interop::line_peer::{millis, strings, LinePeer};

/// Longest wait for the ready line (node start, module loading, libp2p listen).
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest wait for the reply to a command other than `cat` and `dial`.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(60);
/// Extra wait for a reply beyond the timeout the peer itself applies (dial, cat).
pub const REPLY_MARGIN: Duration = Duration::from_secs(10);
/// Dial timeout passed to the peer (it also waits up to 5 s for identify after connecting).
pub const DIAL_TIMEOUT: Duration = Duration::from_secs(10);

/// `tools/interop` inside the repository.
pub fn interop_dir() -> PathBuf {
    acorn_tools::interop::dir()
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
    /// The agent version the dialed peer announced over identify (`acorn/0.1.0`),
    /// `None` before identify.
    pub agent_version: Option<String>,
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
    peer: LinePeer,
}

impl HeliaPeer {
    /// Starts a Helia peer listening on `/ip4/127.0.0.1/tcp/0`; panics (with the child's
    /// stderr) if it is not installed or not ready within [`READY_TIMEOUT`].
    pub fn start() -> HeliaPeer {
        HeliaPeer::with_key_type("Ed25519")
    }

    /// Starts a Helia peer whose identity is a fresh key of `key_type` (`Ed25519` or
    /// `secp256k1`, as `@libp2p/crypto` names them; the pinned js-libp2p makes no
    /// RSA or ECDSA peer ids).
    pub fn with_key_type(key_type: &str) -> HeliaPeer {
        let dir = require_installed();
        let mut cmd = Command::new("node");
        cmd.arg(dir.join("helia-peer.mjs"))
            .args(["--key-type", key_type])
            .current_dir(&dir);
        HeliaPeer {
            peer: LinePeer::spawn("helia peer", cmd, READY_TIMEOUT),
        }
    }

    /// The peer's id (`12D3Koo…` for Ed25519, `16Uiu2…` for secp256k1).
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
            agent_version: r["agentVersion"].as_str().map(str::to_owned),
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

    /// Stops the node cleanly and waits for the process to exit.
    pub fn stop(self) {
        self.peer.stop();
    }

    /// Sends `cmd` and waits up to `timeout` for its reply ([`LinePeer::request`]).
    pub fn request(&mut self, cmd: Value, timeout: Duration) -> Result<Value, String> {
        self.peer.request(cmd, timeout)
    }

    fn expect<T>(&self, r: Result<T, String>, what: &str) -> T {
        self.peer.expect(r, what)
    }
}
