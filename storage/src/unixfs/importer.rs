//! Streaming UnixFS importer: `acorn add`, with Kubo's (boxo's) layouts and CIDs.
//!
//! Spec: ipfs/specs `UNIXFS.md`; layouts follow boxo `ipld/unixfs/importer`
//! (balanced and trickle builders) and directories follow boxo's `uio.Directory`
//! with HAMT sharding.
//!
//! Flow, one chunk at a time: the chunker ([`super::chunker`]: Kubo's `size-N`,
//! `rabin` or `buzhash`) cuts the next chunk from the reader; each chunk becomes a leaf (a raw block, or a dag-pb `Data{Type: File}` leaf)
//! that goes to the [`BlockSink`] at once; the layout builder keeps only the links
//! of the nodes still open (one per tree level, each ≤ `max_links` links), so memory
//! is bounded by two largest chunks `+ depth × max_links × link size`, not by the file size.
//!
//! - **Balanced** (default): boxo `balanced.Layout`; a one-chunk file is the leaf.
//! - **Trickle**: boxo `trickle.Layout` with depth repeat 4; leaves are UnixFS `Raw`
//!   when not raw blocks, and the root is always an internal node.
//! - **Directories**: links sorted by name bytes; `Data{Type: Directory}`; turned into
//!   a HAMT shard (see [`super::hamt`]) when boxo's estimate — the sum over links of
//!   name length + CID byte length — is over `shard_threshold_bytes` (262144).
//! - **Symlinks**: `Data{Type: Symlink, Data: target}`; never followed.
//! - **Inline** (Kubo's `--inline`, boxo `cidutil.InlineBuilder`): a block whose
//!   encoded bytes are at most `inline_limit` long gets a CIDv1 (same codec) with
//!   the identity multihash, so the CID carries the block; the sink is still
//!   called, and the blockstore keeps nothing for such CIDs. HAMT shard nodes are
//!   never that small (two links alone are over [`MAX_INLINE_LIMIT_BYTES`]), so
//!   they are always hashed.
//!
//! **Limits**: a `size-N` chunk ≤ [`MAX_CHUNK_BYTES`] (rabin's largest ≤
//! [`super::chunker::RABIN_MAX_BYTES`], buzhash's 512 KiB); directory nesting ≤
//! [`MAX_DIR_DEPTH`]; names must be valid UTF-8 and contain no `/` or NUL;
//! `inline_limit` ≤ [`MAX_INLINE_LIMIT_BYTES`].

use super::chunker::{Chunker, ChunkerError};
use super::hamt::{self, HamtError, ShardEntry};
use super::pb::{Data, DataType};
use crate::block::{BlockError, BlockSink};
use crate::cids;
use crate::codec::dagpb::{PbLink, PbNode};
use cid::multihash::Multihash;
use cid::Cid;
use std::io::Read;
use std::path::{Path, PathBuf};

mod file;
use file::{ChunkReader, FileBuilder};

/// Kubo's default chunk size, in bytes.
pub const DEFAULT_CHUNK_BYTES: usize = 262_144;
/// Largest chunk accepted: a leaf plus its framing must fit a 2 MiB block.
pub const MAX_CHUNK_BYTES: usize = crate::block::MAX_BLOCK_BYTES - 1024;
/// Kubo's links per internal file node.
pub const DEFAULT_MAX_LINKS: usize = 174;
/// Kubo's `HAMTShardingSize`, in bytes of estimated directory block.
pub const DEFAULT_SHARD_THRESHOLD_BYTES: usize = 262_144;
/// Deepest directory tree `add -r` walks.
pub const MAX_DIR_DEPTH: usize = 256;
/// Trickle layout: layers repeated per depth (boxo `depthRepeat`).
pub const TRICKLE_DEPTH_REPEAT: usize = 4;
/// Kubo's `--inline-limit` default, in bytes of encoded block.
pub const DEFAULT_INLINE_LIMIT_BYTES: usize = 32;
/// Largest `--inline-limit`: an identity multihash holds the whole block, and a
/// CID's multihash digest is at most 64 bytes here (`cid::Cid` = `CidGeneric<64>`).
pub const MAX_INLINE_LIMIT_BYTES: usize = 64;

/// File DAG layouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Layout {
    /// boxo's balanced layout (Kubo's default).
    #[default]
    Balanced,
    /// boxo's trickle layout (`--trickle`).
    Trickle,
}

