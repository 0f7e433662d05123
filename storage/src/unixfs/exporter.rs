//! UnixFS export: path resolution, `cat` with offset/length, `ls`, and `get`.
//!
//! Spec: ipfs/specs `UNIXFS.md` (File, Raw, Directory, HAMTShard, Symlink; raw-codec
//! leaves; identity CIDs).
//!
//! Flow: `cat` walks a file DAG depth-first and uses each node's `blocksizes` to skip
//! subtrees outside `[offset, offset+length)` without fetching them; bytes go to the
//! writer one block at a time, so memory holds one block per tree level. `ls` and
//! `get` read HAMT shards transparently; path lookups in a shard hash the name and
//! follow one slot per level. `get` writes only under its target: every entry name
//! is checked ([`check_name`]), every file and directory is created new (never
//! opened if it exists, so nothing is written through a symlink), and duplicate
//! names in a directory are refused.
//!
//! **Limits**: DAG depth [`MAX_DEPTH`] levels; blocksizes must match links and leaf
//! lengths, or the node is [`ExportError::Malformed`].

use super::hamt;
use super::pb::{Data, DataType};
use crate::block::{BlockError, BlockSource};
use crate::cids;
use crate::codec::dagpb::PbNode;
use cid::Cid;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Deepest DAG (file tree levels, directory nesting, shard levels) we follow.
pub const MAX_DEPTH: usize = 256;

/// Errors of export.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("no link named {name:?} under {parent}")]
    NotFound { parent: Cid, name: String },
    #[error("{cid} is not a UnixFS node (codec {codec})")]
    NotUnixfs { cid: Cid, codec: String },
    #[error("this dag node is a directory: {cid}")]
    IsDirectory { cid: Cid },
    #[error("{cid} is not a directory")]
    NotDirectory { cid: Cid },
    #[error("malformed UnixFS node {cid}: {reason}")]
    Malformed { cid: Cid, reason: String },
    #[error("refusing unsafe entry name {name:?} in {parent}")]
    UnsafeName { parent: Cid, name: String },
    #[error("invalid path {0:?}")]
    BadPath(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("writing output: {0}")]
    Write(std::io::Error),
    #[error("DAG deeper than {MAX_DEPTH} levels at {cid}")]
    TooDeep { cid: Cid },
    #[error(transparent)]
    Block(#[from] BlockError),
}

/// Kinds of listed entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Directory,
    Symlink,
    /// A raw-codec block (a file leaf).
    Raw,
    /// Not UnixFS (dag-cbor, …) or unreadable.
    Other,
}

/// One `ls` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub cid: Cid,
    /// File size in bytes for files and raw leaves; 0 for directories and others.
    pub size: u64,
    pub kind: EntryKind,
}

/// A decoded UnixFS node.
enum Node {
    Raw(Vec<u8>),
    Pb(PbNode, Data),
}

fn load(src: &(impl BlockSource + ?Sized), cid: &Cid) -> Result<Node, ExportError> {
    let bytes = src.get_required(cid)?;
    match cid.codec() {
        cids::RAW => Ok(Node::Raw(bytes)),
        cids::DAG_PB => {
            let malformed = |reason: String| ExportError::Malformed { cid: *cid, reason };
            let pb = PbNode::decode(&bytes).map_err(|e| malformed(e.to_string()))?;
            let data = Data::decode(
                pb.data
                    .as_deref()
                    .ok_or_else(|| malformed("no UnixFS data".into()))?,
            )
            .map_err(|e| malformed(e.to_string()))?;
            Ok(Node::Pb(pb, data))
        }
        other => Err(ExportError::NotUnixfs {
            cid: *cid,
            codec: cids::codec_name(other).map_or_else(|| format!("0x{other:x}"), str::to_string),
        }),
    }
}

