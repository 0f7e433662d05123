//! Directories (plain or HAMT, read transparently) and `ls`, resolving each child
//! as Kubo's `ipfs ls` does.

use super::node::*;
use super::shard::ShardWalker;
use crate::block::BlockSource;
use crate::cids;
use crate::codec::dagpb::PbLink;
use crate::unixfs::pb::DataType;
use cid::Cid;

/// The named links of a directory node (plain or HAMT), in listing order.
/// `None` when the node is not a directory.
pub(super) fn dir_links(
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
pub(super) fn resolve_child(
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
