//! UnixFS export (cat/ls/get/resolve) and CARv1 over hand-built DAGs.

use acorn_storage::block::{BlockError, BlockSink, BlockSource, MemStore};
use acorn_storage::car::{self, CarError, CarReader, CarWriter};
use acorn_storage::cids;
use acorn_storage::codec::dagpb::{PbLink, PbNode};
use acorn_storage::unixfs::exporter::{
    self, cat, get, ls, parse_ipfs_path, resolve_path, EntryKind, ExportError,
};
use acorn_storage::unixfs::pb::{Data, DataType};
use cid::multihash::Multihash;
use cid::Cid;
use proptest::prelude::*;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

// ---- DAG builders -------------------------------------------------------------

/// A built node: CID, UnixFS size (for blocksizes) and cumulative Tsize.
#[derive(Clone, Copy)]
struct Built {
    cid: Cid,
    size: u64,
    tsize: u64,
}

fn put_pb(s: &mut MemStore, node: &PbNode) -> Built {
    let bytes = node.encode();
    let cid = cids::cid_of(0, cids::DAG_PB, &bytes);
    s.put(&cid, &bytes).unwrap();
    let tsize = bytes.len() as u64 + node.links.iter().map(|l| l.tsize.unwrap_or(0)).sum::<u64>();
    Built {
        cid,
        size: 0,
        tsize,
    }
}

fn raw_leaf(s: &mut MemStore, data: &[u8]) -> Built {
    let cid = cids::cid_of(1, cids::RAW, data);
    s.put(&cid, data).unwrap();
    Built {
        cid,
        size: data.len() as u64,
        tsize: data.len() as u64,
    }
}

fn identity_leaf(data: &[u8]) -> Built {
    let cid = Cid::new_v1(cids::RAW, Multihash::wrap(cids::IDENTITY, data).unwrap());
    Built {
        cid,
        size: data.len() as u64,
        tsize: data.len() as u64,
    }
}

fn link(name: &str, b: &Built) -> PbLink {
    PbLink {
        hash: b.cid,
        name: Some(name.to_string()),
        tsize: Some(b.tsize),
    }
}

/// A File node with optional inline data and children (any depth: trickle-like).
fn file_node(s: &mut MemStore, inline: Option<&[u8]>, children: &[Built]) -> Built {
    let mut d = Data::new(DataType::File);
    d.data = inline.map(<[u8]>::to_vec);
    d.blocksizes = children.iter().map(|c| c.size).collect();
    let size = inline.map_or(0, |i| i.len() as u64) + d.blocksizes.iter().sum::<u64>();
    d.filesize = Some(size);
    let node = PbNode {
        links: children.iter().map(|c| link("", c)).collect(),
        data: Some(d.encode()),
    };
    Built {
        size,
        ..put_pb(s, &node)
    }
}

fn pb_leaf(s: &mut MemStore, data: &[u8]) -> Built {
    file_node(s, Some(data), &[])
}

/// Balanced layout: chunks of `chunk` bytes, `width` links per node.
fn balanced(s: &mut MemStore, content: &[u8], chunk: usize, width: usize, raw: bool) -> Built {
    let mut level: Vec<Built> = content
        .chunks(chunk)
        .map(|c| if raw { raw_leaf(s, c) } else { pb_leaf(s, c) })
        .collect();
    if level.is_empty() {
        // Kubo's empty file: no Data bytes field, filesize 0.
        return file_node(s, None, &[]);
    }
    while level.len() > 1 {
        level = level
            .chunks(width)
            .map(|kids| file_node(s, None, kids))
            .collect();
    }
    level[0]
}

fn dir(s: &mut MemStore, entries: &[(&str, Built)]) -> Built {
    let node = PbNode {
        links: entries.iter().map(|(n, b)| link(n, b)).collect(),
        data: Some(Data::new(DataType::Directory).encode()),
    };
    put_pb(s, &node)
}

