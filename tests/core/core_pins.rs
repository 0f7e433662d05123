//! The core API's pins, repo and filestore groups from the CLI: every command of
//! `acorn pin`, `acorn repo`, `acorn stats repo` and `acorn filestore` run offline
//! and then through a daemon on the same repo prints the same stdout and stderr
//! and exits the same way (including one failing case per command), and what it
//! prints is right. `filestore rm` is the one difference: through the daemon it
//! says "stop the daemon first".

use crate::common;

use common::{err, init_repo, ok, pseudo_random, run, Daemon, Run};
use std::path::Path;

/// One run's visible result: (exit ok, stdout, stderr).
type Seen = (bool, String, String);

fn seen(r: &Run) -> Seen {
    (r.ok, r.text(), r.stderr.clone())
}

/// The CIDs of the fixture.
struct Cids {
    /// The `--nocopy` directory (recursive pin): `f.bin` (2 chunks), `n.txt`.
    dir: String,
    /// `n.txt`'s raw leaf, also added as a copy (recursive pin, in `dups`).
    n: String,
    /// `o.txt` (recursive pin).
    o: String,
    /// `p.txt`, added unpinned at each session's start (collected by `repo gc`).
    p: String,
    /// `g.txt`, added unpinned at each session's start (collected by `repo gc`).
    g: String,
}

/// Adds the fixture offline.
fn fixture(root: &Path, data: &Path) -> Cids {
    std::fs::create_dir_all(data.join("d")).unwrap();
    std::fs::write(data.join("d/f.bin"), pseudo_random(300_000, 5)).unwrap();
    std::fs::write(data.join("d/n.txt"), b"in the filestore and copied\n").unwrap();
    std::fs::write(data.join("o.txt"), b"pinned o\n").unwrap();
    std::fs::write(data.join("p.txt"), b"unpinned p\n").unwrap();
    std::fs::write(data.join("g.txt"), b"garbage g\n").unwrap();
    let add = |args: &[&str], name: &str| -> String {
        let path = data.join(name);
        let mut a = vec!["add", "-Q"];
        a.extend_from_slice(args);
        a.push(path.to_str().unwrap());
        ok(&run(root, &a, None)).trim().to_string()
    };
    Cids {
        dir: add(&["-r", "--nocopy"], "d"),
        n: add(&["--raw-leaves"], "d/n.txt"),
        o: add(&[], "o.txt"),
        p: add(&["--pin=false"], "p.txt"),
        g: add(&["--pin=false"], "g.txt"),
    }
}

/// Every command of the groups (with failing cases), in an order that leaves the
/// repo as it found it (but for `p` and `g`, re-added here and collected).
fn session(root: &Path, data: &Path, c: &Cids) -> Vec<(Vec<String>, Seen)> {
    for name in ["p.txt", "g.txt"] {
        let path = data.join(name);
        ok(&run(
            root,
            &["add", "-Q", "--pin=false", path.to_str().unwrap()],
            None,
        ));
    }
    let (dir, n, o, p) = (&c.dir, &c.n, &c.o, &c.p);
    let (n_path, f_path) = (format!("/ipfs/{dir}/n.txt"), format!("{dir}/f.bin"));
    let cmds: Vec<Vec<&str>> = vec![
        vec!["pin", "ls"],
        vec!["pin", "ls", "--type=recursive", "-q"],
        vec!["pin", "ls", "-t", "indirect"],
        vec!["pin", "ls", "-t", "direct"],
        vec!["pin", "ls", o, n],
        vec!["pin", "ls", p],
        vec!["pin", "add", "--recursive=false", p],
        vec!["pin", "ls", "-t", "direct"],
        vec!["pin", "rm", "--recursive=false", p],
        vec!["pin", "add"],
        vec!["pin", "add", "QmNotACid"],
        vec!["pin", "rm", p],
        vec!["pin", "update", o, p],
        vec!["pin", "ls", "-t", "recursive", "-q"],
        vec!["pin", "update", p, o],
        vec!["pin", "update", o, "QmNotACid"],
        vec!["pin", "verify", "--verbose"],
        vec!["pin", "verify"],
        vec!["repo", "gc"],
        vec!["repo", "gc", "-q"],
        vec!["repo", "stat"],
        vec!["repo", "stat", "-s"],
        vec!["stats", "repo", "-H"],
        vec!["repo", "verify"],
        vec!["filestore", "ls"],
        vec!["filestore", "ls", "--file-order", dir, n],
        vec!["filestore", "ls", o],
        vec!["filestore", "ls", "QmNotACid"],
        vec!["filestore", "verify", "--file-order"],
        vec!["filestore", "verify", "bafkqaaa"],
        vec!["filestore", "dups"],
        vec!["pin", "ls", &n_path, &f_path],
    ];
    cmds.iter()
        .map(|a| {
            (
                a.iter().map(|s| s.to_string()).collect(),
                seen(&run(root, a, None)),
            )
        })
        .collect()
}

