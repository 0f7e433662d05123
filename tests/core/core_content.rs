//! The core API's `Content` group end to end: every command (`add` with each of
//! its options, `cat`, `get`, `ls`, `refs`, `refs local`, `resolve`) runs offline,
//! then the same commands run through a daemon on the same repo. Both passes must
//! print the same stdout and stderr and exit the same (one bad input per command
//! included), and the offline output is checked against the content itself.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{init_repo, ok, pseudo_random, run, Daemon, Run};

const HELLO_V0: &str = "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o";
const HELLO_RAW_V1: &str = "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4";
const CHUNK: usize = 262_144;

/// The files the test adds.
struct Files {
    hello: PathBuf,
    tree: PathBuf,
    b_bin: Vec<u8>,
    unpinned: PathBuf,
    lonely: PathBuf,
    nocopy_dir: PathBuf,
    nocopy: PathBuf,
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn files(dir: &Path) -> Files {
    let hello = dir.join("hello.txt");
    std::fs::write(&hello, b"hello world\n").unwrap();
    let tree = dir.join("tree");
    std::fs::create_dir_all(tree.join("sub")).unwrap();
    std::fs::write(tree.join("a.txt"), b"alpha\n").unwrap();
    // Two equal chunks: `refs -r` lists that leaf twice, `refs -r -u` once.
    let chunk = pseudo_random(CHUNK, 5);
    let mut b_bin = chunk.clone();
    b_bin.extend_from_slice(&chunk);
    b_bin.extend_from_slice(b"tail");
    std::fs::write(tree.join("sub/b.bin"), &b_bin).unwrap();
    std::fs::write(tree.join(".hidden"), b"h").unwrap();
    let unpinned = dir.join("unpinned.txt");
    std::fs::write(&unpinned, b"not pinned\n").unwrap();
    let lonely = dir.join("lonely.txt");
    std::fs::write(&lonely, b"hashed, never stored\n").unwrap();
    let nocopy_dir = dir.join("allowed");
    std::fs::create_dir_all(&nocopy_dir).unwrap();
    let nocopy = nocopy_dir.join("n.bin");
    std::fs::write(&nocopy, pseudo_random(300_000, 6)).unwrap();
    Files {
        hello,
        tree,
        b_bin,
        unpinned,
        lonely,
        nocopy_dir,
        nocopy,
    }
}

/// `acorn args…` run in `cwd`.
fn run_in(cwd: &Path, root: &Path, args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_acorn"))
        .args(args)
        .current_dir(cwd)
        .env("ACORN_PATH", root)
        .env_remove("ACORN_LOG")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    Run {
        ok: out.status.success(),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The CID on the line of `added` output naming `name`.
fn cid_of(added: &str, name: &str) -> String {
    added
        .lines()
        .find_map(|l| {
            let mut w = l.splitn(3, ' ');
            (w.next() == Some("added")).then_some(())?;
            let cid = w.next()?;
            (w.next() == Some(name)).then(|| cid.to_string())
        })
        .unwrap_or_else(|| panic!("{name} not in {added}"))
}

/// As `refs local` shows a block: the raw CIDv1 of its multihash.
fn raw_v1(c: &str) -> String {
    let c: cid::Cid = c.parse().unwrap();
    cid::Cid::new_v1(0x55, *c.hash()).to_string()
}

/// One pass of every command; `out` is this pass's directory for `get`.
/// Returns (label, run) in order.
fn pass(root: &Path, f: &Files, out: &Path) -> Vec<(String, Run)> {
    std::fs::create_dir_all(out).unwrap();
    let runs: std::cell::RefCell<Vec<(String, Run)>> = Default::default();
    let go = |args: &[&str], stdin: Option<&[u8]>| -> Run {
        let r = run(root, args, stdin);
        let again = Run {
            ok: r.ok,
            stdout: r.stdout.clone(),
            stderr: r.stderr.clone(),
        };
        runs.borrow_mut().push((args.join(" "), r));
        again
    };
    let hello = s(&f.hello);
    let tree = s(&f.tree);
    let b_path = f.tree.join("sub/b.bin");
    let b_path = s(&b_path);

    // add, every option.
    go(&["add", hello], None);
    let added = ok(&go(&["add", "-r", tree], None));
    go(&["add", "-r", "-H", "--cid-version=1", tree], None);
    go(
        &["add", "-Q", "--chunker=size-1000", "--trickle", b_path],
        None,
    );
    go(&["add", "-q", "--raw-leaves=true", hello], None);
    go(&["add", "-w", hello], None);
    go(&["add", "--pin=false", s(&f.unpinned)], None);
    go(&["add", "-n", "-Q", s(&f.lonely)], None);
    go(&["add", "--nocopy", s(&f.nocopy)], None);
    go(&["add", "--nocopy"], Some(b"no file to reference\n"));
    go(&["add", "-Q", "--progress=true", hello], None);
    go(&["add"], Some(b"from stdin\n"));
    go(&["add", tree], None);

    let root_cid = cid_of(&added, "tree");
    let b = format!("{root_cid}/sub/b.bin");
    let a = format!("{root_cid}/a.txt");

    // cat: a range of one file; a range across two; a bad CID.
    go(&["cat", &b, "--offset=1000", "--length=70000"], None);
    go(&["cat", "-o", "6", "-l", "8", HELLO_V0, &a], None);
    go(&["cat", "QmNotACid"], None);

    // get: to a named target, to the default name (the last path segment), a
    // path that does not exist.
    let target = out.join("got");
    go(&["get", "-o", s(&target), &root_cid], None);
    let r = run_in(out, root, &["get", &format!("/ipfs/{root_cid}/sub")]);
    runs.borrow_mut().push(("get (default name)".into(), r));
    go(
        &[
            "get",
            "-o",
            s(&out.join("none")),
            &format!("{root_cid}/nope"),
        ],
        None,
    );

    // ls: headers, two paths, sizes off, a bad CID.
    go(&["ls", "-v", &root_cid], None);
    go(&["ls", &root_cid, &format!("{root_cid}/sub")], None);
    go(&["ls", "--size=false", &b], None);
    go(&["ls", "bafyNotACid"], None);

    // refs: direct, recursive, unique; a bad path; refs local.
    go(&["refs", &root_cid], None);
    go(&["refs", "-r", &root_cid], None);
    go(&["refs", "-r", "-u", &root_cid], None);
    go(&["refs", "QmNotACid"], None);
    go(&["refs", "local"], None);

    // resolve: a path inside the tree, an /ipns/ name.
    go(&["resolve", &format!("/ipfs/{b}")], None);
    go(&["resolve", "/ipns/example.com"], None);

    // Which adds pinned (the pins group, read here to check `--pin=false`).
    go(&["pin", "ls", "--type=recursive", "-q"], None);
    runs.into_inner()
}

#[test]
fn content_commands_match_offline_and_through_the_daemon() {
    let (d, root) = init_repo();
    let f = files(d.path());
    ok(&run(
        &root,
        &[
            "config",
            "--json",
            "Filestore.AllowedRoots",
            &format!("[\"{}\"]", s(&f.nocopy_dir)),
        ],
        None,
    ));
    let out_off = d.path().join("out-offline");
    let out_on = d.path().join("out-daemon");
    let offline = pass(&root, &f, &out_off);

    let daemon = Daemon::start(&root);
    let online = pass(&root, &f, &out_on);
    assert!(daemon.stop().0);

    // The same output, byte for byte (the get target's directory aside).
    assert_eq!(offline.len(), online.len());
    let norm = |t: &[u8], out: &Path| String::from_utf8_lossy(t).replace(s(out), "<OUT>");
    for ((label, off), (_, on)) in offline.iter().zip(&online) {
        assert_eq!(
            (on.ok, norm(&on.stdout, &out_on), on.stderr.as_str()),
            (off.ok, norm(&off.stdout, &out_off), off.stderr.as_str()),
            "acorn {label}: through the daemon, then offline"
        );
    }
    // A run by its label: the exact one, else the first that starts with it.
    let got_off = |label: &str| -> &Run {
        let find = |exact: bool| {
            offline.iter().find(|(l, _)| {
                if exact {
                    l == label
                } else {
                    l.starts_with(label)
                }
            })
        };
        &find(true)
            .or_else(|| find(false))
            .unwrap_or_else(|| panic!("no run {label:?}"))
            .1
    };
    let text = |label: &str| ok(got_off(label));
    let fail = |label: &str| common::err(got_off(label));

    // add: Kubo's lines and CIDs.
    assert_eq!(
        fail("add --nocopy"),
        "Error: --nocopy needs file paths: data from stdin has no file to reference"
    );
    let hello = s(&f.hello);
    assert_eq!(
        text(&format!("add {hello}")),
        format!("added {HELLO_V0} hello.txt\n")
    );
    let tree_out = text(&format!("add -r {}", s(&f.tree)));
    let names: Vec<&str> = tree_out
        .lines()
        .map(|l| l.splitn(3, ' ').nth(2).unwrap())
        .collect();
    assert_eq!(names, ["tree/a.txt", "tree/sub/b.bin", "tree/sub", "tree"]);
    let root_cid = cid_of(&tree_out, "tree");
    let b_cid = cid_of(&tree_out, "tree/sub/b.bin");
    let sub_cid = cid_of(&tree_out, "tree/sub");
    let a_cid = cid_of(&tree_out, "tree/a.txt");
    let v1 = text(&format!("add -r -H --cid-version=1 {}", s(&f.tree)));
    assert!(v1.contains(" tree/.hidden\n"), "{v1}");
    assert!(
        v1.lines()
            .all(|l| l.split(' ').nth(1).unwrap().starts_with("baf")),
        "{v1}"
    );
    let trickle = text("add -Q --chunker=size-1000 --trickle");
    assert!(
        trickle.starts_with("Qm") && trickle.trim() != b_cid,
        "{trickle}"
    );
    assert_eq!(
        text(&format!("add -q --raw-leaves=true {hello}")),
        format!("{HELLO_RAW_V1}\n")
    );
    let wrapped = text(&format!("add -w {hello}"));
    let lines: Vec<&str> = wrapped.lines().collect();
    assert_eq!(lines.len(), 2, "{wrapped}");
    assert_eq!(lines[0], format!("added {HELLO_V0} hello.txt"));
    assert!(
        lines[1].starts_with("added Qm") && lines[1].ends_with(' '),
        "{wrapped}"
    );
    let unpinned = cid_of(&text("add --pin=false"), "unpinned.txt");
    let lonely = text("add -n -Q").trim().to_string();
    assert!(lonely.starts_with("Qm"), "{lonely}");
    let nocopy = cid_of(&text(&format!("add --nocopy {}", s(&f.nocopy))), "n.bin");
    assert!(nocopy.starts_with("bafkrei") || nocopy.starts_with("Qm"));
    assert_eq!(
        text("add -Q --progress=true"),
        format!("{HELLO_V0}\n"),
        "no bar on a pipe"
    );
    // stdin: named by its CID, as Kubo.
    let stdin = text("add");
    let w: Vec<&str> = stdin.trim_end().split(' ').collect();
    assert!(w.len() == 3 && w[0] == "added" && w[1] == w[2], "{stdin}");
    assert_eq!(ok(&run(&root, &["cat", w[1]], None)), "from stdin\n");
    let e = fail(&format!("add {}", s(&f.tree)));
    assert!(e.contains("use the '-r' flag"), "{e}");

    // cat: the bytes asked for.
    let cat = got_off("cat ");
    assert!(cat.ok);
    assert_eq!(cat.stdout, &f.b_bin[1000..71_000]);
    assert_eq!(text("cat -o 6 -l 8"), "world\nal");
    let e = fail("cat QmNotACid");
    assert!(e.contains("QmNotACid"), "{e}");

    // get: the tree as it was added (without the hidden file).
    assert_eq!(
        text(&format!("get -o {}", s(&out_off.join("got")))),
        format!("Saving file(s) to {}\n", s(&out_off.join("got")))
    );
    for out in [&out_off, &out_on] {
        let got = out.join("got");
        assert_eq!(std::fs::read(got.join("a.txt")).unwrap(), b"alpha\n");
        assert_eq!(std::fs::read(got.join("sub/b.bin")).unwrap(), f.b_bin);
        assert!(!got.join(".hidden").exists());
        assert_eq!(std::fs::read(out.join("sub/b.bin")).unwrap(), f.b_bin);
    }
    assert_eq!(text("get (default name)"), "Saving file(s) to sub\n");
    let r = got_off(&format!("get -o {}", s(&out_off.join("none"))));
    assert!(!r.ok && r.stderr.contains("nope"), "{}", r.stderr);
    assert!(!out_off.join("none").exists() && !out_on.join("none").exists());

    // ls: Kubo's columns.
    let b_len = f.b_bin.len();
    assert_eq!(
        text(&format!("ls -v {root_cid}")),
        format!("Hash Size Name\n{a_cid} 6 a.txt\n{sub_cid} - sub/\n")
    );
    assert_eq!(
        text(&format!("ls {root_cid} {root_cid}/sub")),
        format!(
            "{root_cid}:\n{a_cid} 6 a.txt\n{sub_cid} - sub/\n\n{root_cid}/sub:\n{b_cid} {b_len} b.bin\n"
        )
    );
    let chunks = text("ls --size=false");
    let leaves: Vec<&str> = chunks.lines().map(|l| l.trim_end()).collect();
    assert_eq!(leaves.len(), 3, "{chunks}");
    assert_eq!(leaves[0], leaves[1], "two equal chunks, one CID");
    let e = fail("ls bafyNotACid");
    assert!(e.contains("bafyNotACid"), "{e}");

    // refs: direct links, all of them, each once.
    assert_eq!(
        text(&format!("refs {root_cid}")),
        format!("{a_cid}\n{sub_cid}\n")
    );
    let all = text(&format!("refs -r {root_cid}"));
    assert_eq!(all.lines().count(), 2 + 1 + 3, "{all}");
    let unique = text(&format!("refs -r -u {root_cid}"));
    assert_eq!(unique.lines().count(), 2 + 1 + 2, "{unique}");
    let e = fail("refs QmNotACid");
    assert!(e.contains("QmNotACid"), "{e}");

    // refs local: what was stored, and not what was only hashed.
    let local = text("refs local");
    for c in [HELLO_V0, &root_cid, &b_cid, &unpinned, &nocopy] {
        assert!(local.contains(&raw_v1(c)), "{c} not in refs local");
    }
    assert!(!local.contains(&raw_v1(&lonely)), "-n stored {lonely}");

    // resolve: the file's CID; /ipns/ is not there yet.
    assert_eq!(text("resolve /ipfs/"), format!("/ipfs/{b_cid}\n"));
    let e = fail("resolve /ipns/");
    assert!(e.contains("IPNS"), "{e}");

    // --pin=false left its root unpinned; the others are pinned.
    let pins = text("pin ls");
    assert!(
        pins.contains(&root_cid) && pins.contains(HELLO_V0),
        "{pins}"
    );
    assert!(!pins.contains(&unpinned), "{pins}");
}
