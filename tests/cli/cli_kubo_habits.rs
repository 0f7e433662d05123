//! End-to-end tests of the CLI as Kubo users type it: global options, help,
//! unknown commands, and the tool commands (`cid`, `bootstrap`, `diag`, `repo
//! version`, `commands`, `shutdown`), offline and against a test-profile daemon.
//! Output shapes are Kubo's documented ones (`ipfs <cmd> --help` and its encoders).

use crate::common;

use common::{err, init_repo, ok, run, Daemon};
use std::time::{Duration, Instant};

const HELLO_V0: &str = "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o";
const HELLO_V1: &str = "bafybeicg2rebjoofv4kbyovkw7af3rpiitvnl6i7ckcywaq6xjcxnc2mby";
const PEER: &str =
    "/ip4/192.0.2.1/tcp/4001/p2p/12D3KooWJeoTn1bPjoAjvWkxhn72SSttWN4JF4e2moRztoY8NZYV";

#[test]
fn bare_acorn_and_help_print_kubos_groups() {
    let (_d, root) = common::repo_dir();
    let bare = ok(&run(&root, &[], None));
    for group in [
        "BASIC COMMANDS",
        "DATA STRUCTURE COMMANDS",
        "ADVANCED COMMANDS",
        "NETWORK COMMANDS",
        "TOOL COMMANDS",
    ] {
        assert!(bare.contains(group), "{group} missing:\n{bare}");
    }
    assert!(
        bare.contains("\n    add ") && bare.contains("\n    cid "),
        "{bare}"
    );
    // Only commands Acorn has.
    assert!(
        !bare.contains("\n    files ") && !bare.contains("\n    name "),
        "{bare}"
    );
    assert_eq!(ok(&run(&root, &["--help"], None)), bare);
    assert_eq!(ok(&run(&root, &["-h"], None)), bare);
    assert_eq!(ok(&run(&root, &["--offline"], None)), bare);
    // -h on every level; a command that only groups others prints its help.
    let add = ok(&run(&root, &["add", "-h"], None));
    assert!(add.starts_with("Usage: acorn add"), "{add}");
    let pin = ok(&run(&root, &["pin"], None));
    assert!(
        pin.starts_with("Usage: acorn pin") && pin.contains("add"),
        "{pin}"
    );
    let v = ok(&run(&root, &["--version"], None));
    assert!(v.starts_with("acorn version "), "{v}");
}

#[test]
fn unknown_and_unsupported_commands_say_so() {
    let (_d, root) = common::repo_dir();
    assert_eq!(
        err(&run(&root, &["frob"], None)),
        "Error: unknown command \"frob\" (see acorn --help)"
    );
    let e = err(&run(&root, &["files", "ls", "/"], None));
    assert!(
        e.contains("\"files\" is a Kubo command not supported by Acorn") && e.contains("acorn add"),
        "{e}"
    );
    let e = err(&run(&root, &["pin", "remote", "ls"], None));
    assert!(
        e.contains("not supported by Acorn") && e.contains("pin add"),
        "{e}"
    );
    let e = err(&run(&root, &["pin", "frob"], None));
    assert!(e.contains("unknown command \"pin frob\""), "{e}");
}

#[test]
fn a_missing_file_names_its_cause_once() {
    let (d, root) = init_repo();
    let missing = d.path().join("missing.txt");
    let e = err(&run(&root, &["add", missing.to_str().unwrap()], None));
    assert_eq!(e.matches("No such file or directory").count(), 1, "{e}");
    assert!(e.contains("missing.txt"), "{e}");
}

#[test]
fn global_options() {
    let (_d, root) = init_repo();
    let e = err(&run(&root, &["--enc=xml", "version"], None));
    assert!(e.contains("unknown encoding \"xml\""), "{e}");
    let v: serde_json::Value =
        serde_json::from_str(&ok(&run(&root, &["--enc=json", "version"], None))).unwrap();
    assert!(v["Version"].is_string() && v["Repo"].is_string(), "{v}");
    // A command without JSON output refuses --enc=json rather than print text.
    let e = err(&run(&root, &["repo", "stat", "--enc", "json"], None));
    assert!(e.contains("no JSON output"), "{e}");
    // --timeout is taken anywhere as a Go duration.
    ok(&run(
        &root,
        &["--timeout", "1m30s", "repo", "version"],
        None,
    ));
    ok(&run(&root, &["repo", "version", "--timeout=500ms"], None));
    let e = err(&run(&root, &["--timeout", "soon", "repo", "version"], None));
    assert!(e.contains("time: invalid duration \"soon\""), "{e}");
    // --api names a daemon that must answer.
    let e = err(&run(&root, &["--api", "/ip4/127.0.0.1/tcp/1", "id"], None));
    assert!(e.contains("no daemon answers at --api"), "{e}");
    // --offline: network commands need the daemon.
    let e = err(&run(&root, &["--offline", "swarm", "peers"], None));
    assert!(e.contains("needs a running daemon"), "{e}");
    let e = err(&run(&root, &["daemon", "--offline"], None));
    assert!(e.contains("no offline mode"), "{e}");
}

