//! UnixFS export: `cat` (with offset/length), `get` (files, directories, symlinks,
//! HAMT shards; never outside the target), `ls` and path resolution.
//!
//! Spec: ipfs/specs `UNIXFS.md` (file DAGs, directories, symlinks, HAMT shards) and
//! Kubo's (boxo's) reading behaviour for what the spec leaves open.
//!
//! Flow:
//! - [`cat`] walks a file DAG depth-first with an explicit stack. Each node's children
//!   cover consecutive byte ranges given by its `blocksizes`; children whose range
//!   lies wholly before `offset` or after `offset + length` are skipped **without
//!   being fetched**. Bytes are written block by block: memory is one block plus
//!   the stack, whatever the file size. Works for raw leaves, dag-pb leaves,
//!   identity CIDs and any layout (balanced, trickle) since only `blocksizes` matter.
//! - [`ls`] lists a directory (plain or HAMT, read transparently) or a file's chunk
//!   links, resolving each child as Kubo's `ipfs ls` does (see [`Entry::size`]).
//! - [`resolve_path`] follows `a/b/c` through plain directories (link names),
//!   HAMT shards and plain dag-pb nodes.
//! - [`get`] first walks the whole tree without writing to validate every name,
//!   then walks again and creates entries with exclusive creation only.
//!
//! HAMT shards are listed by **scanning links**: a link named by exactly the padded
//! hex index (2 uppercase hex digits for fanout 256) is a sub-shard, a longer name
//! is an entry (`<index><name>`). Path lookups ([`resolve_path`]) hash the name
//! (murmur3-x64-64, `unixfs::hamt`) and follow one link per level, reading only the
//! shards on the name's path; a miss falls back to the exact scan.
//!
//! Validation while reading: each block is at most [`MAX_BLOCK_BYTES`]; a file node's
//! `blocksizes` count must equal its links count; a child's actual size (raw length,
//! or inline data + sum of its blocksizes) must equal the size its parent claims;
//! `filesize`, when present, must equal inline data + sum of blocksizes; HAMT nodes
//! must have hash type murmur3-x64-64, a power-of-two fanout, sorted uppercase-hex
//! prefixes below the fanout, and a bitfield whose set bits are exactly the links.
//! Blocks are not re-hashed here: the blockstore verifies on write (as Kubo with
//! `HashOnRead=false`).
//!
//! Limits:
//! - [`MAX_DEPTH`] levels of DAG (file trees, shard nesting, directory nesting in
//!   `get`); deeper DAGs fail with [`ExportError::TooDeep`].
//! - [`HAMT_MAX_FANOUT`] children per HAMT node.
//! - Memory: `cat` holds one block and at most `MAX_DEPTH` × (links per node)
//!   pending child references; `ls` returns the whole listing (a directory's size).
//!
//! Departures from Kubo:
//! - `get` refuses to write into an existing target (Kubo merges), refuses unsafe
//!   names instead of sanitising them, and does not apply UnixFS mode/mtime.
//! - Listing order of HAMT shards is the shard's link order, depth-first (Kubo's
//!   parallel walk gives an unspecified order).
//! - `cat` of a symlink writes its target path (as Kubo, whose symlink is a file).

use crate::block::{BlockError, BlockSource, MAX_BLOCK_BYTES};
use crate::cids;
use crate::codec::dagpb::{PbLink, PbNode};
use crate::unixfs::hamt;
use crate::unixfs::pb::{Data, DataType};
use cid::Cid;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Deepest DAG we follow: file tree levels, nested HAMT shards, nested directories.
/// A balanced 174-wide file tree of 2^64 bytes is 8 levels deep; trickle DAGs are
/// deeper but far under this.
pub const MAX_DEPTH: usize = 1024;

/// Largest HAMT fanout we read (Kubo and Helia write 256).
pub const HAMT_MAX_FANOUT: u64 = 1024;

/// Multicodec of the only HAMT hash function UnixFS uses (murmur3-x64-64).
pub const HAMT_HASH_MURMUR3_X64_64: u64 = 0x22;

/// What a listed entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// A UnixFS file (dag-pb `File` or `Raw` type).
    File,
    /// A UnixFS directory or HAMT shard (and the legacy `Metadata` type, as Kubo).
    Directory,
    /// A UnixFS symlink.
    Symlink,
    /// A raw-codec block (a raw leaf); Kubo shows it as a file.
    Raw,
    /// Any other codec (dag-cbor, dag-json, ...): not resolved.
    Other,
}

