//! The node's command logic, behind the core API ([`crate::core_api`]): its
//! `Local` implementation calls these methods for the CLI (offline), the RPC API and
//! the gateway. No printing happens here: results come back as values or through
//! callbacks, and the front ends format them in Kubo's shapes.
//!
//! A [`Node`] is an open, locked repo plus its config. Its methods are grouped as
//! Kubo's command families: pins, repo, blocks, refs, content (add/cat/get/ls),
//! dag.

use std::cell::RefCell;
use std::path::Path;
use std::sync::Arc;

use acorn_storage::block::{Block, BlockError, BlockSource};
use acorn_storage::blockstore::{Store, StoreStats, VerifyReport};
use acorn_storage::codec::{self, Ipld};
use acorn_storage::pins::{PinFilter, PinStatus, PinType};
use acorn_storage::unixfs::{exporter, importer};
use acorn_storage::{car, cids, filestore, gc, Cid};
use anyhow::{bail, Context as _};

use crate::config::Config;
use crate::fetch::Fetcher;
use crate::repo_glue::{self, Mode, RepoHandle};

/// An open repo and its config.
pub struct Node {
    handle: RepoHandle,
    config: Config,
    /// Where missing blocks come from while the daemon runs (bitswap); unset offline.
    fetcher: std::sync::OnceLock<Arc<dyn Fetcher>>,
    /// Held while the config file is rewritten (one `config` change at a time).
    config_write: std::sync::Mutex<()>,
}

/// The blocks a command reads: the blockstore only. With a fetcher (daemon), a block
/// it misses is reported to the [`crate::fetch`] run the command is in, which fetches
/// it off this thread and runs the command again; outside such a run a miss is
/// simply a block not found.
pub struct Source<'a> {
    store: &'a Store,
    online: bool,
}

impl Source<'_> {
    /// A block the store lacks: told to the current fetch run (if any).
    fn missed(&self, cid: &Cid) {
        if self.online {
            crate::fetch::record_miss(cid);
        }
    }
}

impl BlockSource for Source<'_> {
    fn get(&self, cid: &Cid) -> Result<Option<Vec<u8>>, BlockError> {
        let got = self.store.get(cid)?;
        if got.is_none() {
            self.missed(cid);
        }
        Ok(got)
    }

    fn has(&self, cid: &Cid) -> Result<bool, BlockError> {
        // A DAG walk asks `has` for raw leaves: a miss is fetched like any other.
        let has = self.store.has(cid)?;
        if !has {
            self.missed(cid);
        }
        Ok(has)
    }
}

/// `repo stat` figures.
#[derive(Debug, Clone)]
pub struct RepoStat {
    pub num_objects: u64,
    pub repo_size: u64,
    pub storage_max: u64,
    pub repo_path: String,
    pub version: String,
}

/// `id` of this node, in Kubo's fields.
#[derive(Debug, Clone)]
pub struct IdInfo {
    pub id: String,
    pub public_key: String,
    /// Listen addresses with `/p2p/<id>`; empty until the swarm runs.
    pub addresses: Vec<String>,
    pub agent_version: String,
    /// Protocols the node speaks; empty until the swarm runs.
    pub protocols: Vec<String>,
}

/// Agent version, as identify and `id` report it.
pub fn agent_version() -> String {
    format!("acorn/{}", env!("CARGO_PKG_VERSION"))
}

/// `block stat` figures.
#[derive(Debug, Clone)]
pub struct BlockStat {
    pub cid: Cid,
    pub size: u64,
}

/// What `dag import` did.
#[derive(Debug, Clone)]
pub struct DagImport {
    /// Blocks and bytes read, and the roots of every CAR (each once).
    pub summary: car::ImportSummary,
    /// With `pin_roots`: each root and why pinning it failed (`None`: pinned), as
    /// Kubo's `PinErrorMsg` (a root whose DAG is incomplete fails alone).
    pub pinned: Vec<(Cid, Option<String>)>,
}

