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
use acorn_storage::pins::{self, PinFilter, PinStatus, PinType};
use acorn_storage::unixfs::{exporter, importer};
use acorn_storage::{car, cids, dag, filestore, gc, Cid};
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

    /// `cat`: streams `[offset, offset+length)` of the file at `arg` to `out`.
    pub fn cat(
        &self,
        arg: &str,
        offset: u64,
        length: Option<u64>,
        out: &mut dyn std::io::Write,
    ) -> anyhow::Result<u64> {
        let src = self.source();
        let cid = self.resolve_in(&src, arg)?;
        Ok(exporter::cat(&src, &cid, offset, length, out)?)
    }

    /// `cat` of several paths: `offset` and `length` apply to their concatenation,
    /// as Kubo. Returns the bytes written.
    pub fn cat_many(
        &self,
        paths: &[String],
        offset: u64,
        length: Option<u64>,
        out: &mut dyn std::io::Write,
    ) -> anyhow::Result<u64> {
        let (mut offset, mut length, mut total) = (offset, length, 0);
        for (i, p) in paths.iter().enumerate() {
            if length == Some(0) {
                break;
            }
            let size = self.cat(p, offset, length, out)?;
            total += size;
            if let Some(l) = length.as_mut() {
                *l -= size.min(*l);
            }
            if offset > 0 && i + 1 < paths.len() {
                offset = offset.saturating_sub(self.file_size(p)?);
            }
        }
        Ok(total)
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

    /// `dag import`: validates each CAR completely (hashes, framing) before storing
    /// any of it, then stores them in batched transactions and (with `pin_roots`)
    /// pins their roots. Files are read where they are; streams (stdin, upload
    /// parts) are spooled to a temporary file in the repo first.
    pub fn dag_import(
        &self,
        src: &mut dyn CarSource,
        pin_roots: bool,
    ) -> anyhow::Result<DagImport> {
        let mut spools = Vec::new();
        let mut files = Vec::new();
        while let Some(car) = src.next_car()? {
            match car {
                Car::File(p) => files.push((p.to_path_buf(), p.display().to_string())),
                Car::Stream { name, reader } => {
                    let s = self
                        .spool(reader)
                        .with_context(|| format!("reading {name}"))?;
                    files.push((s.0.clone(), name));
                    spools.push(s);
                }
            }
        }
        anyhow::ensure!(!files.is_empty(), "argument \"path\" is required");
        self.import_files(&files, pin_roots)
    }

    /// Copies `r` to a fresh temporary file in the repo, removed when dropped.
    fn spool(&self, r: &mut dyn std::io::Read) -> anyhow::Result<SpoolFile> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let tmp = self
            .handle
            .root
            .join(format!("import-{}-{n}.car.tmp", std::process::id()));
        let mut f =
            std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        let spool = SpoolFile(tmp);
        // The repo's free-space reserve holds for the spool too: checked before
        // every SPOOL_CHECK_BYTES written, so a card never fills up with a CAR.
        let mut buf = vec![0u8; 64 * 1024];
        let mut since_check = SPOOL_CHECK_BYTES;
        loop {
            let n = r.read(&mut buf)?;
            if n == 0 {
                break;
            }
            if since_check >= SPOOL_CHECK_BYTES {
                self.store().check_space(SPOOL_CHECK_BYTES as u64)?;
                since_check = 0;
            }
            std::io::Write::write_all(&mut f, &buf[..n])?;
            since_check += n;
        }
        Ok(spool)
    }

    /// Imports `files` (each with the name its errors show).
    fn import_files(
        &self,
        files: &[(std::path::PathBuf, String)],
        pin_roots: bool,
    ) -> anyhow::Result<DagImport> {
        let open = |p: &Path| -> anyhow::Result<std::io::BufReader<std::fs::File>> {
            Ok(std::io::BufReader::new(
                std::fs::File::open(p).with_context(|| format!("opening {}", p.display()))?,
            ))
        };
        for (f, name) in files {
            car::import(open(f)?, &mut acorn_storage::block::NullSink)
                .with_context(|| name.clone())?;
        }
        let _guard = self.store().begin_add();
        let mut w = self.store().writer();
        let mut total = car::ImportSummary::default();
        for (f, name) in files {
            let s = car::import(open(f)?, &mut w).with_context(|| name.clone())?;
            total.blocks += s.blocks;
            total.bytes += s.bytes;
            for r in s.roots {
                if !total.roots.contains(&r) {
                    total.roots.push(r);
                }
            }
        }
        w.finish()?;
        let mut pinned = Vec::new();
        if pin_roots {
            for r in &total.roots {
                let res = pins::pin_add(self.store(), r, true).map_err(|e| e.to_string());
                pinned.push((*r, res.err()));
            }
        }
        Ok(DagImport {
            summary: total,
            pinned,
        })
    }

    /// The content size of the file at `arg` (0 for non-files).
    pub fn file_size(&self, arg: &str) -> anyhow::Result<u64> {
        let src = self.source();
        let cid = self.resolve_in(&src, arg)?;
        Ok(exporter::file_size(&src, &cid)?.unwrap_or(0))
    }

    /// What `arg` names, for the gateway: its CID, its kind, and (for files) its
    /// content size. One fetch session for the whole walk.
    pub fn resolve_kind(&self, arg: &str) -> anyhow::Result<(Cid, exporter::EntryKind, u64)> {
        let src = self.source();
        let cid = self.resolve_in(&src, arg)?;
        let kind = exporter::kind(&src, &cid)?;
        let size = match kind {
            exporter::EntryKind::File | exporter::EntryKind::Raw => {
                exporter::file_size(&src, &cid)?.unwrap_or(0)
            }
            _ => 0,
        };
        Ok((cid, kind, size))
    }

    /// The bytes of block `cid`, fetched when missing (the gateway's raw blocks;
    /// `block get` reads the blockstore only).
    pub fn block_fetch(&self, cid: &Cid) -> anyhow::Result<Vec<u8>> {
        Ok(self.source().get_required(cid)?)
    }

    /// A CARv1 with root `root`: the whole DAG (as `dag export`, but fetching
    /// missing blocks), or with `root_only` the root block alone. Returns the
    /// number of blocks written.
    pub fn car_export(
        &self,
        root: &Cid,
        root_only: bool,
        out: &mut dyn std::io::Write,
    ) -> anyhow::Result<u64> {
        let src = self.source();
        if root_only {
            let data = src.get_required(root)?;
            let mut w = car::CarWriter::new(out, std::slice::from_ref(root))?;
            w.write_block(root, &data)?;
            w.finish()?;
            return Ok(1);
        }
        Ok(car::export_dag(&src, root, out)?)
    }

    /// `ls`: the entries of the directory (or chunks of the file) at `arg`.
    pub fn ls(&self, arg: &str) -> anyhow::Result<Vec<exporter::Entry>> {
        let src = self.source();
        let cid = self.resolve_in(&src, arg)?;
        Ok(exporter::ls(&src, &cid)?)
    }

    /// `get`: writes what `arg` names to `target` (which must not exist).
    /// `progress` is called with the bytes of each block read.
    pub fn get_with_progress(
        &self,
        arg: &str,
        target: &Path,
        progress: &mut dyn FnMut(u64),
    ) -> anyhow::Result<()> {
        let src = self.source();
        let cid = self.resolve_in(&src, arg)?;
        let counted = ProgressSource {
            inner: &src,
            progress: std::cell::RefCell::new(progress),
        };
        exporter::get(&counted, &cid, target)?;
        Ok(())
    }

    /// `get` as Kubo's RPC API answers it: a tar stream of what `arg` names, under
    /// `name` (files, directories, symlinks; GNU long names). Blocks missing locally
    /// are fetched (daemon). Directory entries come in `ls` order.
    pub fn get_tar(
        &self,
        arg: &str,
        name: &str,
        out: &mut dyn std::io::Write,
    ) -> anyhow::Result<()> {
        let src = self.source();
        let cid = self.resolve_in(&src, arg)?;
        let mut tar = tar::Builder::new(out);
        tar.mode(tar::HeaderMode::Deterministic);
        // (tar path, cid), depth-first; bounded like any DAG walk.
        let mut stack = vec![(name.to_string(), cid)];
        while let Some((path, cid)) = stack.pop() {
            let mut h = tar::Header::new_gnu();
            h.set_mtime(0);
            match exporter::kind(&src, &cid)? {
                exporter::EntryKind::Directory => {
                    // Names are checked before the directory is sent, so a bad one
                    // in the root fails the request before any byte of the tar.
                    let entries = exporter::ls(&src, &cid)?;
                    exporter::check_names(&cid, entries.iter().map(|e| e.name.as_str()))?;
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_mode(0o755);
                    h.set_size(0);
                    tar.append_data(&mut h, &path, std::io::empty())?;
                    if stack.len() + entries.len() > dag::MAX_WALK_STACK_COUNT {
                        bail!("directory {cid} is too wide to export");
                    }
                    for e in entries.into_iter().rev() {
                        stack.push((format!("{path}/{}", e.name), e.cid));
                    }
                }
                exporter::EntryKind::Symlink => {
                    let mut target = Vec::new();
                    exporter::cat(&src, &cid, 0, None, &mut target)?;
                    h.set_entry_type(tar::EntryType::Symlink);
                    h.set_mode(0o777);
                    h.set_size(0);
                    let target = String::from_utf8(target)
                        .with_context(|| format!("symlink {cid} target is not UTF-8"))?;
                    tar.append_link(&mut h, &path, target)?;
                }
                exporter::EntryKind::File | exporter::EntryKind::Raw => {
                    let size = exporter::file_size(&src, &cid)?.unwrap_or(0);
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_mode(0o644);
                    h.set_size(size);
                    // Streamed: the reader cats one window at a time.
                    let reader = CatReader {
                        src: &src,
                        cid,
                        pos: 0,
                        size,
                        buf: Vec::new(),
                        at: 0,
                    };
                    tar.append_data(&mut h, &path, reader)?;
                }
                exporter::EntryKind::Other => bail!("{cid} is not UnixFS"),
            }
        }
        tar.finish()?;
        Ok(())
    }

    /// The blockstore.
    pub fn store(&self) -> &Store {
        self.handle.repo.store()
    }

    // ---- pins -------------------------------------------------------------

    /// `pin add`: pins `cid` (recursively by default). With a fetcher (daemon),
    /// missing blocks of the DAG are fetched first, under an add guard so that a GC
    /// cannot sweep them before the pin commits.
    pub fn pin_add(&self, cid: &Cid, recursive: bool) -> anyhow::Result<()> {
        let _guard = self.store().begin_add();
        if self.fetcher.get().is_some() {
            let src = self.source();
            if recursive {
                dag::check_complete(&src, cid, &mut dag::MemSeen::new())?;
            } else {
                dag::fetch(&src, cid)?;
            }
        }
        pins::pin_add(self.store(), cid, recursive)?;
        Ok(())
    }

    /// `pin add` reporting progress: `on_node` is called once per distinct block
    /// of the DAG as it is checked (and fetched, while the daemon runs), as Kubo's
    /// `pin add --progress` counts them.
    pub fn pin_add_progress(
        &self,
        cid: &Cid,
        recursive: bool,
        on_node: &mut dyn FnMut(),
    ) -> anyhow::Result<()> {
        let _guard = self.store().begin_add();
        let src = self.source();
        if recursive {
            let mut seen = CountingSeen {
                seen: dag::MemSeen::new(),
                on_new: on_node,
            };
            dag::check_complete(&src, cid, &mut seen)?;
        } else {
            dag::fetch(&src, cid)?;
            on_node();
        }
        pins::pin_add(self.store(), cid, recursive)?;
        Ok(())
    }

    /// `dag stat`: sizes and block counts of the DAGs under `roots` (each block
    /// read, fetched when missing while the daemon runs). `progress` sees the
    /// summary so far after each block (Kubo's `--progress`, its default).
    pub fn dag_stat(
        &self,
        roots: &[Cid],
        progress: &mut dyn FnMut(&DagStatSummary) -> anyhow::Result<()>,
    ) -> anyhow::Result<DagStatSummary> {
        let src = self.source();
        let mut all = dag::MemSeen::new();
        let mut sum = DagStatSummary::default();
        for root in roots {
            sum.dags.push(DagStat {
                cid: *root,
                size: 0,
                num_blocks: 0,
            });
            let mut seen = dag::MemSeen::new();
            dag::walk(&src, root, Some(&mut seen), &mut |cid: &Cid,
                                                         bytes: &[u8]|
             -> anyhow::Result<
                dag::Walk,
            > {
                let len = bytes.len() as u64;
                if let Some(d) = sum.dags.last_mut() {
                    d.size += len;
                    d.num_blocks += 1;
                }
                if dag::SeenSet::insert(&mut all, cid)? {
                    sum.total_size += len;
                    sum.unique_blocks += 1;
                }
                sum.redundant_size += len;
                progress(&sum)?;
                Ok(dag::Walk::Continue)
            })?;
        }
        Ok(sum)
    }

    /// `resolve`: the CID that `/ipfs/<cid>[/path]` (or `<cid>[/path]`) names.
    /// `/ipns/` names are an error: there is no IPNS yet.
    pub fn resolve_path(&self, arg: &str) -> anyhow::Result<Cid> {
        if arg.starts_with("/ipns/") {
            bail!("cannot resolve {arg}: IPNS names are not supported yet");
        }
        self.resolve_arg(arg)
    }

    /// `pin rm`.
    pub fn pin_rm(&self, cid: &Cid, recursive: bool) -> anyhow::Result<()> {
        pins::pin_rm(self.store(), cid, recursive)?;
        Ok(())
    }

    /// `pin ls`: with `cids` empty lists every pin of `filter`; else reports how each
    /// given CID is pinned (an error for one that is not).
    pub fn pin_ls(&self, filter: PinFilter, cids: &[Cid]) -> anyhow::Result<Vec<(Cid, PinType)>> {
        if cids.is_empty() {
            return Ok(pins::pin_ls_vec(self.store(), filter)?);
        }
        let mut out = Vec::with_capacity(cids.len());
        for c in cids {
            match pins::pinned(self.store(), c)? {
                Some(t) if filter_accepts(filter, t) => out.push((*c, t)),
                _ => bail!("path '{c}' is not pinned"),
            }
        }
        Ok(out)
    }

    /// `pin update`.
    pub fn pin_update(&self, from: &Cid, to: &Cid, unpin: bool) -> anyhow::Result<()> {
        pins::pin_update(self.store(), from, to, unpin)?;
        Ok(())
    }

    /// `pin verify`.
    pub fn pin_verify(&self) -> anyhow::Result<Vec<PinStatus>> {
        Ok(pins::pin_verify(self.store())?)
    }

    // ---- repo -------------------------------------------------------------

    /// `repo gc`: calls `on_removed` for each removed block.
    pub fn repo_gc(&self, on_removed: &mut dyn FnMut(&Cid)) -> anyhow::Result<gc::GcStats> {
        Ok(gc::collect(self.store(), on_removed)?)
    }

    /// The repo's directory.
    pub fn root(&self) -> &std::path::Path {
        &self.handle.root
    }

    /// `repo stat`.
    pub fn repo_stat(&self) -> anyhow::Result<RepoStat> {
        let StoreStats {
            blocks, disk_bytes, ..
        } = self.store().count_and_size()?;
        Ok(RepoStat {
            num_objects: blocks,
            repo_size: disk_bytes,
            storage_max: self.config.datastore.storage_max_bytes()?,
            repo_path: self.handle.root.display().to_string(),
            version: format!("acorn-repo@{}", acorn_storage::repo::REPO_FORMAT_VERSION),
        })
    }

    /// `repo verify`.
    pub fn repo_verify(&self) -> anyhow::Result<VerifyReport> {
        Ok(self.store().verify()?)
    }

    // ---- blocks -----------------------------------------------------------

    /// `block put`: stores `data` as one block of `codec` with CID `version` (Kubo's
    /// default CIDv1; 0 only for dag-pb: Kubo's legacy `--format=v0`), sha2-256,
    /// and with `pin` pins it recursively, as Kubo (a single block's recursive pin
    /// needs its links present).
    pub fn block_put_version(
        &self,
        data: Vec<u8>,
        version: u8,
        codec: u64,
        pin: bool,
    ) -> anyhow::Result<Cid> {
        anyhow::ensure!(
            version == 1 || codec == cids::DAG_PB,
            "CIDv0 is only for dag-pb blocks"
        );
        if codec != cids::RAW {
            // The bytes must decode as the claimed codec.
            acorn_storage::codec::decode(codec, &data).with_context(|| {
                format!(
                    "block is not valid {}",
                    cids::codec_name(codec).unwrap_or("?")
                )
            })?;
        }
        let block = Block::encode(version, codec, data);
        if block.data().len() > acorn_storage::block::MAX_BLOCK_BYTES {
            bail!(
                "produced block is over {} bytes (got {})",
                acorn_storage::block::MAX_BLOCK_BYTES,
                block.data().len()
            );
        }
        let _guard = self.store().begin_add();
        self.store().put_block(&block)?;
        if pin {
            pins::pin_add(self.store(), block.cid(), true)?;
        }
        Ok(*block.cid())
    }

    /// `block get`.
    pub fn block_get(&self, cid: &Cid) -> anyhow::Result<Vec<u8>> {
        Ok(self.store().get_required(cid)?)
    }

    /// `block stat`.
    pub fn block_stat(&self, cid: &Cid) -> anyhow::Result<BlockStat> {
        match self.store().stat(cid)? {
            Some(size) => Ok(BlockStat { cid: *cid, size }),
            None => bail!("block {cid} not found"),
        }
    }

    /// `block rm` of one block, as Kubo reports it per block: a refusal is a
    /// value (the command goes on with the next block); `Err` is a store failure.
    pub fn block_rm_status(&self, cid: &Cid, force: bool) -> anyhow::Result<BlockRm> {
        if let Some(t) = pins::pinned(self.store(), cid)? {
            return Ok(BlockRm::Refused(format!("pinned: {}", t.name())));
        }
        Ok(match self.store().remove(cid)? {
            true => BlockRm::Removed,
            false if force => BlockRm::Absent,
            false => BlockRm::Refused("block not found".into()),
        })
    }

    // ---- refs -------------------------------------------------------------

    /// `refs` with Kubo's `--max-depth` (`None`: no limit), each link with its
    /// source block and name.
    pub fn refs_edges(
        &self,
        root: &Cid,
        max_depth: Option<u64>,
        unique: bool,
        emit: &mut dyn FnMut(&dag::RefEdge) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        dag::refs_edges(
            &self.source(),
            root,
            max_depth,
            unique,
            &mut |e: &dag::RefEdge| -> Result<(), RefsErr> { emit(e).map_err(RefsErr::Emit) },
        )
        .map_err(|e| match e {
            RefsErr::Dag(d) => anyhow::Error::from(d),
            RefsErr::Emit(e) => e,
        })
    }

    /// `refs local`: every stored block as a raw CIDv1 of its multihash.
    pub fn refs_local(
        &self,
        emit: &mut dyn FnMut(&Cid) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        for mh in self.store().iter_multihashes() {
            emit(&cids::raw_v1_of_multihash(&mh?))?;
        }
        Ok(())
    }
}