#[test]
fn cid_commands_like_kubo() {
    let (_d, root) = common::repo_dir();
    let r = |args: &[&str]| ok(&run(&root, args, None));
    assert_eq!(r(&["cid", "base32", HELLO_V0]), format!("{HELLO_V1}\n"));
    assert_eq!(
        r(&["cid", "format", "-v", "1", "-b", "base32", HELLO_V0]),
        format!("{HELLO_V1}\n")
    );
    assert_eq!(
        r(&["cid", "format", "-f", "%P", HELLO_V0]),
        "cidv0-dag-pb-sha2-256-32\n"
    );
    assert_eq!(
        r(&["cid", "format", "-v", "0", HELLO_V1]),
        format!("{HELLO_V0}\n")
    );
    let raw = r(&["cid", "format", "--mc", "raw", HELLO_V0]);
    assert!(raw.starts_with("bafkrei"), "{raw}");
    err(&run(&root, &["cid", "format", "-v", "0", raw.trim()], None));
    let bases = r(&["cid", "bases", "--prefix", "--numeric"]);
    assert!(bases.contains("b      98  base32\n"), "{bases}");
    assert!(bases.contains("z     122  base58btc\n"), "{bases}");
    assert!(r(&["cid", "bases"]).contains("\nbase36\n"));
    assert_eq!(
        r(&["cid", "codecs", "--numeric", "--supported"]),
        "   85  raw\n  112  dag-pb\n  113  dag-cbor\n  114  libp2p-key\n  297  dag-json\n"
    );
    assert_eq!(r(&["cid", "hashes", "--supported"]), "identity\nsha2-256\n");
}

#[test]
fn tool_commands_offline() {
    let (_d, root) = init_repo();
    let r = |args: &[&str]| ok(&run(&root, args, None));
    // bootstrap: Kubo's lines.
    r(&["bootstrap", "rm", "--all"]);
    assert_eq!(r(&["bootstrap", "list"]), "");
    assert_eq!(r(&["bootstrap", "add", PEER]), format!("added {PEER}\n"));
    assert_eq!(r(&["bootstrap", "list"]), format!("{PEER}\n"));
    let e = err(&run(
        &root,
        &["bootstrap", "add", "/ip4/192.0.2.1/tcp/4001"],
        None,
    ));
    assert!(e.contains("must end in /p2p/<peer-id>"), "{e}");
    let v: serde_json::Value =
        serde_json::from_str(&r(&["--enc=json", "bootstrap", "list"])).unwrap();
    assert_eq!(v["Peers"][0], PEER);
    assert_eq!(r(&["bootstrap", "rm", PEER]), format!("removed {PEER}\n"));
    assert_eq!(r(&["bootstrap", "list"]), "");
    let defaults = r(&["bootstrap", "add", "--default"]);
    assert!(
        defaults.lines().count() > 1 && defaults.starts_with("added /"),
        "{defaults}"
    );

    // repo version, commands, diag sys.
    let v = r(&["repo", "version"]);
    assert!(v.starts_with("acorn repo version acorn-repo@"), "{v}");
    assert!(r(&["repo", "version", "-q"]).starts_with("acorn-repo@"));
    let cmds = r(&["commands"]);
    for c in [
        "acorn\n",
        "acorn add\n",
        "acorn pin add\n",
        "acorn cid format\n",
    ] {
        assert!(cmds.contains(c), "{c:?} missing");
    }
    let sys: serde_json::Value = serde_json::from_str(&r(&["diag", "sys"])).unwrap();
    assert!(
        sys["diskinfo"]["total_space"].as_u64().unwrap() > 0,
        "{sys}"
    );
    assert!(sys["diskinfo"]["free_space"].is_u64(), "{sys}");
    assert!(sys["memory"]["virt"].as_u64().unwrap() > 0, "{sys}");
    assert_eq!(sys["net"]["online"], false);
    assert!(sys["net"]["interface_addresses"].is_array());
    assert!(sys["runtime"]["numcpu"].as_u64().unwrap() >= 1);
    assert_eq!(sys["runtime"]["os"], "linux");
    assert!(sys["ipfs_version"].is_string());
    // shutdown needs the daemon.
    assert!(err(&run(&root, &["shutdown"], None)).contains("needs a running daemon"));
}