/// One CAR of a `dag import` ([`CarSource`]).
pub enum Car<'a> {
    /// A file, read where it is.
    File(&'a Path),
    /// A stream (stdin, an upload part), spooled to a temporary file in the repo
    /// first; `name` names it in errors.
    Stream {
        name: String,
        reader: &'a mut dyn std::io::Read,
    },
}

/// The CARs of one `dag import`, one after another: [`Node::dag_import`].
pub trait CarSource {
    /// The next CAR, `None` after the last.
    fn next_car(&mut self) -> anyhow::Result<Option<Car<'_>>>;
}

/// One root's figures in `dag stat`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DagStat {
    pub cid: Cid,
    /// Bytes of the DAG's distinct blocks.
    pub size: u64,
    /// The DAG's distinct blocks.
    pub num_blocks: u64,
}

/// `dag stat` of several roots, as Kubo's `DagStatSummary`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DagStatSummary {
    /// Distinct blocks over all roots.
    pub unique_blocks: u64,
    /// Bytes of the distinct blocks over all roots.
    pub total_size: u64,
    /// Sum of every root's `size` (blocks shared by roots count once per root).
    pub redundant_size: u64,
    pub dags: Vec<DagStat>,
}

impl DagStatSummary {
    /// Bytes counted more than once (`redundant_size - total_size`).
    pub fn shared_size(&self) -> u64 {
        self.redundant_size - self.total_size
    }

    /// `redundant_size / total_size` (0 for an empty DAG, where Kubo's is NaN).
    pub fn ratio(&self) -> f64 {
        if self.total_size == 0 {
            0.0
        } else {
            self.redundant_size as f64 / self.total_size as f64
        }
    }
}

/// What `block rm` did with one block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlockRm {
    Removed,
    /// Not stored (only with `force`, else [`BlockRm::Refused`]).
    Absent,
    /// Not removed, and why (`pinned: recursive`, `block not found`).
    Refused(String),
}

/// Bytes a spooled CAR (`dag import` of stdin or over the API) may grow between two
/// free-space checks of the repo's filesystem (see `Acorn.MinFreeSpace`).
pub const SPOOL_CHECK_BYTES: usize = 1 << 20;

/// Kubo's soft block limit: larger blocks are refused unless `allow-big-block`
/// (`block put`, `dag put`), as other peers may not exchange them. Bytes.
pub const SOFT_BLOCK_LIMIT_BYTES: usize = 1 << 20;

/// Kubo's error for a block over [`SOFT_BLOCK_LIMIT_BYTES`], or `Ok`.
pub fn check_block_size(len: usize, allow_big_block: bool) -> anyhow::Result<()> {
    if !allow_big_block && len > SOFT_BLOCK_LIMIT_BYTES {
        bail!(
            "produced block is over 1MiB: big blocks can't be exchanged with other peers. \
             consider using UnixFS for automatic chunking of bigger files, or pass \
             --allow-big-block to override"
        );
    }
    Ok(())
}

/// Parses a CID argument, accepting a leading `/ipfs/`.
pub fn parse_cid_arg(arg: &str) -> anyhow::Result<Cid> {
    let s = arg.strip_prefix("/ipfs/").unwrap_or(arg);
    let s = s.trim_end_matches('/');
    Ok(cids::parse(s)?)
}

impl Node {
    /// Opens the repo at `root` (taking its lock) and loads its config.
    pub fn open(root: &Path) -> anyhow::Result<Node> {
        // The database's cache is set when it opens: read the config first (a
        // missing repo is reported by the open itself).
        if let Ok(c) = Config::load(root) {
            acorn_storage::repo::set_db_cache_bytes(c.acorn.db_cache_bytes()?);
        }
        let handle = repo_glue::open_or_init_datastore(root, Mode::Open)?;
        let config = Config::load(root)?;
        let store = handle.repo.store();
        store.set_min_free_bytes(config.acorn.min_free_space_bytes()?);
        store.set_writer_batch_bytes(config.acorn.write_batch_bytes()?);
        store.set_background_writer(config.acorn.background_writer);
        store.set_storage_max_bytes(config.datastore.storage_max_bytes()?);
        Ok(Node {
            handle,
            config,
            fetcher: std::sync::OnceLock::new(),
            config_write: std::sync::Mutex::new(()),
        })
    }

