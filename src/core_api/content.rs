//! Files and paths: `add`, `cat`, `get`, `ls`, `refs`, `refs local`, `resolve`.
//!
//! **What.** The [`Content`] group of the [core API](super): its trait, its result
//! types, and its two implementations, [`Local`] (this process's node) and
//! [`Remote`] (a daemon over the RPC API). The CLI formats what these return, once
//! for both; the RPC API (`api/add.rs`, `api/mod.rs`, `api/dag.rs`) and the
//! gateway call [`Local`].
//!
//! **Spec.** Kubo's `add`, `cat`, `get`, `ls`, `refs`, `refs local`, `resolve`
//! (`core/commands/*.go`); on the wire, the RPC shapes the `api` module documents.
//!
//! **Flow.**
//! - `add`: [`AddInput::Paths`] (files on this machine, the CLI's) is walked by the
//!   importer in this process ([`Local`]) or sent as a multipart body, each file
//!   with its `Abspath` ([`Remote`]); [`AddInput::Entries`] (a body being received:
//!   the RPC API's) is imported entry by entry. Each added entry is an
//!   [`AddEvent::Added`]; with [`AddOptions::progress`], [`AddEvent::Progress`]
//!   events report an entry's bytes so far. A pinned add is announced to the DHT
//!   in the background when the node runs a network.
//! - `get`: [`Content::get`] writes files under a local target (offline by the
//!   exporter, through a daemon by unpacking its tar stream, [`unpack_tar`]);
//!   [`Content::get_tar`] is that tar stream (the RPC API's answer).
//! - `cat`, `refs`, `refs local` stream into the caller's writer or callback.
//! - The gateway also asks [`Local::stat`] what a path names (kind and size): no
//!   RPC command answers that, so it is not on the trait.
//!
//! **Limits.** Progress events: at most one per [`PROGRESS_STEP_BYTES`] of an
//! entry's input, plus one at its end ([`Local`] over [`AddInput::Paths`]: one per
//! block stored). A tar from a daemon is unpacked entry by entry (nothing held but
//! the `tar` crate's header buffers).
//!
//! **Departures.** `--only-hash` needs no repo and writes nothing, so the CLI
//! hashes in its own process even while a daemon runs ([`add_unstored`]). An add
//! from [`AddInput::Entries`] cannot be forwarded through [`Remote`] (the entries
//! are being received; only the RPC server reads them). Offline over
//! [`AddInput::Paths`], progress is one running count of the bytes stored for the
//! whole add, under the name `""` (the importer walks the files itself).

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::path::Path;

use acorn_storage::cids;
use acorn_storage::unixfs::exporter::{self, Entry};
pub use acorn_storage::unixfs::exporter::{parse_ipfs_path, EntryKind};
pub use acorn_storage::unixfs::importer;
use anyhow::{bail, Context as _};
use cid::Cid;
use serde_json::Value;

use super::answer::{args, cid_field};
use super::client::{MultipartBody, RequestBody};
use super::{Local, Remote};
use crate::core::{self, Node};
pub use crate::core::{AddEntry, AddEntryKind, AddSource};
use crate::swarm::NetHandle;

/// Input bytes of one entry between two [`AddEvent::Progress`] events (streamed
/// adds; Kubo's RPC `progress` lines).
pub const PROGRESS_STEP_BYTES: u64 = 256 * 1024;

/// What to add.
pub enum AddInput<'a> {
    /// Files, directories and symlinks on this machine (stdin when `paths` is
    /// empty); a directory needs `recursive`. Dot-names follow
    /// [`importer::Options::hidden`].
    Paths {
        paths: &'a [String],
        recursive: bool,
    },
    /// A tree sent entry by entry (the RPC API's multipart body).
    Entries(&'a mut dyn AddSource),
}

/// `add`'s options (Kubo's flags, resolved: `--cid-version 1` implying raw leaves,
/// `--nocopy` implying raw leaves and the `size-N` chunker are the front end's to
/// apply, each with its own error text).
#[derive(Clone, Debug)]
pub struct AddOptions {
    /// Chunking, layout, CID version, leaves, wrapping, dot-names, `nocopy`.
    pub import: importer::Options,
    /// Pin the roots (recursively) when the add ends.
    pub pin: bool,
    /// Chunk and hash only: nothing is stored or pinned.
    pub only_hash: bool,
    /// Report [`AddEvent::Progress`] events.
    pub progress: bool,
}