/// Import options; `Default` is Kubo's `ipfs add`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// How the file is cut into leaves (`--chunker`).
    pub chunker: Chunker,
    /// Balanced or trickle.
    pub layout: Layout,
    /// CID version of dag-pb nodes (raw leaves are always CIDv1).
    pub cid_version: u8,
    /// Leaves as raw blocks instead of dag-pb `File` nodes.
    pub raw_leaves: bool,
    /// Links per internal file node.
    pub max_links: usize,
    /// A directory is sharded when its estimated block is over this many bytes.
    pub shard_threshold_bytes: usize,
    /// Wraps the added file or directory in a directory of its own (`-w`).
    pub wrap_with_directory: bool,
    /// Include names starting with `.` when walking directories (Kubo's `-H`).
    pub hidden: bool,
    /// `--nocopy`: the caller imports into a [`crate::filestore::NocopySink`], which
    /// records raw leaves as references to the file. The importer itself only
    /// reports file offsets ([`BlockSink::put_leaf`]); `--nocopy` implies raw leaves.
    pub nocopy: bool,
    /// `--inline`: blocks of at most this many encoded bytes get identity CIDs
    /// (`None`: every block is hashed, Kubo's default).
    pub inline_limit: Option<usize>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            chunker: Chunker::Size(DEFAULT_CHUNK_BYTES),
            layout: Layout::Balanced,
            cid_version: 0,
            raw_leaves: false,
            max_links: DEFAULT_MAX_LINKS,
            shard_threshold_bytes: DEFAULT_SHARD_THRESHOLD_BYTES,
            wrap_with_directory: false,
            hidden: false,
            nocopy: false,
            inline_limit: None,
        }
    }
}

impl Options {
    /// Kubo's rule: `--cid-version 1` implies raw leaves unless raw leaves were set
    /// explicitly. `raw_leaves` is the explicit choice, if any.
    pub fn with_cid_version(mut self, version: u8, raw_leaves: Option<bool>) -> Self {
        self.cid_version = version;
        self.raw_leaves = raw_leaves.unwrap_or(version == 1);
        self
    }

    /// The CID of an encoded block under `codec`, as boxo's CID builders make it:
    /// identity multihash (CIDv1) when inlining and the block is small enough; else
    /// sha2-256, CIDv0 only for dag-pb with `cid_version` 0 (raw is always CIDv1).
    pub fn cid(&self, codec: u64, bytes: &[u8]) -> Cid {
        if let Some(limit) = self.inline_limit {
            if bytes.len() <= limit.min(MAX_INLINE_LIMIT_BYTES) {
                // Fits: the length was just checked against the 64-byte digest size.
                let mh = Multihash::wrap(cids::IDENTITY, bytes).expect("≤ 64 bytes");
                return Cid::new_v1(codec, mh);
            }
        }
        cids::cid_of(self.cid_version, codec, bytes)
    }
}

/// Errors of importing.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// A file could not be read.
    #[error("reading {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A `--chunker` that is not one of Kubo's, or out of range.
    #[error(transparent)]
    BadChunker(#[from] ChunkerError),
    /// Options that do not go together or are out of range; the text says which.
    #[error("invalid option: {0}")]
    BadOption(String),
    /// A name that UnixFS cannot hold.
    #[error("cannot add {path}: name is not valid UTF-8 or contains '/' or NUL")]
    NameInvalid {
        /// The path.
        path: PathBuf,
    },
    /// A directory given without `-r`.
    #[error("{path} is a directory, use the '-r' flag to specify directories")]
    IsDirectory {
        /// The path.
        path: PathBuf,
    },
    /// A device, socket or FIFO.
    #[error("{path}: unsupported file type (not a file, directory or symlink)")]
    Unsupported {
        /// The path.
        path: PathBuf,
    },
    /// A tree deeper than [`MAX_DIR_DEPTH`].
    #[error("directory tree under {path} is deeper than {MAX_DIR_DEPTH} levels")]
    TooDeep {
        /// The directory at the limit.
        path: PathBuf,
    },
    /// The sink failed.
    #[error(transparent)]
    Block(#[from] BlockError),
    /// A directory could not be sharded.
    #[error(transparent)]
    Hamt(#[from] HamtError),
}

/// Parses Kubo's `--chunker`: `size-N` (1 ≤ N ≤ [`MAX_CHUNK_BYTES`]), `rabin`,
/// `rabin-AVG`, `rabin-MIN-AVG-MAX` or `buzhash`.
pub fn parse_chunker(s: &str) -> Result<Chunker, ImportError> {
    Ok(Chunker::parse(s, MAX_CHUNK_BYTES)?)
}

/// What an import produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Added {
    /// The root's CID.
    pub cid: Cid,
    /// Cumulative DAG size (the Tsize a parent link carries).
    pub size: u64,
    /// Bytes of file content (0 for directories and symlinks).
    pub file_size: u64,
}

/// Imports one file's bytes from `reader`, streaming blocks into `sink`.
pub fn add_file<S: BlockSink + ?Sized, R: Read>(
    opts: &Options,
    sink: &mut S,
    reader: R,
) -> Result<Added, ImportError> {
    add_reader(opts, &mut SinkRef(sink), reader, PathBuf::from("<input>"))
}

/// `&mut dyn` adapter so the builders take any sink.
struct SinkRef<'a, S: BlockSink + ?Sized>(&'a mut S);

