//! Files: `cat` with offset and length, walking a file DAG depth-first and skipping
//! children outside the range without fetching them; kind and size of an entry.

use super::node::*;
use crate::block::BlockSource;
use crate::unixfs::pb::DataType;
use cid::Cid;
use std::io::Write;

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
pub(super) struct FilePart {
    pub(super) inline: Vec<u8>,
    pub(super) children: Vec<(Cid, u64)>,
    /// inline.len() + sum of children sizes.
    pub(super) size: u64,
}

/// Interprets a node as (part of) a file. `root` allows a symlink (its target is the
/// content) and gives directories Kubo's error; below the root only file nodes fit.
pub(super) fn file_part(cid: &Cid, node: Node, root: bool) -> Result<FilePart, ExportError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::MemStore;
    use crate::codec::dagpb::PbNode;
    use crate::unixfs::exporter::dir::ls;
    use crate::unixfs::exporter::node::tests::{file_leaf, put};
    use crate::unixfs::pb::Data;

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
}