    /// From now on, content commands fetch missing blocks through `f` (the daemon
    /// calls this once its network runs). Errors if a fetcher is already set.
    pub fn set_fetcher(&self, f: Arc<dyn Fetcher>) -> anyhow::Result<()> {
        self.fetcher
            .set(f)
            .map_err(|_| anyhow::anyhow!("the node already has a fetcher"))
    }

    /// Where missing blocks come from (the daemon's bitswap), if anywhere.
    pub fn fetcher(&self) -> Option<&Arc<dyn Fetcher>> {
        self.fetcher.get()
    }

    /// The blocks commands read: local, misses reported for fetching (see [`Source`]).
    pub fn source(&self) -> Source<'_> {
        Source {
            store: self.store(),
            online: self.fetcher.get().is_some(),
        }
    }

    /// Resolves a `<cid>[/path]` or `/ipfs/<cid>[/path]` argument to a CID.
    pub fn resolve_arg(&self, arg: &str) -> anyhow::Result<Cid> {
        self.resolve_in(&self.source(), arg)
    }

    fn resolve_in(&self, src: &Source<'_>, arg: &str) -> anyhow::Result<Cid> {
        let (cid, rest) = exporter::parse_ipfs_path(arg)?;
        Ok(exporter::resolve_path(src, &cid, &rest)?)
    }

    /// `id`: who this node is (network parts empty while offline).
    pub fn id(&self) -> anyhow::Result<IdInfo> {
        let ident = crate::identity::Identity::from_config(&self.config.identity)?;
        Ok(IdInfo {
            id: ident.peer_id().to_base58(),
            public_key: ident.public_key_base64(),
            addresses: Vec::new(),
            agent_version: agent_version(),
            protocols: Vec::new(),
        })
    }

    /// The config the node was opened with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// `config KEY`: the value in the config file now (which may differ from
    /// [`Node::config`] after a `config` change: the node uses those at restart).
    pub fn config_get(&self, key: &str) -> anyhow::Result<serde_json::Value> {
        Ok(Config::load(&self.handle.root)?.get(key)?)
    }

    /// `config KEY VALUE`: writes the config file (see [`crate::config::set_in_repo`]);
    /// returns the value as stored.
    pub fn config_set(
        &self,
        key: &str,
        value: serde_json::Value,
    ) -> anyhow::Result<serde_json::Value> {
        let _one = self
            .config_write
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(crate::config::set_in_repo(&self.handle.root, key, value)?)
    }

    /// `config profile apply NAME`: see [`crate::profiles::apply_in_repo`] (one
    /// config writer at a time).
    pub fn config_profile_apply(
        &self,
        name: &str,
        dry_run: bool,
    ) -> anyhow::Result<Vec<crate::profiles::ConfigChange>> {
        let _one = self
            .config_write
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        crate::profiles::apply_in_repo(&self.handle.root, name, dry_run)
    }

    /// `config replace`: see [`crate::config::replace_in_repo`] (one config writer
    /// at a time).
    pub fn config_replace(&self, config: &[u8]) -> anyhow::Result<()> {
        let _one = self
            .config_write
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let new = crate::config::replace_in_repo(&self.handle.root, config)?;
        let ignored = new.ignored_keys();
        if !ignored.is_empty() {
            tracing::info!(keys = %ignored.join(", "), "config replaced; keys Acorn keeps but does not use");
        }
        Ok(())
    }

    /// `repo import-kubo PATH`: the blocks and pins of the Kubo repo at
    /// `kubo_root`, checked, then stored (see [`crate::kubo_import`]).
    pub fn import_kubo(&self, kubo_root: &Path) -> anyhow::Result<crate::kubo_import::Report> {
        let scratch = crate::kubo_import::Scratch::new(&self.handle.root)?;
        let (_, checked) = crate::kubo_import::check(kubo_root, &scratch)?;
        crate::kubo_import::write(self.store(), &checked)
    }

    /// `config show`: the config file without `Identity.PrivKey`.
    pub fn config_show(&self) -> anyhow::Result<serde_json::Value> {
        Ok(Config::load(&self.handle.root)?.to_value_without_private_key())
    }

    /// The blockstore.
    pub fn store(&self) -> &Store {
        self.handle.repo.store()
    }

    /// `resolve`: the CID that `/ipfs/<cid>[/path]` (or `<cid>[/path]`) names.
    /// `/ipns/` names are an error: there is no IPNS yet.
    pub fn resolve_path(&self, arg: &str) -> anyhow::Result<Cid> {
        if arg.starts_with("/ipns/") {
            bail!("cannot resolve {arg}: IPNS names are not supported yet");
        }
        self.resolve_arg(arg)
    }
}