/// A directory `d/{a.txt, sub/b.txt}`; returns its root CID.
fn add_tree(d: &std::path::Path, root: &std::path::Path) -> String {
    let dir = d.join("tree");
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("a.txt"), "a\n").unwrap();
    std::fs::write(dir.join("sub/b.txt"), "b\n").unwrap();
    ok(&run(
        root,
        &["add", "-r", "-Q", dir.to_str().unwrap()],
        None,
    ))
    .trim()
    .to_string()
}

#[test]
fn refs_edges_format_and_max_depth() {
    let (d, root) = init_repo();
    let top = add_tree(d.path(), &root);
    let r = |args: &[&str]| ok(&run(&root, args, None));
    let named = r(&["refs", "-r", "--format", "<linkname> <dst>", &top]);
    let lines: Vec<(&str, &str)> = named.lines().map(|l| l.split_once(' ').unwrap()).collect();
    let names: Vec<&str> = lines.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, ["a.txt", "sub", "b.txt"]);
    let (a, sub, b) = (lines[0].1, lines[1].1, lines[2].1);
    assert_eq!(
        r(&["refs", "-r", "--edges", &top]),
        format!("{top} -> {a}\n{top} -> {sub}\n{sub} -> {b}\n")
    );
    assert_eq!(
        r(&["refs", "-r", "--max-depth=1", &top]),
        format!("{a}\n{sub}\n")
    );
    assert_eq!(
        r(&["refs", "-r", "--max-depth", "-1", &top]),
        format!("{a}\n{sub}\n{b}\n")
    );
    let e = err(&run(
        &root,
        &["refs", "-e", "--format", "<dst>!", &top],
        None,
    ));
    assert!(e.contains("format argument with edges"), "{e}");
    assert_eq!(
        r(&["dag", "resolve", &format!("/ipfs/{top}/sub/b.txt")]),
        format!("{b}\n")
    );
    // pin add --progress: Kubo's count on stderr, the pin line on stdout.
    let pinned = run(&root, &["pin", "add", "--progress", &top], None);
    assert_eq!(ok(&pinned), format!("pinned {top} recursively\n"));
    assert!(
        pinned.stderr.contains("Fetched/Processed ") && pinned.stderr.contains(" nodes\r"),
        "{:?}",
        pinned.stderr
    );
    // get -a: a tar archive named <cid>.tar (or -o name, `.tar` added).
    let tar_out = d.path().join("out");
    let saved = r(&["get", "-a", "-o", tar_out.to_str().unwrap(), &top]);
    assert!(
        saved.starts_with("Saving archive to ") && saved.trim_end().ends_with("out.tar"),
        "{saved}"
    );
    let mut names: Vec<String> =
        tar::Archive::new(std::fs::File::open(d.path().join("out.tar")).unwrap())
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect();
    names.sort();
    assert_eq!(names.len(), 4, "{names:?}");
    assert!(names.iter().any(|n| n.ends_with("sub/b.txt")), "{names:?}");
    err(&run(
        &root,
        &["get", "-a", "-o", tar_out.to_str().unwrap(), &top],
        None,
    ));
    // add --cid-base writes CIDv1 in that base; -s is --chunker; --hash checks.
    let f = d.path().join("tree/a.txt");
    let f = f.to_str().unwrap();
    let k = r(&["add", "-Q", "--cid-version=1", "--cid-base", "base36", f]);
    assert!(k.starts_with('k'), "{k}");
    assert_eq!(
        r(&["cid", "format", "-b", "base32", k.trim()]),
        r(&["add", "-Q", "--cid-version=1", f])
    );
    let small = r(&["add", "-Q", "-s", "size-1", f]);
    assert_ne!(small, r(&["add", "-Q", f]), "-s did not reach the chunker");
    ok(&run(&root, &["add", "-Q", "--hash", "sha2-256", f], None));
    let e = err(&run(&root, &["add", "--hash", "sha3-256", f], None));
    assert!(e.contains("sha2-256 only"), "{e}");
}