fn symlink(s: &mut MemStore, target: &str) -> Built {
    let mut d = Data::new(DataType::Symlink);
    d.data = Some(target.as_bytes().to_vec());
    put_pb(
        s,
        &PbNode {
            links: vec![],
            data: Some(d.encode()),
        },
    )
}

/// A HAMT node (fanout 256) from (index, name suffix or "" for a sub-shard, child).
fn shard(s: &mut MemStore, links: &[(u8, &str, Built)]) -> Built {
    let mut bitfield = vec![0u8; 32];
    for (i, _, _) in links {
        bitfield[31 - usize::from(*i) / 8] |= 1 << (i % 8);
    }
    let mut d = Data::new(DataType::HamtShard);
    d.data = Some(bitfield);
    d.hash_type = Some(0x22);
    d.fanout = Some(256);
    let node = PbNode {
        links: links
            .iter()
            .map(|(i, n, b)| link(&format!("{i:02X}{n}"), b))
            .collect(),
        data: Some(d.encode()),
    };
    put_pb(s, &node)
}

fn content(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

fn cat_all(
    s: &impl BlockSource,
    cid: &Cid,
    off: u64,
    len: Option<u64>,
) -> Result<Vec<u8>, ExportError> {
    let mut out = Vec::new();
    let n = cat(s, cid, off, len, &mut out)?;
    assert_eq!(n, out.len() as u64);
    Ok(out)
}

/// A source that records which blocks were fetched.
struct Counting<'a> {
    inner: &'a MemStore,
    fetched: RefCell<Vec<Cid>>,
}

impl BlockSource for Counting<'_> {
    fn get(&self, cid: &Cid) -> Result<Option<Vec<u8>>, BlockError> {
        self.fetched.borrow_mut().push(*cid);
        self.inner.get(cid)
    }
}

/// A sample tree: file.txt (3-level pb-leaf file), sub/{nested.bin (raw leaf),
/// link -> ../file.txt}, empty/, shard/ (HAMT with a sub-shard).
struct Sample {
    store: MemStore,
    root: Built,
    file: Built,
    file_bytes: Vec<u8>,
    raw: Built,
    shard: Built,
}

fn sample() -> Sample {
    let mut s = MemStore::new();
    let file_bytes = content(1000);
    let file = balanced(&mut s, &file_bytes, 10, 4, false);
    let raw = raw_leaf(&mut s, b"nested raw bytes");
    let link = symlink(&mut s, "../file.txt");
    let sub = dir(&mut s, &[("link", link), ("nested.bin", raw)]);
    let empty = dir(&mut s, &[]);
    let alice = pb_leaf(&mut s, b"alice");
    let bob = raw_leaf(&mut s, b"bob!");
    let inner = pb_leaf(&mut s, b"in");
    let carol = dir(&mut s, &[("inner", inner)]);
    let zed = symlink(&mut s, "alice.txt");
    let sub_shard = shard(&mut s, &[(0x01, "bob", bob), (0xC2, "carol", carol)]);
    let shard_root = shard(
        &mut s,
        &[
            (0x10, "zed", zed),
            (0x7F, "", sub_shard),
            (0xA3, "alice.txt", alice),
        ],
    );
    let root = dir(
        &mut s,
        &[
            ("empty", empty),
            ("file.txt", file),
            ("shard", shard_root),
            ("sub", sub),
        ],
    );
    Sample {
        store: s,
        root,
        file,
        file_bytes,
        raw,
        shard: shard_root,
    }
}

// ---- cat ---------------------------------------------------------------------

