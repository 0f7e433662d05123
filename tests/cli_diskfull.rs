//! Disk full: on a 16 MiB tmpfs, an add that does not fit fails with a clear
//! "disk full" error and leaves the repo consistent (verify clean, no pin, the
//! partial blocks collectable, later small adds work); a `dag import` whose CAR
//! does not fit fails the same way and leaves no spool file. Needs root for the mount,
//! which CI has.

mod common;

use common::{err, ok, run};
use std::process::Command;

/// A tmpfs mount, unmounted on drop.
struct Tmpfs(std::path::PathBuf);

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn add_on_a_full_card_fails_cleanly() {
    let d = tempfile::tempdir().unwrap();
    let mnt = d.path().join("card");
    std::fs::create_dir(&mnt).unwrap();
    let status = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=16m", "tmpfs"])
        .arg(&mnt)
        .status()
        .expect("run mount");
    assert!(
        status.success(),
        "mounting a tmpfs needs root (CI runs as root)"
    );
    let _guard = Tmpfs(mnt.clone());
    let root = mnt.join("repo");
    ok(&run(&root, &["init", "--profile", "test"], None));
    ok(&run(&root, &["config", "Acorn.MinFreeSpace", "1MiB"], None));
    let big = d.path().join("big");
    std::fs::write(&big, common::pseudo_random(30 << 20, 5)).unwrap();
    let e = err(&run(&root, &["add", big.to_str().unwrap()], None));
    assert!(e.contains("disk full"), "{e}");
    // A CAR from stdin is spooled in the repo first: the reserve holds for the
    // spool too, and the spool file is removed.
    let mut car = acorn_storage::car::CarWriter::new(Vec::new(), &[]).unwrap();
    for i in 0..30u64 {
        let data = common::pseudo_random(1 << 20, 100 + i);
        let cid = acorn_storage::cids::cid_of(1, acorn_storage::cids::RAW, &data);
        car.write_block(&cid, &data).unwrap();
    }
    let car = car.finish().unwrap();
    let e = err(&run(&root, &["dag", "import"], Some(&car)));
    assert!(e.contains("disk full"), "{e}");
    let left: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".car.tmp"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    // Consistent: nothing pinned, every stored block intact, garbage collectable.
    assert_eq!(ok(&run(&root, &["pin", "ls"], None)), "");
    assert!(ok(&run(&root, &["repo", "verify"], None)).starts_with("verified repo"));
    ok(&run(&root, &["repo", "gc"], None));
    assert_eq!(ok(&run(&root, &["refs", "local"], None)), "");
    let small = ok(&run(&root, &["add", "-Q"], Some(b"still works\n")));
    assert_eq!(
        ok(&run(&root, &["cat", small.trim()], None)),
        "still works\n"
    );
    // The reserve is a setting: a bad value is refused.
    assert!(
        err(&run(&root, &["config", "Acorn.MinFreeSpace", "lots"], None)).contains("MinFreeSpace")
    );
}
