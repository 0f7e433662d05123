//! What the exporter shares: its limits, entry types and error, and loading a
//! block and decoding it as a UnixFS node (checked against [`MAX_BLOCK_BYTES`]).

use crate::block::{BlockError, BlockSource, MAX_BLOCK_BYTES};
use crate::cids;
use crate::codec::dagpb::PbNode;
use crate::unixfs::pb::Data;
use cid::Cid;
use std::io;
use std::path::PathBuf;

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
    /// The child's CID.
    pub cid: Cid,
    /// As Kubo's `ipfs ls` (default `--size --resolve-type`, no `--cumulative`):
    /// for a dag-pb child, the child's UnixFS `filesize` (0 when absent, so 0 for
    /// directories and symlinks); for a raw child, the link's Tsize; for other
    /// codecs, 0. The CLI prints `-` and a trailing `/` for directories, as Kubo.
    pub size: u64,
    /// File, directory, symlink or other.
    pub kind: EntryKind,
}

/// Errors of reading UnixFS. Text fields are `Box<str>` to keep the enum under
/// 128 bytes (a `Cid` alone is 96).
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// A path component has no matching link (message as Kubo's).
    #[error("no link named {name:?} under {parent}")]
    NotFound {
        /// The path component.
        name: Box<str>,
        /// The directory searched.
        parent: Cid,
    },
    /// A node that is not dag-pb with UnixFS data, where one is needed.
    #[error("{cid} is not a UnixFS node: {reason}")]
    NotUnixfs {
        /// The node.
        cid: Cid,
        /// Why not.
        reason: Box<str>,
    },
    /// `cat` of a directory (message as Kubo's).
    #[error("this dag node is a directory")]
    IsDirectory {
        /// The directory.
        cid: Cid,
    },
    /// A UnixFS node breaking the spec (sizes, types, links).
    #[error("malformed UnixFS node {cid}: {reason}")]
    Malformed {
        /// The node.
        cid: Cid,
        /// What is wrong.
        reason: Box<str>,
    },
    /// A DAG deeper than the walk allows.
    #[error("DAG deeper than {limit} levels at {cid}")]
    TooDeep {
        /// The node at the limit.
        cid: Cid,
        /// The limit in levels.
        limit: usize,
    },
    /// A read offset past the file's end.
    #[error("offset was past the end of file ({offset} > {size})")]
    OffsetPastEnd {
        /// The offset asked.
        offset: u64,
        /// The file's size.
        size: u64,
    },
    /// `get` refuses names that could escape the target or are not file names.
    #[error("refusing unsafe entry name {name:?} in directory {parent}")]
    UnsafeName {
        /// The name.
        name: Box<str>,
        /// The directory.
        parent: Cid,
    },
    /// A directory with two entries of one name: which would `get` keep?
    #[error("directory {parent} has more than one entry named {name:?}")]
    DuplicateName {
        /// The name.
        name: Box<str>,
        /// The directory.
        parent: Cid,
    },
    /// A path that does not parse.
    #[error("invalid path {path:?}: {reason}")]
    InvalidPath {
        /// The path as given.
        path: String,
        /// Why.
        reason: String,
    },
    /// Writing a file or directory of `get` failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// Writing to the output stream failed.
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

pub(super) fn malformed(cid: &Cid, reason: impl Into<String>) -> ExportError {
    ExportError::Malformed {
        cid: *cid,
        reason: reason.into().into(),
    }
}

pub(super) fn not_unixfs(cid: &Cid, reason: impl Into<String>) -> ExportError {
    ExportError::NotUnixfs {
        cid: *cid,
        reason: reason.into().into(),
    }
}

/// Fetches a block (identity CIDs inline) and checks its size.
pub(super) fn load(src: &impl BlockSource, cid: &Cid) -> Result<Vec<u8>, ExportError> {
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
pub(super) enum Node {
    /// Raw codec: the bytes are file content.
    Raw(Vec<u8>),
    /// dag-pb with a UnixFS `Data` message.
    Unixfs(PbNode, Data),
    /// dag-pb without (valid) UnixFS data: only its links are meaningful.
    PlainPb(PbNode),
    /// Another codec.
    Other(u64),
}

pub(super) fn decode(cid: &Cid, bytes: Vec<u8>) -> Result<Node, ExportError> {
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

pub(super) fn load_node(src: &impl BlockSource, cid: &Cid) -> Result<Node, ExportError> {
    let bytes = load(src, cid)?;
    decode(cid, bytes)
}

pub(super) fn codec_label(code: u64) -> String {
    cids::codec_name(code).map_or_else(|| format!("codec 0x{code:x}"), str::to_string)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::block::{BlockSink, MemStore};
    use crate::unixfs::pb::DataType;

    pub(in crate::unixfs::exporter) fn put(s: &mut MemStore, node: &PbNode) -> Cid {
        let bytes = node.encode();
        let cid = cids::cid_of(0, cids::DAG_PB, &bytes);
        s.put(&cid, &bytes).unwrap();
        cid
    }

    pub(in crate::unixfs::exporter) fn file_leaf(s: &mut MemStore, data: &[u8]) -> Cid {
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
}
