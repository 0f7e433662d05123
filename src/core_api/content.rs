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
//! **Limits.** Progress events: at most one per [`PROGRESS_STEP_BYTES`](super::add::PROGRESS_STEP_BYTES) of an
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

use std::io::{self, Read, Write};
use std::path::Path;

use acorn_storage::cids;
use acorn_storage::unixfs::exporter::{self, Entry};
pub use acorn_storage::unixfs::exporter::{parse_ipfs_path, EntryKind};
pub use acorn_storage::unixfs::importer;
use cid::Cid;
use serde_json::Value;

pub use super::add::{add_unstored, AddEvent, AddInput, AddOptions};
use super::answer::{args, cid_field};
use super::client::{MultipartBody, RequestBody};
use super::error::{bail, ensure, Context as _, Result};
use super::{Local, Remote};
pub use crate::core::{AddEntry, AddEntryKind, AddSource};

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
        emit: &mut dyn FnMut(AddEvent) -> Result<()>,
    ) -> Result<Cid>;

    /// `cat`: the files at `paths`, concatenated, from `offset`, at most `length`
    /// bytes (offset and length apply to the concatenation, as Kubo).
    fn cat(
        &self,
        paths: &[String],
        offset: u64,
        length: Option<u64>,
        out: &mut dyn Write,
    ) -> Result<()>;

    /// `get`: writes what `path` names to `target` on this machine (which must not
    /// exist). `progress`, when given, hears the total size (when known) and the
    /// bytes read.
    fn get(
        &self,
        path: &str,
        target: &Path,
        progress: Option<&mut dyn FnMut(GetProgress)>,
    ) -> Result<()>;

    /// `get` as a tar stream (Kubo's RPC answer): what `path` names, under
    /// [`default_name`]`(path)`.
    fn get_tar(&self, path: &str, out: &mut dyn Write) -> Result<()>;

    /// `ls`: the links of the directory (or the chunks of the file) at `path`.
    fn ls(&self, path: &str) -> Result<Vec<Entry>>;

    /// `refs [-r] [-u] [--format/--edges/--max-depth]`: each link under each of
    /// `paths` as the line Kubo prints for it ([`RefsOptions::line`]).
    fn refs_formatted(
        &self,
        paths: &[String],
        opts: &RefsOptions,
        emit: &mut dyn FnMut(String) -> Result<()>,
    ) -> Result<()>;

    /// `refs local`: every stored block, as a raw CIDv1 of its multihash.
    fn refs_local(&self, emit: &mut dyn FnMut(Cid) -> Result<()>) -> Result<()>;

    /// `resolve`: the CID that `/ipfs/<cid>[/path]` (or `<cid>[/path]`) names.
    fn resolve(&self, path: &str) -> Result<Cid>;
}

/// The name `get` gives what `path` names: its last path segment, else its CID.
pub fn default_name(path: &str) -> Result<String> {
    let (cid, rest) = exporter::parse_ipfs_path(path)?;
    Ok(rest
        .rsplit('/')
        .find(|s| !s.is_empty())
        .map_or_else(|| cid.to_string(), str::to_string))
}

impl Local {
    /// What `path` names: its CID, its kind, and for a file its content size (the
    /// gateway's first step; one fetch session for the whole walk).
    pub fn stat(&self, path: &str) -> Result<PathStat> {
        let (cid, kind, size) = self.node().resolve_kind(path)?;
        Ok(PathStat { cid, kind, size })
    }
}

impl Content for Local {
    fn add(
        &self,
        input: AddInput<'_>,
        opts: &AddOptions,
        emit: &mut dyn FnMut(AddEvent) -> Result<()>,
    ) -> Result<Cid> {
        super::add::add_with(Some(self.node()), self.net_opt(), input, opts, emit)
    }

    fn cat(
        &self,
        paths: &[String],
        offset: u64,
        length: Option<u64>,
        out: &mut dyn Write,
    ) -> Result<()> {
        self.node().cat_many(paths, offset, length, out)?;
        Ok(())
    }

    fn get(
        &self,
        path: &str,
        target: &Path,
        progress: Option<&mut dyn FnMut(GetProgress)>,
    ) -> Result<()> {
        let node = self.node();
        match progress {
            None => Ok(node.get_with_progress(path, target, &mut |_| {})?),
            Some(p) => {
                // A size we cannot tell leaves the bar without a total; the get
                // itself reports what is wrong with the path.
                if let Ok(total) = node.file_size(path) {
                    p(GetProgress::Total(total));
                }
                Ok(node.get_with_progress(path, target, &mut |n| p(GetProgress::Bytes(n)))?)
            }
        }
    }

    fn get_tar(&self, path: &str, out: &mut dyn Write) -> Result<()> {
        let name = default_name(path)?;
        Ok(self.node().get_tar(path, &name, out)?)
    }

    fn ls(&self, path: &str) -> Result<Vec<Entry>> {
        Ok(self.node().ls(path)?)
    }

    fn refs_formatted(
        &self,
        paths: &[String],
        opts: &RefsOptions,
        emit: &mut dyn FnMut(String) -> Result<()>,
    ) -> Result<()> {
        let node = self.node();
        for p in paths {
            let root = node.resolve_arg(p)?;
            node.refs_edges(&root, opts.max_depth, opts.unique, &mut |e| {
                Ok(emit(opts.line(e))?)
            })?;
        }
        Ok(())
    }

    fn refs_local(&self, emit: &mut dyn FnMut(Cid) -> Result<()>) -> Result<()> {
        Ok(self.node().refs_local(&mut |c| Ok(emit(*c)?))?)
    }

    fn resolve(&self, path: &str) -> Result<Cid> {
        Ok(self.node().resolve_path(path)?)
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
    ) -> Result<RefsOptions> {
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
    emit: &mut dyn FnMut(Cid) -> Result<()>,
) -> Result<()> {
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
        emit: &mut dyn FnMut(AddEvent) -> Result<()>,
    ) -> Result<Cid> {
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
            ("chunker", o.chunker.to_string()),
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
    ) -> Result<()> {
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
    ) -> Result<()> {
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

    fn get_tar(&self, path: &str, out: &mut dyn Write) -> Result<()> {
        let mut resp = self
            .client()
            .post("get", &[("arg", path.to_string())], None)?;
        io::copy(&mut resp, out)?;
        resp.finish()
    }

    fn ls(&self, path: &str) -> Result<Vec<Entry>> {
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
        emit: &mut dyn FnMut(String) -> Result<()>,
    ) -> Result<()> {
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

    fn refs_local(&self, emit: &mut dyn FnMut(Cid) -> Result<()>) -> Result<()> {
        refs_lines(self.client().post("refs/local", &[], None)?, emit)
    }

    fn resolve(&self, path: &str) -> Result<Cid> {
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
pub fn unpack_tar(r: &mut dyn Read, target: &Path) -> Result<()> {
    use std::path::Component;
    let mut archive = tar::Archive::new(r);
    for entry in archive.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.into_owned();
        let mut parts = path.components();
        ensure!(
            matches!(parts.next(), Some(Component::Normal(_))),
            "bad path {} in the daemon's archive",
            path.display()
        );
        let mut dest = target.to_path_buf();
        for c in parts {
            match c {
                Component::Normal(n) => {
                    ensure!(
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
        ensure!(
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
}