/// What an add reports as it goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AddEvent {
    /// An entry was added: its path as given (stdin data: its CID; the
    /// `wrap-with-directory` wrapper: `""`), CID and cumulative DAG size.
    Added { name: String, cid: Cid, size: u64 },
    /// `bytes` of entry `name` were read so far (see the module's departures).
    Progress { name: String, bytes: u64 },
}

/// What a `get` reports as it goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GetProgress {
    /// The content size, when known (before any bytes).
    Total(u64),
    /// `n` more bytes were read.
    Bytes(u64),
}

/// What a path names (the gateway's question; no RPC command answers it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PathStat {
    pub cid: Cid,
    pub kind: EntryKind,
    /// Content bytes of a file; 0 for anything else.
    pub size: u64,
}

/// Files and paths: `add`, `cat`, `get`, `ls`, `refs`, `refs local`, `resolve`.
pub trait Content {
    /// `add`: imports `input`, reporting each entry to `emit`; returns the last
    /// root (the wrapper with `wrap-with-directory`).
    fn add(
        &self,
        input: AddInput<'_>,
        opts: &AddOptions,
        emit: &mut dyn FnMut(AddEvent) -> anyhow::Result<()>,
    ) -> anyhow::Result<Cid>;

    /// `cat`: the files at `paths`, concatenated, from `offset`, at most `length`
    /// bytes (offset and length apply to the concatenation, as Kubo).
    fn cat(
        &self,
        paths: &[String],
        offset: u64,
        length: Option<u64>,
        out: &mut dyn Write,
    ) -> anyhow::Result<()>;

    /// `get`: writes what `path` names to `target` on this machine (which must not
    /// exist). `progress`, when given, hears the total size (when known) and the
    /// bytes read.
    fn get(
        &self,
        path: &str,
        target: &Path,
        progress: Option<&mut dyn FnMut(GetProgress)>,
    ) -> anyhow::Result<()>;

    /// `get` as a tar stream (Kubo's RPC answer): what `path` names, under
    /// [`default_name`]`(path)`.
    fn get_tar(&self, path: &str, out: &mut dyn Write) -> anyhow::Result<()>;

    /// `ls`: the links of the directory (or the chunks of the file) at `path`.
    fn ls(&self, path: &str) -> anyhow::Result<Vec<Entry>>;

    /// `refs [-r] [-u] [--format/--edges/--max-depth]`: each link under each of
    /// `paths` as the line Kubo prints for it ([`RefsOptions::line`]).
    fn refs_formatted(
        &self,
        paths: &[String],
        opts: &RefsOptions,
        emit: &mut dyn FnMut(String) -> anyhow::Result<()>,
    ) -> anyhow::Result<()>;

    /// `refs local`: every stored block, as a raw CIDv1 of its multihash.
    fn refs_local(&self, emit: &mut dyn FnMut(Cid) -> anyhow::Result<()>) -> anyhow::Result<()>;

    /// `resolve`: the CID that `/ipfs/<cid>[/path]` (or `<cid>[/path]`) names.
    fn resolve(&self, path: &str) -> anyhow::Result<Cid>;
}

/// The name `get` gives what `path` names: its last path segment, else its CID.
pub fn default_name(path: &str) -> anyhow::Result<String> {
    let (cid, rest) = exporter::parse_ipfs_path(path)?;
    Ok(rest
        .rsplit('/')
        .find(|s| !s.is_empty())
        .map_or_else(|| cid.to_string(), str::to_string))
}

/// `add --only-hash` without a repo: chunks and hashes in this process, stores
/// nothing.
pub fn add_unstored(
    input: AddInput<'_>,
    opts: &AddOptions,
    emit: &mut dyn FnMut(AddEvent) -> anyhow::Result<()>,
) -> anyhow::Result<Cid> {
    let opts = AddOptions {
        only_hash: true,
        ..opts.clone()
    };
    add_with(None, None, input, &opts, emit)
}

