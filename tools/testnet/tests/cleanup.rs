//! A testnet always cleans up: a run killed with SIGKILL leaves no namespace,
//! process or scratch file behind; a later run removes what an older killed run
//! left; and without root it fails naming what is missing.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use acorn_testnet::netns;
use acorn_testnet::testnet::{Bins, HostSpec, LinkSpec, Testnet, Topology, INTERNET};

mod common;
use common::acorn;

fn testnet_bin() -> &'static str {
    env!("CARGO_BIN_EXE_testnet")
}

const LONG_RUN: &str = r#"
seed = 1
timeout = "300s"
[[network]]
name = "home"
nat = "symmetric"
[[host]]
name = "s"
[[host]]
name = "a"
network = "home"
[[step]]
do = "start"
host = "s"
[[step]]
do = "start"
host = "a"
[[step]]
do = "wait"
for = "200s"
"#;

/// Tests here that build testnets take turns: each build removes the namespaces
/// of dead runs, which would race the test that plants one.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Kills the run if the test fails before it does.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn alive(pid: u64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.contains(") Z "))
        .unwrap_or(false)
}

/// Processes whose command line mentions `needle`.
fn processes_mentioning(needle: &str) -> Vec<String> {
    let mut v = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmd) = std::fs::read(e.path().join("cmdline")) {
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if cmd.contains(needle) && alive(e.file_name().to_string_lossy().parse().unwrap_or(0)) {
                v.push(cmd);
            }
        }
    }
    v
}

#[test]
fn a_killed_run_leaves_nothing_behind() {
    killed_run_leaves_nothing(nix::sys::signal::Signal::SIGKILL);
}

#[test]
fn an_interrupted_run_leaves_nothing_behind() {
    // Ctrl-C: SIGINT's default action ends the run without unwinding either.
    killed_run_leaves_nothing(nix::sys::signal::Signal::SIGINT);
}

fn killed_run_leaves_nothing(signal: nix::sys::signal::Signal) {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let sc = dir.path().join("long.toml");
    std::fs::write(&sc, LONG_RUN).unwrap();
    let figures = dir.path().join("figures.jsonl");
    let mut run = KillOnDrop(
        Command::new(testnet_bin())
            .arg("run")
            .arg(&sc)
            .arg("--acorn")
            .arg(acorn())
            .arg("--figures")
            .arg(&figures)
            .stdin(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // Wait until both daemons run (the figures of step 2 name their pids).
    let t0 = Instant::now();
    let lines: Vec<serde_json::Value> = loop {
        let text = std::fs::read_to_string(&figures).unwrap_or_default();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        if lines.iter().any(|l| l["step"] == 2 && l["node"] == "a") {
            break lines;
        }
        assert!(
            run.0.try_wait().unwrap().is_none(),
            "the run ended early: {text}"
        );
        assert!(
            t0.elapsed() < Duration::from_secs(90),
            "the run did not start: {text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let prefix = lines[0]["run"].as_str().unwrap().to_string();
    let scratch = PathBuf::from(lines[0]["scratch"].as_str().unwrap());
    let pids: Vec<u64> = lines
        .iter()
        .filter(|l| l["step"] == 2 && l["node"].is_string())
        .map(|l| l["pid"].as_u64().unwrap())
        .collect();
    assert_eq!(pids.len(), 2, "{lines:?}");
    assert!(pids.iter().all(|p| alive(*p)));
    assert_eq!(
        netns::list(&prefix).len(),
        4,
        "internet, router, 2 hosts: {:?}",
        netns::list(&prefix)
    );
    assert!(
        !processes_mentioning(&prefix).is_empty(),
        "no link process found"
    );
    assert!(scratch.is_dir());

    // No destructor and no handler runs in the runner.
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(run.0.id() as i32), signal).unwrap();
    run.0.wait().unwrap();
    let t0 = Instant::now();
    loop {
        let left_ns = netns::list(&prefix);
        let left_procs = processes_mentioning(&prefix);
        let left_pids: Vec<_> = pids.iter().filter(|p| alive(**p)).collect();
        if left_ns.is_empty() && left_procs.is_empty() && left_pids.is_empty() && !scratch.exists()
        {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "left behind: namespaces {left_ns:?}, processes {left_procs:?}, daemons {left_pids:?}, \
             scratch {} exists: {}",
            scratch.display(),
            scratch.exists()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_new_run_removes_what_a_dead_run_left() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    // A run prefix whose process is gone, with a process still inside.
    let mut gone = Command::new("true").spawn().unwrap();
    let dead_pid = gone.id();
    gone.wait().unwrap();
    let stale = format!("{}{dead_pid}x0-internet", netns::PREFIX);
    netns::ip(&["netns", "add", &stale]).unwrap();
    let mut sleeper = Command::new("ip")
        .args(["netns", "exec", &stale, "sleep", "300"])
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert!(netns::list(&stale).len() == 1);

    let topo = Topology {
        networks: vec![],
        hosts: vec![HostSpec {
            name: "x".into(),
            network: INTERNET.into(),
            link: LinkSpec::default(),
        }],
    };
    let bins = Bins {
        link: env!("CARGO_BIN_EXE_testnet-link").into(),
        testnet: testnet_bin().into(),
    };
    let net = Testnet::build(&topo, &bins, 1, None).unwrap();
    assert!(
        netns::list(&stale).is_empty(),
        "the stale namespace is still there"
    );
    let status = sleeper.wait().unwrap();
    assert!(
        !status.success(),
        "the process in the stale namespace was not killed"
    );
    // Our own run's namespaces are not stale.
    assert_eq!(netns::list(net.prefix()).len(), 2);
    assert!(netns::remove_stale()
        .iter()
        .all(|n| !n.starts_with(net.prefix())));
    assert_eq!(netns::list(net.prefix()).len(), 2);
}

#[test]
fn without_root_the_error_names_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let sc = dir.path().join("s.toml");
    std::fs::write(&sc, LONG_RUN).unwrap();
    std::fs::set_permissions(&sc, std::fs::Permissions::from_mode(0o644)).unwrap();
    // A copy of the binary where that user can reach it (the build directory may
    // sit under a private home).
    let bin = dir.path().join("testnet");
    std::fs::copy(testnet_bin(), &bin).unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = Command::new(&bin)
        .arg("run")
        .arg(&sc)
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("the testnet cannot run here; missing: root"),
        "{err}"
    );
}

#[test]
fn a_bad_scenario_is_refused_before_anything_is_built() {
    let dir = tempfile::tempdir().unwrap();
    let sc = dir.path().join("bad.toml");
    std::fs::write(
        &sc,
        LONG_RUN.replace("network = \"home\"", "network = \"hom\""),
    )
    .unwrap();
    let before = netns::list(netns::PREFIX).len();
    let out = Command::new(testnet_bin())
        .arg("run")
        .arg(&sc)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("bad.toml:11: unknown network \"hom\""),
        "{err}"
    );
    assert!(netns::list(netns::PREFIX).len() <= before);
}
