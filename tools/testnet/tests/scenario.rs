//! Scenarios run end to end by the `testnet` binary: a partition makes a fetch
//! miss its deadline and fail the run (with the nodes' logs and figures, and
//! nothing left behind); after a heal the same fetch finishes; a wrong sha256
//! fails the run.

use std::process::Command;

use acorn_testnet::netns;

mod common;
use common::acorn;

const HEAD: &str = r#"
seed = 5
timeout = "120s"
[[network]]
name = "home"
link = "dsl"
[[host]]
name = "provider"
[[host]]
name = "fetcher"
network = "home"
[[step]]
do = "start"
host = "provider"
[[step]]
do = "start"
host = "fetcher"
[[step]]
do = "add"
host = "provider"
as = "f"
size = "256KiB"
[[step]]
do = "connect"
host = "fetcher"
to = "provider"
[[step]]
do = "partition"
link = "home"
"#;

/// Runs `HEAD` + `tail`; (success, stderr, figures).
fn run(tail: &str) -> (bool, String, Vec<serde_json::Value>) {
    let dir = tempfile::tempdir().unwrap();
    let sc = dir.path().join("s.toml");
    std::fs::write(&sc, format!("{HEAD}{tail}")).unwrap();
    let figures = dir.path().join("f.jsonl");
    let out = Command::new(env!("CARGO_BIN_EXE_testnet"))
        .arg("run")
        .arg(&sc)
        .arg("--acorn")
        .arg(acorn())
        .arg("--figures")
        .arg(&figures)
        .output()
        .unwrap();
    let lines = std::fs::read_to_string(&figures)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        lines,
    )
}

fn prefix(lines: &[serde_json::Value]) -> String {
    lines[0]["run"].as_str().unwrap().to_string()
}

#[test]
fn a_partitioned_fetch_fails_by_its_deadline_and_heals() {
    let (ok, err, lines) =
        run("[[step]]\ndo = \"fetch\"\nhost = \"fetcher\"\ncontent = \"f\"\ndeadline = \"3s\"\n");
    assert!(!ok, "a fetch across a partition passed: {err}");
    assert!(err.contains("step 6 (fetch) failed"), "{err}");
    assert!(err.contains("did not finish within 3s"), "{err}");
    assert!(
        err.contains("--- fetcher: {"),
        "no dump of the nodes: {err}"
    );
    let step = lines
        .iter()
        .find(|l| l["step"] == 6 && l["do"] == "fetch")
        .unwrap();
    assert_eq!(step["ok"], false);
    assert!(
        netns::list(&prefix(&lines)).is_empty(),
        "a failed run left namespaces"
    );
    // The link's own counters saw the partition: every packet that reached the
    // link after it (the fetcher's retries) was lost. (Packets already in the delay
    // line when it began still come out.)
    let home = |step: u64| {
        lines
            .iter()
            .find(|l| l["step"] == step && l["link"] == "home" && l["a2b"].is_object())
            .unwrap()
            .clone()
    };
    let (at5, at6) = (home(5), home(6));
    let grew = |dir: &str, k: &str| at6[dir][k].as_u64().unwrap() - at5[dir][k].as_u64().unwrap();
    for dir in ["a2b", "b2a"] {
        assert_eq!(
            grew(dir, "lost"),
            grew(dir, "packets_in"),
            "{dir}: {at5} {at6}"
        );
    }
    assert!(
        grew("b2a", "packets_in") + grew("a2b", "packets_in") > 0,
        "{at5} {at6}"
    );

    let (ok, err, lines) = run("[[step]]\ndo = \"heal\"\nlink = \"home\"\n\
         [[step]]\ndo = \"fetch\"\nhost = \"fetcher\"\ncontent = \"f\"\ndeadline = \"30s\"\n");
    assert!(ok, "the fetch after a heal failed: {err}");
    let fetch = lines
        .iter()
        .find(|l| l["step"] == 7 && l["do"] == "fetch")
        .unwrap();
    assert_eq!(fetch["bytes"], 256 << 10);
    assert!(fetch["ttfb_ms"].as_u64().unwrap() <= fetch["ttlb_ms"].as_u64().unwrap());
    // Nodes' figures come from their own counters and /proc.
    let node = lines
        .iter()
        .find(|l| l["step"] == 7 && l["node"] == "fetcher")
        .unwrap();
    assert!(node["bitswap_in"].as_u64().unwrap() >= 256 << 10, "{node}");
    assert!(node["rss_kib"].as_u64().unwrap() > 0 && node["threads"].as_u64().unwrap() > 0);
    assert!(netns::list(&prefix(&lines)).is_empty());
}

#[test]
fn a_wrong_sha256_fails_the_run() {
    let zeros = "0".repeat(64);
    let (ok, err, _) = run(&format!(
        "[[step]]\ndo = \"heal\"\nlink = \"home\"\n\
         [[step]]\ndo = \"fetch\"\nhost = \"fetcher\"\ncontent = \"f\"\nsha256 = \"{zeros}\"\ndeadline = \"30s\"\n"
    ));
    assert!(!ok);
    assert!(
        err.contains(&format!("is not the expected {zeros}")),
        "{err}"
    );
}

#[test]
fn a_run_past_its_timeout_fails_and_tears_down() {
    let dir = tempfile::tempdir().unwrap();
    let sc = dir.path().join("slow.toml");
    let text = HEAD
        .replace("timeout = \"120s\"", "timeout = \"6s\"")
        .replace(
            "[[step]]\ndo = \"partition\"\nlink = \"home\"\n",
            "[[step]]\ndo = \"wait\"\nfor = \"60s\"\n",
        );
    assert!(text.contains("for = \"60s\""));
    std::fs::write(&sc, text).unwrap();
    let figures = dir.path().join("f.jsonl");
    let t0 = std::time::Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_testnet"))
        .arg("run")
        .arg(&sc)
        .arg("--acorn")
        .arg(acorn())
        .arg("--figures")
        .arg(&figures)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("step 5 (wait) failed: the run passed its timeout"),
        "{err}"
    );
    assert!(
        t0.elapsed() < std::time::Duration::from_secs(30),
        "the wait ran past the timeout"
    );
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&figures)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(netns::list(&prefix(&lines)).is_empty());
}

#[test]
fn a_node_above_its_rss_ceiling_fails_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let sc = dir.path().join("small.toml");
    // A ceiling far below any daemon's RSS, set in the file.
    let text = HEAD.replace(
        "[[host]]\nname = \"provider\"\n",
        "[[host]]\nname = \"provider\"\nrss_ceiling = \"1MiB\"\n",
    );
    assert_ne!(text, HEAD);
    std::fs::write(&sc, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_testnet"))
        .arg("run")
        .arg(&sc)
        .arg("--acorn")
        .arg(acorn())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("step 1 (start) failed: provider: RSS"),
        "{err}"
    );
    assert!(err.contains("is above its ceiling of 1024 KiB"), "{err}");
}