/// One line of `ls`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Link name (HAMT index prefix stripped); empty for a file's chunk links.
    pub name: String,
    pub cid: Cid,
    /// As Kubo's `ipfs ls` (default `--size --resolve-type`, no `--cumulative`):
    /// for a dag-pb child, the child's UnixFS `filesize` (0 when absent, so 0 for
    /// directories and symlinks); for a raw child, the link's Tsize; for other
    /// codecs, 0. The CLI prints `-` and a trailing `/` for directories, as Kubo.
    pub size: u64,
    pub kind: EntryKind,
}

/// Errors of reading UnixFS. Text fields are `Box<str>` to keep the enum under
/// 128 bytes (a `Cid` alone is 96).
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// A path component has no matching link (message as Kubo's).
    #[error("no link named {name:?} under {parent}")]
    NotFound { name: Box<str>, parent: Cid },
    #[error("{cid} is not a UnixFS node: {reason}")]
    NotUnixfs { cid: Cid, reason: Box<str> },
    /// `cat` of a directory (message as Kubo's).
    #[error("this dag node is a directory")]
    IsDirectory { cid: Cid },
    #[error("malformed UnixFS node {cid}: {reason}")]
    Malformed { cid: Cid, reason: Box<str> },
    #[error("DAG deeper than {limit} levels at {cid}")]
    TooDeep { cid: Cid, limit: usize },
    #[error("offset was past the end of file ({offset} > {size})")]
    OffsetPastEnd { offset: u64, size: u64 },
    /// `get` refuses names that could escape the target or are not file names.
    #[error("refusing unsafe entry name {name:?} in directory {parent}")]
    UnsafeName { name: Box<str>, parent: Cid },
    /// A directory with two entries of one name: which would `get` keep?
    #[error("directory {parent} has more than one entry named {name:?}")]
    DuplicateName { name: Box<str>, parent: Cid },
    #[error("invalid path {path:?}: {reason}")]
    InvalidPath { path: String, reason: String },
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("writing output: {0}")]
    Output(#[source] io::Error),
    /// Boxed to keep `Result<_, ExportError>` small.
    #[error(transparent)]
    Block(Box<BlockError>),
}

impl From<BlockError> for ExportError {
    fn from(e: BlockError) -> Self {
        ExportError::Block(Box::new(e))
    }
}

fn malformed(cid: &Cid, reason: impl Into<String>) -> ExportError {
    ExportError::Malformed {
        cid: *cid,
        reason: reason.into().into(),
    }
}

fn not_unixfs(cid: &Cid, reason: impl Into<String>) -> ExportError {
    ExportError::NotUnixfs {
        cid: *cid,
        reason: reason.into().into(),
    }
}

// ---- loading and decoding -------------------------------------------------

/// Fetches a block (identity CIDs inline) and checks its size.
fn load(src: &impl BlockSource, cid: &Cid) -> Result<Vec<u8>, ExportError> {
    let bytes = src.get_required(cid)?;
    if bytes.len() > MAX_BLOCK_BYTES {
        return Err(BlockError::TooLarge {
            cid: *cid,
            len: bytes.len(),
            limit: MAX_BLOCK_BYTES,
        }
        .into());
    }
    Ok(bytes)
}

/// A decoded block as far as UnixFS cares.
enum Node {
    /// Raw codec: the bytes are file content.
    Raw(Vec<u8>),
    /// dag-pb with a UnixFS `Data` message.
    Unixfs(PbNode, Data),
    /// dag-pb without (valid) UnixFS data: only its links are meaningful.
    PlainPb(PbNode),
    /// Another codec.
    Other(u64),
}

fn decode(cid: &Cid, bytes: Vec<u8>) -> Result<Node, ExportError> {
    match cid.codec() {
        cids::RAW => Ok(Node::Raw(bytes)),
        cids::DAG_PB => {
            let pb = PbNode::decode(&bytes).map_err(|e| malformed(cid, e.to_string()))?;
            match pb.data.as_deref().map(Data::decode) {
                Some(Ok(d)) => Ok(Node::Unixfs(pb, d)),
                _ => Ok(Node::PlainPb(pb)),
            }
        }
        other => Ok(Node::Other(other)),
    }
}

fn load_node(src: &impl BlockSource, cid: &Cid) -> Result<Node, ExportError> {
    let bytes = load(src, cid)?;
    decode(cid, bytes)
}

fn codec_label(code: u64) -> String {
    cids::codec_name(code).map_or_else(|| format!("codec 0x{code:x}"), str::to_string)
}

// ---- files ---------------------------------------------------------------

/// What the node at `cid` is (as `ls` would label it).
pub fn kind(src: &impl BlockSource, cid: &Cid) -> Result<EntryKind, ExportError> {
    Ok(match load_node(src, cid)? {
        Node::Raw(_) => EntryKind::Raw,
        Node::Unixfs(_, d) => match d.kind {
            DataType::File | DataType::Raw => EntryKind::File,
            DataType::Directory | DataType::HamtShard | DataType::Metadata => EntryKind::Directory,
            DataType::Symlink => EntryKind::Symlink,
        },
        Node::PlainPb(_) | Node::Other(_) => EntryKind::Other,
    })
}

