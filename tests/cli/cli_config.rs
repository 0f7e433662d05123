//! End-to-end tests of `acorn init`, `acorn config` and argv handling: run the
//! real binary with `ACORN_PATH` in a temporary directory.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

fn acorn(root: &Path, args: &[&str]) -> Run {
    acorn_log(root, args, None)
}

fn acorn_log(root: &Path, args: &[&str], log: Option<&str>) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_acorn"));
    cmd.args(args)
        .env("ACORN_PATH", root)
        .env_remove("ACORN_LOG")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    if let Some(filter) = log {
        cmd.env("ACORN_LOG", filter);
    }
    let out: Output = cmd.output().expect("run acorn");
    Run {
        ok: out.status.success(),
        stdout: String::from_utf8(out.stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8(out.stderr).expect("utf-8 stderr"),
    }
}

/// A failed run: exit 1 and exactly one `Error: ...` line on stderr.
fn expect_error(r: &Run) -> &str {
    assert!(!r.ok, "expected failure, got stdout {:?}", r.stdout);
    let line = r.stderr.strip_suffix('\n').unwrap_or(&r.stderr);
    assert!(!line.contains('\n'), "more than one line: {:?}", r.stderr);
    assert!(line.starts_with("Error: "), "{:?}", r.stderr);
    line
}

fn expect_ok(r: &Run) -> &str {
    assert!(r.ok, "failed: {}", r.stderr);
    &r.stdout
}

fn repo() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("repo");
    (dir, root)
}

fn read_config(root: &Path) -> Value {
    serde_json::from_slice(&fs::read(root.join("config")).expect("config file"))
        .expect("config is JSON")
}

fn is_base58(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_ascii_alphanumeric() && !"0OIl".contains(c))
}

