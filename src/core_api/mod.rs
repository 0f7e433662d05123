//! The core API: one set of traits that the CLI, the RPC API and the gateway call.
//!
//! **What.** [`Core`] is every command family of the node as typed Rust calls:
//! [`Content`] (add, cat, get, ls, refs, resolve), [`Blocks`], [`Dag`], [`Pins`],
//! [`Repo`], [`Filestore`], [`Network`] (id, swarm, routing, stats bw, bitswap) and
//! [`Settings`] (config, version). Two implementations:
//! - [`Local`]: this process's node ([`crate::core::Node`], the repo and its
//!   logic) plus, in the daemon, the network ([`NetHandle`]). The RPC server and the
//!   gateway call it; so does the CLI when no daemon runs.
//! - [`Remote`]: a running daemon, over its Kubo RPC API ([`client`]). The CLI
//!   calls it while a daemon holds the repo.
//!
//! So a command's logic lives once (in `Local`, mostly in `Node`), and a command's
//! output is formatted once per front end, from the same typed result: the CLI
//! prints the same text offline and through the daemon because it formats one value,
//! and the RPC API writes Kubo's JSON from that value, which [`Remote`] reads back.
//!
//! **Conventions** (every group file follows them):
//! - Methods are blocking and take `&self`; the RPC API and gateway run them on the
//!   bounded blocking pool, never on the executor thread ([`Local`]'s network calls
//!   wait on the swarm task with `smol::block_on`).
//! - Inputs are typed (a [`cid::Cid`], an options struct): each front end parses its
//!   own text (argv, query string) and reports its own argument errors.
//! - Results are plain structs with Kubo's fields. A byte stream is written to an
//!   `&mut dyn Write`; a stream of items is handed to an
//!   `&mut dyn FnMut(Item) -> Result<()>` as each arrives (a `Vec` would
//!   hold a whole listing in memory).
//! - Errors are [`Error`] ([`error`]): a kind (bad input, not found, unavailable,
//!   corrupted, I/O, ...) around the node's message, which prints unchanged
//!   (Kubo's where Kubo has one). One table there maps a kind to the RPC API's
//!   status and `Code`, the gateway's status and the CLI's exit code; through
//!   [`Remote`] the daemon's `Message` comes back as the text and its status and
//!   `Code` as the kind. `tools/check_errors.py` fails on `anyhow` in a signature
//!   here.
//! - Network calls on a [`Local`] without a network fail with [`NEEDS_DAEMON`], as
//!   Kubo's online-only commands do offline.
//!
//! **Files.** The traits and both implementations of a group live together in its
//! file: `content.rs`, `blocks.rs`, `dag.rs`, `pins.rs` (with the repo and filestore
//! groups: `repo.rs`, `filestore.rs`), `network.rs`, `settings.rs`; [`answer`] reads
//! the daemon's JSON for every group's `Remote`; [`client`] is the
//! blocking HTTP client under [`Remote`].

pub mod add;
pub mod answer;
pub mod blocks;
pub mod client;
pub mod content;
pub mod dag;
pub mod error;
pub mod filestore;
pub mod network;
pub mod pins;
pub mod repo;
pub mod settings;

use crate::core_api::error::{bail, Result};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub use blocks::Blocks;
pub use content::Content;
pub use dag::Dag;
pub use error::Error;
pub use filestore::Filestore;
pub use network::Network;
pub use pins::Pins;
pub use repo::Repo;
pub use settings::Settings;

use crate::config::Config;
use crate::core::Node;
use crate::pool::Pool;
use crate::swarm::NetHandle;

// What the front ends need from the layers below, named here so that they use
// only the core API: CID arguments, the blocks a server fetches between the runs
// of a call ([`fetch`]), and the storage types the answers carry.
pub use crate::core::parse_cid_arg;
/// `diag sys` of a repo at a path, offline (the CLI without a daemon).
pub use crate::diag::sys as diag_sys;
pub(crate) use crate::fetch;
/// Byte counts for people (binary and go-humanize SI units), for the front ends.
pub use acorn_storage::util::bytes;
pub use acorn_storage::{cids, Cid};

/// The error of a network command when no daemon runs (Kubo: "this command must be
/// run in online mode").
pub const NEEDS_DAEMON: &str = "this command needs a running daemon (acorn daemon)";

/// The whole core API: what every front end calls.
pub trait Core: Content + Blocks + Dag + Pins + Repo + Filestore + Network + Settings {}

impl<T> Core for T where T: Content + Blocks + Dag + Pins + Repo + Filestore + Network + Settings {}

/// The node in this process: the repo, plus the network while the daemon runs.
pub struct Local {
    node: Arc<Node>,
    net: Option<NetHandle>,
}

impl Local {
    /// The daemon's core: `node` with its network.
    pub fn new(node: Arc<Node>, net: Option<NetHandle>) -> Local {
        Local { node, net }
    }

    /// The repo at `root`, opened offline (no network).
    pub fn open(root: &Path) -> Result<Local> {
        Ok(Local::new(Arc::new(Node::open(root)?), None))
    }

    /// The node (repo, config, command logic).
    pub fn node(&self) -> &Arc<Node> {
        &self.node
    }

    /// The node's config, as loaded at start.
    pub fn config(&self) -> &Config {
        self.node.config()
    }

    /// A request's walker ([`fetch::Walker`]): runs jobs on `pool` and fetches the
    /// blocks they lack through the node's bitswap, while the daemon runs, waiting
    /// at most `retrieval_timeout` for each.
    pub fn walker(&self, pool: Pool, retrieval_timeout: Option<Duration>) -> fetch::Walker {
        fetch::Walker::new(self.node.fetcher().cloned(), pool, retrieval_timeout)
    }

    /// The network, or the [`NEEDS_DAEMON`] error.
    pub fn net(&self) -> Result<&NetHandle> {
        self.net
            .as_ref()
            .ok_or_else(|| Error::new(error::Kind::Unavailable, NEEDS_DAEMON))
    }

    /// The network, if this node runs one.
    /// Kubo's `diag sys` for this node: the system, the repo's disk and whether
    /// the network runs.
    pub fn diag_sys(&self) -> Result<serde_json::Value> {
        Ok(crate::diag::sys(self.node.root(), self.net.is_some())?)
    }

    pub fn net_opt(&self) -> Option<&NetHandle> {
        self.net.as_ref()
    }
}

/// A running daemon, driven through its RPC API.
pub struct Remote {
    client: client::Client,
}

impl Remote {
    pub fn new(client: client::Client) -> Remote {
        Remote { client }
    }

    /// The HTTP client (one request per call).
    pub fn client(&self) -> &client::Client {
        &self.client
    }
}

/// The core the CLI uses for the repo at `root`: its daemon when one answers (as
/// Kubo's CLI), else the repo opened offline.
pub fn open(root: &Path) -> Result<Box<dyn Core>> {
    match client::discover(root)? {
        Some(c) => Ok(Box::new(Remote::new(c))),
        None => Ok(Box::new(Local::open(root)?)),
    }
}

/// The daemon of the repo at `root`, for network commands: [`NEEDS_DAEMON`] when
/// none runs (without opening the repo).
pub fn online(root: &Path) -> Result<Box<dyn Core>> {
    match client::discover(root)? {
        Some(c) => Ok(Box::new(Remote::new(c))),
        None => bail!(Unavailable, "{NEEDS_DAEMON}"),
    }
}