/// The add of [`Local`] (`node`: `None` hashes only).
fn add_with(
    node: Option<&Node>,
    net: Option<&NetHandle>,
    input: AddInput<'_>,
    opts: &AddOptions,
    emit: &mut dyn FnMut(AddEvent) -> anyhow::Result<()>,
) -> anyhow::Result<Cid> {
    let node = node.filter(|_| !opts.only_hash);
    let pin = opts.pin && !opts.only_hash;
    let emit = RefCell::new(emit);
    // An emit error raised where only an io::Error fits (progress inside a read).
    let failed: RefCell<Option<anyhow::Error>> = RefCell::new(None);
    let added = |name: &str, a: &importer::Added| -> anyhow::Result<()> {
        let mut e = borrow(&emit)?;
        (*e)(AddEvent::Added {
            name: name.to_string(),
            cid: a.cid,
            size: a.size,
        })
    };
    let root = match input {
        AddInput::Paths { paths, recursive } => {
            let mut stored = 0u64;
            let r = core::add_paths(
                node,
                &opts.import,
                paths,
                recursive,
                pin,
                &mut |name, a| added(name, a),
                &mut |n| {
                    stored = stored.saturating_add(n);
                    if !opts.progress || failed.borrow().is_some() {
                        return;
                    }
                    let r = borrow(&emit).and_then(|mut e| {
                        (*e)(AddEvent::Progress {
                            name: String::new(),
                            bytes: stored,
                        })
                    });
                    if let Err(e) = r {
                        *failed.borrow_mut() = Some(e);
                    }
                },
            );
            if let Some(e) = failed.take() {
                return Err(e);
            }
            r?
        }
        AddInput::Entries(source) => {
            let mut counted = ProgressEntries {
                inner: source,
                emit: opts.progress.then_some(&emit),
                failed: &failed,
                name: String::new(),
                bytes: 0,
                reported: 0,
            };
            let r = core::add_entries(node, &opts.import, &mut counted, pin, &mut |name, a| {
                added(name, a)
            });
            if let Some(e) = failed.take() {
                return Err(e);
            }
            r?
        }
    };
    if let (true, Some(net)) = (pin, net) {
        // Pinned roots are announced to the DHT in the background.
        net.provide_later(&root);
    }
    Ok(root)
}

type Emit<'e> = RefCell<&'e mut dyn FnMut(AddEvent) -> anyhow::Result<()>>;

/// The add's one `emit`, shared by the entry reports and the progress reports
/// (never both at once: progress is reported while an entry is read, entries
/// after).
fn borrow<'a, 'e>(
    emit: &'a Emit<'e>,
) -> anyhow::Result<std::cell::RefMut<'a, &'e mut dyn FnMut(AddEvent) -> anyhow::Result<()>>> {
    emit.try_borrow_mut()
        .map_err(|_| anyhow::anyhow!("add output written from two places at once"))
}

/// A streamed add's entries, reporting the bytes read of each.
struct ProgressEntries<'a, 'e> {
    inner: &'a mut dyn AddSource,
    /// Where progress goes, when asked for.
    emit: Option<&'a Emit<'e>>,
    failed: &'a RefCell<Option<anyhow::Error>>,
    /// The current entry's name (`""` for unnamed data).
    name: String,
    /// Bytes of the current entry read so far, and when last reported.
    bytes: u64,
    reported: u64,
}

impl Read for ProgressEntries<'_, '_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(out)?;
        self.bytes += n as u64;
        if let Some(emit) = self.emit {
            let due = self.bytes - self.reported >= PROGRESS_STEP_BYTES
                || (n == 0 && self.bytes > self.reported);
            if due {
                self.reported = self.bytes;
                let r = borrow(emit).and_then(|mut e| {
                    (*e)(AddEvent::Progress {
                        name: self.name.clone(),
                        bytes: self.bytes,
                    })
                });
                if let Err(e) = r {
                    let msg = format!("{e:#}");
                    *self.failed.borrow_mut() = Some(e);
                    return Err(io::Error::other(msg));
                }
            }
        }
        Ok(n)
    }
}

impl AddSource for ProgressEntries<'_, '_> {
    fn next_entry(&mut self) -> io::Result<Option<AddEntry>> {
        let e = self.inner.next_entry()?;
        self.name = e.as_ref().and_then(|e| e.path.clone()).unwrap_or_default();
        self.bytes = 0;
        self.reported = 0;
        Ok(e)
    }
}

impl Local {
    /// What `path` names: its CID, its kind, and for a file its content size (the
    /// gateway's first step; one fetch session for the whole walk).
    pub fn stat(&self, path: &str) -> anyhow::Result<PathStat> {
        let (cid, kind, size) = self.node().resolve_kind(path)?;
        Ok(PathStat { cid, kind, size })
    }
}