#[test]
fn init_prints_peer_id_and_writes_config() {
    let (_d, root) = repo();
    let r = acorn(&root, &["init"]);
    let out = expect_ok(&r);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert_eq!(lines[0], "generating ED25519 keypair...done");
    let peer = lines[1].strip_prefix("peer identity: ").expect("peer line");
    assert!(
        peer.starts_with("12D3KooW") && peer.len() == 52 && is_base58(peer),
        "{peer}"
    );
    assert_eq!(
        lines[2],
        format!("initializing IPFS node at {}", root.display())
    );

    let cfg = read_config(&root);
    assert_eq!(cfg["Identity"]["PeerID"], peer);
    let key = cfg["Identity"]["PrivKey"].as_str().expect("PrivKey");
    assert!(key.starts_with("CAESQ") && key.len() == 92, "{key}");
    assert_eq!(cfg["Addresses"]["API"], "/ip4/127.0.0.1/tcp/5001");
    assert_eq!(cfg["Addresses"]["Gateway"], "/ip4/127.0.0.1/tcp/8080");
    assert_eq!(
        cfg["Addresses"]["Swarm"],
        serde_json::json!(["/ip4/0.0.0.0/tcp/4001", "/ip6/::/tcp/4001"])
    );
    assert_eq!(cfg["Datastore"]["StorageMax"], "10GB");
    assert_eq!(cfg["Routing"]["Type"], "dhtclient");
    assert!(cfg["Bootstrap"]
        .as_array()
        .expect("Bootstrap list")
        .iter()
        .any(|b| b
            .as_str()
            .is_some_and(|s| s.starts_with("/dnsaddr/bootstrap.libp2p.io/p2p/"))));
    let mode = fs::metadata(root.join("config"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "config holds the private key");
    // `config Identity.PeerID` agrees with what init printed.
    assert_eq!(
        expect_ok(&acorn(&root, &["config", "Identity.PeerID"])),
        format!("{peer}\n")
    );
}

/// `acorn id` of a repo: the ID and the base64 protobuf PublicKey.
fn id_of(root: &Path) -> (String, Vec<u8>) {
    use base64ct::Encoding as _;
    let v: Value = serde_json::from_str(expect_ok(&acorn(root, &["id"]))).expect("id JSON");
    let id = v["ID"].as_str().expect("ID").to_owned();
    let key = base64ct::Base64::decode_vec(v["PublicKey"].as_str().expect("PublicKey"))
        .expect("PublicKey is base64");
    (id, key)
}

/// The `ID` that `acorn id <peer>` shows.
fn id_of_arg(root: &Path, peer: &str) -> String {
    let v: Value = serde_json::from_str(expect_ok(&acorn(root, &["id", peer]))).expect("id JSON");
    v["ID"].as_str().expect("ID").to_owned()
}

#[test]
fn init_with_each_key_algorithm() {
    // (arguments, first output line, peer ID prefix, protobuf PublicKey Type byte)
    for (args, line, prefix, key_type) in [
        (
            &["-a", "rsa"][..],
            "generating 2048-bit RSA keypair...done",
            "Qm",
            0u8,
        ),
        (
            &["--algorithm", "rsa", "--bits", "3072"][..],
            "generating 3072-bit RSA keypair...done",
            "Qm",
            0,
        ),
        (
            &["-a", "secp256k1"][..],
            "generating SECP256K1 keypair...done",
            "16Uiu2",
            2,
        ),
        (
            &["-a", "ecdsa"][..],
            "generating ECDSA keypair...done",
            "Qm",
            3,
        ),
        (
            &["--algorithm=ed25519"][..],
            "generating ED25519 keypair...done",
            "12D3KooW",
            1,
        ),
    ] {
        let (_dir, root) = repo();
        let mut argv = vec!["init"];
        argv.extend_from_slice(args);
        let out = expect_ok(&acorn(&root, &argv)).to_owned();
        let mut lines = out.lines();
        assert_eq!(lines.next(), Some(line), "{args:?}: {out}");
        let printed = lines
            .next()
            .unwrap()
            .strip_prefix("peer identity: ")
            .unwrap();
        let (id, key) = id_of(&root);
        assert_eq!(id, printed, "{args:?}");
        assert!(id.starts_with(prefix) && is_base58(&id), "{args:?}: {id}");
        assert_eq!(&key[..2], &[0x08, key_type], "{args:?}");
        // `id <peer>` takes the node's own peer ID as a libp2p-key CIDv1 (`k51…`) too.
        let bytes = multibase::Base::Base58Btc.decode(&id).unwrap();
        let mh = cid::multihash::Multihash::<64>::from_bytes(&bytes).unwrap();
        let k51 = cid::Cid::new_v1(0x72, mh)
            .to_string_of_base(multibase::Base::Base36Lower)
            .unwrap();
        assert_eq!(id_of_arg(&root, &k51), id, "{args:?}: {k51}");
        // The config reads back (the key decodes and matches Identity.PeerID).
        assert_eq!(
            expect_ok(&acorn(&root, &["config", "Identity.PeerID"])),
            format!("{id}\n")
        );
    }
}

#[test]
fn init_refuses_bad_key_options_and_writes_nothing() {
    for (args, message) in [
        (&["-a", "rsa", "-b", "1024"][..], "1024-bit RSA key refused"),
        (
            &["--algorithm", "rsa", "--bits", "8193"][..],
            "8193-bit RSA key refused",
        ),
        (
            &["-a", "ed25519", "-b", "2048"][..],
            "--bits applies to rsa keys only",
        ),
        (&["-a", "dsa"][..], "unknown key algorithm \"dsa\""),
    ] {
        let (_dir, root) = repo();
        let mut argv = vec!["init"];
        argv.extend_from_slice(args);
        let r = acorn(&root, &argv);
        let err = expect_error(&r);
        assert!(err.contains(message), "{args:?}: {err}");
        assert!(!root.join("config").exists(), "{args:?}");
        assert!(
            !root.exists() || fs::read_dir(&root).unwrap().next().is_none(),
            "{args:?}: nothing written"
        );
    }
}

#[test]
fn init_twice_refuses_and_changes_nothing() {
    let (_d, root) = repo();
    expect_ok(&acorn(&root, &["init"]));
    let before = fs::read(root.join("config")).unwrap();
    for args in [&["init"][..], &["init", "--profile", "test"]] {
        let r = acorn(&root, args);
        let line = expect_error(&r);
        assert!(line.contains("already exists"), "{line}");
        assert!(r.stdout.is_empty(), "printed {:?}", r.stdout);
        assert_eq!(fs::read(root.join("config")).unwrap(), before);
    }
}

#[test]
fn profile_test_sets_local_addresses() {
    let (_d, root) = repo();
    expect_ok(&acorn(&root, &["init", "--profile", "test"]));
    let get = |k: &str| acorn(&root, &["config", k]).stdout;
    assert_eq!(get("Addresses.API"), "/ip4/127.0.0.1/tcp/0\n");
    assert_eq!(get("Addresses.Gateway"), "/ip4/127.0.0.1/tcp/0\n");
    let swarm: Value = serde_json::from_str(&get("Addresses.Swarm")).unwrap();
    assert_eq!(swarm, serde_json::json!(["/ip4/127.0.0.1/tcp/0"]));
    assert_eq!(get("Bootstrap"), "[]\n");
    assert_eq!(get("Discovery.MDNS.Enabled"), "false\n");
}

#[test]
fn init_profile_list_and_equals_spelling() {
    let (_d, root) = repo();
    expect_ok(&acorn(&root, &["init", "--profile=test,lowpower"]));
    let cfg = read_config(&root);
    assert_eq!(cfg["Addresses"]["API"], "/ip4/127.0.0.1/tcp/0");
    assert_eq!(cfg["Swarm"]["ConnMgr"]["HighWater"], 40);
}

#[test]
fn init_with_a_firmware_profile_and_test() {
    let (_d, root) = repo();
    expect_ok(&acorn(&root, &["init", "--profile", "pi-zero,test"]));
    let cfg = read_config(&root);
    assert_eq!(cfg["Acorn"]["BlockingThreads"], 1);
    assert_eq!(cfg["Swarm"]["ConnMgr"]["HighWater"], 32);
    assert_eq!(cfg["Routing"]["Type"], "dhtclient");
    assert_eq!(cfg["Addresses"]["API"], "/ip4/127.0.0.1/tcp/0");
    let ls = expect_ok(&acorn(&root, &["config", "profile", "ls"])).to_owned();
    for name in ["pi-zero", "vps-256m", "pi3", "pi4"] {
        assert!(ls.contains(&format!("{name}: Firmware profile")), "{ls}");
    }
}

#[test]
fn config_profile_apply_firmware_profile() {
    let (_d, root) = repo();
    expect_ok(&acorn(&root, &["init", "--profile", "test"]));
    let dry = acorn(&root, &["config", "profile", "apply", "--dry-run", "pi4"]);
    let out = expect_ok(&dry);
    assert!(out.contains("Swarm.ConnMgr.HighWater: 96 => 128"), "{out}");
    assert!(out.contains("Swarm.ConnMgr.LowWater: 32 => 64"), "{out}");
    assert_eq!(read_config(&root)["Swarm"]["ConnMgr"]["HighWater"], 96);
    expect_ok(&acorn(&root, &["config", "profile", "apply", "pi-zero"]));
    let cfg = read_config(&root);
    assert_eq!(cfg["Swarm"]["ConnMgr"]["HighWater"], 32);
    assert_eq!(cfg["Acorn"]["BlockingThreads"], 1);
    // The test profile's addresses stay.
    assert_eq!(cfg["Addresses"]["API"], "/ip4/127.0.0.1/tcp/0");
}

/// `config profile show` prints each term of the worst case with its bytes, and
/// the total against a firmware profile's ceiling; it needs no repo.
#[test]
fn config_profile_show_prints_the_budget() {
    let (_d, root) = repo();
    let r = acorn(&root, &["config", "profile", "show", "pi-zero"]);
    let out = expect_ok(&r).to_owned();
    let bytes = |name: &str| -> u64 {
        let line = out
            .lines()
            .find(|l| l.trim_start().starts_with(name))
            .unwrap_or_else(|| panic!("no {name} line: {out}"));
        let words: Vec<&str> = line.split_whitespace().collect();
        let at = words.iter().rposition(|w| *w == "B").expect("a byte count");
        words[at - 1].parse().unwrap()
    };
    let terms = [
        "baseline",
        "swarm connections",
        "yamux windows",
        "bitswap inbound frames",
        "bitswap answers",
        "HTTP connections",
        "HTTP request slots",
        "database cache",
        "write batches",
    ];
    for t in terms {
        assert!(bytes(t) > 0, "{t}: {out}");
    }
    // pi-zero: 16 streams per connection, 64 connections (HighWater 32 × 2).
    assert!(
        out.contains("64 connections × 16 streams × 256 KiB"),
        "{out}"
    );
    assert_eq!(bytes("yamux windows"), 64 * 16 * 256 * 1024);
    assert_eq!(bytes("database cache"), 2 << 20);
    assert_eq!(bytes("ceiling"), 32 << 20);
    assert!(bytes("total") > bytes("baseline") + bytes("yamux windows"));
    // A profile that is not a firmware profile has no ceiling.
    let out = expect_ok(&acorn(&root, &["config", "profile", "show", "test"])).to_owned();
    assert!(out.contains("no ceiling"), "{out}");
    let line = expect_error(&acorn(&root, &["config", "profile", "show", "pi-nine"])).to_owned();
    assert!(
        line.contains("\"pi-nine\"") && line.contains("pi-zero"),
        "{line}"
    );
}

#[test]
fn unknown_profile_is_refused_before_anything_is_written() {
    let (_d, root) = repo();
    let r = acorn(&root, &["init", "--profile", "test,bogus"]);
    let line = expect_error(&r);
    assert!(line.contains("\"bogus\""), "{line}");
    for known in [
        "test",
        "server",
        "local-discovery",
        "randomports",
        "lowpower",
    ] {
        assert!(line.contains(known), "{line} lacks {known}");
    }
    assert!(!root.exists(), "repo directory was created");
    let r = acorn(&root, &["config", "show"]);
    assert!(expect_error(&r).contains("acorn init"));
}

#[test]
fn config_get_set_show_round_trip() {
    let (_d, root) = repo();
    expect_ok(&acorn(&root, &["init"]));
    let priv_key = read_config(&root)["Identity"]["PrivKey"].clone();

    // String, JSON and bool values.
    assert_eq!(
        expect_ok(&acorn(&root, &["config", "Datastore.StorageMax", "20GB"])),
        ""
    );
    assert_eq!(
        expect_ok(&acorn(&root, &["config", "Datastore.StorageMax"])),
        "20GB\n"
    );
    expect_ok(&acorn(
        &root,
        &["config", "--json", "Swarm.ConnMgr.HighWater", "50"],
    ));
    expect_ok(&acorn(&root, &["config", "--json", "Bootstrap", "[]"]));
    expect_ok(&acorn(
        &root,
        &["config", "--bool", "Discovery.MDNS.Enabled", "false"],
    ));
    expect_ok(&acorn(
        &root,
        &[
            "config",
            "--json",
            "Addresses.Swarm",
            r#"["/ip4/0.0.0.0/tcp/4002"]"#,
        ],
    ));
    // Keys match case-insensitively, as Kubo.
    assert_eq!(
        expect_ok(&acorn(&root, &["config", "swarm.connmgr.highwater"])),
        "50\n"
    );

    let cfg = read_config(&root);
    assert_eq!(cfg["Datastore"]["StorageMax"], "20GB");
    assert_eq!(cfg["Swarm"]["ConnMgr"]["HighWater"], 50);
    assert_eq!(cfg["Bootstrap"], serde_json::json!([]));
    assert_eq!(cfg["Discovery"]["MDNS"]["Enabled"], false);
    assert_eq!(cfg["Identity"]["PrivKey"], priv_key, "set kept the key");
    // Atomic writes leave no temporary files behind.
    let names: Vec<String> = fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(names.iter().all(|n| !n.contains("tmp")), "{names:?}");

    // show: the whole config minus the private key.
    let shown: Value = serde_json::from_str(expect_ok(&acorn(&root, &["config", "show"]))).unwrap();
    assert!(shown["Identity"].get("PrivKey").is_none());
    assert_eq!(shown["Identity"]["PeerID"], cfg["Identity"]["PeerID"]);
    let mut without_key = cfg.clone();
    without_key["Identity"]
        .as_object_mut()
        .unwrap()
        .remove("PrivKey");
    assert_eq!(shown, without_key);
}

#[test]
fn config_errors_are_clear_and_change_nothing() {
    let (_d, root) = repo();
    expect_ok(&acorn(&root, &["init"]));
    let before = fs::read(root.join("config")).unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["config", "Nope"], "Nope"),
        (&["config", "Swarm.Nope"], "ConnMgr"),
        (&["config", "Discovery.MDNS.Enabled", "false"], "--json"),
        (&["config", "--json", "Bootstrap", "[not json"], "JSON"),
        (
            &["config", "--bool", "Discovery.MDNS.Enabled", "yes"],
            "true or false",
        ),
        (&["config", "Datastore.StorageMax", "lots"], "StorageMax"),
        (
            &["config", "--json", "Acorn.BlockingThreads", "0"],
            "BlockingThreads",
        ),
        (&["config", "Identity.PrivKey"], "private key"),
        (&["config", "Identity"], "private key"),
        (
            &["config", "Identity.PeerID", "12D3KooWx"],
            "Identity.PeerID",
        ),
        (&["config", "profile", "apply", "bogus"], "lowpower"),
    ];
    for (args, needle) in cases {
        let r = acorn(&root, args);
        let line = expect_error(&r);
        assert!(line.contains(needle), "{args:?}: {line}");
    }
    assert_eq!(fs::read(root.join("config")).unwrap(), before);
}

