//! `config` and `config/show` over the RPC API, and `acorn config` through the
//! daemon: the same output as offline, writes that land in the config file, the
//! private key never shown, Kubo-style errors.

use crate::common;
use crate::rpc;

use common::{err, init_repo, ok, run, Daemon};

#[test]
fn config_over_the_api() {
    let (_d, root) = init_repo();
    let offline_show = ok(&run(&root, &["config", "show"], None));
    let offline_get = ok(&run(&root, &["config", "Swarm.ConnMgr"], None));
    let priv_key = {
        let text = std::fs::read_to_string(root.join("config")).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        v["Identity"]["PrivKey"].as_str().unwrap().to_string()
    };

    let daemon = Daemon::start(&root);
    let port = daemon.port;
    assert_eq!(ok(&run(&root, &["config", "show"], None)), offline_show);
    assert_eq!(
        ok(&run(&root, &["config", "Swarm.ConnMgr"], None)),
        offline_get
    );

    // get: {"Key","Value"}; show: no private key anywhere.
    let a = rpc::post(port, "/api/v0/config?arg=Datastore.StorageMax");
    assert_eq!(a.status, 200);
    assert_eq!(
        a.json(),
        serde_json::json!({"Key": "Datastore.StorageMax", "Value": "10GB"})
    );
    let a = rpc::post(port, "/api/v0/config/show");
    assert_eq!(a.status, 200);
    let show = a.json();
    assert!(show["Identity"]["PeerID"]
        .as_str()
        .unwrap()
        .starts_with("12D3"));
    assert!(show["Identity"].get("PrivKey").is_none(), "{show}");
    assert!(!String::from_utf8_lossy(&a.body).contains(&priv_key));
    for key in ["Identity", "Identity.PrivKey", "identity.privkey"] {
        let a = rpc::post(port, &format!("/api/v0/config?arg={key}"));
        assert_eq!(a.status, 500, "{key}");
        assert!(!String::from_utf8_lossy(&a.body).contains(&priv_key));
        assert!(a.json()["Message"]
            .as_str()
            .unwrap()
            .contains("private key"));
    }

    // set: a string, JSON, a bool; each answers the stored value and is in the file.
    let a = rpc::post(port, "/api/v0/config?arg=Datastore.StorageMax&arg=20GB");
    assert_eq!((a.status, a.json()["Value"].as_str()), (200, Some("20GB")));
    let a = rpc::post(
        port,
        "/api/v0/config?arg=Swarm.ConnMgr.HighWater&arg=120&json=true",
    );
    assert_eq!((a.status, a.json()["Value"].as_u64()), (200, Some(120)));
    let a = rpc::post(
        port,
        "/api/v0/config?arg=Discovery.MDNS.Enabled&arg=false&bool=true",
    );
    assert_eq!(a.json()["Value"], false);
    // Through the CLI, with the offline output (nothing on set).
    assert_eq!(
        ok(&run(&root, &["config", "--json", "Bootstrap", "[]"], None)),
        ""
    );
    assert_eq!(ok(&run(&root, &["config", "Bootstrap"], None)), "[]\n");
    assert_eq!(
        ok(&run(&root, &["config", "Datastore.StorageMax"], None)),
        "20GB\n"
    );

    // Bad input: Kubo-style errors, nothing written, the daemon keeps serving.
    let e = err(&run(
        &root,
        &["config", "--json", "Bootstrap", "[oops"],
        None,
    ));
    assert!(e.contains("not valid JSON"), "{e}");
    let e = err(&run(&root, &["config", "No.Such.Key"], None));
    assert!(e.contains("No.Such.Key"), "{e}");
    let e = err(&run(
        &root,
        &["config", "Datastore.StorageMax", "lots"],
        None,
    ));
    assert!(e.contains("Datastore.StorageMax"), "{e}");
    let a = rpc::post(port, "/api/v0/config?arg=a&arg=b&arg=c");
    assert_eq!((a.status, a.json()["Code"].as_u64()), (400, Some(1)));
    let a = rpc::post(port, "/api/v0/config");
    assert_eq!(a.status, 400);
    let a = rpc::post(port, "/api/v0/config?arg=Bootstrap&arg=%5B&json=true");
    assert_eq!(a.status, 400);
    let a = rpc::post(
        port,
        "/api/v0/config?arg=Discovery.MDNS.Enabled&arg=yes&bool=true",
    );
    assert_eq!(a.status, 400);
    let a = rpc::post(port, "/api/v0/config?arg=Identity.PeerID&arg=x");
    assert_eq!(a.status, 500);
    assert_eq!(rpc::post(port, "/api/v0/config?arg=Bootstrap").status, 200);

    let (stopped, _, _) = daemon.stop();
    assert!(stopped);
    // Offline, the file holds every change; the key is intact.
    assert_eq!(
        ok(&run(&root, &["config", "Datastore.StorageMax"], None)),
        "20GB\n"
    );
    assert_eq!(
        ok(&run(&root, &["config", "Swarm.ConnMgr.HighWater"], None)),
        "120\n"
    );
    assert_eq!(
        ok(&run(&root, &["config", "Discovery.MDNS.Enabled"], None)),
        "false\n"
    );
    assert_eq!(ok(&run(&root, &["config", "Bootstrap"], None)), "[]\n");
    let text = std::fs::read_to_string(root.join("config")).unwrap();
    assert!(text.contains(&priv_key));
}