#[test]
fn cat_whole_files_every_layout() {
    let mut s = MemStore::new();
    let data = content(5000);
    for (chunk, width, raw) in [
        (7, 3, true),
        (7, 3, false),
        (100, 174, false),
        (5000, 2, true),
        (1, 2, false),
    ] {
        let f = balanced(&mut s, &data, chunk, width, raw);
        assert_eq!(
            cat_all(&s, &f.cid, 0, None).unwrap(),
            data,
            "{chunk} {width} {raw}"
        );
    }
    let empty = balanced(&mut s, b"", 10, 2, false);
    assert_eq!(cat_all(&s, &empty.cid, 0, None).unwrap(), b"");
    assert_eq!(
        empty.cid.to_string(),
        "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"
    );
}

#[test]
fn cat_trickle_like_mixed_depths_inline_and_identity() {
    let mut s = MemStore::new();
    let a = pb_leaf(&mut s, b"AAAA");
    let deep_leaves = [raw_leaf(&mut s, b"bb"), raw_leaf(&mut s, b"BBB")];
    let mid = file_node(&mut s, None, &deep_leaves);
    let deeper = file_node(&mut s, Some(b"-"), &[mid, identity_leaf(b"id")]);
    let root = file_node(&mut s, Some(b"head:"), &[a, deeper, identity_leaf(b"!")]);
    let expected = b"head:AAAA-bbBBBid!".to_vec();
    for off in 0..=expected.len() {
        for len in 0..=expected.len() + 1 {
            let end = (off + len).min(expected.len());
            assert_eq!(
                cat_all(&s, &root.cid, off as u64, Some(len as u64)).unwrap(),
                &expected[off..end],
                "off {off} len {len}"
            );
        }
    }
    // An identity CID as the root.
    assert_eq!(
        cat_all(&s, &identity_leaf(b"inline").cid, 2, None).unwrap(),
        b"line"
    );
}

#[test]
fn cat_skips_subtrees_outside_the_range() {
    let mut s = MemStore::new();
    let data = content(4096);
    let f = balanced(&mut s, &data, 16, 4, true); // 256 leaves, 4 levels of parents
    let counting = Counting {
        inner: &s,
        fetched: RefCell::new(Vec::new()),
    };
    let mut out = Vec::new();
    cat(&counting, &f.cid, 4090, Some(3), &mut out).unwrap();
    assert_eq!(out, &data[4090..4093]);
    // One block per level: root, 3 inner nodes, 1 leaf.
    assert_eq!(
        counting.fetched.borrow().len(),
        5,
        "fetched more than one path"
    );
}

#[test]
fn cat_errors() {
    let sm = sample();
    let s = &sm.store;
    let e = cat_all(s, &sm.root.cid, 0, None).unwrap_err();
    assert!(matches!(e, ExportError::IsDirectory { .. }));
    assert_eq!(e.to_string(), "this dag node is a directory");
    assert!(matches!(
        cat_all(s, &sm.shard.cid, 0, None),
        Err(ExportError::IsDirectory { .. })
    ));
    assert!(matches!(
        cat_all(s, &sm.file.cid, 1001, None),
        Err(ExportError::OffsetPastEnd {
            offset: 1001,
            size: 1000
        })
    ));
    assert_eq!(cat_all(s, &sm.file.cid, 1000, None).unwrap(), b"");
    // A missing block.
    let missing = cids::cid_of(0, cids::DAG_PB, b"nope");
    match cat_all(s, &missing, 0, None) {
        Err(ExportError::Block(b)) => assert!(matches!(*b, BlockError::NotFound { .. })),
        other => panic!("{other:?}"),
    }
}