#[test]
fn config_profile_apply() {
    let (_d, root) = repo();
    expect_ok(&acorn(&root, &["init"]));
    let before = fs::read(root.join("config")).unwrap();
    let dry = acorn(&root, &["config", "profile", "apply", "--dry-run", "test"]);
    assert!(expect_ok(&dry)
        .contains("Addresses.API: \"/ip4/127.0.0.1/tcp/5001\" => \"/ip4/127.0.0.1/tcp/0\""));
    assert_eq!(
        fs::read(root.join("config")).unwrap(),
        before,
        "dry run wrote"
    );
    expect_ok(&acorn(&root, &["config", "profile", "apply", "test"]));
    assert_eq!(
        read_config(&root)["Addresses"]["API"],
        "/ip4/127.0.0.1/tcp/0"
    );
    let backups: Vec<PathBuf> = fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("config-pre-test-")
        })
        .collect();
    assert_eq!(backups.len(), 1);
    assert_eq!(fs::read(&backups[0]).unwrap(), before);
    assert_eq!(
        expect_ok(&acorn(&root, &["config", "profile", "apply", "test"])),
        "no changes\n"
    );
}

#[test]
fn kubo_argv_spellings_reach_the_handlers() {
    let (_d, root) = repo();
    // Parsed fine: the handler ran (it may still refuse the made-up arguments, but
    // not with a parser error).
    for args in [
        &["add", "--pin=false", "--cid-version=1", "-Q", "f"][..],
        &["add", "--raw-leaves=false", "--chunker=size-1024", "f"],
        &["pin", "add", "--recursive=false", "Qm"],
        &["pin", "ls", "--type=direct", "-q"],
        &["dag", "put", "--pin", "--store-codec=dag-cbor"],
        &["cat", "--offset=1", "--length=2", "Qm"],
    ] {
        let r = acorn(&root, args);
        for parser_word in ["Unrecognized", "parsing option", "Required", "Usage"] {
            assert!(!r.stderr.contains(parser_word), "{args:?}: {}", r.stderr);
        }
    }
    // Refused by the parser, naming the option.
    for (args, needle) in [
        (&["add", "--pin=maybe", "f"][..], "--pin"),
        (&["add", "--trickle=yes", "f"], "--trickle"),
        (&["pin", "ls", "--type=weird"], "--type"),
        (&["add", "--cid-version=x", "f"], "--cid-version"),
        (&["bogus"], "bogus"),
    ] {
        let r = acorn(&root, args);
        assert!(expect_error(&r).contains(needle), "{args:?}: {}", r.stderr);
    }
}