/// Bytes a [`CatReader`] exports per refill (one chunk of Kubo's default layout).
pub const CAT_WINDOW_BYTES: u64 = 256 * 1024;

/// A file's content as a `Read`, exported [`CAT_WINDOW_BYTES`] at a time (each
/// window walks the file DAG from its root to the offset).
struct CatReader<'a> {
    src: &'a Source<'a>,
    cid: Cid,
    pos: u64,
    size: u64,
    buf: Vec<u8>,
    at: usize,
}

impl std::io::Read for CatReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.at == self.buf.len() {
            if self.pos >= self.size {
                return Ok(0);
            }
            self.buf.clear();
            self.at = 0;
            let want = CAT_WINDOW_BYTES.min(self.size - self.pos);
            exporter::cat(self.src, &self.cid, self.pos, Some(want), &mut self.buf)
                .map_err(std::io::Error::other)?;
            if self.buf.is_empty() {
                return Err(std::io::Error::other(format!(
                    "{}: file is shorter than its recorded size",
                    self.cid
                )));
            }
            self.pos += self.buf.len() as u64;
        }
        let n = out.len().min(self.buf.len() - self.at);
        out[..n].copy_from_slice(&self.buf[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// `add --nocopy` of stdin (there is no file to reference): the CLI's error, offline
/// and through the daemon alike.
pub const NOCOPY_NEEDS_PATHS: &str =
    "--nocopy needs file paths: data from stdin has no file to reference";

/// Adds `paths` (stdin when empty) with `opts`; with `only_hash` nothing is
/// written. Each entry is reported to `emit(name, cid)` once its blocks are durable
/// (see [`ADD_HELD_ENTRIES_COUNT`]); returns the last root.
/// Blocks are protected from GC from the first write until the root is pinned.
pub fn add_paths(
    node: Option<&Node>,
    opts: &importer::Options,
    paths: &[String],
    recursive: bool,
    pin: bool,
    emit: &mut dyn FnMut(&str, &importer::Added) -> anyhow::Result<()>,
    progress: &mut dyn FnMut(u64),
) -> anyhow::Result<Cid> {
    let held = Held::new(emit, node.is_some());
    let mut report = |name: &str, a: &importer::Added| held.borrow_mut().report(name, a);
    if opts.nocopy && paths.is_empty() {
        anyhow::bail!(NOCOPY_NEEDS_PATHS);
    }
    let mut null = acorn_storage::block::NullSink;
    let (_guard, mut writer) = match node {
        Some(n) => (Some(n.store().begin_add()), Some(n.store().writer())),
        None => (None, None),
    };
    let mut nocopy;
    let sink: &mut dyn acorn_storage::BlockSink = match writer.as_mut() {
        Some(w) if opts.nocopy => {
            nocopy = acorn_storage::filestore::NocopySink::new(w);
            &mut nocopy
        }
        Some(w) => w,
        None => &mut null,
    };
    let sink = &mut DurableSink {
        inner: sink,
        held: &held,
    };
    let sink = &mut ProgressSink {
        inner: sink,
        progress,
    };
    let mut roots = Vec::new();
    if paths.is_empty() {
        let a = importer::add_file(opts, sink, std::io::stdin().lock())?;
        let a = if opts.wrap_with_directory {
            // Kubo wraps stdin under its CID as the name.
            let dir = tempfile_free_wrap(opts, sink, &a)?;
            report(&a.cid.to_string(), &a);
            dir
        } else {
            a
        };
        report(&a.cid.to_string(), &a);
        roots.push(a.cid);
    } else {
        for p in paths {
            let a = importer::add_path(opts, sink, Path::new(p), recursive, &mut report)?;
            roots.push(a.cid);
        }
    }
    if let Err(e) = held.borrow_mut().result() {
        return Err(e.context("writing to stdout"));
    }
    let root = finish_add(node, writer, pin, &roots)?;
    let mut held = held.into_inner();
    held.release();
    held.result().context("writing to stdout")?;
    Ok(root)
}

/// Most added entries an add holds back until a durable commit. A CID is reported
/// only once its blocks would survive a crash (kill -9, power loss): entries are
/// held, and when this many are, the add commits what it wrote durably (one fsync)
/// and reports them; the rest are reported after the add's final commit and pins.
/// SD cards: at most one extra fsync per this many entries (each entry stores at
/// least one block, and a writer batch holds at most
/// [`acorn_storage::blockstore::WRITER_BATCH_BLOCKS`]). RAM: about this × 150 bytes.
pub const ADD_HELD_ENTRIES_COUNT: usize = 1024;

/// An add's entry reports, held until their blocks are durable.
struct Held<'e> {
    emit: &'e mut dyn FnMut(&str, &importer::Added) -> anyhow::Result<()>,
    lines: Vec<(String, importer::Added)>,
    /// Whether reports wait for a durable commit (not when nothing is stored).
    hold: bool,
    /// The first error of `emit`; nothing more is reported after it.
    failed: Option<anyhow::Error>,
}

impl<'e> Held<'e> {
    fn new(
        emit: &'e mut dyn FnMut(&str, &importer::Added) -> anyhow::Result<()>,
        hold: bool,
    ) -> RefCell<Held<'e>> {
        RefCell::new(Held {
            emit,
            lines: Vec::new(),
            hold,
            failed: None,
        })
    }

    /// An entry was added (all its blocks put).
    fn report(&mut self, name: &str, a: &importer::Added) {
        if self.hold {
            self.lines.push((name.to_string(), *a));
        } else {
            self.send(name, a);
        }
    }

    fn send(&mut self, name: &str, a: &importer::Added) {
        if self.failed.is_none() {
            if let Err(e) = (self.emit)(name, a) {
                self.failed = Some(e);
            }
        }
    }

    /// Whether a durable commit is due before more is written.
    fn due(&self) -> bool {
        self.lines.len() >= ADD_HELD_ENTRIES_COUNT
    }

    /// Reports what is held: call only once its blocks are durable.
    fn release(&mut self) {
        for (name, a) in std::mem::take(&mut self.lines) {
            self.send(&name, &a);
        }
    }

    /// The first reporting error, if any.
    fn result(&mut self) -> anyhow::Result<()> {
        self.failed.take().map_or(Ok(()), Err)
    }
}