/// The content size of the file (or raw block) at `cid`; `None` for other nodes.
pub fn file_size(src: &impl BlockSource, cid: &Cid) -> Result<Option<u64>, ExportError> {
    Ok(match load_node(src, cid)? {
        Node::Raw(b) => Some(b.len() as u64),
        Node::Unixfs(_, d) if matches!(d.kind, DataType::File | DataType::Raw) => Some(
            d.filesize
                .unwrap_or_else(|| d.data.as_ref().map_or(0, |x| x.len() as u64)),
        ),
        _ => None,
    })
}

/// The file view of one node: inline bytes, then children with their sizes.
struct FilePart {
    inline: Vec<u8>,
    children: Vec<(Cid, u64)>,
    /// inline.len() + sum of children sizes.
    size: u64,
}

/// Interprets a node as (part of) a file. `root` allows a symlink (its target is the
/// content) and gives directories Kubo's error; below the root only file nodes fit.
fn file_part(cid: &Cid, node: Node, root: bool) -> Result<FilePart, ExportError> {
    let (pb, data) = match node {
        Node::Raw(bytes) => {
            let size = bytes.len() as u64;
            return Ok(FilePart {
                inline: bytes,
                children: Vec::new(),
                size,
            });
        }
        Node::Unixfs(pb, data) => (pb, data),
        Node::PlainPb(_) => return Err(not_unixfs(cid, "dag-pb node without UnixFS data")),
        Node::Other(code) => {
            return Err(not_unixfs(
                cid,
                format!("{} is not a file", codec_label(code)),
            ))
        }
    };
    match data.kind {
        DataType::File | DataType::Raw => {}
        DataType::Symlink if root => {
            if !pb.links.is_empty() {
                return Err(malformed(cid, "symlink with links"));
            }
            let inline = data.data.unwrap_or_default();
            let size = inline.len() as u64;
            return Ok(FilePart {
                inline,
                children: Vec::new(),
                size,
            });
        }
        DataType::Directory | DataType::HamtShard if root => {
            return Err(ExportError::IsDirectory { cid: *cid })
        }
        DataType::Metadata => return Err(not_unixfs(cid, "UnixFS metadata node")),
        other => return Err(malformed(cid, format!("{other:?} node inside a file"))),
    }
    if data.blocksizes.len() != pb.links.len() {
        return Err(malformed(
            cid,
            format!(
                "{} blocksizes for {} links",
                data.blocksizes.len(),
                pb.links.len()
            ),
        ));
    }
    let inline = data.data.unwrap_or_default();
    let mut size = inline.len() as u64;
    for b in &data.blocksizes {
        size = size
            .checked_add(*b)
            .ok_or_else(|| malformed(cid, "blocksizes overflow"))?;
    }
    if let Some(fs) = data.filesize {
        if fs != size {
            return Err(malformed(
                cid,
                format!("filesize {fs} but data and blocksizes add up to {size}"),
            ));
        }
    }
    let children = pb
        .links
        .iter()
        .zip(&data.blocksizes)
        .map(|(l, s)| (l.hash, *s))
        .collect();
    Ok(FilePart {
        inline,
        children,
        size,
    })
}

/// Streams the bytes `[offset, offset + length)` of the file at `cid` into `out`,
/// returning how many bytes were written. Subtrees outside the range are not
/// fetched. A directory is [`ExportError::IsDirectory`]; `offset` past the end is
/// [`ExportError::OffsetPastEnd`] (offset == size gives zero bytes).
pub fn cat(
    src: &impl BlockSource,
    cid: &Cid,
    offset: u64,
    length: Option<u64>,
    out: &mut dyn Write,
) -> Result<u64, ExportError> {
    struct Frame {
        cid: Cid,
        start: u64,
        expected: Option<u64>,
        depth: usize,
    }
    let end = length.map_or(u64::MAX, |l| offset.saturating_add(l));
    let mut stack = vec![Frame {
        cid: *cid,
        start: 0,
        expected: None,
        depth: 0,
    }];
    let mut written = 0u64;
    while let Some(f) = stack.pop() {
        if f.depth > MAX_DEPTH {
            return Err(ExportError::TooDeep {
                cid: f.cid,
                limit: MAX_DEPTH,
            });
        }
        let node = load_node(src, &f.cid)?;
        let part = file_part(&f.cid, node, f.depth == 0)?;
        match f.expected {
            Some(e) if e != part.size => {
                return Err(malformed(
                    &f.cid,
                    format!("parent says {e} bytes, node holds {}", part.size),
                ))
            }
            None if offset > part.size => {
                return Err(ExportError::OffsetPastEnd {
                    offset,
                    size: part.size,
                })
            }
            _ => {}
        }
        // Inline bytes cover [start, start + inline.len()).
        let inline_end = f.start + part.inline.len() as u64;
        let lo = offset.max(f.start);
        let hi = end.min(inline_end);
        if lo < hi {
            let s = (lo - f.start) as usize;
            let e = (hi - f.start) as usize;
            out.write_all(&part.inline[s..e])
                .map_err(ExportError::Output)?;
            written += (e - s) as u64;
        }
        // Children cover consecutive ranges after the inline bytes.
        let mut pos = inline_end;
        let first_pending = stack.len();
        for (child, size) in part.children {
            let start = pos;
            pos += size; // cannot overflow: the sum was checked in file_part
            if size > 0 && start < end && pos > offset {
                stack.push(Frame {
                    cid: child,
                    start,
                    expected: Some(size),
                    depth: f.depth + 1,
                });
            }
        }
        stack[first_pending..].reverse();
    }
    Ok(written)
}