/// Splits `/ipfs/<cid>/a/b`, `<cid>/a/b` into the CID and the rest.
pub fn parse_ipfs_path(s: &str) -> Result<(Cid, String), ExportError> {
    let t = s.strip_prefix("/ipfs/").unwrap_or(s);
    let (c, rest) = t.split_once('/').unwrap_or((t, ""));
    let cid = cids::parse(c).map_err(|e| ExportError::Block(BlockError::Cid(e)))?;
    Ok((cid, rest.trim_matches('/').to_string()))
}

/// Resolves `path` (`a/b/c`, empty = the root) under `root`.
pub fn resolve_path(
    src: &(impl BlockSource + ?Sized),
    root: &Cid,
    path: &str,
) -> Result<Cid, ExportError> {
    let mut cur = *root;
    for (i, seg) in path.split('/').filter(|s| !s.is_empty()).enumerate() {
        if i >= MAX_DEPTH {
            return Err(ExportError::TooDeep { cid: cur });
        }
        cur = lookup(src, &cur, seg)?;
    }
    Ok(cur)
}

/// The child named `name` of the directory (plain or sharded) at `dir`.
fn lookup(src: &(impl BlockSource + ?Sized), dir: &Cid, name: &str) -> Result<Cid, ExportError> {
    let not_found = || ExportError::NotFound {
        parent: *dir,
        name: name.to_string(),
    };
    let (pb, data) = match load(src, dir)? {
        Node::Pb(pb, data) => (pb, data),
        Node::Raw(_) => return Err(not_found()),
    };
    match data.kind {
        DataType::Directory => pb
            .links
            .iter()
            .find(|l| l.name.as_deref() == Some(name))
            .map(|l| l.hash)
            .ok_or_else(not_found),
        DataType::HamtShard => {
            let key = hamt::hash_key(name.as_bytes());
            let (mut pb, mut data, mut shard) = (pb, data, *dir);
            for level in 0..hamt::MAX_LEVELS {
                check_shard(&shard, &data)?;
                let prefix = hamt::slot_prefix(hamt::slot(key, level));
                let mut next = None;
                for l in &pb.links {
                    let ln = l.name.as_deref().unwrap_or("");
                    if ln == prefix {
                        next = Some(l.hash);
                        break;
                    }
                    if ln.len() > 2 && ln.starts_with(&prefix) && &ln[2..] == name {
                        return Ok(l.hash);
                    }
                }
                let Some(child) = next else {
                    return Err(not_found());
                };
                match load(src, &child)? {
                    Node::Pb(p, d) if d.kind == DataType::HamtShard => {
                        pb = p;
                        data = d;
                        shard = child;
                    }
                    _ => {
                        return Err(ExportError::Malformed {
                            cid: child,
                            reason: "sub-shard link is not a shard".into(),
                        })
                    }
                }
            }
            Err(not_found())
        }
        _ => Err(not_found()),
    }
}

fn check_shard(cid: &Cid, d: &Data) -> Result<(), ExportError> {
    if d.fanout != Some(hamt::FANOUT as u64) || d.hash_type != Some(hamt::HASH_TYPE_MURMUR3_X64_64)
    {
        return Err(ExportError::Malformed {
            cid: *cid,
            reason: format!(
                "unsupported shard (fanout {:?}, hash {:?})",
                d.fanout, d.hash_type
            ),
        });
    }
    Ok(())
}

/// The content size of a file node (`None` for non-files).
pub fn file_size(src: &(impl BlockSource + ?Sized), cid: &Cid) -> Result<Option<u64>, ExportError> {
    Ok(match load(src, cid)? {
        Node::Raw(b) => Some(b.len() as u64),
        Node::Pb(_, d) if matches!(d.kind, DataType::File | DataType::Raw) => Some(
            d.filesize
                .unwrap_or_else(|| d.data.as_ref().map_or(0, |x| x.len() as u64)),
        ),
        Node::Pb(..) => None,
    })
}