fn codec_label(code: u64) -> String {
    cids::codec_name(code).map_or_else(|| format!("codec 0x{code:x}"), str::to_string)
}

fn emit_err(r: anyhow::Result<()>) -> anyhow::Result<()> {
    r.context("writing the add output")
}

/// A [`acorn_storage::dag::SeenSet`] that reports each new block (pin progress).
struct CountingSeen<'a> {
    seen: acorn_storage::dag::MemSeen,
    on_new: &'a mut dyn FnMut(),
}

impl acorn_storage::dag::SeenSet for CountingSeen<'_> {
    fn insert(&mut self, cid: &Cid) -> Result<bool, acorn_storage::dag::DagError> {
        let new = acorn_storage::dag::SeenSet::insert(&mut self.seen, cid)?;
        if new {
            (self.on_new)();
        }
        Ok(new)
    }
}

/// Removes a spooled stdin file when dropped.
struct SpoolFile(std::path::PathBuf);

impl Drop for SpoolFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Most added entries an add holds back until a durable commit. A CID is reported
/// only once its blocks would survive a crash (kill -9, power loss): entries are
/// held, and when this many are, the add commits what it wrote durably (one fsync)
/// and reports them; the rest are reported after the add's final commit and pins.
/// SD cards: at most one extra fsync per this many entries (each entry stores at
/// least one block, and a writer batch holds at most
/// [`acorn_storage::blockstore::WRITER_BATCH_BLOCKS`]). RAM: about this × 150 bytes.
pub const ADD_HELD_ENTRIES_COUNT: usize = 1024;

mod add;
mod blocks;
mod content;
mod dag;
mod pins;
mod refs;
mod repo;

pub use add::{
    add_entries, add_paths, AddEntry, AddEntryError, AddEntryKind, AddSource, NOCOPY_NEEDS_PATHS,
};
pub use dag::{MAX_DAG_INPUT_BYTES, MAX_DAG_PATH_SEGMENTS};
pub use repo::{format_long, FilestoreEntry};