// ---- HAMT shards ------------------------------------------------------------

/// A validated HAMT node's links, classified.
enum ShardLink {
    Entry { name: String, link: PbLink },
    SubShard(Cid),
}

/// Checks a HAMT node and classifies its links (see the module doc for the rules).
/// `fanout` is the root's fanout for sub-shards, `None` at the root.
fn shard_links(
    cid: &Cid,
    pb: PbNode,
    data: &Data,
    fanout: Option<u64>,
) -> Result<(u64, Vec<ShardLink>), ExportError> {
    if data.kind != DataType::HamtShard {
        return Err(malformed(
            cid,
            format!("{:?} node inside a HAMT", data.kind),
        ));
    }
    if data.hash_type != Some(HAMT_HASH_MURMUR3_X64_64) {
        return Err(malformed(
            cid,
            format!("unsupported HAMT hash type {:?}", data.hash_type),
        ));
    }
    let f = data
        .fanout
        .ok_or_else(|| malformed(cid, "HAMT without fanout"))?;
    if !f.is_power_of_two() || !(2..=HAMT_MAX_FANOUT).contains(&f) {
        return Err(malformed(cid, format!("bad HAMT fanout {f}")));
    }
    if let Some(root_f) = fanout {
        if f != root_f {
            return Err(malformed(
                cid,
                format!("sub-shard fanout {f} differs from {root_f}"),
            ));
        }
    }
    let pad = format!("{:X}", f - 1).len();
    // Bitfield: big-endian bytes, bit i of the integer is index i; go writes it
    // fixed-width, older writers dropped leading zero bytes, so shorter is fine.
    let bitfield = data.data.as_deref().unwrap_or_default();
    if bitfield.len() as u64 > f.div_ceil(8) {
        return Err(malformed(cid, "HAMT bitfield longer than the fanout"));
    }
    let bit = |i: u64| -> bool {
        let byte = (i / 8) as usize;
        byte < bitfield.len() && bitfield[bitfield.len() - 1 - byte] & (1 << (i % 8)) != 0
    };
    let set: u32 = bitfield.iter().map(|b| b.count_ones()).sum();
    if set as usize != pb.links.len() {
        return Err(malformed(
            cid,
            format!("HAMT bitfield has {set} bits for {} links", pb.links.len()),
        ));
    }
    let mut out = Vec::with_capacity(pb.links.len());
    let mut last: Option<u64> = None;
    for link in pb.links {
        let name = link.name.clone().unwrap_or_default();
        let prefix = name.as_bytes().get(..pad).unwrap_or_default();
        let index = if prefix.len() == pad
            && prefix
                .iter()
                .all(|c| c.is_ascii_digit() || (b'A'..=b'F').contains(c))
        {
            // All ASCII hex digits, so a valid str and a valid number below 16^pad.
            u64::from_str_radix(&name[..pad], 16).ok()
        } else {
            None
        }
        .filter(|i| *i < f)
        .ok_or_else(|| malformed(cid, format!("bad HAMT link name {name:?}")))?;
        if last.is_some_and(|l| index <= l) || !bit(index) {
            return Err(malformed(
                cid,
                format!("HAMT link {name:?} out of order or not in the bitfield"),
            ));
        }
        last = Some(index);
        if name.len() == pad {
            out.push(ShardLink::SubShard(link.hash));
        } else {
            out.push(ShardLink::Entry {
                name: name[pad..].to_string(),
                link,
            });
        }
    }
    Ok((f, out))
}