/// Writes bytes `[offset, offset+length)` of the file at `cid` to `out`; returns the
/// number of bytes written.
pub fn cat(
    src: &(impl BlockSource + ?Sized),
    cid: &Cid,
    offset: u64,
    length: Option<u64>,
    out: &mut dyn Write,
) -> Result<u64, ExportError> {
    let end = length.map_or(u64::MAX, |l| offset.saturating_add(l));
    let mut written = 0;
    cat_node(src, cid, 0, offset, end, out, &mut written, 0, None)?;
    Ok(written)
}

/// Writes the part of node `cid` (whose content starts at absolute `base`) that
/// overlaps `[start, end)`. `expect` is the size the parent's blocksizes claim.
#[allow(clippy::too_many_arguments)]
fn cat_node(
    src: &(impl BlockSource + ?Sized),
    cid: &Cid,
    base: u64,
    start: u64,
    end: u64,
    out: &mut dyn Write,
    written: &mut u64,
    depth: usize,
    expect: Option<u64>,
) -> Result<(), ExportError> {
    if depth > MAX_DEPTH {
        return Err(ExportError::TooDeep { cid: *cid });
    }
    let malformed = |reason: String| ExportError::Malformed { cid: *cid, reason };
    let mut emit = |bytes: &[u8], at: u64| -> Result<(), ExportError> {
        let lo = start.max(at);
        let hi = end.min(at + bytes.len() as u64);
        if lo < hi {
            out.write_all(&bytes[(lo - at) as usize..(hi - at) as usize])
                .map_err(ExportError::Write)?;
            *written += hi - lo;
        }
        Ok(())
    };
    match load(src, cid)? {
        Node::Raw(bytes) => {
            if let Some(e) = expect {
                if e != bytes.len() as u64 {
                    return Err(malformed(format!(
                        "raw leaf is {} bytes, parent says {e}",
                        bytes.len()
                    )));
                }
            }
            emit(&bytes, base)
        }
        Node::Pb(pb, d) => {
            match d.kind {
                DataType::File | DataType::Raw => {}
                DataType::Directory | DataType::HamtShard => {
                    return Err(ExportError::IsDirectory { cid: *cid })
                }
                DataType::Symlink => return Err(malformed("cannot cat a symlink".into())),
                DataType::Metadata => {
                    return Err(malformed("metadata nodes are not supported".into()))
                }
            }
            if d.blocksizes.len() != pb.links.len() {
                return Err(malformed(format!(
                    "{} blocksizes for {} links",
                    d.blocksizes.len(),
                    pb.links.len()
                )));
            }
            let own = d.data.as_deref().unwrap_or(&[]);
            let total = own.len() as u64 + d.blocksizes.iter().sum::<u64>();
            if let Some(e) = expect {
                if e != total {
                    return Err(malformed(format!(
                        "node holds {total} bytes, parent says {e}"
                    )));
                }
            }
            emit(own, base)?;
            let mut at = base + own.len() as u64;
            for (l, size) in pb.links.iter().zip(&d.blocksizes) {
                if at >= end {
                    break;
                }
                if at + size > start {
                    cat_node(
                        src,
                        &l.hash,
                        at,
                        start,
                        end,
                        out,
                        written,
                        depth + 1,
                        Some(*size),
                    )?;
                }
                at += size;
            }
            Ok(())
        }
    }
}

/// Lists the entries of a directory (plain or sharded, in link order) or the chunk
/// links of a file (unnamed, with their blocksizes), as Kubo's `ls`.
pub fn ls(src: &(impl BlockSource + ?Sized), cid: &Cid) -> Result<Vec<Entry>, ExportError> {
    match load(src, cid)? {
        Node::Raw(_) => Ok(Vec::new()),
        Node::Pb(pb, d) => match d.kind {
            DataType::Directory => pb
                .links
                .iter()
                .map(|l| entry(src, l.name.clone().unwrap_or_default(), l.hash))
                .collect(),
            DataType::HamtShard => {
                let mut out = Vec::new();
                shard_entries(src, cid, pb, &d, 0, &mut out)?;
                out.into_iter().map(|(n, c)| entry(src, n, c)).collect()
            }
            DataType::File | DataType::Raw => {
                if d.blocksizes.len() != pb.links.len() {
                    return Err(ExportError::Malformed {
                        cid: *cid,
                        reason: "blocksizes do not match links".into(),
                    });
                }
                Ok(pb
                    .links
                    .iter()
                    .zip(&d.blocksizes)
                    .map(|(l, s)| Entry {
                        name: l.name.clone().unwrap_or_default(),
                        cid: l.hash,
                        size: *s,
                        kind: if l.hash.codec() == cids::RAW {
                            EntryKind::Raw
                        } else {
                            EntryKind::File
                        },
                    })
                    .collect())
            }
            _ => Ok(Vec::new()),
        },
    }
}

