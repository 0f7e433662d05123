//! `add`: files, directories and stdin into UnixFS DAGs, each entry reported
//! once its blocks are durable; `--nocopy` through the filestore.

use acorn_storage::pins;

use super::*;

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