/// Commits durably and releases the held reports once [`ADD_HELD_ENTRIES_COUNT`]
/// entries wait, before the next block is written.
struct DurableSink<'a, 'e> {
    inner: &'a mut dyn acorn_storage::BlockSink,
    held: &'a RefCell<Held<'e>>,
}

impl DurableSink<'_, '_> {
    fn settle(&mut self) -> Result<(), BlockError> {
        if self.held.borrow().due() {
            self.inner.flush()?;
            self.held.borrow_mut().release();
        }
        Ok(())
    }
}

impl acorn_storage::BlockSink for DurableSink<'_, '_> {
    fn put(&mut self, cid: &Cid, data: &[u8]) -> Result<(), BlockError> {
        self.settle()?;
        self.inner.put(cid, data)
    }
    fn begin_file(&mut self, path: &Path) -> Result<(), BlockError> {
        self.inner.begin_file(path)
    }
    fn put_leaf(&mut self, cid: &Cid, data: &[u8], offset: u64) -> Result<(), BlockError> {
        self.settle()?;
        self.inner.put_leaf(cid, data, offset)
    }
    fn end_file(&mut self) -> Result<(), BlockError> {
        self.inner.end_file()
    }
    fn flush(&mut self) -> Result<(), BlockError> {
        self.inner.flush()
    }
}