/// The same commands offline and through the daemon. `RepoSize` is the database
/// file's size, which differs between the two (the daemon's open database holds
/// its own pages): its number is left out here, and checked within each mode.
fn assert_same(offline: &[(Vec<String>, Seen)], online: &[(Vec<String>, Seen)]) {
    let mask = |s: &Seen| -> Seen {
        let out =
            s.1.lines()
                .map(|l| match l.strip_prefix("RepoSize:") {
                    Some(v) => {
                        assert!(v.trim() != "0", "{l}");
                        "RepoSize: (size)\n".to_string()
                    }
                    None => format!("{l}\n"),
                })
                .collect();
        (s.0, out, s.2.clone())
    };
    assert_eq!(offline.len(), online.len());
    for (mode, s) in [("offline", offline), ("through the daemon", online)] {
        let size = |args: &[&str]| -> String {
            let out = &s.iter().find(|(a, _)| a == args).expect("repo stat").1 .1;
            out.lines()
                .find(|l| l.starts_with("RepoSize:"))
                .unwrap_or_default()
                .to_string()
        };
        if s.iter().any(|(a, _)| a == &["repo", "stat"]) {
            assert_eq!(
                size(&["repo", "stat"]),
                size(&["repo", "stat", "-s"]),
                "{mode}"
            );
        }
    }
    for ((args, off), (_, on)) in offline.iter().zip(online) {
        assert_eq!(
            mask(on),
            mask(off),
            "acorn {args:?}: through the daemon vs offline"
        );
    }
}

/// The result of `acorn <args>` in a session.
fn of<'a>(s: &'a [(Vec<String>, Seen)], args: &[&str]) -> &'a Seen {
    &s.iter()
        .find(|(a, _)| a == args)
        .unwrap_or_else(|| panic!("no {args:?}"))
        .1
}

fn sorted_lines(s: &str) -> Vec<&str> {
    let mut v: Vec<&str> = s.lines().collect();
    v.sort();
    v
}

/// One failure: exit non-zero, no stdout, one `Error:` line containing `needle`.
fn failed(s: &Seen, needle: &str) {
    assert!(!s.0, "{s:?}");
    assert_eq!(s.1, "", "{s:?}");
    assert!(s.2.starts_with("Error: ") && s.2.contains(needle), "{s:?}");
    assert_eq!(s.2.lines().count(), 1, "{s:?}");
}

/// A damaged pin: `big.bin` added as a copy, the file of its first leaf block
/// changed.
struct Damaged {
    root: String,
    leaf: String,
}

