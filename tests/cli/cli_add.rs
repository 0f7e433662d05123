//! End-to-end tests of `acorn add`: output shapes, pinning, options, bad input, and
//! the repo lock held by a running add.

use crate::common;

use common::{err, init_repo, ok, run};
use std::io::Write;
use std::process::{Command, Stdio};

const HELLO_V0: &str = "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o";

#[test]
fn add_prints_kubo_lines_and_pins() {
    let (d, root) = init_repo();
    let f = d.path().join("hello.txt");
    std::fs::write(&f, "hello world\n").unwrap();
    let f = f.to_str().unwrap();
    assert_eq!(
        ok(&run(&root, &["add", f], None)),
        format!("added {HELLO_V0} hello.txt\n")
    );
    assert_eq!(
        ok(&run(&root, &["add", "-q", f], None)),
        format!("{HELLO_V0}\n")
    );
    assert_eq!(
        ok(&run(&root, &["pin", "ls", "--type=recursive", "-q"], None)),
        format!("{HELLO_V0}\n")
    );
    // stdin: the name is the CID, as Kubo.
    assert_eq!(
        ok(&run(&root, &["add"], Some(b"hello world\n"))),
        format!("added {HELLO_V0} {HELLO_V0}\n")
    );
    let v1 = ok(&run(&root, &["add", "-Q", "--cid-version=1", f], None));
    assert!(v1.starts_with("bafkrei"), "{v1}");
}

#[test]
fn pin_false_content_is_collected_and_pinned_content_is_kept() {
    let (d, root) = init_repo();
    let a = d.path().join("a");
    let b = d.path().join("b");
    std::fs::write(&a, common::pseudo_random(700_000, 3)).unwrap();
    std::fs::write(&b, common::pseudo_random(700_000, 4)).unwrap();
    let ca = ok(&run(&root, &["add", "-Q", a.to_str().unwrap()], None))
        .trim()
        .to_string();
    let cb = ok(&run(
        &root,
        &["add", "-Q", "--pin=false", b.to_str().unwrap()],
        None,
    ))
    .trim()
    .to_string();
    let removed = ok(&run(&root, &["repo", "gc", "-q"], None));
    // b: a root and 3 leaves, all unpinned, all removed; nothing of a.
    assert_eq!(removed.lines().count(), 4, "{removed}");
    err(&run(&root, &["refs", "-r", &cb], None));
    assert_eq!(
        ok(&run(&root, &["refs", "-r", &ca], None)).lines().count(),
        3
    );
    ok(&run(&root, &["pin", "verify"], None));
}

#[test]
fn only_hash_writes_nothing_and_needs_no_repo() {
    let (d, root) = init_repo();
    let f = d.path().join("f");
    std::fs::write(&f, "hello world\n").unwrap();
    let f = f.to_str().unwrap();
    assert_eq!(
        ok(&run(&root, &["add", "-Q", "-n", f], None)),
        format!("{HELLO_V0}\n")
    );
    assert_eq!(ok(&run(&root, &["refs", "local"], None)), "");
    let nowhere = d.path().join("no-repo");
    assert_eq!(
        ok(&run(&nowhere, &["add", "-Q", "-n", f], None)),
        format!("{HELLO_V0}\n")
    );
    assert!(!nowhere.exists());
}

#[test]
fn wrap_with_directory_and_directories() {
    let (d, root) = init_repo();
    let dir = d.path().join("top");
    std::fs::create_dir_all(dir.join("sub/empty")).unwrap();
    std::fs::write(dir.join("sub/x"), "x").unwrap();
    std::fs::write(dir.join(".hidden"), "h").unwrap();
    std::fs::create_dir_all(dir.join("a")).unwrap();
    std::fs::write(dir.join("a/f"), "f").unwrap();
    let dir_s = dir.to_str().unwrap();
    let out = ok(&run(&root, &["add", "-r", dir_s], None));
    let names: Vec<&str> = out
        .lines()
        .map(|l| l.splitn(3, ' ').nth(2).unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "top/a/f",
            "top/sub/x",
            "top/a",
            "top/sub/empty",
            "top/sub",
            "top"
        ],
        "as Kubo: files as added, then directories children-first; hidden files skipped"
    );
    let with_hidden = ok(&run(&root, &["add", "-r", "-H", "-Q", dir_s], None));
    assert_ne!(
        with_hidden,
        ok(&run(&root, &["add", "-r", "-Q", dir_s], None))
    );
    assert!(err(&run(&root, &["add", dir_s], None)).contains("use the '-r' flag"));
    let w = ok(&run(
        &root,
        &["add", "-w", dir.join("sub/x").to_str().unwrap()],
        None,
    ));
    let lines: Vec<&str> = w.lines().collect();
    assert_eq!(lines.len(), 2, "{w}");
    assert!(lines[0].ends_with(" x"));
    let wrapper = lines[1].split(' ').nth(1).unwrap();
    assert_eq!(
        ok(&run(&root, &["refs", wrapper], None)),
        format!("{}\n", lines[0].split(' ').nth(1).unwrap())
    );
}

#[test]
fn bad_add_input_is_refused() {
    let (d, root) = init_repo();
    let f = d.path().join("f");
    std::fs::write(&f, "data").unwrap();
    let f = f.to_str().unwrap();
    assert!(err(&run(&root, &["add", "--chunker=rabin-8-16-32", f], None)).contains("chunker"));
    assert!(err(&run(&root, &["add", "--chunker=fastcdc", f], None)).contains("chunker"));
    assert!(err(&run(&root, &["add", "--cid-version=2", f], None)).contains("CID version"));
    assert!(
        err(&run(&root, &["add", "/definitely/not/here"], None)).contains("/definitely/not/here")
    );
    assert_eq!(ok(&run(&root, &["refs", "local"], None)), "");
}

#[test]
fn a_running_add_holds_the_repo_lock() {
    let (_d, root) = init_repo();
    // An add reading stdin keeps the repo open until its input ends.
    let mut child = Command::new(env!("CARGO_BIN_EXE_acorn"))
        .args(["add", "-Q"])
        .env("ACORN_PATH", &root)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"hello ").unwrap();
    stdin.flush().unwrap();
    // Wait until the child holds the lock (it writes its PID into the lock file);
    // asking earlier could win the lock from the child instead.
    let pid = child.id().to_string();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::fs::read_to_string(root.join("repo.lock"))
        .unwrap_or_default()
        .trim()
        != pid
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the add never took the lock"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let msg = err(&run(&root, &["repo", "stat"], None));
    assert!(
        msg.contains(&format!("repo is locked by PID {pid}")),
        "{msg}"
    );
    stdin.write_all(b"world\n").unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!("{HELLO_V0}\n")
    );
    ok(&run(&root, &["repo", "stat"], None));
}