impl<S: BlockSink + ?Sized> BlockSink for SinkRef<'_, S> {
    fn put(&mut self, cid: &Cid, data: &[u8]) -> Result<(), BlockError> {
        self.0.put(cid, data)
    }
    fn begin_file(&mut self, path: &Path) -> Result<(), BlockError> {
        self.0.begin_file(path)
    }
    fn put_leaf(&mut self, cid: &Cid, data: &[u8], offset: u64) -> Result<(), BlockError> {
        self.0.put_leaf(cid, data, offset)
    }
    fn end_file(&mut self) -> Result<(), BlockError> {
        self.0.end_file()
    }
    fn flush(&mut self) -> Result<(), BlockError> {
        self.0.flush()
    }
}

fn check_opts(opts: &Options) -> Result<(), ImportError> {
    // A chunker built in code passes the same checks as one parsed from text.
    parse_chunker(&opts.chunker.to_string())?;
    if opts.max_links < 2 {
        return Err(ImportError::BadOption(
            "max_links must be at least 2".into(),
        ));
    }
    if opts.cid_version > 1 {
        return Err(ImportError::BadOption(format!(
            "unknown CID version {}",
            opts.cid_version
        )));
    }
    if let Some(limit) = opts.inline_limit {
        if limit > MAX_INLINE_LIMIT_BYTES {
            return Err(ImportError::BadOption(format!(
                "inline limit {limit} is over the maximum of {MAX_INLINE_LIMIT_BYTES} bytes"
            )));
        }
    }
    Ok(())
}

fn add_reader<R: Read>(
    opts: &Options,
    sink: &mut dyn BlockSink,
    reader: R,
    path: PathBuf,
) -> Result<Added, ImportError> {
    check_opts(opts)?;
    let mut b = FileBuilder {
        opts,
        sink,
        chunker: ChunkReader::new(reader, opts.chunker, path),
        pending: false,
    };
    let c = match opts.layout {
        Layout::Balanced => b.balanced()?,
        Layout::Trickle => b.trickle()?,
    };
    Ok(Added {
        cid: c.cid,
        size: c.tsize,
        file_size: c.file_size,
    })
}

/// A directory entry built so far.
struct DirEntry {
    name: String,
    added: Added,
}

/// Builds a directory node (plain or sharded) from its entries.
fn build_directory(
    opts: &Options,
    sink: &mut dyn BlockSink,
    mut entries: Vec<DirEntry>,
) -> Result<Added, ImportError> {
    entries.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
    let estimate: usize = entries
        .iter()
        .map(|e| e.name.len() + e.added.cid.encoded_len())
        .sum();
    if estimate > opts.shard_threshold_bytes {
        let shard_entries = entries
            .into_iter()
            .map(|e| ShardEntry {
                name: e.name,
                cid: e.added.cid,
                tsize: e.added.size,
            })
            .collect();
        let (cid, size) = hamt::build(shard_entries, opts.cid_version, sink)?;
        return Ok(Added {
            cid,
            size,
            file_size: 0,
        });
    }
    let links: Vec<PbLink> = entries
        .iter()
        .map(|e| PbLink {
            hash: e.added.cid,
            name: Some(e.name.clone()),
            tsize: Some(e.added.size),
        })
        .collect();
    let bytes = PbNode {
        links,
        data: Some(Data::new(DataType::Directory).encode()),
    }
    .encode();
    let cid = opts.cid(cids::DAG_PB, &bytes);
    sink.put(&cid, &bytes)?;
    let size = bytes.len() as u64 + entries.iter().map(|e| e.added.size).sum::<u64>();
    Ok(Added {
        cid,
        size,
        file_size: 0,
    })
}

