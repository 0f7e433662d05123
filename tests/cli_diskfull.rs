//! Disk full: on a 16 MiB tmpfs, an add that does not fit fails with a clear
//! "disk full" error and leaves the repo consistent (verify clean, no pin, the
//! partial blocks collectable, later small adds work); a `dag import` whose CAR
//! does not fit fails the same way and leaves no spool file; on a file system with
//! no free block at all the repo still opens, and `pin rm` + `repo gc` give space
//! back. Needs root for the mount, which CI has.

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

/// Mounts a 16 MiB tmpfs at `<d>/card`.
fn mount_card(d: &std::path::Path) -> Tmpfs {
    let mnt = d.join("card");
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
    Tmpfs(mnt)
}

/// Bytes available to us on the file system holding `path`.
fn free_bytes(path: &std::path::Path) -> u64 {
    let s = nix::sys::statvfs::statvfs(path).unwrap();
    s.blocks_available() as u64 * s.fragment_size() as u64
}

#[test]
fn add_on_a_full_card_fails_cleanly() {
    let d = tempfile::tempdir().unwrap();
    let guard = mount_card(d.path());
    let mnt = guard.0.clone();
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

/// With not one free block left (content, then a filler file to the last byte), the
/// repo still opens: `repo stat` works, and `pin rm` + `repo gc` free the content's
/// space.
#[test]
fn full_card_opens_and_gc_frees_space() {
    let d = tempfile::tempdir().unwrap();
    let guard = mount_card(d.path());
    let mnt = guard.0.clone();
    let root = mnt.join("repo");
    ok(&run(&root, &["init", "--profile", "test"], None));
    ok(&run(&root, &["config", "Acorn.MinFreeSpace", "0"], None));
    let data = d.path().join("data");
    std::fs::write(&data, common::pseudo_random(6 << 20, 7)).unwrap();
    let cid = ok(&run(&root, &["add", "-Q", data.to_str().unwrap()], None));
    let cid = cid.trim();
    // An empty lock file is what a truncate-then-write lock leaves when a holder dies
    // between the two, or when the block the truncate freed is taken by another
    // writer first: from then on recording a PID needs a new block. Start from
    // that, then fill the rest, in large writes and then byte by byte, to the last
    // block.
    std::fs::write(root.join("repo.lock"), "").unwrap();
    let mut filler = std::fs::File::create(mnt.join("filler")).unwrap();
    let chunk = vec![0x5a_u8; 64 << 10];
    for len in [chunk.len(), 4096, 1] {
        while std::io::Write::write_all(&mut filler, &chunk[..len]).is_ok() {}
    }
    drop(filler);
    assert_eq!(free_bytes(&mnt), 0, "the card is full");

    let stat = ok(&run(&root, &["repo", "stat"], None));
    assert!(stat.contains("NumObjects"), "{stat}");
    ok(&run(&root, &["pin", "rm", cid], None));
    ok(&run(&root, &["repo", "gc"], None));
    assert_eq!(ok(&run(&root, &["refs", "local"], None)), "");
    assert!(
        free_bytes(&mnt) >= 5 << 20,
        "gc gave the content's space back: {} bytes free",
        free_bytes(&mnt)
    );
    assert!(ok(&run(&root, &["repo", "verify"], None)).starts_with("verified repo"));
}