fn entry(src: &(impl BlockSource + ?Sized), name: String, cid: Cid) -> Result<Entry, ExportError> {
    let (kind, size) = match load(src, &cid) {
        Ok(Node::Raw(b)) => (EntryKind::File, b.len() as u64),
        Ok(Node::Pb(_, d)) => match d.kind {
            DataType::Directory | DataType::HamtShard => (EntryKind::Directory, 0),
            DataType::Symlink => (
                EntryKind::Symlink,
                d.data.as_ref().map_or(0, |x| x.len() as u64),
            ),
            DataType::File | DataType::Raw => (
                EntryKind::File,
                d.filesize
                    .unwrap_or_else(|| d.data.as_ref().map_or(0, |x| x.len() as u64)),
            ),
            DataType::Metadata => (EntryKind::Other, 0),
        },
        Err(ExportError::NotUnixfs { .. }) => (EntryKind::Other, 0),
        Err(e) => return Err(e),
    };
    Ok(Entry {
        name,
        cid,
        size,
        kind,
    })
}

/// Collects `(name, cid)` of every entry of a shard, recursing into sub-shards.
fn shard_entries(
    src: &(impl BlockSource + ?Sized),
    cid: &Cid,
    pb: PbNode,
    d: &Data,
    level: usize,
    out: &mut Vec<(String, Cid)>,
) -> Result<(), ExportError> {
    if level >= hamt::MAX_LEVELS {
        return Err(ExportError::TooDeep { cid: *cid });
    }
    check_shard(cid, d)?;
    for l in pb.links {
        let name = l.name.unwrap_or_default();
        if name.len() < 2
            || !name.is_char_boundary(2)
            || !name[..2].bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err(ExportError::Malformed {
                cid: *cid,
                reason: format!("bad shard link name {name:?}"),
            });
        }
        if name.len() == 2 {
            match load(src, &l.hash)? {
                Node::Pb(p, sd) if sd.kind == DataType::HamtShard => {
                    shard_entries(src, &l.hash, p, &sd, level + 1, out)?
                }
                _ => {
                    return Err(ExportError::Malformed {
                        cid: l.hash,
                        reason: "sub-shard link is not a shard".into(),
                    })
                }
            }
        } else {
            out.push((name[2..].to_string(), l.hash));
        }
    }
    Ok(())
}

/// Checks an entry name before `get` writes it: not empty, `.` or `..`, no `/` or NUL.
pub fn check_name(parent: &Cid, name: &str) -> Result<(), ExportError> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.contains('\0') {
        return Err(ExportError::UnsafeName {
            parent: *parent,
            name: name.to_string(),
        });
    }
    Ok(())
}

/// Writes the file, directory tree or symlink at `cid` to `target`, which must not
/// exist yet. Every name is checked before anything under it is written.
pub fn get(src: &(impl BlockSource + ?Sized), cid: &Cid, target: &Path) -> Result<(), ExportError> {
    get_at(src, cid, target, 0)
}

