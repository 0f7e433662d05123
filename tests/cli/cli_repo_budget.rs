//! `Datastore.StorageMax` as a budget (repo full), `repo stat` totals, and
//! `repo migrate` on the committed old-format repo.

use crate::common::{err, init_repo, ok, pseudo_random, repo_dir, run};
use std::path::Path;

fn stat_field(root: &Path, field: &str) -> u64 {
    let out = ok(&run(root, &["repo", "stat"], None));
    out.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in {out}"))
}

/// An add past `StorageMax` fails naming both sizes, stores nothing, and the
/// repo verifies clean; after `pin rm` + `repo gc` there is room again.
#[test]
fn add_past_storage_max_is_repo_full_and_stores_nothing() {
    let (_d, root) = init_repo();
    ok(&run(
        &root,
        &["config", "Datastore.StorageMax", "300kB"],
        None,
    ));
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first");
    std::fs::write(&first, pseudo_random(200_000, 1)).unwrap();
    let cid = ok(&run(&root, &["add", "-Q", first.to_str().unwrap()], None));
    let objects = stat_field(&root, "NumObjects:");
    let second = dir.path().join("second");
    std::fs::write(&second, pseudo_random(200_000, 2)).unwrap();
    let e = err(&run(&root, &["add", "-Q", second.to_str().unwrap()], None));
    assert!(e.contains("repo full"), "{e}");
    assert!(e.contains("300000-byte budget"), "{e}");
    assert!(e.contains("it holds 200"), "{e}");
    // Whole batches an add committed before the refusal are unpinned: GC takes them.
    ok(&run(&root, &["repo", "gc"], None));
    assert_eq!(stat_field(&root, "NumObjects:"), objects);
    assert!(ok(&run(&root, &["repo", "verify"], None)).contains("blocks ok"));
    ok(&run(&root, &["pin", "rm", cid.trim()], None));
    ok(&run(&root, &["repo", "gc"], None));
    assert_eq!(stat_field(&root, "NumObjects:"), 0);
    ok(&run(&root, &["add", "-Q", second.to_str().unwrap()], None));
}

/// `repo migrate`: nothing to do without a repo or on a current one; the committed
/// format-2 repo is upgraded once, with its backup, and then verifies clean.
#[test]
fn repo_migrate_upgrades_the_format_2_repo_once() {
    let (_d, nowhere) = repo_dir();
    let out = ok(&run(&nowhere, &["repo", "migrate"], None));
    assert!(out.contains("nothing to migrate"), "{out}");
    assert!(!nowhere.exists(), "migrate must not create a repo");

    let (_d2, root) = init_repo();
    let out = ok(&run(&root, &["repo", "migrate"], None));
    assert!(out.contains("nothing to do"), "{out}");

    let (_d3, old) = init_repo();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("storage/tests/data/repo-v2");
    std::fs::remove_dir_all(old.join("blocks")).ok();
    std::fs::copy(fixture.join("datastore.redb"), old.join("datastore.redb")).unwrap();
    copy_dir(&fixture.join("blocks"), &old.join("blocks"));
    let out = ok(&run(&old, &["repo", "migrate"], None));
    assert!(out.contains("upgraded from format 2 to 3"), "{out}");
    assert!(old.join("backup/datastore.redb.v2").is_file());
    let out = ok(&run(&old, &["repo", "migrate"], None));
    assert!(out.contains("nothing to do"), "{out}");
    assert_eq!(stat_field(&old, "NumObjects:"), 4);
    assert!(ok(&run(&old, &["repo", "verify"], None)).contains("4 blocks ok"));
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}
