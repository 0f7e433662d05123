//! `add --nocopy` and `acorn filestore`: CIDs equal to `--raw-leaves` adds, no file
//! data copied, every change to a referenced file caught (including one that keeps
//! size and mtime), Kubo's statuses, and the user's files never written.

use crate::common;

use common::{err, init_repo, ok, pseudo_random, run};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Bytes and mtime of every file under `dir`, to prove Acorn never writes them.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>, i64, i64)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let m = std::fs::metadata(&p).unwrap();
                out.push((
                    p.clone(),
                    std::fs::read(&p).unwrap(),
                    m.mtime(),
                    m.mtime_nsec(),
                ));
            }
        }
    }
    out.sort();
    out
}

/// A data directory: a 1 MiB + 5 file (5 chunks), a small file, an empty file.
fn data_dir(d: &Path) -> PathBuf {
    let data = d.join("data");
    std::fs::create_dir_all(data.join("sub")).unwrap();
    std::fs::write(data.join("big.bin"), pseudo_random((1 << 20) + 5, 11)).unwrap();
    std::fs::write(data.join("sub/small.txt"), b"hello filestore\n").unwrap();
    std::fs::write(data.join("sub/empty"), b"").unwrap();
    data
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn block_files(root: &Path) -> usize {
    let mut n = 0;
    for shard in std::fs::read_dir(root.join("blocks")).unwrap() {
        n += std::fs::read_dir(shard.unwrap().path()).unwrap().count();
    }
    n
}

#[test]
fn nocopy_cids_equal_raw_leaves_and_nothing_is_copied() {
    let (d, root) = init_repo();
    let data = data_dir(d.path());
    let before = snapshot(&data);
    for extra in [&[][..], &["--cid-version=1"][..], &["--trickle"][..]] {
        let mut raw = vec!["add", "-r", "-n", "--raw-leaves"];
        raw.extend_from_slice(extra);
        raw.push(s(&data));
        let want = ok(&run(&root, &raw, None));
        let mut nocopy = vec!["add", "-r", "--nocopy"];
        nocopy.extend_from_slice(extra);
        nocopy.push(s(&data));
        assert_eq!(ok(&run(&root, &nocopy, None)), want, "options {extra:?}");
    }
    // Only internal nodes were stored: no block files, and the leaves are references.
    assert_eq!(block_files(&root), 0, "nocopy wrote block data");
    let ls = ok(&run(&root, &["filestore", "ls"], None));
    assert!(
        ls.contains(&format!("{} 1048576", s(&data.join("big.bin")))),
        "{ls}"
    );
    assert!(ls.contains(" 5 "), "the 5-byte tail chunk is listed: {ls}");
    assert!(ls.contains(&format!("{} 0", s(&data.join("sub/small.txt")))));
    let lines: Vec<&str> = ls.lines().collect();
    for l in &lines {
        let f: Vec<&str> = l.split_whitespace().collect();
        assert_eq!(f.len(), 4, "<cid> <size> <path> <offset>: {l}");
        assert!(f[0].starts_with("bafkrei"), "raw CIDv1 keys: {l}");
    }
    // cat reads the references back.
    let cid = ok(&run(
        &root,
        &["add", "-Q", "--nocopy", s(&data.join("big.bin"))],
        None,
    ));
    let got = run(&root, &["cat", cid.trim()], None);
    assert!(got.ok, "{}", got.stderr);
    assert_eq!(got.stdout, std::fs::read(data.join("big.bin")).unwrap());
    ok(&run(&root, &["repo", "verify"], None));
    assert_eq!(snapshot(&data), before, "a referenced file was written");
}

#[test]
fn nocopy_refuses_stdin_and_dag_pb_leaves() {
    let (_d, root) = init_repo();
    let e = err(&run(&root, &["add", "--nocopy"], Some(b"x")));
    assert!(e.contains("--nocopy needs file paths"), "{e}");
    let e = err(&run(
        &root,
        &["add", "--nocopy", "--raw-leaves=false", "/etc/hostname"],
        None,
    ));
    assert!(e.contains("raw leaves"), "{e}");
}

/// Statuses from `filestore verify` keyed by the path's file name and offset.
fn statuses(root: &Path) -> (bool, Vec<(String, String, String)>) {
    let r = run(root, &["filestore", "verify", "--file-order"], None);
    let rows = r
        .text()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let name = Path::new(f[3]).file_name().unwrap().to_str().unwrap();
            (f[0].to_string(), name.to_string(), f[4].to_string())
        })
        .collect();
    (r.ok, rows)
}