/// Iterates a HAMT directory's entries depth-first in link order, fetching
/// sub-shards lazily. Memory: at most `MAX_DEPTH` × fanout pending links.
struct ShardWalker<'a, S: BlockSource> {
    src: &'a S,
    fanout: u64,
    /// Pending items, next on top: entries, or sub-shards to expand (with depth).
    stack: Vec<(ShardLink, usize)>,
}

impl<'a, S: BlockSource> ShardWalker<'a, S> {
    fn new(src: &'a S, cid: &Cid, pb: PbNode, data: &Data) -> Result<Self, ExportError> {
        let (fanout, links) = shard_links(cid, pb, data, None)?;
        let mut w = ShardWalker {
            src,
            fanout,
            stack: Vec::new(),
        };
        w.push(links, 1);
        Ok(w)
    }

    fn push(&mut self, links: Vec<ShardLink>, depth: usize) {
        self.stack
            .extend(links.into_iter().rev().map(|l| (l, depth)));
    }

    /// Next entry as (name, link).
    fn next_entry(&mut self) -> Result<Option<(String, PbLink)>, ExportError> {
        while let Some((item, depth)) = self.stack.pop() {
            match item {
                ShardLink::Entry { name, link } => return Ok(Some((name, link))),
                ShardLink::SubShard(cid) => {
                    if depth > MAX_DEPTH {
                        return Err(ExportError::TooDeep {
                            cid,
                            limit: MAX_DEPTH,
                        });
                    }
                    let (pb, data) = match load_node(self.src, &cid)? {
                        Node::Unixfs(pb, data) => (pb, data),
                        _ => return Err(malformed(&cid, "HAMT sub-shard is not a UnixFS node")),
                    };
                    let (_, links) = shard_links(&cid, pb, &data, Some(self.fanout))?;
                    self.push(links, depth + 1);
                }
            }
        }
        Ok(None)
    }
}

// ---- directories, ls ----------------------------------------------------------

/// The named links of a directory node (plain or HAMT), in listing order.
/// `None` when the node is not a directory.
fn dir_links(
    src: &impl BlockSource,
    cid: &Cid,
    node: Node,
) -> Result<Option<Vec<(String, PbLink)>>, ExportError> {
    match node {
        Node::Unixfs(pb, data) => match data.kind {
            DataType::Directory => Ok(Some(
                pb.links
                    .into_iter()
                    .map(|l| (l.name.clone().unwrap_or_default(), l))
                    .collect(),
            )),
            DataType::HamtShard => {
                let mut w = ShardWalker::new(src, cid, pb, &data)?;
                let mut out = Vec::new();
                while let Some(e) = w.next_entry()? {
                    out.push(e);
                }
                Ok(Some(out))
            }
            _ => Ok(None),
        },
        _ => Ok(None),
    }
}

/// Resolves one child as Kubo's `ls` does: its kind and size (see [`Entry::size`]).
fn resolve_child(
    src: &impl BlockSource,
    name: String,
    cid: Cid,
    tsize: Option<u64>,
) -> Result<Entry, ExportError> {
    let (kind, size) = match cid.codec() {
        cids::RAW => (EntryKind::Raw, tsize.unwrap_or(0)),
        cids::DAG_PB => match load_node(src, &cid)? {
            Node::Unixfs(_, d) => {
                let kind = match d.kind {
                    DataType::File | DataType::Raw => EntryKind::File,
                    DataType::Directory | DataType::HamtShard | DataType::Metadata => {
                        EntryKind::Directory
                    }
                    DataType::Symlink => EntryKind::Symlink,
                };
                (kind, d.filesize.unwrap_or(0))
            }
            _ => return Err(not_unixfs(&cid, "dag-pb node without UnixFS data")),
        },
        _ => (EntryKind::Other, 0),
    };
    Ok(Entry {
        name,
        cid,
        size,
        kind,
    })
}

/// Lists `cid` as Kubo's `ipfs ls`: a directory's entries (HAMT shards read
/// transparently, in shard order), or a file's chunk links (empty names). A raw
/// block or a symlink lists nothing; other codecs list their links unnamed.
pub fn ls(src: &impl BlockSource, cid: &Cid) -> Result<Vec<Entry>, ExportError> {
    let bytes = load(src, cid)?;
    let node = match cid.codec() {
        cids::RAW | cids::DAG_PB => decode(cid, bytes)?,
        code => {
            return crate::codec::links(code, &bytes)
                .map_err(|e| malformed(cid, e.to_string()))?
                .into_iter()
                .map(|c| resolve_child(src, String::new(), c, None))
                .collect();
        }
    };
    let links: Vec<(String, Cid, Option<u64>)> = match node {
        Node::Raw(_) | Node::Other(_) => Vec::new(),
        Node::PlainPb(_) => return Err(not_unixfs(cid, "dag-pb node without UnixFS data")),
        Node::Unixfs(pb, data) => {
            let is_dir = matches!(data.kind, DataType::Directory | DataType::HamtShard);
            if is_dir {
                dir_links(src, cid, Node::Unixfs(pb, data))?
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(n, l)| (n, l.hash, l.tsize))
                    .collect()
            } else {
                pb.links
                    .into_iter()
                    .map(|l| (l.name.unwrap_or_default(), l.hash, l.tsize))
                    .collect()
            }
        }
    };
    links
        .into_iter()
        .map(|(name, c, tsize)| resolve_child(src, name, c, tsize))
        .collect()
}

