//! Disk full: on a 16 MiB tmpfs, an add that does not fit fails with a clear
//! "disk full" error and leaves the repo consistent (verify clean, no pin, the
//! partial blocks collectable, later small adds work); a `dag import` whose CAR
//! does not fit fails the same way and leaves no spool file; on a file system with
//! no free block at all the repo still opens, and `pin rm` + `repo gc` give space
//! back, also through a daemon started on the full disk. On a small ext4 loop
//! mount, a disk filled by another process during an add through the daemon makes
//! a database write fail with ENOSPC; once space is freed, the same daemon serves
//! every command again; while the database cannot be reopened the systemd watchdog
//! is not fed. Needs root for the mounts and `chattr`, which CI has.

use crate::common;
use crate::rpc;

use common::{err, ok, run, Daemon};
use std::io::BufRead;
use std::process::Command;
use std::time::{Duration, Instant};

/// A mount (a tmpfs, or a loop-mounted image whose loop device is freed with it),
/// unmounted on drop.
struct Mount(std::path::PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Mounts a 16 MiB tmpfs at `<d>/card`.
fn mount_card(d: &std::path::Path) -> Mount {
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
    Mount(mnt)
}

/// Makes a `mib` MiB ext4 image in `d` (no blocks reserved for root) and
/// loop-mounts it at `<d>/ext4`.
fn mount_ext4(d: &std::path::Path, mib: u64) -> Mount {
    let img = d.join("ext4.img");
    std::fs::File::create(&img)
        .unwrap()
        .set_len(mib << 20)
        .unwrap();
    let mkfs = Command::new("mkfs.ext4")
        .args(["-q", "-F", "-m", "0"])
        .arg(&img)
        .status()
        .expect("run mkfs.ext4");
    assert!(mkfs.success(), "mkfs.ext4 failed");
    let mnt = d.join("ext4");
    std::fs::create_dir(&mnt).unwrap();
    let status = Command::new("mount")
        .args(["-o", "loop"])
        .arg(&img)
        .arg(&mnt)
        .status()
        .expect("run mount");
    assert!(
        status.success(),
        "loop-mounting an ext4 image needs root (CI runs as root)"
    );
    Mount(mnt)
}

/// Fills the file system at `mnt` to its last byte with `<mnt>/<name>`: large
/// writes, then smaller ones, until nothing more fits.
fn fill(mnt: &std::path::Path, name: &str) {
    let mut filler = std::fs::File::create(mnt.join(name)).unwrap();
    let chunk = vec![0x5a_u8; 256 << 10];
    for len in [chunk.len(), 4096, 1] {
        while std::io::Write::write_all(&mut filler, &chunk[..len]).is_ok() {}
    }
}

/// A 16 MiB tmpfs card at `<d>/card` holding a repo (`<card>/repo`, no free-space
/// reserve) with 6 MiB of pseudo-random content (from `seed`) added and pinned;
/// returns the mount and the content's CID.
fn card_with_content(d: &std::path::Path, seed: u64) -> (Mount, String) {
    let guard = mount_card(d);
    let root = guard.0.join("repo");
    ok(&run(&root, &["init", "--profile", "test"], None));
    ok(&run(&root, &["config", "Acorn.MinFreeSpace", "0"], None));
    let data = d.join("data");
    std::fs::write(&data, common::pseudo_random(6 << 20, seed)).unwrap();
    let cid = ok(&run(&root, &["add", "-Q", data.to_str().unwrap()], None));
    (guard, cid.trim().to_string())
}

/// Starts `acorn daemon` on `root` without waiting for the api file (which a
/// full disk keeps it from writing); returns it once it says it is ready, with
/// the RPC API port it printed, and its stderr lines.
fn start_daemon_reading_stdout(
    root: &std::path::Path,
) -> (Daemon, std::sync::mpsc::Receiver<String>) {
    let mut child = common::spawn_daemon(root, |_| {});
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let (etx, erx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = etx.send(line);
        }
    });
    let mut d = Daemon {
        child: Some(child),
        port: 0,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx.recv_timeout(left).unwrap_or_else(|_| {
            let errs: Vec<String> = erx.try_iter().collect();
            panic!("daemon did not get ready: {errs:?}")
        });
        if let Some(addr) = line.strip_prefix("RPC API server listening on ") {
            d.port = addr.rsplit('/').next().unwrap().parse().unwrap();
        }
        if line == "Daemon is ready" {
            assert_ne!(d.port, 0, "no API address printed");
            return (d, erx);
        }
    }
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
    let (guard, cid) = card_with_content(d.path(), 7);
    let mnt = guard.0.clone();
    let root = mnt.join("repo");
    let cid = cid.as_str();
    // An empty lock file is what a truncate-then-write lock leaves when a holder dies
    // between the two, or when the block the truncate freed is taken by another
    // writer first: from then on recording a PID needs a new block. Start from
    // that, then fill the rest, in large writes and then byte by byte, to the last
    // block.
    std::fs::write(root.join("repo.lock"), "").unwrap();
    fill(&mnt, "filler");
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