impl Content for Local {
    fn add(
        &self,
        input: AddInput<'_>,
        opts: &AddOptions,
        emit: &mut dyn FnMut(AddEvent) -> anyhow::Result<()>,
    ) -> anyhow::Result<Cid> {
        add_with(Some(self.node()), self.net_opt(), input, opts, emit)
    }

    fn cat(
        &self,
        paths: &[String],
        offset: u64,
        length: Option<u64>,
        out: &mut dyn Write,
    ) -> anyhow::Result<()> {
        self.node().cat_many(paths, offset, length, out)?;
        Ok(())
    }

    fn get(
        &self,
        path: &str,
        target: &Path,
        progress: Option<&mut dyn FnMut(GetProgress)>,
    ) -> anyhow::Result<()> {
        let node = self.node();
        match progress {
            None => node.get_with_progress(path, target, &mut |_| {}),
            Some(p) => {
                // A size we cannot tell leaves the bar without a total; the get
                // itself reports what is wrong with the path.
                if let Ok(total) = node.file_size(path) {
                    p(GetProgress::Total(total));
                }
                node.get_with_progress(path, target, &mut |n| p(GetProgress::Bytes(n)))
            }
        }
    }

    fn get_tar(&self, path: &str, out: &mut dyn Write) -> anyhow::Result<()> {
        let name = default_name(path)?;
        self.node().get_tar(path, &name, out)
    }

    fn ls(&self, path: &str) -> anyhow::Result<Vec<Entry>> {
        self.node().ls(path)
    }

    fn refs_formatted(
        &self,
        paths: &[String],
        opts: &RefsOptions,
        emit: &mut dyn FnMut(String) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let node = self.node();
        for p in paths {
            let root = node.resolve_arg(p)?;
            node.refs_edges(&root, opts.max_depth, opts.unique, &mut |e| {
                emit(opts.line(e))
            })?;
        }
        Ok(())
    }

    fn refs_local(&self, emit: &mut dyn FnMut(Cid) -> anyhow::Result<()>) -> anyhow::Result<()> {
        self.node().refs_local(&mut |c| emit(*c))
    }

    fn resolve(&self, path: &str) -> anyhow::Result<Cid> {
        self.node().resolve_path(path)
    }
}

/// Kubo's `refs` options beyond `-r`/`-u`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefsOptions {
    /// `-r`: walk below the direct links.
    pub recursive: bool,
    /// `-u`: each target once.
    pub unique: bool,
    /// `--max-depth` with `-r` (`None`: no limit); without `-r` the depth is 1.
    pub max_depth: Option<u64>,
    /// The line for each link: `<src>`, `<dst>` and `<linkname>` replaced.
    pub format: String,
}

/// Kubo's default `refs` line.
pub const REFS_DEFAULT_FORMAT: &str = "<dst>";
/// The `refs --edges` line.
pub const REFS_EDGES_FORMAT: &str = "<src> -> <dst>";

impl RefsOptions {
    /// Kubo's rules: `--edges` is the format `<src> -> <dst>` and excludes
    /// `--format`; a negative `--max-depth` means no limit; without `-r` only
    /// the direct links.
    pub fn new(
        recursive: bool,
        unique: bool,
        edges: bool,
        format: Option<String>,
        max_depth: Option<i64>,
    ) -> anyhow::Result<RefsOptions> {
        let format = match (edges, format) {
            (true, Some(f)) if f != REFS_DEFAULT_FORMAT => {
                bail!("using format argument with edges is not allowed")
            }
            (true, _) => REFS_EDGES_FORMAT.to_string(),
            (false, f) => f.unwrap_or_else(|| REFS_DEFAULT_FORMAT.to_string()),
        };
        let max_depth = match (recursive, max_depth) {
            (false, _) => Some(1),
            (true, Some(d)) if d >= 0 => Some(d as u64),
            (true, _) => None,
        };
        Ok(RefsOptions {
            recursive,
            unique,
            max_depth,
            format,
        })
    }

    /// The line for one link.
    pub fn line(&self, e: &acorn_storage::dag::RefEdge) -> String {
        self.format
            .replace("<src>", &e.src.to_string())
            .replace("<dst>", &e.dst.to_string())
            .replace("<linkname>", &e.name)
    }
}

/// The `{"Ref","Err"}` lines of `refs/local`.
fn refs_lines(
    resp: super::client::Response,
    emit: &mut dyn FnMut(Cid) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    resp.ndjson(&mut |v| {
        if let Some(e) = v["Err"].as_str().filter(|e| !e.is_empty()) {
            bail!("{e}");
        }
        emit(cid_field(&v, "Ref")?)
    })
}