// ---- paths ---------------------------------------------------------------

/// Splits `/ipfs/<cid>[/path]` or `<cid>[/path]` into the CID and the rest
/// (`a/b`, no leading slash; empty for the root).
pub fn parse_ipfs_path(s: &str) -> Result<(Cid, String), ExportError> {
    let invalid = |reason: &str| ExportError::InvalidPath {
        path: s.to_string(),
        reason: reason.to_string(),
    };
    let rest = if let Some(r) = s.strip_prefix("/ipfs/") {
        r
    } else if s.starts_with('/') {
        return Err(invalid("only /ipfs/ paths are supported"));
    } else {
        s
    };
    let (first, tail) = rest.split_once('/').unwrap_or((rest, ""));
    if first.is_empty() {
        return Err(invalid("missing CID"));
    }
    let cid = cids::parse(first).map_err(|e| invalid(&e.to_string()))?;
    let tail = tail
        .split('/')
        .filter(|c| !c.is_empty())
        .collect::<Vec<_>>()
        .join("/");
    Ok((cid, tail))
}

/// Finds the link named `name` in the node `dir`.
fn lookup(src: &impl BlockSource, dir: &Cid, name: &str) -> Result<Cid, ExportError> {
    let not_found = || ExportError::NotFound {
        name: name.into(),
        parent: *dir,
    };
    let by_name = |links: Vec<PbLink>| {
        links
            .into_iter()
            .find(|l| l.name.as_deref() == Some(name))
            .map(|l| l.hash)
            .ok_or_else(not_found)
    };
    match load_node(src, dir)? {
        Node::Raw(_) => Err(not_found()),
        Node::PlainPb(pb) => by_name(pb.links),
        Node::Unixfs(pb, data) => match data.kind {
            DataType::Directory => by_name(pb.links),
            DataType::HamtShard => {
                // Hash the name first (reads one shard per level); if the entry is not
                // in its slot (another fanout, or a shard built by a non-conforming
                // writer), fall back to scanning every entry.
                let hashed = data.fanout == Some(hamt::FANOUT as u64)
                    && data.hash_type == Some(hamt::HASH_TYPE_MURMUR3_X64_64);
                if hashed {
                    if let Some(c) = hamt_lookup(src, pb.clone(), name)? {
                        return Ok(c);
                    }
                }
                let mut w = ShardWalker::new(src, dir, pb, &data)?;
                while let Some((n, l)) = w.next_entry()? {
                    if n == name {
                        return Ok(l.hash);
                    }
                }
                Err(not_found())
            }
            _ => Err(not_found()),
        },
        Node::Other(code) => Err(not_unixfs(
            dir,
            format!(
                "path resolution through {} is not supported",
                codec_label(code)
            ),
        )),
    }
}

/// Finds `name` in a fanout-256 murmur3 shard by hashing it: one slot per level,
/// so only the shards on the name's path are read.
fn hamt_lookup(
    src: &impl BlockSource,
    root: PbNode,
    name: &str,
) -> Result<Option<Cid>, ExportError> {
    let key = hamt::hash_key(name.as_bytes());
    let mut pb = root;
    for level in 0..hamt::MAX_LEVELS {
        let prefix = hamt::slot_prefix(hamt::slot(key, level));
        let mut next = None;
        for l in &pb.links {
            let n = l.name.as_deref().unwrap_or("");
            if n == prefix {
                next = Some(l.hash);
                break;
            }
            if n.len() > 2 && n.starts_with(&prefix) && &n[2..] == name {
                return Ok(Some(l.hash));
            }
        }
        let Some(child) = next else { return Ok(None) };
        match load_node(src, &child)? {
            Node::Unixfs(p, d) if d.kind == DataType::HamtShard => pb = p,
            _ => return Err(malformed(&child, "sub-shard link is not a HAMT shard")),
        }
    }
    Ok(None)
}

/// Follows `path` (`a/b/c`; empty components ignored) from `root` through plain
/// directories, HAMT shards and plain dag-pb nodes.
pub fn resolve_path(src: &impl BlockSource, root: &Cid, path: &str) -> Result<Cid, ExportError> {
    let mut cur = *root;
    for comp in path.split('/').filter(|c| !c.is_empty()) {
        cur = lookup(src, &cur, comp)?;
    }
    Ok(cur)
}