/// Builds a directory from already imported entries (`name`, what it is), for
/// callers that walk a tree themselves (the RPC API's multipart `add`). Names are
/// checked as [`add_path`] checks them; the entries are sorted here.
pub fn add_directory<S: BlockSink + ?Sized>(
    opts: &Options,
    sink: &mut S,
    entries: Vec<(String, Added)>,
) -> Result<Added, ImportError> {
    check_opts(opts)?;
    let mut dir = Vec::with_capacity(entries.len());
    for (name, added) in entries {
        if name.is_empty() || name.contains('/') || name.contains('\0') {
            return Err(ImportError::NameInvalid { path: name.into() });
        }
        dir.push(DirEntry { name, added });
    }
    build_directory(opts, &mut SinkRef(sink), dir)
}

/// Imports a symlink pointing at `target` (never followed).
pub fn add_symlink_to<S: BlockSink + ?Sized>(
    opts: &Options,
    sink: &mut S,
    target: &[u8],
) -> Result<Added, ImportError> {
    add_symlink(opts, &mut SinkRef(sink), target)
}

fn add_symlink(
    opts: &Options,
    sink: &mut dyn BlockSink,
    target: &[u8],
) -> Result<Added, ImportError> {
    let mut d = Data::new(DataType::Symlink);
    d.data = Some(target.to_vec());
    let bytes = PbNode {
        links: vec![],
        data: Some(d.encode()),
    }
    .encode();
    let cid = opts.cid(cids::DAG_PB, &bytes);
    sink.put(&cid, &bytes)?;
    Ok(Added {
        cid,
        size: bytes.len() as u64,
        file_size: 0,
    })
}

fn entry_name(path: &Path) -> Result<String, ImportError> {
    let invalid = || ImportError::NameInvalid {
        path: path.to_path_buf(),
    };
    let name = path
        .file_name()
        .ok_or_else(invalid)?
        .to_str()
        .ok_or_else(invalid)?;
    if name.contains('\0') || name.contains('/') {
        return Err(invalid());
    }
    Ok(name.to_string())
}

/// Imports `path` (a file, a symlink, or with `recursive` a directory tree) into
/// `sink`. `on_entry` is called for every file, symlink and directory, with its
/// name as Kubo prints it (`dir/sub/file`): files and symlinks in walk order as they
/// are added, then every directory, children before parents (Kubo's `outputDirs`);
/// the root comes last. With `wrap_with_directory` the result
/// is a directory holding the entry under its base name (reported with name "").
pub fn add_path<S: BlockSink + ?Sized>(
    opts: &Options,
    sink: &mut S,
    path: &Path,
    recursive: bool,
    on_entry: &mut dyn FnMut(&str, &Added),
) -> Result<Added, ImportError> {
    check_opts(opts)?;
    let mut sink = SinkRef(sink);
    let name = entry_name(path)?;
    let mut w = Walker {
        opts,
        recursive,
        on_entry,
        dirs: Vec::new(),
    };
    let added = add_any(&mut w, &mut sink, path, &name, 0)?;
    for (shown, a) in &w.dirs {
        (w.on_entry)(shown, a);
    }
    if opts.wrap_with_directory {
        let wrapped = build_directory(opts, &mut sink, vec![DirEntry { name, added }])?;
        on_entry("", &wrapped);
        return Ok(wrapped);
    }
    Ok(added)
}

/// One `add_path` walk: its options and where it reports entries.
struct Walker<'a> {
    opts: &'a Options,
    recursive: bool,
    on_entry: &'a mut dyn FnMut(&str, &Added),
    /// Directories done, in completion order, reported after the walk.
    dirs: Vec<(String, Added)>,
}