/// Reports the bytes of every block an add stores (leaves hold the file's bytes;
/// the few parent and directory blocks make the count a little larger than the
/// input): the CLI's progress bar.
struct ProgressSink<'a> {
    inner: &'a mut dyn acorn_storage::BlockSink,
    progress: &'a mut dyn FnMut(u64),
}

impl acorn_storage::BlockSink for ProgressSink<'_> {
    fn put(&mut self, cid: &Cid, data: &[u8]) -> Result<(), BlockError> {
        (self.progress)(data.len() as u64);
        self.inner.put(cid, data)
    }
    fn begin_file(&mut self, path: &Path) -> Result<(), BlockError> {
        self.inner.begin_file(path)
    }
    fn put_leaf(&mut self, cid: &Cid, data: &[u8], offset: u64) -> Result<(), BlockError> {
        (self.progress)(data.len() as u64);
        self.inner.put_leaf(cid, data, offset)
    }
    fn end_file(&mut self) -> Result<(), BlockError> {
        self.inner.end_file()
    }
    fn flush(&mut self) -> Result<(), BlockError> {
        self.inner.flush()
    }
}

/// Reports the bytes of every block read (the CLI's `get` progress bar; the few
/// directory and file-root blocks are read twice, so the count runs a little over).
struct ProgressSource<'a> {
    inner: &'a Source<'a>,
    progress: std::cell::RefCell<&'a mut dyn FnMut(u64)>,
}