/// Parses and resolves `/ipfs/<cid>/a/b` (or `<cid>/a/b`).
pub fn resolve_ipfs_path(src: &impl BlockSource, path: &str) -> Result<Cid, ExportError> {
    let (root, rest) = parse_ipfs_path(path)?;
    resolve_path(src, &root, &rest)
}

// ---- get -----------------------------------------------------------------

/// Whether `name` is a safe single path component to create.
fn is_safe_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\0'])
}

/// The entry names of directory `parent`, as `get` needs them: each safe (see
/// [`ExportError::UnsafeName`]) and none twice ([`ExportError::DuplicateName`]).
/// Sorts a copy of the name references: O(n log n), one pointer per entry.
pub fn check_names<'n>(
    parent: &Cid,
    names: impl Iterator<Item = &'n str>,
) -> Result<(), ExportError> {
    let mut sorted = Vec::new();
    for n in names {
        if !is_safe_name(n) {
            return Err(ExportError::UnsafeName {
                name: n.into(),
                parent: *parent,
            });
        }
        sorted.push(n);
    }
    sorted.sort_unstable();
    match sorted.windows(2).find(|w| w[0] == w[1]) {
        Some(w) => Err(ExportError::DuplicateName {
            name: w[0].into(),
            parent: *parent,
        }),
        None => Ok(()),
    }
}

/// One thing `get` creates, relative to the target.
enum Item<'p> {
    Dir(&'p Path),
    File(&'p Path, &'p Cid),
    Symlink(&'p Path, &'p [u8]),
}

/// Walks the tree at `root` depth-first, calling `visit` for each item in creation
/// order (a directory before its entries). Names are checked per directory before
/// any of its entries is visited.
fn walk(
    src: &impl BlockSource,
    root: &Cid,
    visit: &mut dyn FnMut(Item<'_>) -> Result<(), ExportError>,
) -> Result<(), ExportError> {
    let mut stack: Vec<(PathBuf, Cid, usize)> = vec![(PathBuf::new(), *root, 0)];
    while let Some((rel, cid, depth)) = stack.pop() {
        if depth > MAX_DEPTH {
            return Err(ExportError::TooDeep {
                cid,
                limit: MAX_DEPTH,
            });
        }
        let node = load_node(src, &cid)?;
        match node {
            Node::Raw(_) => visit(Item::File(&rel, &cid))?,
            Node::Unixfs(_, ref d) if matches!(d.kind, DataType::File | DataType::Raw) => {
                visit(Item::File(&rel, &cid))?
            }
            Node::Unixfs(ref pb, ref d) if d.kind == DataType::Symlink => {
                let target = d.data.as_deref().unwrap_or_default();
                if !pb.links.is_empty() || target.is_empty() || target.contains(&0) {
                    return Err(malformed(&cid, "bad symlink target"));
                }
                visit(Item::Symlink(&rel, target))?
            }
            node => {
                let Some(links) = dir_links(src, &cid, node)? else {
                    return Err(not_unixfs(&cid, "not a file, directory or symlink"));
                };
                check_names(&cid, links.iter().map(|(n, _)| n.as_str()))?;
                visit(Item::Dir(&rel))?;
                let first = stack.len();
                stack.extend(
                    links
                        .into_iter()
                        .map(|(n, l)| (rel.join(n), l.hash, depth + 1)),
                );
                stack[first..].reverse();
            }
        }
    }
    Ok(())
}

/// Writes the file, directory tree (HAMT too) or symlink at `cid` to `target`.
///
/// Safety: `target` must not exist. The whole tree is first walked without
/// writing, so an unsafe entry name anywhere (empty, `.`, `..`, containing `/` or
/// NUL) fails with [`ExportError::UnsafeName`], and a name held twice by one
/// directory with [`ExportError::DuplicateName`], before anything is created. Then
/// every entry is created exclusively (`mkdir`, `O_CREAT|O_EXCL`, `symlink`), which
/// never follows an existing symlink: a duplicate name fails instead of writing
/// through whatever holds the name. Mode and mtime are not applied.
pub fn get(src: &impl BlockSource, cid: &Cid, target: &Path) -> Result<(), ExportError> {
    let io_err = |path: &Path, source: io::Error| ExportError::Io {
        path: path.to_path_buf(),
        source,
    };
    if fs::symlink_metadata(target).is_ok() {
        return Err(io_err(
            target,
            io::Error::new(io::ErrorKind::AlreadyExists, "target already exists"),
        ));
    }
    // `rel` is empty for the root: join would add a trailing slash.
    let at = |rel: &Path| {
        if rel.as_os_str().is_empty() {
            target.to_path_buf()
        } else {
            target.join(rel)
        }
    };
    walk(src, cid, &mut |_| Ok(()))?;
    walk(src, cid, &mut |item| match item {
        Item::Dir(rel) => {
            let p = at(rel);
            fs::create_dir(&p).map_err(|e| io_err(&p, e))
        }
        Item::File(rel, c) => {
            let p = at(rel);
            let f = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&p)
                .map_err(|e| io_err(&p, e))?;
            let mut w = io::BufWriter::new(f);
            cat(src, c, 0, None, &mut w).map_err(|e| match e {
                ExportError::Output(source) => io_err(&p, source),
                other => other,
            })?;
            w.flush().map_err(|e| io_err(&p, e))
        }
        Item::Symlink(rel, to) => {
            let p = at(rel);
            make_symlink(to, &p).map_err(|e| io_err(&p, e))
        }
    })
}

