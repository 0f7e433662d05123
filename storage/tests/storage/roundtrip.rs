//! Importer → exporter round trips: what `add` builds, `cat`, `ls`, `get` and path
//! resolution read back (balanced, trickle, raw leaves, plain and HAMT directories).

use acorn_storage::block::MemStore;
use acorn_storage::unixfs::exporter::{self, EntryKind};
use acorn_storage::unixfs::importer::{self, Layout, Options};
use acorn_storage::Cid;
use std::path::Path;

fn cat_vec(s: &MemStore, c: &Cid, off: u64, len: Option<u64>) -> Vec<u8> {
    let mut v = Vec::new();
    let n = exporter::cat(s, c, off, len, &mut v).unwrap();
    assert_eq!(n as usize, v.len());
    v
}

#[test]
fn cat_ranges_across_chunks_and_layouts() {
    let data: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
    for opts in [
        Options {
            chunker: acorn_storage::unixfs::chunker::Chunker::Size(100),
            max_links: 4,
            ..Options::default()
        },
        Options {
            chunker: acorn_storage::unixfs::chunker::Chunker::Size(100),
            max_links: 4,
            raw_leaves: true,
            ..Options::default()
        },
        Options {
            chunker: acorn_storage::unixfs::chunker::Chunker::Size(64),
            max_links: 3,
            layout: Layout::Trickle,
            ..Options::default()
        },
        Options::default().with_cid_version(1, None),
    ] {
        let mut s = MemStore::new();
        let c = importer::add_file(&opts, &mut s, &data[..]).unwrap().cid;
        assert_eq!(cat_vec(&s, &c, 0, None), data, "{opts:?}");
        assert_eq!(exporter::file_size(&s, &c).unwrap(), Some(5000));
        for (off, len) in [
            (0, 1),
            (99, 2),
            (100, 100),
            (4999, 10),
            (1234, 2345),
            (0, 5000),
        ] {
            let lo = (off as usize).min(data.len());
            let hi = (off as usize + len as usize).min(data.len());
            assert_eq!(
                cat_vec(&s, &c, off, Some(len)),
                &data[lo..hi],
                "{opts:?} {off}+{len}"
            );
        }
    }
}

#[test]
fn directories_plain_and_sharded_resolve_list_and_get() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("src");
    std::fs::create_dir_all(src.join("sub/empty")).unwrap();
    std::fs::write(src.join("sub/a.txt"), b"alpha").unwrap();
    std::os::unix::fs::symlink("sub/a.txt", src.join("link")).unwrap();
    for i in 0..300 {
        std::fs::write(src.join(format!("f{i:03}")), format!("file {i}")).unwrap();
    }
    // The default threshold keeps this directory plain; 100 bytes forces HAMT shards
    // (with sub-shards: 302 entries over 256 slots).
    for threshold in [262_144, 100] {
        let opts = Options {
            shard_threshold_bytes: threshold,
            ..Options::default()
        };
        let mut s = MemStore::new();
        let root = importer::add_path(&opts, &mut s, &src, true, &mut |_, _| {})
            .unwrap()
            .cid;
        let a = exporter::resolve_path(&s, &root, "sub/a.txt").unwrap();
        assert_eq!(cat_vec(&s, &a, 0, None), b"alpha");
        for i in [0, 123, 299] {
            let f = exporter::resolve_path(&s, &root, &format!("f{i:03}")).unwrap();
            assert_eq!(cat_vec(&s, &f, 0, None), format!("file {i}").as_bytes());
        }
        assert!(exporter::resolve_path(&s, &root, "nope").is_err());
        let entries = exporter::ls(&s, &root).unwrap();
        assert_eq!(entries.len(), 302, "threshold {threshold}");
        assert!(entries
            .iter()
            .any(|e| e.name == "sub" && e.kind == EntryKind::Directory));
        assert!(entries
            .iter()
            .any(|e| e.name == "link" && e.kind == EntryKind::Symlink));
        assert!(exporter::cat(&s, &root, 0, None, &mut Vec::new()).is_err());
        let out = d.path().join(format!("out-{threshold}"));
        exporter::get(&s, &root, &out).unwrap();
        assert_eq!(std::fs::read(out.join("sub/a.txt")).unwrap(), b"alpha");
        assert_eq!(std::fs::read(out.join("f299")).unwrap(), b"file 299");
        assert!(out.join("sub/empty").is_dir());
        assert_eq!(
            std::fs::read_link(out.join("link")).unwrap(),
            Path::new("sub/a.txt")
        );
        assert!(
            exporter::get(&s, &root, &out).is_err(),
            "an existing target is refused"
        );
        // Re-adding what get wrote gives the same root.
        let again =
            importer::add_path(&opts, &mut MemStore::new(), &out, true, &mut |_, _| {}).unwrap();
        assert_eq!(again.cid, root);
    }
}

/// Counts block reads.
struct Counting<'a>(&'a MemStore, std::cell::Cell<usize>);

impl acorn_storage::BlockSource for Counting<'_> {
    fn get(&self, cid: &Cid) -> Result<Option<Vec<u8>>, acorn_storage::BlockError> {
        self.1.set(self.1.get() + 1);
        self.0.get(cid)
    }
}

#[test]
fn hamt_lookup_reads_only_the_shards_on_the_path() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("big");
    std::fs::create_dir(&src).unwrap();
    for i in 0..2000 {
        std::fs::write(src.join(format!("f{i:04}")), i.to_string()).unwrap();
    }
    let opts = Options {
        shard_threshold_bytes: 100,
        ..Options::default()
    };
    let mut s = MemStore::new();
    let root = importer::add_path(&opts, &mut s, &src, true, &mut |_, _| {})
        .unwrap()
        .cid;
    let counting = Counting(&s, std::cell::Cell::new(0));
    let f = exporter::resolve_path(&counting, &root, "f1234").unwrap();
    // 2000 entries over 256 slots: the root and one or two sub-shards, not all ~256.
    assert!(counting.1.get() <= 4, "read {} blocks", counting.1.get());
    assert_eq!(cat_vec(&s, &f, 0, None), b"1234");
}