impl BlockSource for ProgressSource<'_> {
    fn get(&self, cid: &Cid) -> Result<Option<Vec<u8>>, BlockError> {
        let r = self.inner.get(cid)?;
        if let (Some(d), Ok(mut f)) = (&r, self.progress.try_borrow_mut()) {
            (*f)(d.len() as u64);
        }
        Ok(r)
    }
    fn has(&self, cid: &Cid) -> Result<bool, BlockError> {
        self.inner.has(cid)
    }
}

/// What one entry of a streamed add is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddEntryKind {
    File,
    Directory,
    /// The entry's bytes are the link target.
    Symlink,
}

/// One entry of a streamed add: its `/`-separated path (`None`: unnamed data, as
/// stdin, reported under its CID) and kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddEntry {
    pub path: Option<String>,
    pub kind: AddEntryKind,
    /// Where the client read a file from (Kubo's `Abspath` part header): what a
    /// `nocopy` add references.
    pub abspath: Option<std::path::PathBuf>,
}

/// A tree sent entry by entry (the RPC API's multipart body): parents before their
/// children, as a depth-first walk sends them. Between `next_entry` calls, `Read`
/// gives the current entry's bytes.
pub trait AddSource: std::io::Read {
    fn next_entry(&mut self) -> std::io::Result<Option<AddEntry>>;
}

/// Most entries one streamed add may hold open in directories not yet complete
/// (each costs its name and a CID, about 100 bytes).
pub const MAX_ADD_OPEN_ENTRIES_COUNT: usize = 1 << 20;
/// Longest symlink target, in bytes (Linux `PATH_MAX`).
pub const MAX_SYMLINK_TARGET_BYTES: usize = 4096;

/// Errors in the entries of a streamed add (the RPC API's multipart `add`).
#[derive(Debug, thiserror::Error)]
pub enum AddEntryError {
    /// A path with an empty, `.` or `..` component.
    #[error("invalid entry path {path:?}")]
    InvalidPath { path: String },
    /// Two entries of one path: a directory holds one entry of each name (Kubo:
    /// "directory already has entry by that name").
    #[error("duplicate entry path {path:?}: a directory holds one entry of each name")]
    DuplicateName { path: String },
}

/// Errors of a streamed `nocopy` add (the RPC API's `add?nocopy=true`).
#[derive(Debug, thiserror::Error)]
pub enum NocopyError {
    /// A file part without the `Abspath` header: nothing to reference.
    #[error("nocopy: {name} has no Abspath (the client must send each file's absolute path)")]
    NoAbspath { name: String },
    /// The path is not under `Filestore.AllowedRoots`.
    #[error(
        "nocopy: {path} is not under Filestore.AllowedRoots ({roots}): add the directory there, or add without nocopy"
    )]
    NotAllowed { path: String, roots: String },
    /// The bytes sent are not the file's (their count differs from its size).
    #[error("nocopy: {path} is {on_disk} bytes on disk but {sent} bytes were sent")]
    SizeMismatch {
        path: String,
        on_disk: u64,
        sent: u64,
    },
    /// Unnamed data (stdin) cannot be referenced.
    #[error("nocopy: data without a file (stdin) cannot be referenced")]
    Unnamed,
}

/// Counts the bytes read through it.
struct Counted<'a, R: ?Sized>(&'a mut R, u64);

impl<R: std::io::Read + ?Sized> std::io::Read for Counted<'_, R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = self.0.read(out)?;
        self.1 += n as u64;
        Ok(n)
    }
}