/// Kubo's UnixFS type code of an `ls` link, back to a kind (raw leaves come back
/// as files, which is how `ls` shows them).
pub fn kind_of_type_code(code: u64) -> EntryKind {
    match code {
        1 | 5 => EntryKind::Directory,
        2 => EntryKind::File,
        4 => EntryKind::Symlink,
        _ => EntryKind::Other,
    }
}

impl Content for Remote {
    fn add(
        &self,
        input: AddInput<'_>,
        opts: &AddOptions,
        emit: &mut dyn FnMut(AddEvent) -> anyhow::Result<()>,
    ) -> anyhow::Result<Cid> {
        let AddInput::Paths { paths, recursive } = input else {
            bail!("a streamed add cannot be forwarded to a daemon");
        };
        let o = &opts.import;
        // As offline: stdin has no file the daemon could reference.
        if o.nocopy && paths.is_empty() {
            bail!(crate::core::NOCOPY_NEEDS_PATHS);
        }
        let body = MultipartBody::for_add(paths, recursive, o.hidden)?;
        let mut q: Vec<(&str, String)> = vec![
            ("pin", opts.pin.to_string()),
            ("cid-version", o.cid_version.to_string()),
            ("raw-leaves", o.raw_leaves.to_string()),
            ("chunker", format!("size-{}", o.chunk_size)),
        ];
        if let Some(limit) = o.inline_limit {
            q.push(("inline", "true".into()));
            q.push(("inline-limit", limit.to_string()));
        }
        for (name, on) in [
            ("trickle", o.layout == importer::Layout::Trickle),
            ("wrap-with-directory", o.wrap_with_directory),
            ("only-hash", opts.only_hash),
            // Each file goes with its Abspath; the daemon refuses paths outside
            // Filestore.AllowedRoots (never a silent copy).
            ("nocopy", o.nocopy),
            ("progress", opts.progress),
        ] {
            if on {
                q.push((name, "true".into()));
            }
        }
        let resp = self.client().post(
            "add",
            &q,
            Some(RequestBody {
                content_type: body.content_type(),
                reader: Box::new(body),
            }),
        )?;
        let mut root = None;
        resp.ndjson(&mut |v| {
            let name = v["Name"].as_str().unwrap_or_default().to_string();
            if v.get("Hash").is_none() {
                return match v["Bytes"].as_u64() {
                    Some(bytes) => emit(AddEvent::Progress { name, bytes }),
                    None => Ok(()),
                };
            }
            let cid = cid_field(&v, "Hash")?;
            let size = match &v["Size"] {
                Value::String(s) => s.parse().ok(),
                other => other.as_u64(),
            }
            .with_context(|| format!("bad Size from the daemon: {v}"))?;
            root = Some(cid);
            emit(AddEvent::Added { name, cid, size })
        })?;
        root.context("nothing to add")
    }

    fn cat(
        &self,
        paths: &[String],
        offset: u64,
        length: Option<u64>,
        out: &mut dyn Write,
    ) -> anyhow::Result<()> {
        let mut q = args(paths);
        if offset > 0 {
            q.push(("offset", offset.to_string()));
        }
        if let Some(l) = length {
            q.push(("length", l.to_string()));
        }
        let mut resp = self.client().post("cat", &q, None)?;
        io::copy(&mut resp, out)?;
        resp.finish()
    }

    fn get(
        &self,
        path: &str,
        target: &Path,
        progress: Option<&mut dyn FnMut(GetProgress)>,
    ) -> anyhow::Result<()> {
        let resp = self
            .client()
            .post("get", &[("arg", path.to_string())], None)?;
        let mut counted = Counted {
            inner: resp,
            progress,
        };
        unpack_tar(&mut counted, target)?;
        counted.inner.finish()
    }

    fn get_tar(&self, path: &str, out: &mut dyn Write) -> anyhow::Result<()> {
        let mut resp = self
            .client()
            .post("get", &[("arg", path.to_string())], None)?;
        io::copy(&mut resp, out)?;
        resp.finish()
    }