#[test]
fn changed_truncated_deleted_and_unreadable_files_get_kubo_statuses() {
    let (d, root) = init_repo();
    let data = data_dir(d.path());
    let root_cid = ok(&run(
        &root,
        &["add", "-r", "-Q", "--nocopy", s(&data)],
        None,
    ));
    let root_cid = root_cid.trim();
    let (all_ok, rows) = statuses(&root);
    assert!(all_ok);
    assert!(rows.iter().all(|r| r.0 == "ok"), "{rows:?}");
    assert_eq!(rows.len(), 5 + 1 + 1, "5 chunks, small, empty");
    // --file-order: by path, then offset.
    let big: Vec<&String> = rows
        .iter()
        .filter(|r| r.1 == "big.bin")
        .map(|r| &r.2)
        .collect();
    assert_eq!(big, ["0", "262144", "524288", "786432", "1048576"]);

    // 1. Same size, same mtime, other bytes: only the hash can tell.
    let big_path = data.join("big.bin");
    let meta = std::fs::metadata(&big_path).unwrap();
    let mut bytes = std::fs::read(&big_path).unwrap();
    bytes[300_000] ^= 0xff;
    std::fs::write(&big_path, &bytes).unwrap();
    let t = nix::sys::time::TimeSpec::new(meta.mtime(), meta.mtime_nsec());
    nix::sys::stat::utimensat(
        nix::fcntl::AT_FDCWD,
        &big_path,
        &t,
        &t,
        nix::sys::stat::UtimensatFlags::FollowSymlink,
    )
    .unwrap();
    let m2 = std::fs::metadata(&big_path).unwrap();
    assert_eq!(
        (m2.len(), m2.mtime(), m2.mtime_nsec()),
        (meta.len(), meta.mtime(), meta.mtime_nsec())
    );
    let (all_ok, rows) = statuses(&root);
    assert!(!all_ok, "verify exits non-zero when an entry is not ok");
    let st = |rows: &[(String, String, String)], name: &str, off: &str| {
        rows.iter()
            .find(|r| r.1 == name && r.2 == off)
            .map(|r| r.0.clone())
            .unwrap()
    };
    assert_eq!(st(&rows, "big.bin", "262144"), "changed");
    assert_eq!(st(&rows, "big.bin", "0"), "ok");
    // cat never returns wrong bytes: a clear error naming the file.
    let e = err(&run(&root, &["cat", &format!("{root_cid}/big.bin")], None));
    assert!(e.contains(s(&big_path)) && e.contains("changed"), "{e}");
    // The pin over it is broken at that leaf; the command lists it, as Kubo.
    let r = run(&root, &["pin", "verify"], None);
    assert!(!r.ok);
    assert!(
        r.text().starts_with(&format!("{root_cid} broken\n")),
        "{}",
        r.text()
    );
    assert!(
        r.text().contains("changed since it was added"),
        "{}",
        r.text()
    );
    assert!(r.stderr.contains("1 pin(s) broken"), "{}", r.stderr);

    // 2. Truncated: the blocks past the end are "changed".
    bytes[300_000] ^= 0xff;
    std::fs::write(&big_path, &bytes[..600_000]).unwrap();
    let (_, rows) = statuses(&root);
    assert_eq!(st(&rows, "big.bin", "262144"), "ok");
    assert_eq!(st(&rows, "big.bin", "524288"), "changed");
    assert_eq!(st(&rows, "big.bin", "1048576"), "changed");

    // 3. Deleted: "no-file".
    std::fs::remove_file(&big_path).unwrap();
    let (_, rows) = statuses(&root);
    assert_eq!(st(&rows, "big.bin", "0"), "no-file");
    let e = err(&run(&root, &["cat", &format!("{root_cid}/big.bin")], None));
    assert!(
        e.contains(s(&big_path)) && e.contains("no longer exists"),
        "{e}"
    );
    let r = run(&root, &["pin", "verify", "-q"], None);
    assert!(!r.ok);
    assert_eq!(r.text(), format!("{root_cid}\n"));

    // 4. Unreadable (a directory where the file was): "error".
    let small = data.join("sub/small.txt");
    std::fs::remove_file(&small).unwrap();
    std::fs::create_dir(&small).unwrap();
    let (_, rows) = statuses(&root);
    assert_eq!(st(&rows, "small.txt", "0"), "error");

    // 5. A block not in the filestore: "missing".
    let other = ok(&run(
        &root,
        &["add", "-Q", "--cid-version=1"],
        Some(b"copied"),
    ));
    let r = run(&root, &["filestore", "verify", other.trim()], None);
    assert!(!r.ok);
    assert_eq!(r.text(), format!("missing {}\n", other.trim()));

    // repo verify reports the broken references too.
    let r = run(&root, &["repo", "verify"], None);
    assert!(!r.ok);
    assert!(
        r.stderr.contains("filestore") || r.text().contains("filestore"),
        "{}",
        r.stderr
    );
}

