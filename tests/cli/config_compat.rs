//! Kubo config compatibility, end to end: keys Acorn does not know round-trip
//! through `config show`, `config KEY VALUE`, `config replace` (CLI and RPC) and
//! `config edit`, with a warning naming them; `config edit` refuses an invalid
//! edit and keeps the old file.

use crate::common;
use crate::rpc;

use common::{err, init_repo, ok, run, Daemon};
use serde_json::{json, Value};

fn file(root: &std::path::Path) -> Value {
    serde_json::from_slice(&std::fs::read(root.join("config")).unwrap()).unwrap()
}

/// A Kubo config's sections Acorn has no key for, as Kubo 0.22 writes them.
fn kubo_extras(shown: &mut Value) {
    shown["Experimental"] = json!({"FilestoreEnabled": true, "UrlstoreEnabled": false});
    shown["Pubsub"] = json!({"Router": "gossipsub", "DisableSigning": false});
    shown["Gateway"]["NoDNSLink"] = json!(false);
    shown["Swarm"]["AddrFilters"] = Value::Null;
}

#[test]
fn unknown_kubo_keys_round_trip_offline() {
    let (_d, root) = init_repo();
    let mut shown: Value =
        serde_json::from_str(&ok(&run(&root, &["config", "show"], None))).unwrap();
    kubo_extras(&mut shown);
    let path = root.join("new-config.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&shown).unwrap()).unwrap();

    let r = run(&root, &["config", "replace", path.to_str().unwrap()], None);
    ok(&r);
    assert!(
        r.stderr.contains("Experimental") && r.stderr.contains("Gateway.NoDNSLink"),
        "{}",
        r.stderr
    );
    // The file holds every key, the private key kept.
    let f = file(&root);
    assert_eq!(f["Experimental"]["FilestoreEnabled"], json!(true));
    assert_eq!(f["Pubsub"]["Router"], json!("gossipsub"));
    assert_eq!(f["Gateway"]["NoDNSLink"], json!(false));
    assert!(f["Identity"]["PrivKey"]
        .as_str()
        .is_some_and(|k| !k.is_empty()));

    // show prints them back and names them on stderr.
    let r = run(&root, &["config", "show"], None);
    let back: Value = serde_json::from_str(&ok(&r)).unwrap();
    let mut expected = shown.clone();
    expected["Swarm"]["AddrFilters"] = json!([]);
    assert_eq!(back, expected);
    assert!(r.stderr.contains("Pubsub"), "{}", r.stderr);

    // get and set reach them; a new key is created, with a warning.
    assert_eq!(
        ok(&run(&root, &["config", "Pubsub.Router"], None)),
        "gossipsub\n"
    );
    let r = run(
        &root,
        &["config", "--bool", "Experimental.FilestoreEnabled", "false"],
        None,
    );
    ok(&r);
    assert!(
        r.stderr
            .contains("does not use config key Experimental.FilestoreEnabled"),
        "{}",
        r.stderr
    );
    assert_eq!(
        file(&root)["Experimental"]["FilestoreEnabled"],
        json!(false)
    );
    let r = run(&root, &["config", "Datastore.StorageMax", "20GB"], None);
    ok(&r);
    assert!(r.stderr.is_empty(), "{}", r.stderr);
    // The daemon starts on such a config and names the keys it ignores, once.
    let d = Daemon::start(&root);
    let (ok_stop, _, stderr) = d.stop();
    assert!(ok_stop, "{stderr}");
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("config keys Acorn keeps but does not use"))
        .collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(
        warnings[0].contains("Gateway.NoDNSLink") && warnings[0].contains("Experimental"),
        "{stderr}"
    );
}

#[test]
fn replace_refuses_bad_files_and_keeps_the_old_one() {
    let (_d, root) = init_repo();
    let before = std::fs::read(root.join("config")).unwrap();
    let with_key = root.join("with-key.json");
    std::fs::write(&with_key, &before).unwrap();
    let bad = root.join("bad.json");
    let mut shown: Value =
        serde_json::from_str(&ok(&run(&root, &["config", "show"], None))).unwrap();
    shown["Swarm"]["ConnMgr"]["LowWater"] = json!("many");
    std::fs::write(&bad, shown.to_string()).unwrap();
    let junk = root.join("junk.json");
    std::fs::write(&junk, b"{not json").unwrap();
    for (p, needle) in [
        (&with_key, "private key"),
        (&bad, "LowWater"),
        (&junk, "failed to decode file as config"),
    ] {
        let e = err(&run(
            &root,
            &["config", "replace", p.to_str().unwrap()],
            None,
        ));
        assert!(e.contains(needle), "{needle}: {e}");
        assert_eq!(std::fs::read(root.join("config")).unwrap(), before);
    }
}