/// Adds a tree sent entry by entry, reporting as [`add_paths`] does: files as they
/// are added, each top-level item's directories after it (children first), then
/// the wrapper (name "") with `wrap_with_directory`. Returns the last root.
///
/// With `opts.nocopy` (and a node), each file must carry its `abspath`, which must
/// lie under the node's `Filestore.AllowedRoots` (these adds come over the HTTP
/// API: the allow-list is what keeps a client from referencing, and so reading
/// back, any file the daemon can read). The leaves become filestore references to
/// that path at the offsets of the bytes sent, which must be as many as the file
/// holds; every later read re-hashes them, so bytes that differ from the file's
/// show up as `changed` in `filestore verify`.
pub fn add_entries(
    node: Option<&Node>,
    opts: &importer::Options,
    source: &mut dyn AddSource,
    pin: bool,
    emit: &mut dyn FnMut(&str, &importer::Added) -> anyhow::Result<()>,
) -> anyhow::Result<Cid> {
    use acorn_storage::BlockSink as _;
    use std::io::Read as _;
    let reports = Held::new(emit, node.is_some());
    let mut emit = |name: &str, a: &importer::Added| -> anyhow::Result<()> {
        reports.borrow_mut().report(name, a);
        Ok(())
    };
    let mut null = acorn_storage::block::NullSink;
    let (_guard, mut writer) = match node {
        Some(n) => (Some(n.store().begin_add()), Some(n.store().writer())),
        None => (None, None),
    };
    let mut nocopy_sink;
    let nocopy = opts.nocopy && writer.is_some();
    let sink: &mut dyn acorn_storage::BlockSink = match writer.as_mut() {
        Some(w) if opts.nocopy => {
            nocopy_sink = acorn_storage::filestore::NocopySink::new(w);
            &mut nocopy_sink
        }
        Some(w) => w,
        None => &mut null,
    };
    let sink = &mut DurableSink {
        inner: sink,
        held: &reports,
    };
    let roots_allowed: Vec<std::path::PathBuf> = node
        .map(|n| {
            n.config()
                .filestore
                .allowed_roots
                .iter()
                .map(std::path::PathBuf::from)
                .collect()
        })
        .unwrap_or_default();
    // Open directories, outermost first: (path, entries so far).
    let mut open: Vec<(String, Vec<(String, importer::Added)>)> = Vec::new();
    let mut done_dirs: Vec<(String, importer::Added)> = Vec::new();
    let mut held = 0usize;
    let mut roots = Vec::new();

    // Closes the innermost open directory, attaching it to its parent or, at the
    // top, finishing the item.
    fn close(
        opts: &importer::Options,
        sink: &mut dyn acorn_storage::BlockSink,
        open: &mut Vec<(String, Vec<(String, importer::Added)>)>,
        done_dirs: &mut Vec<(String, importer::Added)>,
    ) -> anyhow::Result<Option<(String, importer::Added)>> {
        let Some((path, entries)) = open.pop() else {
            return Ok(None);
        };
        let mut names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
        names.sort_unstable();
        if let Some(twice) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(AddEntryError::DuplicateName {
                path: format!("{path}/{}", twice[0]),
            }
            .into());
        }
        drop(names);
        let added = importer::add_directory(opts, sink, entries)?;
        done_dirs.push((path.clone(), added));
        let name = path.rsplit('/').next().unwrap_or(&path).to_string();
        match open.last_mut() {
            Some((_, parent)) => {
                parent.push((name, added));
                Ok(None)
            }
            None => Ok(Some((path, added))),
        }
    }
    let finish_item = |item: (String, importer::Added),
                       done_dirs: &mut Vec<(String, importer::Added)>,
                       sink: &mut dyn acorn_storage::BlockSink,
                       roots: &mut Vec<Cid>,
                       emit: &mut dyn FnMut(&str, &importer::Added) -> anyhow::Result<()>|
     -> anyhow::Result<()> {
        for (p, a) in done_dirs.drain(..) {
            emit_err(emit(&p, &a))?;
        }
        let (name, added) = item;
        let root = if opts.wrap_with_directory {
            let w = importer::add_directory(opts, sink, vec![(name, added)])?;
            emit_err(emit("", &w))?;
            w
        } else {
            added
        };
        roots.push(root.cid);
        Ok(())
    };

    while let Some(entry) = source.next_entry()? {
        emit_err(reports.borrow_mut().result())?;
        let Some(path) = entry.path else {
            // Unnamed data: as stdin to `add_paths`.
            anyhow::ensure!(open.is_empty(), "unnamed data inside a directory");
            if nocopy {
                return Err(NocopyError::Unnamed.into());
            }
            let a = importer::add_file(opts, sink, &mut *source)?;
            let a = if opts.wrap_with_directory {
                let dir = tempfile_free_wrap(opts, sink, &a)?;
                emit_err(emit(&a.cid.to_string(), &a))?;
                dir
            } else {
                a
            };
            emit_err(emit(&a.cid.to_string(), &a))?;
            roots.push(a.cid);
            continue;
        };
        let parts: Vec<&str> = path.split('/').collect();
        if !parts
            .iter()
            .all(|p| !p.is_empty() && *p != "." && *p != "..")
        {
            return Err(AddEntryError::InvalidPath { path: path.clone() }.into());
        }
        anyhow::ensure!(
            parts.len() <= importer::MAX_DIR_DEPTH,
            "entry path {path:?} is deeper than {} levels",
            importer::MAX_DIR_DEPTH
        );
        let parent = &path[..path.len() - parts[parts.len() - 1].len()].trim_end_matches('/');
        // Close directories until the innermost open one is this entry's parent or
        // one of its ancestors.
        let is_ancestor = |top: &str| {
            top == *parent || (parent.starts_with(top) && parent[top.len()..].starts_with('/'))
        };
        while let Some((top, _)) = open.last() {
            if is_ancestor(top) {
                break;
            }
            if let Some(item) = close(opts, sink, &mut open, &mut done_dirs)? {
                finish_item(item, &mut done_dirs, sink, &mut roots, &mut emit)?;
            }
        }
        // Parent directories the client did not send as parts of their own are
        // opened implicitly, as Kubo does (`kubo-rpc-client`'s addAll sends only
        // `d/a.txt`, not `d`).
        let top_len = open.last().map_or(0, |(p, _)| p.len() + 1);
        if !parent.is_empty() && top_len <= parent.len() {
            let mut at = top_len;
            for seg in parent[top_len..].split('/') {
                at += seg.len();
                anyhow::ensure!(
                    open.len() < importer::MAX_DIR_DEPTH,
                    "entry path {path:?} is deeper than {} levels",
                    importer::MAX_DIR_DEPTH
                );
                open.push((parent[..at].to_string(), Vec::new()));
                at += 1;
            }
        }
        held += 1;
        anyhow::ensure!(
            held <= MAX_ADD_OPEN_ENTRIES_COUNT,
            "add holds over {MAX_ADD_OPEN_ENTRIES_COUNT} entries"
        );
        let name = parts[parts.len() - 1].to_string();
        let added = match entry.kind {
            AddEntryKind::Directory => {
                open.push((path, Vec::new()));
                continue;
            }
            AddEntryKind::File if nocopy => {
                let abs = entry
                    .abspath
                    .as_deref()
                    .ok_or_else(|| NocopyError::NoAbspath { name: path.clone() })?;
                let canon = acorn_storage::filestore::canonical(abs)?;
                if !acorn_storage::filestore::is_allowed(&canon, &roots_allowed) {
                    return Err(NocopyError::NotAllowed {
                        path: abs.display().to_string(),
                        roots: if roots_allowed.is_empty() {
                            "none set".into()
                        } else {
                            node.map(|n| n.config().filestore.allowed_roots.join(", "))
                                .unwrap_or_default()
                        },
                    }
                    .into());
                }
                sink.begin_file(&canon)?;
                let mut counted = Counted(&mut *source, 0);
                let added = importer::add_file(opts, sink, &mut counted)?;
                let sent = counted.1;
                sink.end_file()?;
                let on_disk = std::fs::metadata(&canon)
                    .with_context(|| format!("{}", canon.display()))?
                    .len();
                if on_disk != sent {
                    return Err(NocopyError::SizeMismatch {
                        path: canon.display().to_string(),
                        on_disk,
                        sent,
                    }
                    .into());
                }
                added
            }
            AddEntryKind::File => importer::add_file(opts, sink, &mut *source)?,
            AddEntryKind::Symlink => {
                let mut target = Vec::new();
                (&mut *source)
                    .take(MAX_SYMLINK_TARGET_BYTES as u64 + 1)
                    .read_to_end(&mut target)?;
                anyhow::ensure!(
                    target.len() <= MAX_SYMLINK_TARGET_BYTES,
                    "symlink target of {path:?} is over {MAX_SYMLINK_TARGET_BYTES} bytes"
                );
                importer::add_symlink_to(opts, sink, &target)?
            }
        };
        emit_err(emit(&path, &added))?;
        match open.last_mut() {
            Some((_, entries)) => entries.push((name, added)),
            None => finish_item((path, added), &mut done_dirs, sink, &mut roots, &mut emit)?,
        }
    }
    while !open.is_empty() {
        if let Some(item) = close(opts, sink, &mut open, &mut done_dirs)? {
            finish_item(item, &mut done_dirs, sink, &mut roots, &mut emit)?;
        }
    }
    emit_err(reports.borrow_mut().result())?;
    let root = finish_add(node, writer, pin, &roots)?;
    let mut reports = reports.into_inner();
    reports.release();
    emit_err(reports.result())?;
    Ok(root)
}