#[test]
fn gc_rm_and_dups_never_touch_files() {
    let (d, root) = init_repo();
    let data = data_dir(d.path());
    let before = snapshot(&data);
    let fs_root = ok(&run(
        &root,
        &["add", "-r", "-Q", "--nocopy", s(&data)],
        None,
    ));
    let fs_root = fs_root.trim().to_string();
    // A copy of the same content (raw leaves: same block CIDs) makes every leaf a dup.
    let copy_root = ok(&run(
        &root,
        &["add", "-r", "-Q", "--raw-leaves", s(&data)],
        None,
    ));
    assert_eq!(copy_root.trim(), fs_root);
    let dups = ok(&run(&root, &["filestore", "dups"], None));
    assert_eq!(dups.lines().count(), 7, "{dups}");
    assert!(
        block_files(&root) >= 4,
        "the copied 256 KiB leaves are block files"
    );

    // rm of a pinned block whose copy exists: fine (nothing is lost).
    let first = dups.lines().next().unwrap().to_string();
    ok(&run(&root, &["filestore", "rm", &first], None));
    assert!(!ok(&run(&root, &["filestore", "dups"], None)).contains(&first));
    let e = err(&run(&root, &["filestore", "rm", &first], None));
    assert!(e.contains("not in the filestore"), "{e}");

    // Drop the copies: unpin, GC everything, then nocopy again.
    ok(&run(&root, &["pin", "rm", &fs_root], None));
    ok(&run(&root, &["repo", "gc"], None));
    assert_eq!(block_files(&root), 0, "GC removed the block files");
    assert_eq!(
        ok(&run(&root, &["filestore", "ls"], None)),
        "",
        "GC dropped the references"
    );
    ok(&run(
        &root,
        &["add", "-r", "-Q", "--nocopy", s(&data)],
        None,
    ));
    let ls = ok(&run(&root, &["filestore", "ls"], None));
    let leaf = ls
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    // Pinned, no copy: refused.
    let e = err(&run(&root, &["filestore", "rm", &leaf], None));
    assert!(e.contains("pinned"), "{e}");
    ok(&run(&root, &["pin", "rm", &fs_root], None));
    ok(&run(&root, &["filestore", "rm", &leaf], None));
    ok(&run(&root, &["repo", "gc"], None));
    ok(&run(&root, &["repo", "verify"], None));
    assert_eq!(snapshot(&data), before, "a referenced file was written");
}

#[test]
fn copy_add_keeps_large_blocks_as_files_and_gc_removes_them() {
    let (d, root) = init_repo();
    let f = d.path().join("f");
    let bytes = pseudo_random(3 << 20, 3);
    std::fs::write(&f, &bytes).unwrap();
    let cid = ok(&run(&root, &["add", "-Q", "--cid-version=1", s(&f)], None));
    assert_eq!(block_files(&root), 12, "12 raw leaves of 256 KiB as files");
    let r = run(&root, &["cat", cid.trim()], None);
    assert_eq!(r.stdout, bytes);
    // A file that goes missing from blocks/ is corruption, reported by verify.
    let victim = std::fs::read_dir(root.join("blocks"))
        .unwrap()
        .flat_map(|s| std::fs::read_dir(s.unwrap().path()).unwrap())
        .next()
        .unwrap()
        .unwrap()
        .path();
    let saved = std::fs::read(&victim).unwrap();
    std::fs::remove_file(&victim).unwrap();
    let r = run(&root, &["repo", "verify"], None);
    assert!(!r.ok);
    std::fs::write(&victim, saved).unwrap();
    ok(&run(&root, &["repo", "verify"], None));
    // An orphan (a file no index names, as a killed add leaves) is swept by GC.
    let orphan = root.join("blocks/00/1220deadbeef.data");
    std::fs::create_dir_all(orphan.parent().unwrap()).unwrap();
    std::fs::write(&orphan, b"junk").unwrap();
    ok(&run(&root, &["pin", "rm", cid.trim()], None));
    ok(&run(&root, &["repo", "gc"], None));
    assert_eq!(block_files(&root), 0);
}
