//! DAG walking: visit every block reachable from a root, and `refs`.
//!
//! **What.** [`walk`] visits a DAG depth-first, pre-order, children in link order
//! (the order Kubo's `refs -r` prints), with an explicit stack (no recursion: a deep
//! chain cannot overflow the thread stack). The visitor sees each block's CID and bytes
//! and may [`Walk::Skip`] its children. With a [`SeenSet`] each block (by multihash) is
//! visited once; without one, shared sub-DAGs are visited once per path, as Kubo's
//! non-unique `refs -r` does. [`refs`] lists the links of a block (`acorn refs`) or of
//! the whole DAG (`-r`), optionally `--unique`.
//!
//! **Spec.** Links come from [`crate::codec::links`] for raw, dag-pb, dag-cbor and
//! dag-json. Identity-hash CIDs carry their data inline and are never fetched.
//!
//! **Limits.** The stack holds the not-yet-visited siblings along the current path:
//! at most depth × fan-out CIDs; [`MAX_WALK_STACK_COUNT`] caps it, so a hostile DAG
//! cannot make a walk eat the board's memory (the walk fails instead). A [`MemSeen`]
//! grows with the DAG (≈ 100 bytes per distinct block); the GC uses its own on-disk
//! marking instead (see [`crate::gc`]).
//!
//! **Errors.** A block missing from the source is [`DagError::Missing`] naming the
//! CID; a block that does not decode is [`DagError::Decode`] naming the CID.

use crate::block::{BlockError, BlockSource};
use crate::cids;
use crate::codec::{self, CodecError};
use cid::Cid;
use std::collections::{HashMap, HashSet};

/// Most CIDs a walk's stack may hold (≈ 100 bytes each: ≈ 100 MiB at the cap would be
/// too much for a small board, so the cap is 1 Mi entries ≈ 64–100 MiB worst case,
/// reached only by DAGs both deep and wide; UnixFS trees stay under depth × 174).
pub const MAX_WALK_STACK_COUNT: usize = 1 << 20;

/// What the visitor wants next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Walk {
    /// Descend into this block's links.
    Continue,
    /// Do not descend into this block's links.
    Skip,
}

/// Errors of DAG walks.
#[derive(Debug, thiserror::Error)]
pub enum DagError {
    /// A block of the DAG is not in the store.
    #[error("block {cid} not found in the repo")]
    Missing {
        /// The block.
        cid: Cid,
    },
    /// A block of the DAG does not decode in its codec.
    #[error("block {cid} cannot be decoded: {source}")]
    Decode {
        /// The block.
        cid: Cid,
        /// The codec's error.
        #[source]
        source: Box<CodecError>,
    },
    /// The walk's stack of pending links reached its limit.
    #[error("DAG walk stack over {limit} entries at block {cid}")]
    TooWide {
        /// The block being expanded.
        cid: Cid,
        /// The limit in entries.
        limit: usize,
    },
    /// The blockstore failed.
    #[error(transparent)]
    Store(#[from] BlockError),
}

/// A set of visited blocks, keyed by multihash (so CIDv0 and CIDv1 of a block count
/// once). Implemented in memory by [`MemSeen`] and on disk by the GC.
pub trait SeenSet {
    /// Adds the block; returns `true` if it was not in the set yet.
    fn insert(&mut self, cid: &Cid) -> Result<bool, DagError>;
}

/// In-memory [`SeenSet`].
#[derive(Debug, Default, Clone)]
pub struct MemSeen {
    set: HashSet<Vec<u8>>,
}

impl MemSeen {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }
    /// Whether a block with this multihash was seen (any CID version or codec).
    pub fn contains(&self, cid: &Cid) -> bool {
        self.set.contains(&cid.hash().to_bytes())
    }
    /// Blocks seen.
    pub fn len(&self) -> usize {
        self.set.len()
    }
    /// Whether none was seen.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }
}

impl SeenSet for MemSeen {
    fn insert(&mut self, cid: &Cid) -> Result<bool, DagError> {
        Ok(self.set.insert(cid.hash().to_bytes()))
    }
}

/// The callback of [`walk`]: sees each block's CID and bytes, says whether to descend.
pub type Visitor<'a, E> = dyn FnMut(&Cid, &[u8]) -> Result<Walk, E> + 'a;