/// The end of every add: make the blocks durable, pin the roots, return the last.
fn finish_add(
    node: Option<&Node>,
    writer: Option<acorn_storage::blockstore::Writer>,
    pin: bool,
    roots: &[Cid],
) -> anyhow::Result<Cid> {
    if let Some(w) = writer {
        w.finish()?;
    }
    if let (Some(n), true) = (node, pin) {
        for r in roots {
            pins::pin_add(n.store(), r, true)?;
        }
    }
    roots
        .last()
        .copied()
        .ok_or_else(|| anyhow::anyhow!("nothing to add"))
}

/// `-w` for stdin: a directory holding the data under its own CID as the name.
fn tempfile_free_wrap(
    opts: &importer::Options,
    sink: &mut dyn acorn_storage::BlockSink,
    a: &importer::Added,
) -> anyhow::Result<importer::Added> {
    let node = acorn_storage::codec::dagpb::PbNode {
        links: vec![acorn_storage::codec::dagpb::PbLink {
            hash: a.cid,
            name: Some(a.cid.to_string()),
            tsize: Some(a.size),
        }],
        data: Some(
            acorn_storage::unixfs::pb::Data::new(acorn_storage::unixfs::pb::DataType::Directory)
                .encode(),
        ),
    };
    let bytes = node.encode();
    let cid = cids::cid_of(opts.cid_version, cids::DAG_PB, &bytes);
    sink.put(&cid, &bytes)?;
    Ok(importer::Added {
        cid,
        size: bytes.len() as u64 + a.size,
        file_size: 0,
    })
}

/// Largest `dag put` input we read, in bytes: a JSON form may be several times
/// larger than the block it encodes to (which must still fit MAX_BLOCK_BYTES).
pub const MAX_DAG_INPUT_BYTES: usize = 4 * acorn_storage::block::MAX_BLOCK_BYTES;

/// Deepest IPLD path `dag get` follows, in segments.
pub const MAX_DAG_PATH_SEGMENTS: usize = 256;

impl Node {
    /// `dag put`: decodes `input` with `input_codec`, re-encodes it with `store_codec`
    /// and stores the block (CIDv1, sha2-256, as Kubo). Over
    /// [`SOFT_BLOCK_LIMIT_BYTES`] only with `allow_big_block`.
    pub fn dag_put(
        &self,
        input: &[u8],
        input_codec: u64,
        store_codec: u64,
        pin: bool,
        allow_big_block: bool,
    ) -> anyhow::Result<Cid> {
        let value = codec::decode(input_codec, input)
            .with_context(|| format!("input is not valid {}", codec_label(input_codec)))?;
        let bytes = codec::encode(store_codec, &value)
            .with_context(|| format!("cannot store as {}", codec_label(store_codec)))?;
        check_block_size(bytes.len(), allow_big_block)?;
        let limit = acorn_storage::block::MAX_BLOCK_BYTES;
        anyhow::ensure!(
            bytes.len() <= limit,
            "encoded block is {} bytes, over the {limit}-byte limit",
            bytes.len()
        );
        let block = Block::encode(1, store_codec, bytes);
        let _guard = self.store().begin_add();
        self.store().put_block(&block)?;
        if pin {
            pins::pin_add(self.store(), block.cid(), true)?;
        }
        Ok(*block.cid())
    }

