//! `acorn log ls` and `acorn log level` through the daemon (Kubo's semantics).

use crate::common;

use common::{err, init_repo, ok, run, Daemon};

#[test]
fn log_ls_and_level_change_what_the_daemon_logs() {
    let (_d, root) = init_repo();
    let daemon = Daemon::start(&root);

    let ls = ok(&run(&root, &["log", "ls"], None));
    let subsystems: Vec<&str> = ls.lines().collect();
    for s in ["acorn", "acorn::api", "acorn_storage", "libp2p_kad"] {
        assert!(subsystems.contains(&s), "{s} missing from {ls:?}");
    }
    let json: serde_json::Value =
        serde_json::from_str(&ok(&run(&root, &["--enc=json", "log", "ls"], None))).unwrap();
    assert_eq!(json["Strings"].as_array().unwrap().len(), subsystems.len());

    // Debug on the API: the next request is logged, the earlier one was not.
    let msg = ok(&run(&root, &["log", "level", "acorn::api", "debug"], None));
    assert_eq!(msg, "Changed log level of 'acorn::api' to 'debug'\n");
    ok(&run(&root, &["log", "ls"], None));
    // Back to error: quiet again.
    let msg = ok(&run(&root, &["log", "level", "acorn::api", "error"], None));
    assert_eq!(msg, "Changed log level of 'acorn::api' to 'error'\n");
    ok(&run(&root, &["log", "ls"], None));

    let msg = ok(&run(&root, &["log", "level", "all", "fatal"], None));
    assert_eq!(msg, "Changed log level of '*' to 'fatal'\n");
    let msg = ok(&run(&root, &["log", "level", "*", "warn"], None));
    assert_eq!(msg, "Changed log level of '*' to 'warn'\n");

    let bad = err(&run(&root, &["log", "level", "acorn", "loud"], None));
    assert!(bad.contains("unrecognized level"), "{bad}");
    let bad = err(&run(
        &root,
        &["log", "level", "no_such_thing", "debug"],
        None,
    ));
    assert!(bad.contains("No such logger"), "{bad}");

    let (_, _, stderr) = daemon.stop();
    assert_eq!(
        stderr.matches("api: log/ls").count(),
        1,
        "only the log ls sent while acorn::api was at debug is logged: {stderr}"
    );
    // The request that set debug came before it; the one setting error after.
    assert_eq!(stderr.matches("api: log/level").count(), 1, "{stderr}");
}

#[test]
fn log_needs_the_daemon() {
    let (_d, root) = init_repo();
    let e = err(&run(&root, &["log", "ls"], None));
    assert!(e.contains("daemon"), "{e}");
}

/// `acorn log tail` (RPC `log/tail`) prints what the daemon logs, as it logs it.
#[test]
fn log_tail_follows_the_daemons_log() {
    use std::io::BufRead as _;
    use std::process::{Command, Stdio};
    use std::time::Duration;

    let (_d, root) = init_repo();
    let _daemon = Daemon::start(&root);
    ok(&run(&root, &["log", "level", "acorn::api", "debug"], None));
    let mut tail = Command::new(env!("CARGO_BIN_EXE_acorn"))
        .args(["log", "tail"])
        .env("ACORN_PATH", &root)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = tail.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            if tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    // The tail subscribes when its request arrives: ask until a request made
    // after it shows up in it (each `log ls` is logged at debug under acorn::api).
    let mut seen = None;
    for _ in 0..30 {
        ok(&run(&root, &["log", "ls"], None));
        if let Ok(line) = rx.recv_timeout(Duration::from_secs(1)) {
            seen = Some(line);
            break;
        }
    }
    let _ = tail.kill();
    let _ = tail.wait();
    let line = seen.expect("a log line in log tail within 30 s");
    assert!(line.contains("api: log/"), "{line}");
}