/// Fetches a block; missing is [`DagError::Missing`].
pub fn fetch<S: BlockSource + ?Sized>(src: &S, cid: &Cid) -> Result<Vec<u8>, DagError> {
    match src.get_required(cid) {
        Ok(b) => Ok(b),
        Err(BlockError::NotFound { cid }) => Err(DagError::Missing { cid }),
        Err(e) => Err(e.into()),
    }
}

/// The links of a block, decode errors naming the CID.
pub fn links_of(cid: &Cid, bytes: &[u8]) -> Result<Vec<Cid>, DagError> {
    codec::links(cid.codec(), bytes).map_err(|source| DagError::Decode {
        cid: *cid,
        source: Box::new(source),
    })
}

/// Walks the DAG under `root` depth-first, pre-order, calling `visit` once per block
/// (once per path without `seen`; once per multihash with it). A block already in
/// `seen` before the walk is not visited (nor its children).
pub fn walk<S, E>(
    src: &S,
    root: &Cid,
    mut seen: Option<&mut dyn SeenSet>,
    visit: &mut Visitor<'_, E>,
) -> Result<(), E>
where
    S: BlockSource + ?Sized,
    E: From<DagError>,
{
    let mut stack: Vec<Cid> = vec![*root];
    while let Some(cid) = stack.pop() {
        if let Some(seen) = seen.as_deref_mut() {
            if !seen.insert(&cid)? {
                continue;
            }
        }
        let bytes = fetch(src, &cid)?;
        if visit(&cid, &bytes)? == Walk::Skip {
            continue;
        }
        let links = links_of(&cid, &bytes)?;
        if stack.len() + links.len() > MAX_WALK_STACK_COUNT {
            return Err(DagError::TooWide {
                cid,
                limit: MAX_WALK_STACK_COUNT,
            }
            .into());
        }
        stack.extend(links.into_iter().rev());
    }
    Ok(())
}

/// Checks that the whole DAG under `root` is stored, reading only blocks that can
/// have links: raw leaves are checked with [`BlockSource::has`], so pinning a large
/// file does not re-read (or, for the filestore, re-hash) all its data.
pub fn check_complete<S>(src: &S, root: &Cid, seen: &mut dyn SeenSet) -> Result<(), DagError>
where
    S: BlockSource + ?Sized,
{
    let mut stack: Vec<Cid> = vec![*root];
    while let Some(cid) = stack.pop() {
        if !seen.insert(&cid)? {
            continue;
        }
        if cid.codec() == cids::RAW {
            if !src.has(&cid)? {
                return Err(DagError::Missing { cid });
            }
            continue;
        }
        let bytes = fetch(src, &cid)?;
        let links = links_of(&cid, &bytes)?;
        if stack.len() + links.len() > MAX_WALK_STACK_COUNT {
            return Err(DagError::TooWide {
                cid,
                limit: MAX_WALK_STACK_COUNT,
            });
        }
        stack.extend(links.into_iter().rev());
    }
    Ok(())
}

/// `acorn refs [-r] [--unique] <cid>`: calls `emit` with each link under `root`, in
/// Kubo's order (depth-first, link order; a link is emitted before its own links).
/// Without `recursive` only the root's own links (children need not be stored).
/// With `unique` each block is emitted once (the root counts as already seen).
pub fn refs<S, E>(
    src: &S,
    root: &Cid,
    recursive: bool,
    unique: bool,
    emit: &mut dyn FnMut(&Cid) -> Result<(), E>,
) -> Result<(), E>
where
    S: BlockSource + ?Sized,
    E: From<DagError>,
{
    let depth = if recursive { None } else { Some(1) };
    refs_edges(src, root, depth, unique, &mut |e: &RefEdge| emit(&e.dst))
}

/// One link found by [`refs_edges`]: the block it is in, its target, its name
/// (dag-pb link names; empty for other codecs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefEdge {
    /// The block holding the link.
    pub src: Cid,
    /// The link's target.
    pub dst: Cid,
    /// The link's name (empty but for dag-pb).
    pub name: String,
}

/// The links of a block with their names (dag-pb names, else empty).
pub fn named_links_of(cid: &Cid, bytes: &[u8]) -> Result<Vec<(Cid, String)>, DagError> {
    if cid.codec() == cids::DAG_PB {
        let node = codec::dagpb::PbNode::decode(bytes).map_err(|source| DagError::Decode {
            cid: *cid,
            source: Box::new(source),
        })?;
        return Ok(node
            .links
            .into_iter()
            .map(|l| (l.hash, l.name.unwrap_or_default()))
            .collect());
    }
    Ok(links_of(cid, bytes)?
        .into_iter()
        .map(|c| (c, String::new()))
        .collect())
}