    /// `dag get <cid>[/path]`: the node, or the value at an IPLD path inside it
    /// (map keys, list indexes; links are followed).
    pub fn dag_get(&self, arg: &str) -> anyhow::Result<Ipld> {
        let s = arg.strip_prefix("/ipfs/").unwrap_or(arg);
        let (c, rest) = s.split_once('/').unwrap_or((s, ""));
        let mut cid = cids::parse(c)?;
        let mut value = self.load_ipld(&cid)?;
        let segments: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
        anyhow::ensure!(
            segments.len() <= MAX_DAG_PATH_SEGMENTS,
            "path has over {MAX_DAG_PATH_SEGMENTS} segments"
        );
        for seg in segments {
            if let Ipld::Link(l) = value {
                cid = l;
                value = self.load_ipld(&cid)?;
            }
            value = match value {
                Ipld::Map(mut m) => m.remove(seg),
                Ipld::List(mut l) => seg
                    .parse::<usize>()
                    .ok()
                    .filter(|i| *i < l.len())
                    .map(|i| l.swap_remove(i)),
                _ => None,
            }
            .ok_or_else(|| anyhow::anyhow!("no link named {seg:?} under {cid}"))?;
        }
        if let Ipld::Link(l) = value {
            value = self.load_ipld(&l)?;
        }
        Ok(value)
    }

    fn load_ipld(&self, cid: &Cid) -> anyhow::Result<Ipld> {
        let bytes = self.store().get_required(cid)?;
        codec::decode(cid.codec(), &bytes).with_context(|| format!("decoding {cid}"))
    }
}

fn codec_label(code: u64) -> String {
    cids::codec_name(code).map_or_else(|| format!("codec 0x{code:x}"), str::to_string)
}

fn emit_err(r: anyhow::Result<()>) -> anyhow::Result<()> {
    r.context("writing the add output")
}

/// A [`dag::SeenSet`] that reports each new block (pin progress).
struct CountingSeen<'a> {
    seen: dag::MemSeen,
    on_new: &'a mut dyn FnMut(),
}

impl dag::SeenSet for CountingSeen<'_> {
    fn insert(&mut self, cid: &Cid) -> Result<bool, dag::DagError> {
        let new = dag::SeenSet::insert(&mut self.seen, cid)?;
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

enum RefsErr {
    Dag(dag::DagError),
    Emit(anyhow::Error),
}

impl From<dag::DagError> for RefsErr {
    fn from(e: dag::DagError) -> Self {
        RefsErr::Dag(e)
    }
}

fn filter_accepts(filter: PinFilter, t: PinType) -> bool {
    match filter {
        PinFilter::All => true,
        PinFilter::Direct => t == PinType::Direct,
        PinFilter::Recursive => t == PinType::Recursive,
        PinFilter::Indirect => t == PinType::Indirect,
    }
}

// ---- filestore ----------------------------------------------------------------

/// One filestore entry as `filestore ls` / `verify` report it.
#[derive(Debug, Clone)]
pub struct FilestoreEntry {
    /// The block (as given, or the raw CIDv1 of its key when listing everything).
    pub cid: Cid,
    pub status: filestore::Status,
    /// The reference (`None` when the entry is missing or malformed).
    pub file_ref: Option<filestore::FileRef>,
    /// Why the status is not `ok`.
    pub reason: String,
}

/// Kubo's `FormatLong` from parts: `<cid padded to 50> <size padded to 6> <path>
/// <offset>`, or the CID alone without a reference (`(size, path, offset)`).
pub fn format_long(cid: &str, file_ref: Option<(u64, &str, u64)>) -> String {
    match file_ref {
        Some((size, path, offset)) if !path.is_empty() => {
            format!("{cid:<50} {size:>6} {path} {offset}")
        }
        _ => cid.to_string(),
    }
}

impl Node {
    /// Entries for `cids` (all entries, in key order, when empty), with their status
    /// when `check` (reads and hashes each block), else status `ok` for present
    /// entries. With `file_order` they are sorted by path and offset first: that
    /// holds every entry in memory (about 100 bytes each), as Kubo's `--file-order`.
    pub fn filestore_entries(
        &self,
        cids: &[Cid],
        check: bool,
        file_order: bool,
        emit: &mut dyn FnMut(FilestoreEntry) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let entry = |cid: Cid, r: Option<filestore::FileRef>| {
            let (status, reason) = match &r {
                None => (
                    filestore::Status::Missing,
                    "not in the filestore".to_string(),
                ),
                Some(r) if check => filestore::check_ref(cid.hash(), r),
                Some(_) => (filestore::Status::Ok, String::new()),
            };
            FilestoreEntry {
                cid,
                status,
                file_ref: r,
                reason,
            }
        };
        let mut sorted = Vec::new();
        let mut out = |e: FilestoreEntry| -> anyhow::Result<()> {
            if file_order {
                sorted.push(e);
                Ok(())
            } else {
                emit(e)
            }
        };
        if cids.is_empty() {
            for item in self.store().iter_refs() {
                let (mh, r) = item?;
                out(entry(cids::raw_v1_of_multihash(&mh), Some(r)))?;
            }
        } else {
            for c in cids {
                out(entry(*c, self.store().file_ref(c)?))?;
            }
        }
        if file_order {
            sorted.sort_by(|a, b| {
                let key =
                    |e: &FilestoreEntry| e.file_ref.as_ref().map(|r| (r.path.clone(), r.offset));
                key(a).cmp(&key(b))
            });
            for e in sorted {
                emit(e)?;
            }
        }
        Ok(())
    }

    /// `filestore dups`: blocks held both as a filestore reference and as a copy.
    pub fn filestore_dups(
        &self,
        emit: &mut dyn FnMut(&Cid) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        for item in self.store().iter_refs() {
            let (mh, _) = item?;
            let cid = cids::raw_v1_of_multihash(&mh);
            if self.store().has_copy(&cid)? {
                emit(&cid)?;
            }
        }
        Ok(())
    }

    /// `filestore rm`: drops a block's filestore reference (never the file). Refused
    /// when the block is pinned (directly, recursively or as part of a pinned DAG)
    /// unless a copy of it stays in the blockstore.
    pub fn filestore_rm(&self, cid: &Cid) -> anyhow::Result<()> {
        if self.store().file_ref(cid)?.is_none() {
            bail!("cannot remove {cid}: not in the filestore");
        }
        if !self.store().has_copy(cid)? {
            if let Some(t) = pins::pinned(self.store(), cid)? {
                bail!("cannot remove {cid}: pinned: {}", t.name());
            }
        }
        self.store().remove_ref(cid)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use acorn_storage::{block, blockstore, car, dag, repo, unixfs};

    /// The README's limits table must state the values the code uses.
    #[test]
    fn readme_limits_match_code() {
        let readme = include_str!("../README.md");
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
            ("WANT_WINDOW_COUNT", crate::fetch::WANT_WINDOW_COUNT as u64),
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