#[test]
fn cat_rejects_inconsistent_sizes() {
    let mut s = MemStore::new();
    let leaf = raw_leaf(&mut s, b"12345");
    // blocksizes count differs from links count.
    let mut d = Data::new(DataType::File);
    d.blocksizes = vec![5, 5];
    let bad = put_pb(
        &mut s,
        &PbNode {
            links: vec![link("", &leaf)],
            data: Some(d.encode()),
        },
    );
    assert!(matches!(
        cat_all(&s, &bad.cid, 0, None),
        Err(ExportError::Malformed { .. })
    ));
    // Parent claims 6 bytes for a 5-byte leaf.
    let lying = file_node(&mut s, None, &[Built { size: 6, ..leaf }]);
    assert!(matches!(
        cat_all(&s, &lying.cid, 0, None),
        Err(ExportError::Malformed { .. })
    ));
    // filesize disagrees with blocksizes.
    let mut d = Data::new(DataType::File);
    d.blocksizes = vec![5];
    d.filesize = Some(9);
    let bad_fs = put_pb(
        &mut s,
        &PbNode {
            links: vec![link("", &leaf)],
            data: Some(d.encode()),
        },
    );
    assert!(matches!(
        cat_all(&s, &bad_fs.cid, 0, None),
        Err(ExportError::Malformed { .. })
    ));
    // A directory inside a file.
    let d = dir(&mut s, &[]);
    let with_dir = file_node(&mut s, None, &[Built { size: 1, ..d }]);
    assert!(matches!(
        cat_all(&s, &with_dir.cid, 0, None),
        Err(ExportError::Malformed { .. })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn cat_ranges_match(
        len in 0usize..3000,
        chunk in 1usize..300,
        width in 2usize..6,
        raw in any::<bool>(),
        off_frac in 0.0f64..=1.0,
        want in proptest::option::of(0u64..4000),
    ) {
        let mut s = MemStore::new();
        let data = content(len);
        let f = balanced(&mut s, &data, chunk, width, raw);
        let off = ((len as f64) * off_frac) as usize;
        let end = want.map_or(len, |w| (off + w as usize).min(len));
        let got = cat_all(&s, &f.cid, off as u64, want).unwrap();
        prop_assert_eq!(&got[..], &data[off..end]);
    }
}

// ---- ls ----------------------------------------------------------------------

fn summary(entries: &[exporter::Entry]) -> Vec<(String, EntryKind, u64)> {
    entries
        .iter()
        .map(|e| (e.name.clone(), e.kind, e.size))
        .collect()
}

#[test]
fn ls_directories_shards_and_files() {
    let sm = sample();
    let s = &sm.store;
    let root = ls(s, &sm.root.cid).unwrap();
    assert_eq!(
        summary(&root),
        vec![
            ("empty".into(), EntryKind::Directory, 0),
            ("file.txt".into(), EntryKind::File, 1000),
            ("shard".into(), EntryKind::Directory, 0),
            ("sub".into(), EntryKind::Directory, 0),
        ]
    );
    assert_eq!(root[1].cid, sm.file.cid);

    let sub_cid = resolve_path(s, &sm.root.cid, "sub").unwrap();
    assert_eq!(
        summary(&ls(s, &sub_cid).unwrap()),
        vec![
            ("link".into(), EntryKind::Symlink, 0),
            ("nested.bin".into(), EntryKind::Raw, 16),
        ]
    );

    // HAMT: prefixes stripped, sub-shard read in place, shard order.
    assert_eq!(
        summary(&ls(s, &sm.shard.cid).unwrap()),
        vec![
            ("zed".into(), EntryKind::Symlink, 0),
            ("bob".into(), EntryKind::Raw, 4),
            ("carol".into(), EntryKind::Directory, 0),
            ("alice.txt".into(), EntryKind::File, 5),
        ]
    );

    // A file lists its chunk links, unnamed, with the children's file sizes.
    let chunks = ls(s, &sm.file.cid).unwrap();
    assert!(chunks
        .iter()
        .all(|e| e.name.is_empty() && e.kind == EntryKind::File));
    assert_eq!(chunks.iter().map(|e| e.size).sum::<u64>(), 1000);
    // A raw block lists nothing.
    assert!(ls(s, &sm.raw.cid).unwrap().is_empty());
}

#[test]
fn malformed_shards_are_rejected() {
    let mut s = MemStore::new();
    let leaf = raw_leaf(&mut s, b"x");
    let good = shard(&mut s, &[(0x05, "x", leaf)]);
    assert_eq!(ls(&s, &good.cid).unwrap().len(), 1);
    // Bitfield says index 5, link says 06.
    let mut d = Data::new(DataType::HamtShard);
    let mut bf = vec![0u8; 32];
    bf[31] = 1 << 5;
    d.data = Some(bf);
    d.hash_type = Some(0x22);
    d.fanout = Some(256);
    let bad = put_pb(
        &mut s,
        &PbNode {
            links: vec![link("06x", &leaf)],
            data: Some(d.encode()),
        },
    );
    assert!(matches!(
        ls(&s, &bad.cid),
        Err(ExportError::Malformed { .. })
    ));
    // Lowercase hex prefix, and a wrong hash type.
    let mut d2 = d.clone();
    let bad2 = put_pb(
        &mut s,
        &PbNode {
            links: vec![link("0ax", &leaf)],
            data: Some(d2.encode()),
        },
    );
    assert!(matches!(
        ls(&s, &bad2.cid),
        Err(ExportError::Malformed { .. })
    ));
    d2.hash_type = Some(0x12);
    let bad3 = put_pb(
        &mut s,
        &PbNode {
            links: vec![link("05x", &leaf)],
            data: Some(d2.encode()),
        },
    );
    assert!(matches!(
        ls(&s, &bad3.cid),
        Err(ExportError::Malformed { .. })
    ));
}

// ---- resolve -------------------------------------------------------------------

#[test]
fn resolve_paths() {
    let sm = sample();
    let s = &sm.store;
    let r = sm.root.cid;
    assert_eq!(resolve_path(s, &r, "").unwrap(), r);
    assert_eq!(resolve_path(s, &r, "file.txt").unwrap(), sm.file.cid);
    assert_eq!(resolve_path(s, &r, "/sub/nested.bin/").unwrap(), sm.raw.cid);
    let inner = resolve_path(s, &r, "shard/carol/inner").unwrap();
    assert_eq!(cat_all(s, &inner, 0, None).unwrap(), b"in");
    let alice = resolve_path(s, &r, "shard/alice.txt").unwrap();
    assert_eq!(cat_all(s, &alice, 0, None).unwrap(), b"alice");

    let (c, rest) = parse_ipfs_path(&format!("/ipfs/{r}/shard/bob")).unwrap();
    let bob = resolve_path(s, &c, &rest).unwrap();
    assert_eq!(cat_all(s, &bob, 0, None).unwrap(), b"bob!");
    assert_eq!(
        exporter::resolve_ipfs_path(s, &format!("{r}/sub/nested.bin")).unwrap(),
        sm.raw.cid
    );

    let e = resolve_path(s, &r, "sub/missing").unwrap_err();
    let sub = resolve_path(s, &r, "sub").unwrap();
    assert!(
        matches!(&e, ExportError::NotFound { name, parent } if &**name == "missing" && *parent == sub)
    );
    assert_eq!(
        e.to_string(),
        format!("no link named \"missing\" under {sub}")
    );
    assert!(matches!(
        resolve_path(s, &r, "shard/nobody"),
        Err(ExportError::NotFound { .. })
    ));
    assert!(matches!(
        resolve_path(s, &r, "file.txt/x"),
        Err(ExportError::NotFound { .. })
    ));
}

// ---- get -----------------------------------------------------------------------

/// Every path under `p` with its file contents or link target (dirs map to "").
fn snapshot(p: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![p.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let path = e.path();
            let ft = fs::symlink_metadata(&path).unwrap().file_type();
            let key = path.strip_prefix(p).unwrap().to_string_lossy().into_owned();
            if ft.is_symlink() {
                let t = fs::read_link(&path).unwrap();
                out.insert(key, format!("-> {}", t.display()).into_bytes());
            } else if ft.is_dir() {
                out.insert(key + "/", Vec::new());
                stack.push(path);
            } else {
                out.insert(key, fs::read(&path).unwrap());
            }
        }
    }
    out
}

#[test]
fn get_writes_the_tree() {
    let sm = sample();
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("out");
    get(&sm.store, &sm.root.cid, &target).unwrap();
    let snap = snapshot(&target);
    let expect: BTreeMap<String, Vec<u8>> = [
        ("empty/", b"".to_vec()),
        ("file.txt", sm.file_bytes.clone()),
        ("shard/", b"".to_vec()),
        ("shard/alice.txt", b"alice".to_vec()),
        ("shard/bob", b"bob!".to_vec()),
        ("shard/carol/", b"".to_vec()),
        ("shard/carol/inner", b"in".to_vec()),
        ("shard/zed", b"-> alice.txt".to_vec()),
        ("sub/", b"".to_vec()),
        ("sub/link", b"-> ../file.txt".to_vec()),
        ("sub/nested.bin", b"nested raw bytes".to_vec()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(snap, expect);

    // A single file, and refusal to overwrite.
    let f = tmp.path().join("single");
    get(&sm.store, &sm.file.cid, &f).unwrap();
    assert_eq!(fs::read(&f).unwrap(), sm.file_bytes);
    let e = get(&sm.store, &sm.file.cid, &f).unwrap_err();
    assert!(matches!(e, ExportError::Io { .. }), "{e}");
    assert!(matches!(
        get(&sm.store, &sm.root.cid, &target),
        Err(ExportError::Io { .. })
    ));
    // A symlink root.
    let l = tmp.path().join("l");
    let link_cid = resolve_path(&sm.store, &sm.root.cid, "sub/link").unwrap();
    get(&sm.store, &link_cid, &l).unwrap();
    assert_eq!(fs::read_link(&l).unwrap(), Path::new("../file.txt"));
}

#[test]
fn get_refuses_path_traversal() {
    for bad in ["../evil", "a/b", "..", "x\0y", ".", "", "/etc/passwd"] {
        let mut s = MemStore::new();
        let payload = pb_leaf(&mut s, b"pwned");
        let good = pb_leaf(&mut s, b"fine");
        let evil = dir(&mut s, &[("aaa", good), (bad, payload)]);
        // Also nested under an innocent directory: nothing at all is created.
        let outer = dir(&mut s, &[("first", good), ("inner", evil)]);

        for root in [evil, outer] {
            let tmp = tempfile::tempdir().unwrap();
            let parent = tmp.path().join("parent");
            fs::create_dir(&parent).unwrap();
            fs::write(parent.join("keep"), b"keep").unwrap();
            let before = snapshot(&parent);
            let target = parent.join("target");
            let e = get(&s, &root.cid, &target).unwrap_err();
            match e {
                ExportError::UnsafeName { name, parent } => {
                    assert_eq!(&*name, bad);
                    assert_eq!(parent, evil.cid);
                }
                other => panic!("{bad:?}: {other}"),
            }
            assert_eq!(snapshot(&parent), before, "{bad:?} changed the parent");
            assert!(!target.exists());
            assert_eq!(
                snapshot(tmp.path()).len(),
                2,
                "{bad:?} wrote beside the parent"
            );
        }
    }
}

#[test]
fn get_all_malicious_names_at_once() {
    let mut s = MemStore::new();
    let payload = pb_leaf(&mut s, b"pwned");
    let evil = dir(
        &mut s,
        &[
            ("../evil", payload),
            ("a/b", payload),
            ("..", payload),
            ("x\0y", payload),
        ],
    );
    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("t");
    let e = get(&s, &evil.cid, &target).unwrap_err();
    assert!(
        matches!(e, ExportError::UnsafeName { ref name, .. } if &**name == "../evil"),
        "{e}"
    );
    assert!(snapshot(tmp.path()).is_empty());
}

#[test]
fn get_does_not_write_through_symlinks() {
    // "a" is a symlink to the outside, then a directory also named "a" holds a file:
    // `get` must fail (today the duplicate name is refused before anything is
    // written; were it not, creating the directory would fail) instead of writing
    // through the link.
    let mut s = MemStore::new();
    let tmp = tempfile::tempdir().unwrap();
    let outside = tmp.path().join("outside");
    fs::create_dir(&outside).unwrap();
    let link = symlink(&mut s, outside.to_str().unwrap());
    let payload = pb_leaf(&mut s, b"pwned");
    let inner = dir(&mut s, &[("evil", payload)]);
    let root = dir(&mut s, &[("a", link), ("a", inner)]);
    let target = tmp.path().join("t");
    let e = get(&s, &root.cid, &target).unwrap_err();
    assert!(
        matches!(
            e,
            ExportError::Io { .. } | ExportError::DuplicateName { .. }
        ),
        "{e}"
    );
    assert!(
        fs::read_dir(&outside).unwrap().next().is_none(),
        "wrote outside"
    );

    // A file entry with the same name as an earlier symlink is refused too.
    let root2 = dir(&mut s, &[("a", link), ("a", payload)]);
    let target2 = tmp.path().join("t2");
    assert!(matches!(
        get(&s, &root2.cid, &target2),
        Err(ExportError::Io { .. } | ExportError::DuplicateName { .. })
    ));
    assert!(
        fs::read_dir(&outside).unwrap().next().is_none(),
        "wrote outside"
    );
}

// ---- CAR ---------------------------------------------------------------------

/// A DAG with a shared child: root -> [a, b], a -> [c], b -> [c].
fn diamond(s: &mut MemStore) -> (Built, Vec<Cid>) {
    let c = raw_leaf(s, b"shared leaf");
    let a = file_node(s, None, &[c]);
    let b = file_node(s, Some(b"b"), &[c]);
    let root = dir(s, &[("a", a), ("b", b)]);
    (root, vec![root.cid, a.cid, c.cid, b.cid])
}

type CarContents = (Vec<Cid>, Vec<(Cid, Vec<u8>)>);

fn read_all(car: &[u8]) -> Result<CarContents, CarError> {
    let mut r = CarReader::new(car)?;
    let roots = r.roots().to_vec();
    let mut blocks = Vec::new();
    while let Some(b) = r.next_block()? {
        blocks.push(b);
    }
    Ok((roots, blocks))
}

#[test]
fn car_round_trip_in_dfs_order() {
    let mut s = MemStore::new();
    let (root, order) = diamond(&mut s);
    let mut car_bytes = Vec::new();
    assert_eq!(car::export_dag(&s, &root.cid, &mut car_bytes).unwrap(), 4);
    let (roots, blocks) = read_all(&car_bytes).unwrap();
    assert_eq!(roots, vec![root.cid]);
    assert_eq!(blocks.iter().map(|b| b.0).collect::<Vec<_>>(), order);

    let mut dst = MemStore::new();
    let summary = car::import(&car_bytes[..], &mut dst).unwrap();
    assert_eq!(summary.roots, vec![root.cid]);
    assert_eq!(summary.blocks, 4);
    for c in &order {
        assert_eq!(dst.get(c).unwrap(), s.get(c).unwrap());
    }

    // A bigger file DAG round-trips and still cats.
    let data = content(20_000);
    let f = balanced(&mut s, &data, 100, 5, false);
    let mut car_bytes = Vec::new();
    car::export_dag(&s, &f.cid, &mut car_bytes).unwrap();
    let mut dst = MemStore::new();
    car::import(&car_bytes[..], &mut dst).unwrap();
    assert_eq!(cat_all(&dst, &f.cid, 0, None).unwrap(), data);
}

#[test]
fn car_missing_block_on_export() {
    let mut s = MemStore::new();
    let (root, order) = diamond(&mut s);
    let mut partial = MemStore::new();
    for c in &order[..2] {
        partial.put(c, &s.get(c).unwrap().unwrap()).unwrap();
    }
    assert!(matches!(
        car::export_dag(&partial, &root.cid, Vec::new()),
        Err(CarError::Block(BlockError::NotFound { .. }))
    ));
}

#[test]
fn car_truncated_anywhere_is_an_error() {
    let mut s = MemStore::new();
    let (root, order) = diamond(&mut s);
    // Section boundaries, where a cut leaves a valid, shorter CAR.
    let mut w = CarWriter::new(Vec::new(), &[root.cid]).unwrap();
    let mut boundaries = vec![];
    for c in &order {
        boundaries.push(w_len(&w));
        w.write_block(c, &s.get(c).unwrap().unwrap()).unwrap();
    }
    let car_bytes = w.finish().unwrap();
    for cut in 0..car_bytes.len() {
        let r = read_all(&car_bytes[..cut]);
        if boundaries.contains(&cut) {
            let (_, blocks) = r.unwrap();
            assert_eq!(
                blocks.len(),
                boundaries.iter().position(|b| *b == cut).unwrap()
            );
        } else {
            assert!(
                matches!(r, Err(CarError::Truncated { .. })),
                "cut {cut}: {r:?}"
            );
            let mut sink = MemStore::new();
            assert!(car::import(&car_bytes[..cut], &mut sink).is_err());
        }
    }
}

fn w_len(w: &CarWriter<Vec<u8>>) -> usize {
    w.get_ref().len()
}

#[test]
fn car_corrupt_block_is_a_hash_mismatch() {
    let mut s = MemStore::new();
    let (root, _) = diamond(&mut s);
    let mut car_bytes = Vec::new();
    car::export_dag(&s, &root.cid, &mut car_bytes).unwrap();
    let last = car_bytes.len() - 1;
    car_bytes[last] ^= 0x01;
    let e = read_all(&car_bytes).unwrap_err();
    assert!(matches!(e, CarError::HashMismatch { index: 3, .. }), "{e}");
}

#[test]
fn car_bad_headers() {
    // Garbage.
    assert!(matches!(
        CarReader::new(&[0x05, 1, 2, 3, 4, 5][..]),
        Err(CarError::BadHeader { .. })
    ));
    // Empty input, empty header, oversize header length.
    assert!(matches!(
        CarReader::new(&[][..]),
        Err(CarError::Truncated { .. })
    ));
    assert!(matches!(
        CarReader::new(&[0x00][..]),
        Err(CarError::BadHeader { .. })
    ));
    let mut big = Vec::new();
    big.extend_from_slice(&[0x80, 0x80, 0x80, 0x01]); // 2 MiB
    assert!(matches!(
        CarReader::new(&big[..]),
        Err(CarError::HeaderTooLarge { .. })
    ));
    // Version 2 (a CARv2 pragma has version 2 in the same header shape).
    let mut e = minicbor::Encoder::new(Vec::new());
    e.map(1).unwrap().str("version").unwrap().u64(2).unwrap();
    let h = e.into_writer();
    let mut v2 = vec![h.len() as u8];
    v2.extend_from_slice(&h);
    assert!(matches!(
        CarReader::new(&v2[..]),
        Err(CarError::UnsupportedVersion(2))
    ));
}

#[test]
fn car_oversize_section_is_refused_before_reading() {
    let root = cids::cid_of(1, cids::RAW, b"x");
    let mut car_bytes = CarWriter::new(Vec::new(), &[root])
        .unwrap()
        .finish()
        .unwrap();
    // varint(3 MiB) and only a few bytes after it.
    acorn_storage::proto::write_varint(&mut car_bytes, 3 << 20);
    car_bytes.extend_from_slice(b"short");
    let e = read_all(&car_bytes).unwrap_err();
    assert!(
        matches!(e, CarError::SectionTooLarge { len, .. } if len == 3 << 20),
        "{e}"
    );
}