/// Kubo's `refs` walk: every link under `root` down to `max_depth` levels (`None`:
/// no limit; `Some(1)`: the root's own links, whose blocks need not be stored), in
/// Kubo's order (depth-first, link order, a link before its own links). With
/// `unique` each target is emitted once (the root counts as already seen); as in
/// Kubo's `RefWriter.visit`, a target met again is not walked again, unless a
/// depth limit applies and it is now met at a shallower depth: then it is walked
/// again (not emitted again), so its links within the limit are listed.
pub fn refs_edges<S, E>(
    src: &S,
    root: &Cid,
    max_depth: Option<u64>,
    unique: bool,
    emit: &mut dyn FnMut(&RefEdge) -> Result<(), E>,
) -> Result<(), E>
where
    S: BlockSource + ?Sized,
    E: From<DagError>,
{
    if max_depth == Some(0) {
        return Ok(());
    }
    // With `unique`: the shallowest depth each multihash was met at.
    let mut seen_at: HashMap<Vec<u8>, u64> = HashMap::new();
    if unique {
        seen_at.insert(root.hash().to_bytes(), 0);
    }
    /// A block whose links are being emitted: (the block, its links still to
    /// emit reversed so `pop` yields link order, the links' depth).
    type Frame = (Cid, Vec<(Cid, String)>, u64);
    let root_links = named_links_of(root, &fetch(src, root)?)?;
    let mut stacked = root_links.len();
    let mut stack: Vec<Frame> = vec![(*root, root_links.into_iter().rev().collect(), 1)];
    while let Some((parent, top, depth)) = stack.last_mut() {
        let (parent, depth) = (*parent, *depth);
        let Some((cid, name)) = top.pop() else {
            stack.pop();
            continue;
        };
        stacked -= 1;
        let below = max_depth.is_none_or(|m| depth < m);
        let (write, deeper) = if !unique {
            (true, below)
        } else {
            let key = cid.hash().to_bytes();
            match seen_at.get(&key) {
                None => {
                    seen_at.insert(key, depth);
                    (true, below)
                }
                Some(&old) if max_depth.is_none() || old <= depth => (false, false),
                Some(_) => {
                    seen_at.insert(key, depth);
                    (false, below)
                }
            }
        };
        if write {
            emit(&RefEdge {
                src: parent,
                dst: cid,
                name,
            })?;
        }
        if !deeper {
            continue;
        }
        let links = named_links_of(&cid, &fetch(src, &cid)?)?;
        if links.is_empty() {
            continue;
        }
        stacked += links.len();
        if stacked > MAX_WALK_STACK_COUNT {
            return Err(DagError::TooWide {
                cid,
                limit: MAX_WALK_STACK_COUNT,
            }
            .into());
        }
        stack.push((cid, links.into_iter().rev().collect(), depth + 1));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::{Block, BlockSink, MemStore};
    use crate::cids;
    use crate::codec::dagpb::PbNode;

    fn leaf(s: &mut MemStore, data: &[u8]) -> Cid {
        let b = Block::encode(1, cids::RAW, data.to_vec());
        s.put(b.cid(), b.data()).unwrap();
        *b.cid()
    }

    fn node(s: &mut MemStore, links: &[Cid]) -> Cid {
        let b = Block::encode(0, cids::DAG_PB, PbNode::with_links(links, None).encode());
        s.put(b.cid(), b.data()).unwrap();
        *b.cid()
    }

    /// root → [a → [x, y], x]
    fn diamond() -> (MemStore, Cid, Cid, Cid, Cid) {
        let mut s = MemStore::new();
        let x = leaf(&mut s, b"x");
        let y = leaf(&mut s, b"y");
        let a = node(&mut s, &[x, y]);
        let root = node(&mut s, &[a, x]);
        (s, root, a, x, y)
    }

    #[test]
    fn walk_orders_and_dedups() {
        let (s, root, a, x, y) = diamond();
        let mut order = vec![];
        walk::<_, DagError>(&s, &root, None, &mut |c, _| {
            order.push(*c);
            Ok(Walk::Continue)
        })
        .unwrap();
        assert_eq!(order, vec![root, a, x, y, x]);
        let mut order = vec![];
        let mut seen = MemSeen::new();
        walk::<_, DagError>(&s, &root, Some(&mut seen), &mut |c, _| {
            order.push(*c);
            Ok(Walk::Continue)
        })
        .unwrap();
        assert_eq!(order, vec![root, a, x, y]);
        let mut order = vec![];
        walk::<_, DagError>(&s, &root, None, &mut |c, _| {
            order.push(*c);
            Ok(if *c == a { Walk::Skip } else { Walk::Continue })
        })
        .unwrap();
        assert_eq!(order, vec![root, a, x]);
    }

    #[test]
    fn refs_like_kubo() {
        let (s, root, a, x, y) = diamond();
        let mut out = vec![];
        refs::<_, DagError>(&s, &root, false, false, &mut |c| {
            out.push(*c);
            Ok(())
        })
        .unwrap();
        assert_eq!(out, vec![a, x]);
        let mut out = vec![];
        refs::<_, DagError>(&s, &root, true, false, &mut |c| {
            out.push(*c);
            Ok(())
        })
        .unwrap();
        assert_eq!(out, vec![a, x, y, x]);
        let mut out = vec![];
        refs::<_, DagError>(&s, &root, true, true, &mut |c| {
            out.push(*c);
            Ok(())
        })
        .unwrap();
        assert_eq!(out, vec![a, x, y]);
    }

    #[test]
    fn refs_edges_depth_and_sources() {
        let (s, root, a, x, y) = diamond();
        let edges = |depth| {
            let mut out = vec![];
            refs_edges::<_, DagError>(&s, &root, depth, false, &mut |e| {
                out.push((e.src, e.dst));
                Ok(())
            })
            .unwrap();
            out
        };
        assert_eq!(edges(Some(1)), vec![(root, a), (root, x)]);
        assert_eq!(edges(Some(2)), vec![(root, a), (a, x), (a, y), (root, x)]);
        assert_eq!(edges(None), edges(Some(2)));
        assert!(edges(Some(0)).is_empty());
    }

    /// Kubo's `refs -u --max-depth`: `x`, first met at depth 2 (under `a`), is met
    /// again at depth 1 (under the root) and walked from there, so its link `z`
    /// (depth 2) is listed; nothing is listed twice.
    #[test]
    fn unique_refs_revisit_a_block_met_again_shallower() {
        let mut s = MemStore::new();
        let z = leaf(&mut s, b"z");
        let x = node(&mut s, &[z]);
        let a = node(&mut s, &[x]);
        let root = node(&mut s, &[a, x]);
        let edges = |depth, unique| {
            let mut out = vec![];
            refs_edges::<_, DagError>(&s, &root, depth, unique, &mut |e| {
                out.push((e.src, e.dst));
                Ok(())
            })
            .unwrap();
            out
        };
        assert_eq!(edges(Some(2), true), vec![(root, a), (a, x), (x, z)]);
        assert_eq!(
            edges(Some(2), false),
            vec![(root, a), (a, x), (root, x), (x, z)]
        );
        assert_eq!(edges(None, true), vec![(root, a), (a, x), (x, z)]);
        assert_eq!(edges(Some(1), true), vec![(root, a), (root, x)]);
    }

    #[test]
    fn missing_block_is_named() {
        let (mut s, root, _a, _x, y) = diamond();
        let mut s2 = MemStore::new();
        // Copy everything but y.
        for c in [root, _a, _x] {
            s2.insert(&c, s.get(&c).unwrap().unwrap());
        }
        let e = walk::<_, DagError>(&s2, &root, None, &mut |_, _| Ok(Walk::Continue)).unwrap_err();
        assert!(matches!(e, DagError::Missing { cid } if cid == y), "{e}");
        assert!(e.to_string().contains(&y.to_string()));
        // A garbage dag-pb block names its CID.
        let bad = Cid::new_v0(cids::sha256_multihash(b"\xff\xff")).unwrap();
        s.insert(&bad, b"\xff\xff".to_vec());
        let e = walk::<_, DagError>(&s, &bad, None, &mut |_, _| Ok(Walk::Continue)).unwrap_err();
        assert!(
            matches!(e, DagError::Decode { cid, .. } if cid == bad),
            "{e}"
        );
    }

    #[test]
    fn deep_chain_does_not_recurse() {
        let mut s = MemStore::new();
        let mut c = leaf(&mut s, b"bottom");
        for _ in 0..20_000 {
            c = node(&mut s, &[c]);
        }
        let mut n = 0;
        walk::<_, DagError>(&s, &c, None, &mut |_, _| {
            n += 1;
            Ok(Walk::Continue)
        })
        .unwrap();
        assert_eq!(n, 20_001);
    }
}