#[cfg(test)]
mod tests {
    use acorn_storage::{block, blockstore, car, dag, repo, unixfs};
    /// The README's limits table must state the values the code uses.
    #[test]
    fn readme_limits_match_code() {
        let readme = include_str!("../../README.md");
        let code: &[(&str, u64)] = &[
            ("MAX_BLOCK_BYTES", block::MAX_BLOCK_BYTES as u64),
            (
                "DEFAULT_CHUNK_BYTES",
                unixfs::importer::DEFAULT_CHUNK_BYTES as u64,
            ),
            (
                "DEFAULT_MAX_LINKS",
                unixfs::importer::DEFAULT_MAX_LINKS as u64,
            ),
            (
                "DEFAULT_SHARD_THRESHOLD_BYTES",
                unixfs::importer::DEFAULT_SHARD_THRESHOLD_BYTES as u64,
            ),
            ("MAX_DIR_DEPTH", unixfs::importer::MAX_DIR_DEPTH as u64),
            ("MAX_DEPTH", unixfs::exporter::MAX_DEPTH as u64),
            ("INLINE_MAX_BYTES", blockstore::INLINE_MAX_BYTES as u64),
            ("WRITER_BATCH_BYTES", blockstore::WRITER_BATCH_BYTES as u64),
            (
                "WRITER_BATCH_BLOCKS",
                blockstore::WRITER_BATCH_BLOCKS as u64,
            ),
            ("DB_CACHE_BYTES", repo::DB_CACHE_BYTES as u64),
            ("DEFAULT_MIN_FREE_BYTES", blockstore::DEFAULT_MIN_FREE_BYTES),
            ("INLINE_SPACE_FACTOR", blockstore::INLINE_SPACE_FACTOR),
            ("MAX_HEADER_BYTES", car::MAX_HEADER_BYTES as u64),
            ("MAX_SECTION_BYTES", car::MAX_SECTION_BYTES as u64),
            ("MAX_WALK_STACK_COUNT", dag::MAX_WALK_STACK_COUNT as u64),
            ("MAX_DAG_INPUT_BYTES", super::MAX_DAG_INPUT_BYTES as u64),
            (
                "SOFT_BLOCK_LIMIT_BYTES",
                super::SOFT_BLOCK_LIMIT_BYTES as u64,
            ),
            ("SPOOL_CHECK_BYTES", super::SPOOL_CHECK_BYTES as u64),
            (
                "DEFAULT_PEER_CAPACITY",
                acorn_net::bandwidth::DEFAULT_PEER_CAPACITY as u64,
            ),
            (
                "MAX_SNIFF_BYTES",
                acorn_net::bandwidth::sniff::MAX_SNIFF_BYTES as u64,
            ),
            (
                "DEFAULT_MAX_CONCURRENT_REQUESTS",
                crate::config::DEFAULT_MAX_CONCURRENT_REQUESTS as u64,
            ),
            ("SLOT_WAIT", crate::http::SLOT_WAIT.as_secs()),
            (
                "DEFAULT_WINDOW_BLOCKS",
                crate::fetch::walk::DEFAULT_WINDOW_BLOCKS as u64,
            ),
            (
                "DEFAULT_WINDOW_BYTES",
                crate::fetch::walk::DEFAULT_WINDOW_BYTES as u64,
            ),
            (
                "DEFAULT_PENDING_COUNT",
                crate::fetch::walk::DEFAULT_PENDING_COUNT as u64,
            ),
            ("MAX_PING_COUNT", crate::swarm::MAX_PING_COUNT as u64),
            ("PING_TIMEOUT", crate::swarm::PING_TIMEOUT.as_secs()),
            (
                "DEFAULT_INLINE_LIMIT_BYTES",
                unixfs::importer::DEFAULT_INLINE_LIMIT_BYTES as u64,
            ),
            (
                "MAX_INLINE_LIMIT_BYTES",
                unixfs::importer::MAX_INLINE_LIMIT_BYTES as u64,
            ),
            ("RABIN_MAX_BYTES", unixfs::chunker::RABIN_MAX_BYTES as u64),
            (
                "BUZHASH_MAX_BYTES",
                unixfs::chunker::BUZHASH_MAX_BYTES as u64,
            ),
            ("TAIL_BUFFER_LINES", crate::logs::TAIL_BUFFER_LINES as u64),
            (
                "MAX_TAIL_SUBSCRIBERS",
                crate::logs::MAX_TAIL_SUBSCRIBERS as u64,
            ),
            (
                "MAX_TAIL_LINE_BYTES",
                crate::logs::MAX_TAIL_LINE_BYTES as u64,
            ),
            (
                "DEFAULT_GATEWAY_RETRIEVAL_TIMEOUT",
                crate::config::DEFAULT_GATEWAY_RETRIEVAL_TIMEOUT.as_secs(),
            ),
            ("FETCH_TIMEOUT", crate::fetch::FETCH_TIMEOUT.as_secs()),
            ("NET_WAIT_THREADS", crate::api::NET_WAIT_THREADS as u64),
            (
                "ADD_HELD_ENTRIES_COUNT",
                super::ADD_HELD_ENTRIES_COUNT as u64,
            ),
            (
                "IPV4_SUBNET_PREFIX_BITS",
                acorn_net::iplimit::IPV4_SUBNET_PREFIX_BITS as u64,
            ),
            (
                "IPV6_SUBNET_PREFIX_BITS",
                acorn_net::iplimit::IPV6_SUBNET_PREFIX_BITS as u64,
            ),
            (
                "DEFAULT_MAX_CONNECTIONS_COUNT",
                crate::config::DEFAULT_MAX_CONNECTIONS_COUNT as u64,
            ),
            ("HEAD_DEADLINE", crate::http::HEAD_DEADLINE.as_secs()),
            (
                "BODY_IDLE_TIMEOUT",
                crate::http::BODY_IDLE_TIMEOUT.as_secs(),
            ),
            ("BODY_GRACE", crate::http::BODY_GRACE.as_secs()),
            (
                "MIN_BODY_BYTES_PER_SEC",
                crate::http::MIN_BODY_BYTES_PER_SEC,
            ),
            (
                "RESERVED_CONNECTIONS_COUNT",
                crate::http::RESERVED_CONNECTIONS_COUNT as u64,
            ),
            (
                "MAX_CONNECTIONS_PER_IP_COUNT",
                crate::http::MAX_CONNECTIONS_PER_IP_COUNT as u64,
            ),
            (
                "MAX_PRIV_KEY_BASE64_CHARS",
                crate::identity::MAX_PRIV_KEY_BASE64_CHARS as u64,
            ),
            ("RSA_MIN_BITS", crate::identity::RSA_MIN_BITS as u64),
            ("RSA_MAX_BITS", crate::identity::RSA_MAX_BITS as u64),
            ("BASELINE_BYTES", crate::budget::BASELINE_BYTES),
            (
                "YAMUX_STREAM_WINDOW_BYTES",
                acorn_net::swarm::YAMUX_STREAM_WINDOW_BYTES as u64,
            ),
            (
                "CONNECTION_BUFFER_BYTES",
                acorn_net::swarm::CONNECTION_BUFFER_BYTES as u64,
            ),
            (
                "MIN_YAMUX_STREAMS_COUNT",
                u64::from(crate::config::MIN_YAMUX_STREAMS_COUNT),
            ),
            (
                "MIN_BITSWAP_BUFFER_BYTES",
                crate::config::MIN_BITSWAP_BUFFER_BYTES,
            ),
        ];
        let mut rows = 0;
        for line in readme.lines().filter(|l| l.starts_with("| `")) {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let name = cells[1].trim_matches('`');
            let value: u64 = cells[2]
                .parse()
                .unwrap_or_else(|_| panic!("bad value in {line}"));
            let (_, actual) = code
                .iter()
                .find(|(n, _)| *n == name)
                .unwrap_or_else(|| panic!("README names {name}, which this test does not know"));
            assert_eq!(value, *actual, "README row for {name}");
            rows += 1;
        }
        assert_eq!(rows, code.len(), "every limit has a README row");
    }