    fn ls(&self, path: &str) -> anyhow::Result<Vec<Entry>> {
        let v = self.client().json("ls", &[("arg", path.to_string())])?;
        let links = v["Objects"][0]["Links"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        links
            .iter()
            .map(|l| {
                Ok(Entry {
                    name: l["Name"].as_str().unwrap_or_default().to_string(),
                    cid: cid_field(l, "Hash")?,
                    size: l["Size"].as_u64().unwrap_or(0),
                    kind: kind_of_type_code(l["Type"].as_u64().unwrap_or(0)),
                })
            })
            .collect()
    }

    fn refs_formatted(
        &self,
        paths: &[String],
        opts: &RefsOptions,
        emit: &mut dyn FnMut(String) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let mut q = args(paths);
        q.push(("recursive", opts.recursive.to_string()));
        q.push(("unique", opts.unique.to_string()));
        q.push(("format", opts.format.clone()));
        if opts.recursive {
            let depth = opts.max_depth.map_or(-1, |d| d as i64);
            q.push(("max-depth", depth.to_string()));
        }
        self.client().post("refs", &q, None)?.ndjson(&mut |v| {
            if let Some(e) = v["Err"].as_str().filter(|e| !e.is_empty()) {
                bail!("{e}");
            }
            match v["Ref"].as_str() {
                Some(r) => emit(r.to_string()),
                None => bail!("the daemon's refs line lacks \"Ref\": {v}"),
            }
        })
    }

    fn refs_local(&self, emit: &mut dyn FnMut(Cid) -> anyhow::Result<()>) -> anyhow::Result<()> {
        refs_lines(self.client().post("refs/local", &[], None)?, emit)
    }

    fn resolve(&self, path: &str) -> anyhow::Result<Cid> {
        let v = self
            .client()
            .json("resolve", &[("arg", path.to_string())])?;
        let p = v["Path"]
            .as_str()
            .with_context(|| format!("the daemon's answer lacks \"Path\": {v}"))?;
        let c = p
            .strip_prefix("/ipfs/")
            .with_context(|| format!("the daemon resolved to {p:?}, not an /ipfs/ path"))?;
        cids::parse(c).with_context(|| format!("bad CID {c:?} from the daemon"))
    }
}

/// Reports the bytes read through it.
struct Counted<'p, R> {
    inner: R,
    progress: Option<&'p mut dyn FnMut(GetProgress)>,
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(out)?;
        if let Some(p) = self.progress.as_mut() {
            p(GetProgress::Bytes(n as u64));
        }
        Ok(n)
    }
}

