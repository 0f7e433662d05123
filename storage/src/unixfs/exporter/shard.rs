//! HAMT shards read by scanning links: a link named by exactly the padded hex index
//! is a sub-shard, a longer one an entry; the bitfield and prefixes are checked.

use super::node::*;
use crate::block::BlockSource;
use crate::codec::dagpb::{PbLink, PbNode};
use crate::unixfs::pb::{Data, DataType};
use cid::Cid;

/// A validated HAMT node's links, classified.
pub(super) enum ShardLink {
    Entry { name: String, link: PbLink },
    SubShard(Cid),
}

/// Checks a HAMT node and classifies its links (see the module doc for the rules).
/// `fanout` is the root's fanout for sub-shards, `None` at the root.
pub(super) fn shard_links(
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
pub(super) struct ShardWalker<'a, S: BlockSource> {
    pub(super) src: &'a S,
    pub(super) fanout: u64,
    /// Pending items, next on top: entries, or sub-shards to expand (with depth).
    pub(super) stack: Vec<(ShardLink, usize)>,
}

impl<'a, S: BlockSource> ShardWalker<'a, S> {
    pub(super) fn new(src: &'a S, cid: &Cid, pb: PbNode, data: &Data) -> Result<Self, ExportError> {
        let (fanout, links) = shard_links(cid, pb, data, None)?;
        let mut w = ShardWalker {
            src,
            fanout,
            stack: Vec::new(),
        };
        w.push(links, 1);
        Ok(w)
    }

    pub(super) fn push(&mut self, links: Vec<ShardLink>, depth: usize) {
        self.stack
            .extend(links.into_iter().rev().map(|l| (l, depth)));
    }

    /// Next entry as (name, link).
    pub(super) fn next_entry(&mut self) -> Result<Option<(String, PbLink)>, ExportError> {
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