fn get_at(
    src: &(impl BlockSource + ?Sized),
    cid: &Cid,
    target: &Path,
    depth: usize,
) -> Result<(), ExportError> {
    if depth > MAX_DEPTH {
        return Err(ExportError::TooDeep { cid: *cid });
    }
    let io = |e| ExportError::Io {
        path: target.to_path_buf(),
        source: e,
    };
    let kind = match load(src, cid)? {
        Node::Raw(_) => DataType::File,
        Node::Pb(_, d) => d.kind,
    };
    match kind {
        DataType::File | DataType::Raw => {
            let f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(target)
                .map_err(io)?;
            let mut w = std::io::BufWriter::new(f);
            cat(src, cid, 0, None, &mut w)?;
            w.flush().map_err(io)?;
            w.get_ref().sync_all().map_err(io)
        }
        DataType::Symlink => {
            let Node::Pb(_, d) = load(src, cid)? else {
                unreachable!("symlink kinds come from dag-pb")
            };
            let t = String::from_utf8(d.data.unwrap_or_default()).map_err(|_| {
                ExportError::Malformed {
                    cid: *cid,
                    reason: "symlink target is not UTF-8".into(),
                }
            })?;
            std::os::unix::fs::symlink(t, target).map_err(io)
        }
        DataType::Directory | DataType::HamtShard => {
            let entries = ls(src, cid)?;
            // Check all names before creating anything.
            let mut seen = std::collections::HashSet::new();
            for e in &entries {
                check_name(cid, &e.name)?;
                if !seen.insert(e.name.as_str()) {
                    return Err(ExportError::Malformed {
                        cid: *cid,
                        reason: format!("duplicate entry {:?}", e.name),
                    });
                }
            }
            std::fs::create_dir(target).map_err(io)?;
            for e in entries {
                get_at(src, &e.cid, &target.join(&e.name), depth + 1)?;
            }
            Ok(())
        }
        DataType::Metadata => Err(ExportError::Malformed {
            cid: *cid,
            reason: "metadata nodes are not supported".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::MemStore;
    use crate::codec::dagpb::PbLink;
    use crate::unixfs::importer::{self, Options};

    fn import(opts: &Options, data: &[u8]) -> (MemStore, Cid) {
        let mut s = MemStore::new();
        let a = importer::add_file(opts, &mut s, data).unwrap();
        (s, a.cid)
    }

    fn cat_vec(s: &MemStore, c: &Cid, off: u64, len: Option<u64>) -> Vec<u8> {
        let mut v = Vec::new();
        let n = cat(s, c, off, len, &mut v).unwrap();
        assert_eq!(n as usize, v.len());
        v
    }

    #[test]
    fn cat_ranges_across_chunks_and_layouts() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
        for opts in [
            Options {
                chunk_size: 100,
                max_links: 4,
                ..Options::default()
            },
            Options {
                chunk_size: 100,
                max_links: 4,
                raw_leaves: true,
                ..Options::default()
            },
            Options {
                chunk_size: 64,
                max_links: 3,
                layout: importer::Layout::Trickle,
                ..Options::default()
            },
        ] {
            let (s, c) = import(&opts, &data);
            assert_eq!(cat_vec(&s, &c, 0, None), data);
            for (off, len) in [
                (0, 1),
                (99, 2),
                (100, 100),
                (4999, 10),
                (5000, 5),
                (1234, 2345),
                (7000, 1),
            ] {
                let lo = (off as usize).min(data.len());
                let hi = (off as usize + len as usize).min(data.len());
                assert_eq!(
                    cat_vec(&s, &c, off, Some(len)),
                    &data[lo..hi],
                    "{off}+{len}"
                );
            }
        }
    }

    #[test]
    fn cat_skips_subtrees_before_the_offset() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        let (mut s, c) = import(
            &Options {
                chunk_size: 100,
                raw_leaves: true,
                ..Options::default()
            },
            &data,
        );
        // Drop the first leaf: reading past it must not need it.
        let first = {
            let Node::Pb(pb, _) = load(&s, &c).unwrap() else {
                panic!()
            };
            pb.links[0].hash
        };
        let mut s2 = MemStore::new();
        for l in ls(&s, &c).unwrap() {
            if l.cid != first {
                s2.insert(&l.cid, s.get(&l.cid).unwrap().unwrap());
            }
        }
        s2.insert(&c, s.get(&c).unwrap().unwrap());
        assert_eq!(cat_vec(&s2, &c, 100, Some(50)), &data[100..150]);
        assert!(cat(&s2, &c, 0, Some(1), &mut Vec::new()).is_err());
        s.insert(&first, vec![1, 2, 3]);
        assert!(matches!(
            cat(&s, &c, 0, None, &mut Vec::new()),
            Err(ExportError::Malformed { .. })
        ));
    }

    fn dir_node(links: Vec<(&str, Cid)>) -> Vec<u8> {
        PbNode {
            links: links
                .into_iter()
                .map(|(n, c)| PbLink {
                    hash: c,
                    name: Some(n.to_string()),
                    tsize: Some(1),
                })
                .collect(),
            data: Some(Data::new(DataType::Directory).encode()),
        }
        .encode()
    }

    #[test]
    fn get_refuses_path_traversal_names_and_writes_nothing() {
        let leaf = cids::cid_of(1, cids::RAW, b"evil");
        for bad in ["../evil", "..", "a/b", "x\0y", "", "."] {
            let mut s = MemStore::new();
            s.insert(&leaf, b"evil".to_vec());
            let bytes = dir_node(vec![("ok", leaf), (bad, leaf)]);
            let root = cids::cid_of(0, cids::DAG_PB, &bytes);
            s.insert(&root, bytes);
            let d = tempfile::tempdir().unwrap();
            let target = d.path().join("out");
            let e = get(&s, &root, &target).unwrap_err();
            assert!(matches!(e, ExportError::UnsafeName { .. }), "{bad:?}: {e}");
            assert!(!target.exists(), "nothing written for {bad:?}");
            assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 0);
        }
    }

    #[test]
    fn directories_plain_and_sharded_resolve_list_and_get() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("src");
        std::fs::create_dir_all(src.join("sub")).unwrap();
        std::fs::write(src.join("sub/a.txt"), b"alpha").unwrap();
        std::os::unix::fs::symlink("sub/a.txt", src.join("link")).unwrap();
        for i in 0..300 {
            std::fs::write(src.join(format!("f{i:03}")), format!("file {i}")).unwrap();
        }
        for threshold in [262_144, 100] {
            let opts = Options {
                shard_threshold_bytes: threshold,
                ..Options::default()
            };
            let mut s = MemStore::new();
            let root = importer::add_path(&opts, &mut s, &src, true, &mut |_, _| {})
                .unwrap()
                .cid;
            let a = resolve_path(&s, &root, "sub/a.txt").unwrap();
            assert_eq!(cat_vec(&s, &a, 0, None), b"alpha");
            let f = resolve_path(&s, &root, "f123").unwrap();
            assert_eq!(cat_vec(&s, &f, 0, None), b"file 123");
            assert!(matches!(
                resolve_path(&s, &root, "nope"),
                Err(ExportError::NotFound { .. })
            ));
            let entries = ls(&s, &root).unwrap();
            assert_eq!(entries.len(), 302);
            assert!(entries
                .iter()
                .any(|e| e.name == "sub" && e.kind == EntryKind::Directory));
            assert!(entries
                .iter()
                .any(|e| e.name == "link" && e.kind == EntryKind::Symlink));
            assert!(matches!(
                cat(&s, &root, 0, None, &mut Vec::new()),
                Err(ExportError::IsDirectory { .. })
            ));
            let out = d.path().join(format!("out-{threshold}"));
            get(&s, &root, &out).unwrap();
            assert_eq!(std::fs::read(out.join("sub/a.txt")).unwrap(), b"alpha");
            assert_eq!(std::fs::read(out.join("f299")).unwrap(), b"file 299");
            assert_eq!(
                std::fs::read_link(out.join("link")).unwrap(),
                Path::new("sub/a.txt")
            );
            assert!(
                get(&s, &root, &out).is_err(),
                "an existing target is refused"
            );
        }
    }
}