#[cfg(unix)]
fn make_symlink(to: &[u8], at: &Path) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(to), at)
}

#[cfg(not(unix))]
fn make_symlink(_to: &[u8], _at: &Path) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "symlinks are only written on unix",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::{BlockSink, MemStore};

    fn put(s: &mut MemStore, node: &PbNode) -> Cid {
        let bytes = node.encode();
        let cid = cids::cid_of(0, cids::DAG_PB, &bytes);
        s.put(&cid, &bytes).unwrap();
        cid
    }

    fn file_leaf(s: &mut MemStore, data: &[u8]) -> Cid {
        let mut d = Data::new(DataType::File);
        d.data = Some(data.to_vec());
        d.filesize = Some(data.len() as u64);
        put(
            s,
            &PbNode {
                links: vec![],
                data: Some(d.encode()),
            },
        )
    }

    #[test]
    fn hello_world_is_kubos_cid_and_cats() {
        let mut s = MemStore::new();
        let c = file_leaf(&mut s, b"hello world\n");
        assert_eq!(
            c.to_string(),
            "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"
        );
        let mut out = Vec::new();
        assert_eq!(cat(&s, &c, 6, Some(5), &mut out).unwrap(), 5);
        assert_eq!(out, b"world");
    }

    #[test]
    fn empty_dir_is_kubos_cid_and_not_cattable() {
        let mut s = MemStore::new();
        let c = put(
            &mut s,
            &PbNode {
                links: vec![],
                data: Some(Data::new(DataType::Directory).encode()),
            },
        );
        assert_eq!(
            c.to_string(),
            "QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn"
        );
        let e = cat(&s, &c, 0, None, &mut Vec::new()).unwrap_err();
        assert_eq!(e.to_string(), "this dag node is a directory");
        assert!(ls(&s, &c).unwrap().is_empty());
    }

    /// A directory with one name twice: `get` refuses it before writing anything.
    #[test]
    fn get_refuses_a_name_twice() {
        let mut s = MemStore::new();
        let (a, b) = (file_leaf(&mut s, b"a"), file_leaf(&mut s, b"b"));
        let link = |name: &str, hash| crate::codec::dagpb::PbLink {
            hash,
            name: Some(name.into()),
            tsize: Some(1),
        };
        let dir = put(
            &mut s,
            &PbNode {
                links: vec![link("x", a), link("x", b)],
                data: Some(Data::new(DataType::Directory).encode()),
            },
        );
        let out = tempfile::tempdir().unwrap();
        let target = out.path().join("t");
        let e = get(&s, &dir, &target).unwrap_err();
        assert!(
            matches!(&e, ExportError::DuplicateName { name, parent } if &**name == "x" && *parent == dir),
            "{e}"
        );
        assert!(!target.exists());
        assert!(check_names(&dir, ["x", "y"].into_iter()).is_ok());
    }

    #[test]
    fn safe_names() {
        for bad in ["", ".", "..", "a/b", "../x", "x\0y", "/"] {
            assert!(!is_safe_name(bad), "{bad:?}");
        }
        for good in ["a", "...", "a b", "日本", ".hidden"] {
            assert!(is_safe_name(good), "{good:?}");
        }
    }

    #[test]
    fn ipfs_paths() {
        let c = "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o";
        let (cid, rest) = parse_ipfs_path(&format!("/ipfs/{c}/a//b/")).unwrap();
        assert_eq!(cid.to_string(), c);
        assert_eq!(rest, "a/b");
        assert_eq!(parse_ipfs_path(c).unwrap().1, "");
        assert!(parse_ipfs_path("/ipns/x").is_err());
        assert!(parse_ipfs_path("/ipfs/").is_err());
        assert!(parse_ipfs_path("/ipfs/notacid/a").is_err());
    }
}