#[test]
fn replace_over_the_rpc_api_and_through_the_daemon() {
    let (_d, root) = init_repo();
    let daemon = Daemon::start(&root);
    let port = daemon.port;
    let mut shown = rpc::post(port, "/api/v0/config/show").json();
    kubo_extras(&mut shown);
    shown["Datastore"]["StorageMax"] = json!("30GB");
    let body = serde_json::to_vec(&shown).unwrap();
    // Kubo's form: the file as a multipart part.
    let a = rpc::post_multipart(
        port,
        "/api/v0/config/replace",
        &[rpc::Part::file("config", &body)],
    );
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let f = file(&root);
    assert_eq!(f["Datastore"]["StorageMax"], json!("30GB"));
    assert_eq!(f["Pubsub"]["Router"], json!("gossipsub"));
    let a = rpc::post(port, "/api/v0/config?arg=Gateway.NoDNSLink");
    assert_eq!(a.json()["Value"], json!(false));
    let a = rpc::post(port, "/api/v0/config?arg=Pubsub.Router&arg=floodsub");
    assert_eq!(a.json()["Value"], json!("floodsub"));
    // A private key is refused, as Kubo.
    let mut with_key = shown.clone();
    with_key["Identity"]["PrivKey"] = json!("CAESQ");
    let body = serde_json::to_vec(&with_key).unwrap();
    let a = rpc::post_multipart(
        port,
        "/api/v0/config/replace",
        &[rpc::Part::file("config", &body)],
    );
    assert_eq!(a.status, 500);
    assert!(a.json()["Message"]
        .as_str()
        .unwrap()
        .contains("private key"));
    // The CLI goes through the daemon.
    let path = root.join("c.json");
    shown["Datastore"]["StorageMax"] = json!("40GB");
    std::fs::write(&path, serde_json::to_vec(&shown).unwrap()).unwrap();
    ok(&run(
        &root,
        &["config", "replace", path.to_str().unwrap()],
        None,
    ));
    assert_eq!(file(&root)["Datastore"]["StorageMax"], json!("40GB"));
    drop(daemon);
}

#[test]
fn edit_checks_before_saving() {
    let (_d, root) = init_repo();
    let script = root.join("editor.sh");
    let set_editor = |body: &str| {
        std::fs::write(&script, format!("#!/bin/sh\n{body}\n")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    let edit = |root: &std::path::Path| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_acorn"));
        cmd.args(["config", "edit"])
            .env("ACORN_PATH", root)
            .env("EDITOR", root.join("editor.sh"))
            .env_remove("ACORN_LOG")
            .env_remove("RUST_LOG")
            .stdin(std::process::Stdio::null());
        cmd.output().unwrap()
    };
    // A valid edit is saved.
    set_editor(r#"sed -i 's/"StorageMax": "10GB"/"StorageMax": "5GB"/' "$1""#);
    let out = edit(&root);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(file(&root)["Datastore"]["StorageMax"], json!("5GB"));
    // An invalid one is refused, the file kept, the edit saved aside.
    let before = std::fs::read(root.join("config")).unwrap();
    set_editor(r#"sed -i 's/"StorageMax": "5GB"/"StorageMax": "lots"/' "$1""#);
    let out = edit(&root);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("StorageMax") && stderr.contains("config.rejected"),
        "{stderr}"
    );
    assert_eq!(std::fs::read(root.join("config")).unwrap(), before);
    let kept = std::fs::read_to_string(root.join("config.rejected")).unwrap();
    assert!(kept.contains("\"lots\""));
    // Broken JSON, too.
    set_editor(r#"echo '{' > "$1""#);
    assert!(!edit(&root).status.success());
    assert_eq!(std::fs::read(root.join("config")).unwrap(), before);
    // No $EDITOR: Kubo's message.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_acorn"))
        .args(["config", "edit"])
        .env("ACORN_PATH", &root)
        .env_remove("EDITOR")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("$EDITOR not set"));
}