    /// Kubo's soft limit: exactly 1 MiB passes, one byte more needs the override.
    #[test]
    fn soft_block_limit_is_kubos() {
        let at = super::SOFT_BLOCK_LIMIT_BYTES;
        assert_eq!(at, 1024 * 1024);
        assert!(super::check_block_size(at, false).is_ok());
        let e = super::check_block_size(at + 1, false)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("produced block is over 1MiB"), "{e}");
        assert!(super::check_block_size(at + 1, true).is_ok());
    }

    /// Kubo's summary figures: shared = redundant - total, ratio = redundant / total
    /// (0 where Kubo's would be NaN).
    #[test]
    fn dag_stat_summary_figures() {
        let mut s = super::DagStatSummary {
            unique_blocks: 3,
            total_size: 200,
            redundant_size: 300,
            dags: Vec::new(),
        };
        assert_eq!((s.shared_size(), s.ratio()), (100, 1.5));
        s.total_size = 0;
        s.redundant_size = 0;
        assert_eq!((s.shared_size(), s.ratio()), (0, 0.0));
    }

    /// The config's default reserve is the store's default.
    #[test]
    fn default_min_free_space_matches_the_store() {
        let c = crate::config::AcornSection::default();
        assert_eq!(
            c.min_free_space_bytes().unwrap(),
            blockstore::DEFAULT_MIN_FREE_BYTES
        );
    }
}