/// Unpacks a daemon's `get` tar under `target`: the archive's first path
/// component is replaced by `target`. Only plain relative paths are accepted, and
/// nothing is written through a symlink.
pub fn unpack_tar(r: &mut dyn Read, target: &Path) -> anyhow::Result<()> {
    use std::path::Component;
    let mut archive = tar::Archive::new(r);
    for entry in archive.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.into_owned();
        let mut parts = path.components();
        anyhow::ensure!(
            matches!(parts.next(), Some(Component::Normal(_))),
            "bad path {} in the daemon's archive",
            path.display()
        );
        let mut dest = target.to_path_buf();
        for c in parts {
            match c {
                Component::Normal(n) => {
                    anyhow::ensure!(
                        !dest
                            .symlink_metadata()
                            .is_ok_and(|m| m.file_type().is_symlink()),
                        "refusing to write through the symlink {}",
                        dest.display()
                    );
                    dest.push(n);
                }
                _ => bail!("bad path {} in the daemon's archive", path.display()),
            }
        }
        // Each name once: a second entry of one path never replaces the first.
        anyhow::ensure!(
            dest.symlink_metadata().is_err(),
            "{} is in the daemon's archive twice",
            path.display()
        );
        entry.set_preserve_permissions(false);
        entry.set_preserve_mtime(false);
        entry
            .unpack(&dest)
            .with_context(|| format!("writing {}", dest.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_names_and_type_codes() {
        let c = "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o";
        assert_eq!(default_name(c).unwrap(), c);
        assert_eq!(
            default_name(&format!("/ipfs/{c}/a/b.txt")).unwrap(),
            "b.txt"
        );
        assert_eq!(default_name(&format!("{c}/dir/")).unwrap(), "dir");
        assert!(default_name("QmNotACid").is_err());
        assert_eq!(kind_of_type_code(1), EntryKind::Directory);
        assert_eq!(kind_of_type_code(2), EntryKind::File);
        assert_eq!(kind_of_type_code(4), EntryKind::Symlink);
        assert_eq!(kind_of_type_code(0), EntryKind::Other);
    }

    /// A tar with `..` or an absolute path is refused before anything is written.
    #[test]
    fn unpack_refuses_escaping_paths() {
        let dir = tempfile::tempdir().unwrap();
        for bad in ["top/../../escape", "/abs"] {
            let mut b = tar::Builder::new(Vec::new());
            let mut h = tar::Header::new_gnu();
            h.set_size(1);
            h.set_mode(0o644);
            h.set_entry_type(tar::EntryType::Regular);
            // `append_data` refuses `..`; write the name into the header directly.
            let name = h.as_gnu_mut().unwrap();
            name.name[..bad.len()].copy_from_slice(bad.as_bytes());
            h.set_cksum();
            b.append(&h, &b"x"[..]).unwrap();
            let bytes = b.into_inner().unwrap();
            let target = dir.path().join("t");
            let e = unpack_tar(&mut &bytes[..], &target).unwrap_err();
            assert!(format!("{e:#}").contains("bad path"), "{bad}: {e:#}");
            assert!(!dir.path().join("escape").exists());
        }
    }

    /// A tar naming one path twice fails; the first file is never overwritten.
    #[test]
    fn unpack_refuses_a_path_twice() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = tar::Builder::new(Vec::new());
        let mut add = |path: &str, kind, data: &[u8]| {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_entry_type(kind);
            b.append_data(&mut h, path, data).unwrap();
        };
        add("top", tar::EntryType::Directory, b"");
        add("top/x", tar::EntryType::Regular, b"first");
        add("top/x", tar::EntryType::Regular, b"second");
        let bytes = b.into_inner().unwrap();
        let target = dir.path().join("t");
        let e = unpack_tar(&mut &bytes[..], &target).unwrap_err();
        assert!(
            format!("{e:#}").contains("top/x is in the daemon's archive twice"),
            "{e:#}"
        );
        assert_eq!(std::fs::read(target.join("x")).unwrap(), b"first");
    }

    /// Streamed entries report progress per step and at each entry's end, named.
    #[test]
    fn streamed_progress_is_per_entry() {
        struct Two {
            at: usize,
            data: io::Cursor<Vec<u8>>,
        }
        impl Read for Two {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                self.data.read(out)
            }
        }
        impl AddSource for Two {
            fn next_entry(&mut self) -> io::Result<Option<AddEntry>> {
                self.at += 1;
                let len = match self.at {
                    1 => PROGRESS_STEP_BYTES as usize * 2 + 5,
                    2 => 3,
                    _ => return Ok(None),
                };
                self.data = io::Cursor::new(vec![7u8; len]);
                Ok(Some(AddEntry {
                    path: Some(format!("f{}", self.at)),
                    kind: core::AddEntryKind::File,
                    abspath: None,
                }))
            }
        }
        let mut src = Two {
            at: 0,
            data: io::Cursor::new(Vec::new()),
        };
        let opts = AddOptions {
            import: importer::Options::default(),
            pin: false,
            only_hash: true,
            progress: true,
        };
        let mut events = Vec::new();
        let root = add_unstored(AddInput::Entries(&mut src), &opts, &mut |e| {
            events.push(e);
            Ok(())
        })
        .unwrap();
        let progress: Vec<(String, u64)> = events
            .iter()
            .filter_map(|e| match e {
                AddEvent::Progress { name, bytes } => Some((name.clone(), *bytes)),
                AddEvent::Added { .. } => None,
            })
            .collect();
        // f1: about one event per step (reads need not end on a step), its total
        // last; f2: one event at its end.
        let f1: Vec<u64> = progress
            .iter()
            .filter(|(n, _)| n == "f1")
            .map(|(_, b)| *b)
            .collect();
        assert!(f1.windows(2).all(|w| w[0] < w[1]), "{f1:?}");
        assert_eq!(f1.last(), Some(&(2 * PROGRESS_STEP_BYTES + 5)));
        assert!((3..=4).contains(&f1.len()), "{f1:?}");
        assert_eq!(progress.last(), Some(&("f2".to_string(), 3)));
        assert_eq!(progress.len(), f1.len() + 1);
        let added: Vec<&AddEvent> = events
            .iter()
            .filter(|e| matches!(e, AddEvent::Added { .. }))
            .collect();
        assert_eq!(added.len(), 2);
        assert!(
            matches!(added[1], AddEvent::Added { name, cid, .. } if name == "f2" && *cid == root)
        );
    }
}