#[test]
fn through_the_daemon() {
    let (d, root) = init_repo();
    let top = add_tree(d.path(), &root);
    let offline = ok(&run(&root, &["refs", "-r", "--edges", &top], None));
    let offline_fmt = ok(&run(
        &root,
        &[
            "refs",
            "-r",
            "--max-depth=1",
            "--format=<src> <linkname>",
            &top,
        ],
        None,
    ));
    let daemon = Daemon::start(&root);
    assert_eq!(
        ok(&run(&root, &["refs", "-r", "--edges", &top], None)),
        offline
    );
    assert_eq!(
        ok(&run(
            &root,
            &[
                "refs",
                "-r",
                "--max-depth=1",
                "--format=<src> <linkname>",
                &top
            ],
            None
        )),
        offline_fmt
    );
    let pinned = run(&root, &["pin", "add", "--progress", &top], None);
    assert_eq!(ok(&pinned), format!("pinned {top} recursively\n"));
    assert!(
        pinned.stderr.contains("Fetched/Processed "),
        "{:?}",
        pinned.stderr
    );
    // --offline uses the repo, which the daemon holds.
    err(&run(&root, &["--offline", "refs", &top], None));
    // --api reaches the daemon from anywhere (here: a repo path with no repo).
    let api = format!("/ip4/127.0.0.1/tcp/{}", daemon.port);
    let (_e, elsewhere) = common::repo_dir();
    ok(&run(&root, &["bootstrap", "add", PEER], None));
    assert!(ok(&run(
        &elsewhere,
        &["--api", &api, "bootstrap", "list"],
        None
    ))
    .contains(PEER));
    let sys: serde_json::Value =
        serde_json::from_str(&ok(&run(&root, &["diag", "sys"], None))).unwrap();
    assert_eq!(sys["net"]["online"], true);
    // stats bw --poll: Kubo's header, then a line rewritten in place each interval.
    let mut poll = std::process::Command::new(env!("CARGO_BIN_EXE_acorn"))
        .args(["stats", "bw", "--poll", "-i", "100ms"])
        .env("ACORN_PATH", &root)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = poll.stdout.take().unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 256];
    // Header + at least two polls (each ends in '\r').
    while seen.iter().filter(|&&b| b == b'\r').count() < 4 {
        let n = std::io::Read::read(&mut stdout, &mut buf).unwrap();
        assert!(n > 0, "poll ended: {:?}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    poll.kill().unwrap();
    poll.wait().unwrap();
    let text = String::from_utf8_lossy(&seen);
    assert!(
        text.starts_with("Total Up    Total Down  Rate Up     Rate Down\n\x1b[2K\r"),
        "{text:?}"
    );
    assert!(text.contains(" B/s"), "{text:?}");
    // shutdown stops it.
    assert_eq!(ok(&run(&root, &["shutdown"], None)), "");
    let mut daemon = daemon;
    let mut child = daemon.child.take().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{status}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "daemon still running after shutdown"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn ping_a_peer_through_the_daemon() {
    let (_a_dir, a) = init_repo();
    let (_b_dir, b) = init_repo();
    let _da = Daemon::start(&a);
    let _db = Daemon::start(&b);
    let b_addr = crate::common::dial_addr(&b);
    let b_id = b_addr.rsplit('/').next().unwrap().to_string();
    ok(&run(&a, &["swarm", "connect", &b_addr], None));
    let out = ok(&run(&a, &["ping", "-n", "3", &b_id], None));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 5, "{out}");
    assert_eq!(lines[0], format!("PING {b_id}."));
    for l in &lines[1..4] {
        assert!(
            l.starts_with("Pong received: time=") && l.ends_with(" ms"),
            "{out}"
        );
    }
    assert!(
        lines[4].starts_with("Average latency: ") && lines[4].ends_with("ms"),
        "{out}"
    );
    // Bad counts and a peer with no address are errors.
    assert!(err(&run(&a, &["ping", "-n", "0", &b_id], None)).contains("greater than 0"));
    let stranger = "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA";
    let e = err(&run(&a, &["ping", "-n", "1", stranger], None));
    assert!(e.contains("ping"), "{e}");
    // Offline: needs the daemon.
    let (_c_dir, c) = init_repo();
    assert!(err(&run(&c, &["ping", &b_id], None)).contains("needs a running daemon"));
}