/// A daemon started on a disk without one free block comes up (it cannot write its
/// api file yet, and says so), `pin rm` and `repo gc` through its API give the
/// space back, and then it writes the api file so CLI commands find it.
#[test]
fn daemon_starts_on_a_full_card_and_frees_space() {
    let d = tempfile::tempdir().unwrap();
    let (guard, cid) = card_with_content(d.path(), 11);
    let mnt = guard.0.clone();
    let root = mnt.join("repo");
    fill(&mnt, "filler");
    assert_eq!(free_bytes(&mnt), 0, "the card is full");

    let (daemon, stderr) = start_daemon_reading_stdout(&root);
    let api_file = format!("{} ", root.join("api").display());
    let warning = loop {
        let line = stderr
            .recv_timeout(Duration::from_secs(10))
            .expect("a warning about the api file on stderr");
        if line.contains(&api_file) {
            break line;
        }
    };
    assert!(warning.contains("disk full"), "{warning}");
    assert!(
        warning.contains(&format!("/tcp/{}", daemon.port)),
        "names the API address: {warning}"
    );
    assert!(!root.join("api").exists());
    let a = rpc::post(daemon.port, &format!("/api/v0/pin/rm?arg={cid}"));
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let a = rpc::post(daemon.port, "/api/v0/repo/gc");
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    assert!(
        free_bytes(&mnt) >= 5 << 20,
        "gc gave the content's space back: {} bytes free",
        free_bytes(&mnt)
    );
    // Now the daemon writes its api file, and the CLI goes through it (offline it
    // could not open the repo the daemon holds).
    let deadline = Instant::now() + Duration::from_secs(20);
    while !std::fs::read_to_string(root.join("api")).is_ok_and(|t| !t.trim().is_empty()) {
        assert!(
            Instant::now() < deadline,
            "the daemon never wrote its api file"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(ok(&run(&root, &["refs", "local"], None)), "");
    let small = ok(&run(&root, &["add", "-Q"], Some(b"room again\n")));
    assert_eq!(
        ok(&run(&root, &["cat", small.trim()], None)),
        "room again\n"
    );
    let (stopped, _, _) = daemon.stop();
    assert!(stopped);
    assert!(!root.join("api").exists());
}

/// Another process fills the disk while an add of 1 KiB blocks runs through the
/// daemon, until a database write itself fails with ENOSPC (which poisons redb's
/// handle). Once the filler is removed, the same daemon serves every command
/// again: it reopened the database, and logged why.
#[test]
fn daemon_recovers_from_enospc_inside_a_database_write() {
    let d = tempfile::tempdir().unwrap();
    let guard = mount_ext4(d.path(), 64);
    let mnt = guard.0.clone();
    let root = mnt.join("repo");
    ok(&run(&root, &["init", "--profile", "test"], None));
    ok(&run(&root, &["config", "Acorn.MinFreeSpace", "0"], None));
    let daemon = Daemon::start(&root);
    let kept = ok(&run(
        &root,
        &["add", "-Q"],
        Some(b"added before the disk filled\n"),
    ));
    let kept = kept.trim().to_string();
    let big = d.path().join("big");
    std::fs::write(&big, common::pseudo_random(12 << 20, 3)).unwrap();

    // The free-space check refuses most batches once the filler is done; the
    // ENOSPC comes when the disk fills while a commit writes its pages, about one
    // attempt in seven here, so try up to ATTEMPTS times.
    const ATTEMPTS: u64 = 40;
    let mut hit = None;
    for attempt in 0..ATTEMPTS {
        let filler = format!("filler-{attempt}");
        let fill_mnt = mnt.clone();
        let add = {
            let (root, big) = (root.clone(), big.clone());
            std::thread::spawn(move || {
                run(
                    &root,
                    &["add", "-Q", "--chunker", "size-1024", big.to_str().unwrap()],
                    None,
                )
            })
        };
        std::thread::sleep(Duration::from_millis(25 * (attempt % 8)));
        fill(&fill_mnt, &filler);
        let r = add.join().unwrap();
        std::fs::remove_file(mnt.join(&filler)).unwrap();
        if !r.ok && r.stderr.contains("no space left on device") {
            hit = Some(r.stderr);
            break;
        }
        // Refused by the free-space check, or done before the disk filled: the
        // database is fine; drop what the add stored and try again.
        ok(&run(&root, &["repo", "gc"], None));
    }
    let hit = hit.expect("no database write ever failed with ENOSPC");
    assert!(hit.contains("disk full"), "{hit}");

    // Space is back: every command works again, without a restart.
    assert_eq!(
        ok(&run(&root, &["cat", &kept], None)),
        "added before the disk filled\n"
    );
    assert!(ok(&run(&root, &["pin", "ls"], None)).contains(&kept));
    let again = ok(&run(&root, &["add", "-Q"], Some(b"added after\n")));
    assert_eq!(
        ok(&run(&root, &["cat", again.trim()], None)),
        "added after\n"
    );
    ok(&run(&root, &["repo", "gc"], None));
    assert!(ok(&run(&root, &["repo", "verify"], None)).starts_with("verified repo"));
    let (stopped, _, stderr) = daemon.stop();
    assert!(stopped, "{stderr}");
    assert!(stderr.contains("repo database reopened"), "{stderr}");
}

/// While the database cannot be reopened after an I/O error, the daemon stops
/// feeding the systemd watchdog (so systemd would restart it); once it can, the
/// pings resume and commands work. The I/O error and the failed reopen come from
/// making the database file immutable (`chattr +i`: even root cannot write it).
#[test]
fn watchdog_waits_while_the_database_cannot_be_reopened() {
    use std::os::unix::net::UnixDatagram;
    let d = tempfile::tempdir().unwrap();
    let guard = mount_ext4(d.path(), 32);
    let root = guard.0.join("repo");
    ok(&run(&root, &["init", "--profile", "test"], None));
    ok(&run(&root, &["config", "Acorn.MinFreeSpace", "0"], None));
    let db = root.join("datastore.redb");
    let path = d.path().join("notify.sock");
    let sock = UnixDatagram::bind(&path).unwrap();
    let daemon = Daemon::start_with_env(
        &root,
        &[
            ("NOTIFY_SOCKET", path.to_str().unwrap()),
            ("WATCHDOG_USEC", "400000"),
        ],
    );
    let recv = |timeout: Duration| -> Option<String> {
        sock.set_read_timeout(Some(timeout)).unwrap();
        let mut buf = [0u8; 256];
        let n = sock.recv(&mut buf).ok()?;
        Some(String::from_utf8_lossy(&buf[..n]).into_owned())
    };
    let pinged = |within: Duration| -> bool {
        let deadline = Instant::now() + within;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match recv(left) {
                Some(m) if m.contains("WATCHDOG=1") => return true,
                Some(_) => {}
                None => return false,
            }
        }
        false
    };
    assert!(pinged(Duration::from_secs(10)), "no watchdog ping at start");

    let chattr = |flag: &str| {
        let s = Command::new("chattr").arg(flag).arg(&db).status().unwrap();
        assert!(s.success(), "chattr {flag}");
    };
    chattr("+i");
    let r = run(&root, &["block", "put"], Some(b"cannot be written\n"));
    if r.ok || r.stderr.contains("disk full") {
        chattr("-i");
        panic!("expected an I/O error: {} {}", r.ok, r.stderr);
    }
    // Give the watchdog task a tick to notice, then no ping for well over the
    // 200 ms ping interval.
    std::thread::sleep(Duration::from_millis(500));
    while recv(Duration::from_millis(1)).is_some() {}
    let fed = pinged(Duration::from_millis(1500));
    chattr("-i");
    assert!(!fed, "the watchdog was fed while the repo was unusable");
    assert!(
        pinged(Duration::from_secs(10)),
        "no watchdog ping after the database could be reopened"
    );
    let cid = ok(&run(&root, &["block", "put"], Some(b"written again\n")));
    assert_eq!(
        ok(&run(&root, &["block", "get", cid.trim()], None)),
        "written again\n"
    );
    let (stopped, _, stderr) = daemon.stop();
    assert!(stopped, "{stderr}");
}