fn add_any(
    w: &mut Walker<'_>,
    sink: &mut dyn BlockSink,
    path: &Path,
    display: &str,
    depth: usize,
) -> Result<Added, ImportError> {
    let opts = w.opts;
    let io = |e| ImportError::Io {
        path: path.to_path_buf(),
        source: e,
    };
    let meta = std::fs::symlink_metadata(path).map_err(io)?;
    let ft = meta.file_type();
    if ft.is_symlink() {
        let target = std::fs::read_link(path).map_err(io)?;
        use std::os::unix::ffi::OsStrExt;
        let added = add_symlink(opts, sink, target.as_os_str().as_bytes())?;
        (w.on_entry)(display, &added);
        Ok(added)
    } else if ft.is_file() {
        let f = std::fs::File::open(path).map_err(io)?;
        sink.begin_file(path)?;
        let added = add_reader(opts, sink, f, path.to_path_buf())?;
        sink.end_file()?;
        (w.on_entry)(display, &added);
        Ok(added)
    } else if ft.is_dir() {
        if !w.recursive {
            return Err(ImportError::IsDirectory {
                path: path.to_path_buf(),
            });
        }
        if depth >= MAX_DIR_DEPTH {
            return Err(ImportError::TooDeep {
                path: path.to_path_buf(),
            });
        }
        let mut names = Vec::new();
        for e in std::fs::read_dir(path).map_err(io)? {
            let e = e.map_err(io)?;
            let child = e.path();
            let name = entry_name(&child)?;
            if !opts.hidden && name.starts_with('.') {
                continue;
            }
            names.push((name, child));
        }
        names.sort();
        // Files are reported as they are added; directories are collected in
        // completion order (children first) and reported after the whole walk.
        let mut entries = Vec::with_capacity(names.len());
        for (name, child) in names {
            let shown = format!("{display}/{name}");
            let added = add_any(w, sink, &child, &shown, depth + 1)?;
            entries.push(DirEntry { name, added });
        }
        let added = build_directory(opts, sink, entries)?;
        w.dirs.push((display.to_string(), added));
        Ok(added)
    } else {
        Err(ImportError::Unsupported {
            path: path.to_path_buf(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::{MemStore, NullSink};

    fn cid_of_bytes(opts: &Options, data: &[u8]) -> Added {
        add_file(opts, &mut NullSink, data).unwrap()
    }

    #[test]
    fn well_known_files() {
        let o = Options::default();
        assert_eq!(
            cid_of_bytes(&o, b"hello world\n").cid.to_string(),
            "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"
        );
        assert_eq!(
            cid_of_bytes(&o, b"").cid.to_string(),
            "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"
        );
    }

    #[test]
    fn cid_v1_single_chunk_is_the_raw_leaf() {
        let o = Options::default().with_cid_version(1, None);
        assert!(o.raw_leaves);
        let a = cid_of_bytes(&o, b"hello world\n");
        assert_eq!(a.cid, cids::cid_of(1, cids::RAW, b"hello world\n"));
        assert_eq!(a.size, 12);
    }

    #[test]
    fn balanced_tree_shape_and_sizes() {
        let o = Options {
            chunker: Chunker::Size(10),
            max_links: 3,
            ..Options::default()
        };
        let data: Vec<u8> = (0..95u8).collect();
        let mut store = MemStore::new();
        let a = add_file(&o, &mut store, &data[..]).unwrap();
        assert_eq!(a.file_size, 95);
        // 10 leaves, 3 links per node: depth 3 (27 ≥ 10 > 9).
        let root = PbNode::decode(
            &crate::block::BlockSource::get(&store, &a.cid)
                .unwrap()
                .unwrap(),
        )
        .unwrap();
        let d = Data::decode(root.data.as_deref().unwrap()).unwrap();
        assert_eq!(d.filesize, Some(95));
        assert_eq!(d.blocksizes.iter().sum::<u64>(), 95);
        assert_eq!(
            root.links.len(),
            2,
            "first subtree full (9 leaves), second holds the 10th"
        );
        assert_eq!(d.blocksizes, vec![90, 5]);
    }

    #[test]
    fn streaming_import_does_not_need_the_whole_file() {
        // A 64 MiB reader that is generated on the fly, into a sink that keeps nothing.
        struct Gen(u64);
        impl Read for Gen {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let n = (buf.len() as u64).min(self.0) as usize;
                buf[..n]
                    .iter_mut()
                    .enumerate()
                    .for_each(|(i, b)| *b = (i % 251) as u8);
                self.0 -= n as u64;
                Ok(n)
            }
        }
        let a = add_file(&Options::default(), &mut NullSink, Gen(64 << 20)).unwrap();
        assert_eq!(a.file_size, 64 << 20);
    }

    /// Kubo's own outputs: `echo helloworld | ipfs add --inline -q` (boxo's IPNS
    /// fixtures) and `ipfs add -q --inline --raw-leaves` of `jkD98jkD975hkD8\n`
    /// (Kubo's identity-hash sharness test).
    #[test]
    fn inline_matches_kubo() {
        let mut o = Options {
            inline_limit: Some(DEFAULT_INLINE_LIMIT_BYTES),
            ..Options::default()
        };
        let a = cid_of_bytes(&o, b"helloworld\n");
        assert_eq!(a.cid.to_string(), "bafyaaeykceeaeeqlnbswy3dpo5xxe3debimaw");
        let mut r = Options::default().with_cid_version(0, Some(true));
        r.inline_limit = Some(DEFAULT_INLINE_LIMIT_BYTES);
        let a = cid_of_bytes(&r, b"jkD98jkD975hkD8\n");
        assert_eq!(a.cid.to_string(), "bafkqaedknncdsodknncdsnzvnbvuioak");
        // Over the limit: hashed as without --inline.
        let big = vec![7u8; 100];
        assert_eq!(
            cid_of_bytes(&o, &big),
            cid_of_bytes(&Options::default(), &big)
        );
        // The limit is inclusive: a 13-byte block inlines at 13, not at 12.
        o.inline_limit = Some(13);
        assert_eq!(cid_of_bytes(&o, b"hello").cid.hash().code(), cids::IDENTITY);
        o.inline_limit = Some(12);
        assert_eq!(cid_of_bytes(&o, b"hello").cid.hash().code(), cids::SHA2_256);
        o.inline_limit = Some(MAX_INLINE_LIMIT_BYTES + 1);
        assert!(matches!(
            add_file(&o, &mut NullSink, &b"x"[..]),
            Err(ImportError::BadOption(_))
        ));
    }

    #[test]
    fn chunker_parsing() {
        assert_eq!(parse_chunker("size-1024").unwrap(), Chunker::Size(1024));
        assert!(parse_chunker("size-0").is_err());
        assert_eq!(parse_chunker("buzhash").unwrap(), Chunker::Buzhash);
        assert!(parse_chunker("rabin-8-16-32").is_err());
        assert!(parse_chunker(&format!("size-{}", MAX_CHUNK_BYTES + 1)).is_err());
        // A chunker built in code is checked as if parsed.
        for chunker in [
            Chunker::Size(0),
            Chunker::Rabin {
                min: 64,
                avg: 32,
                max: 128,
            },
        ] {
            let o = Options {
                chunker,
                ..Options::default()
            };
            let r = add_file(&o, &mut MemStore::new(), &b"data"[..]);
            assert!(matches!(r, Err(ImportError::BadChunker(_))), "{chunker}");
        }
    }

    #[test]
    fn content_defined_chunks_become_the_leaves() {
        use crate::unixfs::chunker::Splitter;
        let data = acorn_tools::rng::Rng::new(5).bytes(3 << 20);
        for chunker in [Chunker::Buzhash, parse_chunker("rabin").unwrap()] {
            let mut cuts = Vec::new();
            let (mut s, mut buf) = (Splitter::new(&data[..], chunker), Vec::new());
            while s.next_into(&mut buf).unwrap() {
                cuts.push(buf.len() as u64);
            }
            assert!(cuts.len() > 3, "{chunker}: {cuts:?}");
            let o = Options {
                chunker,
                ..Options::default()
            };
            let mut store = MemStore::new();
            let a = add_file(&o, &mut store, &data[..]).unwrap();
            assert_eq!(a.file_size, data.len() as u64);
            let root = crate::block::BlockSource::get(&store, &a.cid).unwrap();
            let root = PbNode::decode(&root.unwrap()).unwrap();
            let d = Data::decode(root.data.as_deref().unwrap()).unwrap();
            assert_eq!(d.blocksizes, cuts, "{chunker}");
            // Unlike size-N, the leaves differ from the fixed-size import's.
            let fixed = add_file(&Options::default(), &mut MemStore::new(), &data[..]);
            assert_ne!(fixed.unwrap().cid, a.cid);
        }
    }

    #[test]
    fn empty_directory_is_well_known() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("empty");
        std::fs::create_dir(&p).unwrap();
        let a = add_path(&Options::default(), &mut NullSink, &p, true, &mut |_, _| {}).unwrap();
        assert_eq!(
            a.cid.to_string(),
            "QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn"
        );
        assert!(matches!(
            add_path(
                &Options::default(),
                &mut NullSink,
                &p,
                false,
                &mut |_, _| {}
            ),
            Err(ImportError::IsDirectory { .. })
        ));
    }
}