/// Adds and damages `big.bin` (see [`Damaged`]), and adds `q.txt` unpinned with
/// `--nocopy`, then changes it; returns the damaged pin and `q.txt`'s CID.
fn damage(root: &Path, data: &Path) -> (Damaged, String) {
    let blocks = |root: &Path| -> Vec<std::path::PathBuf> {
        let mut v = Vec::new();
        for shard in std::fs::read_dir(root.join("blocks")).unwrap() {
            for f in std::fs::read_dir(shard.unwrap().path()).unwrap() {
                v.push(f.unwrap().path());
            }
        }
        v
    };
    let before = blocks(root);
    let big = data.join("big.bin");
    std::fs::write(&big, pseudo_random(300_000, 9)).unwrap();
    let b = ok(&run(root, &["add", "-Q", big.to_str().unwrap()], None));
    // The leaves (262144 and 37856 bytes of data) are stored as files.
    let mut new: Vec<_> = blocks(root)
        .into_iter()
        .filter(|p| !before.contains(p))
        .collect();
    assert_eq!(new.len(), 2, "{new:?}");
    new.sort_by_key(|p| std::fs::metadata(p).unwrap().len());
    let first = new.pop().unwrap();
    let mut bytes = std::fs::read(&first).unwrap();
    bytes[100] ^= 0xff;
    std::fs::write(&first, &bytes).unwrap();
    // The file is named by the block's multihash, in hex.
    let hex = first.file_stem().unwrap().to_str().unwrap();
    let mh: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect();
    let leaf = cid::Cid::new_v0(cid::multihash::Multihash::from_bytes(&mh).unwrap()).unwrap();

    let q_txt = data.join("q.txt");
    std::fs::write(&q_txt, b"q\n").unwrap();
    let q = ok(&run(
        root,
        &[
            "add",
            "-Q",
            "--nocopy",
            "--pin=false",
            q_txt.to_str().unwrap(),
        ],
        None,
    ));
    std::fs::write(&q_txt, b"r\n").unwrap();
    (
        Damaged {
            root: b.trim().to_string(),
            leaf: leaf.to_string(),
        },
        q.trim().to_string(),
    )
}