#[test]
fn version_and_help() {
    let (_d, root) = repo();
    assert_eq!(
        expect_ok(&acorn(&root, &["version"])),
        format!("acorn version {}\n", env!("CARGO_PKG_VERSION"))
    );
    let help = acorn(&root, &["--help"]);
    assert!(expect_ok(&help).contains("init"));
    assert!(!root.exists());
}

#[test]
fn help_into_a_closed_pipe_is_not_a_crash() {
    // `acorn dag put --help | head -1`: the reader is gone before the help is
    // written, so the write fails with EPIPE (Rust ignores SIGPIPE).
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = Command::new(env!("CARGO_BIN_EXE_acorn"))
        .args(["dag", "put", "--help"])
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn logging_is_quiet_by_default_and_follows_acorn_log() {
    let (_d, root) = repo();
    let quiet = acorn(&root, &["init", "--profile", "test"]);
    expect_ok(&quiet);
    assert_eq!(quiet.stderr, "", "default filter is warn");
    let (_d2, root2) = repo();
    let loud = acorn_log(&root2, &["init"], Some("acorn=info"));
    expect_ok(&loud);
    assert!(loud.stderr.contains("repo initialised"), "{}", loud.stderr);
    // Logs never go to stdout, which carries command output.
    assert!(!loud.stdout.contains("repo initialised"));
}
