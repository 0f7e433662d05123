//! Paths: `/ipfs/<cid>/a/b` parsing and resolution through directories, HAMT shards
//! (hashing the name, one shard per level) and plain dag-pb nodes.

use super::node::*;
use super::shard::ShardWalker;
use crate::block::BlockSource;
use crate::cids;
use crate::codec::dagpb::{PbLink, PbNode};
use crate::unixfs::hamt;
use crate::unixfs::pb::DataType;
use cid::Cid;

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
pub(super) fn lookup(src: &impl BlockSource, dir: &Cid, name: &str) -> Result<Cid, ExportError> {
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
pub(super) fn hamt_lookup(
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

#[cfg(test)]
mod tests {
    use super::*;

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