#[test]
fn pins_repo_and_filestore_print_the_same_offline_and_through_the_daemon() {
    let (d, root) = init_repo();
    let data = d.path().join("data");
    let c = fixture(&root, &data);
    let (dir, n, o, p, g) = (&c.dir, &c.n, &c.o, &c.p, &c.g);

    let offline = session(&root, &data, &c);
    let daemon = Daemon::start(&root);
    let online = session(&root, &data, &c);
    let (stopped, _, stderr) = daemon.stop();
    assert!(stopped, "{stderr}");
    assert_same(&offline, &online);

    // And the outputs are right. Pins: dir, n and o recursive; dir's other
    // blocks (f.bin's root and 2 leaves) indirect; none direct.
    let s = &offline;
    let all = &of(s, &["pin", "ls"]).1;
    assert_eq!(all.lines().count(), 6, "{all}");
    for cid in [dir, n, o] {
        assert!(all.contains(&format!("{cid} recursive\n")), "{all}");
    }
    assert_eq!(
        sorted_lines(&of(s, &["pin", "ls", "--type=recursive", "-q"]).1),
        sorted_lines(&format!("{dir}\n{n}\n{o}\n"))
    );
    let indirect = &of(s, &["pin", "ls", "-t", "indirect"]).1;
    assert_eq!(indirect.lines().count(), 3, "{indirect}");
    assert!(
        indirect.lines().all(|l| l.ends_with(" indirect")),
        "{indirect}"
    );
    assert_eq!(of(s, &["pin", "ls", "-t", "direct"]).1, "");
    assert_eq!(
        of(s, &["pin", "ls", o, n]).1,
        format!("{o} recursive\n{n} recursive\n")
    );
    failed(
        of(s, &["pin", "ls", p]),
        &format!("path '{p}' is not pinned"),
    );
    let path_ls = &of(
        s,
        &[
            "pin",
            "ls",
            &format!("/ipfs/{dir}/n.txt"),
            &format!("{dir}/f.bin"),
        ],
    )
    .1;
    assert!(
        path_ls.starts_with(&format!("{n} recursive\n")),
        "{path_ls}"
    );
    assert!(path_ls.ends_with(" indirect\n"), "{path_ls}");

    assert_eq!(
        of(s, &["pin", "add", "--recursive=false", p]).1,
        format!("pinned {p} directly\n")
    );
    // The listing in between saw the direct pin.
    let direct: Vec<_> = s
        .iter()
        .filter(|(a, _)| a == &["pin", "ls", "-t", "direct"])
        .map(|(_, r)| r.1.clone())
        .collect();
    assert_eq!(direct, ["".to_string(), format!("{p} direct\n")]);
    assert_eq!(
        of(s, &["pin", "rm", "--recursive=false", p]).1,
        format!("unpinned {p}\n")
    );
    failed(of(s, &["pin", "add"]), "argument \"ipfs-path\" is required");
    failed(of(s, &["pin", "add", "QmNotACid"]), "");
    failed(of(s, &["pin", "rm", p]), "");
    assert_eq!(
        of(s, &["pin", "update", o, p]).1,
        format!("updated {o} to {p}\n")
    );
    assert_eq!(
        sorted_lines(&of(s, &["pin", "ls", "-t", "recursive", "-q"]).1),
        sorted_lines(&format!("{dir}\n{n}\n{p}\n"))
    );
    assert_eq!(
        of(s, &["pin", "update", p, o]).1,
        format!("updated {p} to {o}\n")
    );
    failed(of(s, &["pin", "update", o, "QmNotACid"]), "");
    assert_eq!(
        sorted_lines(&of(s, &["pin", "verify", "--verbose"]).1),
        sorted_lines(&format!("{dir} ok\n{n} ok\n{o} ok\n"))
    );
    assert_eq!(
        of(s, &["pin", "verify"]),
        &(true, String::new(), String::new())
    );

    // The repo: gc removes exactly the two unpinned files, then nothing.
    // (by key: as the raw CIDv1 of their multihash, as Kubo's gc)
    let raw = |c: &str| cid::Cid::new_v1(0x55, *cid::Cid::try_from(c).unwrap().hash());
    assert_eq!(
        sorted_lines(&of(s, &["repo", "gc"]).1),
        sorted_lines(&format!("removed {}\nremoved {}\n", raw(g), raw(p)))
    );
    assert_eq!(of(s, &["repo", "gc", "-q"]).1, "");
    // Objects: 4 copies (dir's root, f.bin's root, n, o) and 3 references (f.bin's
    // 2 leaves, n); n, stored both ways, is one object.
    let stat = &of(s, &["repo", "stat"]).1;
    assert!(stat.starts_with("NumObjects: 6\nRepoSize:   "), "{stat}");
    assert!(
        stat.contains(&format!("\nRepoPath:   {}\n", root.display())),
        "{stat}"
    );
    assert!(stat.contains("\nVersion:    acorn-repo@"), "{stat}");
    let size_only = &of(s, &["repo", "stat", "-s"]).1;
    assert_eq!(size_only.lines().count(), 2, "{size_only}");
    assert!(stat.contains(size_only.as_str()), "{stat}\n{size_only}");
    let human = &of(s, &["stats", "repo", "-H"]).1;
    assert!(human.starts_with("NumObjects: 6\nRepoSize:   "), "{human}");
    assert!(
        human.contains(" KiB\n") || human.contains(" MiB\n"),
        "{human}"
    );
    // verify checks each entry: n's copy and its reference.
    assert_eq!(of(s, &["repo", "verify"]).1, "verified repo: 7 blocks ok\n");

    // The filestore: f.bin's 2 chunks and n.txt, by path and offset in file order.
    let fls = &of(s, &["filestore", "ls"]).1;
    assert_eq!(fls.lines().count(), 3, "{fls}");
    let f_bin = data.join("d/f.bin").display().to_string();
    let n_txt = data.join("d/n.txt").display().to_string();
    assert!(fls.contains(&format!(" 262144 {f_bin} 0\n")), "{fls}");
    assert!(fls.contains(&format!("  37856 {f_bin} 262144\n")), "{fls}");
    assert!(
        fls.contains(&format!("{n:<50}     28 {n_txt} 0\n")),
        "{fls}"
    );
    let named = of(s, &["filestore", "ls", "--file-order", dir, n]);
    assert!(!named.0, "{named:?}");
    assert_eq!(named.1, format!("{n:<50}     28 {n_txt} 0\n"));
    assert_eq!(
        named.2,
        format!(
            "Error: {dir}: not in the filestore\n\
             Error: 1 of the blocks asked for are not in the filestore\n"
        )
    );
    let missing = of(s, &["filestore", "ls", o]);
    assert!(!missing.0 && missing.1.is_empty(), "{missing:?}");
    assert!(missing
        .2
        .starts_with(&format!("Error: {o}: not in the filestore\n")));
    failed(of(s, &["filestore", "ls", "QmNotACid"]), "");
    let verify = &of(s, &["filestore", "verify", "--file-order"]).1;
    let lines: Vec<&str> = verify.lines().collect();
    assert_eq!(lines.len(), 3, "{verify}");
    assert!(lines.iter().all(|l| l.starts_with("ok      ")), "{verify}");
    assert!(lines[0].ends_with(&format!("{f_bin} 0")), "{verify}");
    assert!(lines[1].ends_with(&format!("{f_bin} 262144")), "{verify}");
    let absent = of(s, &["filestore", "verify", "bafkqaaa"]);
    assert!(!absent.0, "{absent:?}");
    assert_eq!(absent.1, "missing bafkqaaa\n");
    assert_eq!(of(s, &["filestore", "dups"]).1, format!("{n}\n"));

    // Damage: a pinned copy whose block file changed, and an unpinned `--nocopy`
    // file that changed. The verify commands fail the same way offline and
    // through the daemon.
    let (b, q) = damage(&root, &data);
    let broken = |root: &Path| -> Vec<(Vec<String>, Seen)> {
        [
            &["pin", "verify"][..],
            &["pin", "verify", "-q"],
            &["pin", "verify", "--verbose"],
            &["filestore", "verify"],
            &["repo", "verify"],
        ]
        .iter()
        .map(|a| {
            (
                a.iter().map(|s| s.to_string()).collect(),
                seen(&run(root, a, None)),
            )
        })
        .collect()
    };
    let offline = broken(&root);
    let daemon = Daemon::start(&root);
    let online = broken(&root);
    // filestore rm is offline only.
    let rm = seen(&run(&root, &["filestore", "rm", n], None));
    let rm_none = seen(&run(&root, &["filestore", "rm"], None));
    let (stopped, _, stderr) = daemon.stop();
    assert!(stopped, "{stderr}");
    assert_same(&offline, &online);
    let s = &offline;
    let bad_leaf = format!("  {}: block bytes do not match the hash\n", b.leaf);
    assert_eq!(
        of(s, &["pin", "verify"]),
        &(
            false,
            format!("{} broken\n{bad_leaf}", b.root),
            "Error: 1 pin(s) broken\n".to_string()
        )
    );
    assert_eq!(
        of(s, &["pin", "verify", "-q"]),
        &(
            false,
            format!("{}\n", b.root),
            "Error: 1 pin(s) broken\n".to_string()
        )
    );
    let pvv = of(s, &["pin", "verify", "--verbose"]);
    assert!(!pvv.0, "{pvv:?}");
    assert_eq!(
        sorted_lines(&pvv.1),
        sorted_lines(&format!(
            "{} broken\n{bad_leaf}{dir} ok\n{n} ok\n{o} ok\n",
            b.root
        ))
    );
    let fv = of(s, &["filestore", "verify"]);
    assert!(!fv.0, "{fv:?}");
    assert_eq!(fv.1.lines().count(), 4, "{fv:?}");
    assert_eq!(
        fv.1.lines().filter(|l| l.starts_with("ok      ")).count(),
        3
    );
    assert!(fv.1.contains(&format!("changed {q:<50}      2 ")), "{fv:?}");
    assert_eq!(
        fv.2,
        format!(
            "{q}: the bytes no longer match the hash\n\
             Error: 1 filestore entries are not ok\n"
        )
    );
    // 11 objects: the 7 before, q's reference, big.bin's root and 2 leaves; the
    // changed filestore reference is one of the blocks checked.
    let rv = of(s, &["repo", "verify"]);
    assert!(!rv.0, "{rv:?}");
    assert_eq!(rv.1.lines().count(), 2, "{rv:?}");
    assert!(
        rv.1.contains(&format!(
            "block {} was corrupt (block bytes do not match the hash)\n",
            raw(&b.leaf)
        )),
        "{rv:?}"
    );
    assert!(
        rv.1.contains(&format!("block {q} was corrupt (filestore changed: ")),
        "{rv:?}"
    );
    assert_eq!(
        rv.2,
        "Error: verify complete, 2 of 11 blocks were corrupt\n"
    );

    failed(&rm, "stop the daemon first");
    failed(&rm_none, "stop the daemon first");
    failed(
        &seen(&run(&root, &["filestore", "rm"], None)),
        "filestore rm needs at least one CID",
    );
    assert_eq!(
        ok(&run(&root, &["filestore", "rm", n], None)),
        format!("removed {n}\n")
    );
    assert_eq!(ok(&run(&root, &["filestore", "dups"], None)), "");
    let e = err(&run(&root, &["filestore", "rm", n], None));
    assert_eq!(e, format!("Error: cannot remove {n}: not in the filestore"));
}
