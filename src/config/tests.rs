//! Tests of the config module: load/save round trips, dotted keys, validation,
//! values, and the unknown-keys tree.

use super::*;
use serde_json::json;

fn sample() -> Config {
    crate::identity::Identity::generate()
        .to_config()
        .map(Config::with_identity)
        .expect("to_config")
}

#[test]
fn public_gateways_are_typed_and_checked() {
    let mut c = sample();
    c.set(
        "Gateway.PublicGateways",
        json!({"dweb.example": {"Paths": ["/ipfs"], "UseSubdomains": true},
                   "localhost": null}),
    )
    .unwrap();
    let gw = &c.gateway.public_gateways;
    assert!(gw["dweb.example"].as_ref().unwrap().use_subdomains);
    assert_eq!(gw["localhost"], None);
    c.validate().unwrap();
    let round: Config = serde_json::from_value(c.to_value()).unwrap();
    assert_eq!(round.gateway.public_gateways, c.gateway.public_gateways);
    for bad in [
        json!({"dweb.example": {"Paths": ["ipfs"]}}),
        json!({"https://dweb.example": {"Paths": ["/ipfs"]}}),
        json!({"dweb.example": {"UseSubdomain": true}}),
    ] {
        let mut d = sample();
        assert!(
            d.set("Gateway.PublicGateways", bad.clone()).is_err(),
            "{bad}"
        );
        assert!(d.gateway.public_gateways.is_empty(), "{bad}");
    }
}

#[test]
fn per_ip_limits_and_storage_sizes_are_set_and_checked() {
    let mut c = sample();
    c.set("Swarm.ResourceMgr.MaxInboundConnsPerIP", json!(3))
        .unwrap();
    c.set("Acorn.WriteBatchSize", json!("1MiB")).unwrap();
    c.set("Acorn.DbCacheSize", json!("2MiB")).unwrap();
    assert_eq!(c.acorn.write_batch_bytes().unwrap(), 1 << 20);
    assert_eq!(c.acorn.db_cache_bytes().unwrap(), 2 << 20);
    let swarm = crate::swarm::swarm_config(&c);
    assert_eq!(swarm.inbound_per_ip.max_established_per_ip, 3);
    assert_eq!(swarm.inbound_per_ip.max_pending_per_ip, 4);
    assert!(c
        .set(
            "Swarm.ResourceMgr.MaxPendingInboundConnsPerSubnet",
            json!(0)
        )
        .is_err());
    assert!(c.set("Acorn.WriteBatchSize", json!("0")).is_err());
    assert!(c.set("Acorn.DbCacheSize", json!("much")).is_err());
}

#[test]
fn resource_mgr_max_memory_is_optional_and_checked() {
    let mut c = sample();
    assert_eq!(c.swarm.resource_mgr.max_memory_bytes().unwrap(), None);
    c.swarm.resource_mgr.max_memory = "32MiB".parse().unwrap();
    assert_eq!(
        c.swarm.resource_mgr.max_memory_bytes().unwrap(),
        Some(32 << 20)
    );
    c.validate().unwrap();
    let e = c
        .set("Swarm.ResourceMgr.MaxMemory", json!("lots"))
        .unwrap_err();
    assert!(e.to_string().contains("Swarm.ResourceMgr.MaxMemory"), "{e}");
    assert_eq!(
        crate::swarm::swarm_config(&{
            let mut d = sample();
            d.swarm.resource_mgr.max_memory = "48MiB".parse().unwrap();
            d
        })
        .max_memory_bytes,
        Some(48 << 20)
    );
}

#[test]
fn defaults_have_kubo_keys_and_validate() {
    let c = sample();
    c.validate().unwrap();
    assert_eq!(c.get("Addresses.API").unwrap(), json!(DEFAULT_API_ADDR));
    assert_eq!(
        c.get("Addresses.Swarm").unwrap(),
        json!(["/ip4/0.0.0.0/tcp/4001", "/ip6/::/tcp/4001"])
    );
    assert_eq!(c.get("Datastore.StorageMax").unwrap(), json!("10GB"));
    assert_eq!(c.get("Routing.Type").unwrap(), json!("dhtclient"));
    assert_eq!(c.get("Discovery.MDNS.Enabled").unwrap(), json!(true));
    assert_eq!(c.get("Acorn.BlockingThreads").unwrap(), json!(2));
    assert!(c.bootstrap.iter().all(|b| b.contains("/p2p/")));
    let keys: Vec<String> = c.to_value().as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys[0], "Identity");
    assert!(keys.contains(&"AutoNAT".to_string()));
}

#[test]
fn json_round_trip() {
    let c = sample();
    let back = Config::from_json(&c.to_json()).unwrap();
    assert_eq!(back, c);
}

#[test]
fn missing_sections_take_defaults() {
    let c = sample();
    let text = format!(
        r#"{{"Identity":{{"PeerID":"{}","PrivKey":"{}"}}}}"#,
        c.identity.peer_id, c.identity.priv_key
    );
    let back = Config::from_json(text.as_bytes()).unwrap();
    assert_eq!(back, c);
}

#[test]
fn unknown_keys_are_kept_named_and_written_back() {
    let c = sample();
    let mut tree = c.to_value();
    tree["Experimental"] = json!({"FilestoreEnabled": true, "UrlstoreEnabled": false});
    tree["Pubsub"] = json!({"Router": "gossipsub"});
    tree["Gateway"]["NoDNSLink"] = json!(false);
    tree["Swarm"]["ConnMgr"]["Extra"] = json!([1, 2]);
    let back = Config::from_json(tree.to_string().as_bytes()).unwrap();
    back.validate().unwrap();
    // The known keys are the typed ones, unchanged.
    assert_eq!(back.gateway, c.gateway);
    assert_eq!(back.swarm, c.swarm);
    // Written back exactly, and again after a round trip through the file.
    assert_eq!(back.to_value(), tree);
    let again = Config::from_json(&back.to_json()).unwrap();
    assert_eq!(again, back);
    assert_eq!(
        back.get("Experimental.FilestoreEnabled").unwrap(),
        json!(true)
    );
    assert_eq!(back.get("Gateway.NoDNSLink").unwrap(), json!(false));
    assert_eq!(
        back.ignored_keys(),
        vec![
            "Gateway.NoDNSLink",
            "Swarm.ConnMgr.Extra",
            "Experimental",
            "Pubsub"
        ]
    );
    assert!(c.ignored_keys().is_empty());
    assert!(is_known("Swarm.ConnMgr.HighWater"));
    assert!(is_known("API.HTTPHeaders.X-Anything"));
    assert!(!is_known("Pubsub.Router"));
    assert!(!is_known("Swarm.Nope"));
}

#[test]
fn kubo_nulls_read_as_kubo_reads_them() {
    let c = sample();
    let mut tree = c.to_value();
    tree["Swarm"]["AddrFilters"] = Value::Null;
    tree["Reprovider"] = Value::Null;
    tree["Swarm"]["ConnMgr"] = json!({});
    tree["Addresses"]["API"] = json!([]);
    let back = Config::from_json(tree.to_string().as_bytes()).unwrap();
    back.validate().unwrap();
    assert!(back.swarm.addr_filters.is_empty());
    assert_eq!(back.reprovider, Reprovider::default());
    assert_eq!(back.swarm.conn_mgr, ConnMgr::default());
    assert!(back.addresses.api.0.is_empty());
    assert!(back.unknown.is_empty());
}

#[test]
fn set_creates_and_changes_unknown_keys() {
    let mut c = sample();
    c.set("Experimental.FilestoreEnabled", json!(true)).unwrap();
    c.set("Swarm.Nope", json!(1)).unwrap();
    assert_eq!(c.get("Experimental.FilestoreEnabled").unwrap(), json!(true));
    assert_eq!(c.ignored_keys(), vec!["Swarm.Nope", "Experimental"]);
    c.set("experimental.filestoreenabled", json!(false))
        .unwrap();
    assert_eq!(
        c.unknown["Experimental"],
        json!({"FilestoreEnabled": false})
    );
    // A known key keeps its type check.
    assert!(c.set("Swarm.ConnMgr.HighWater", json!("many")).is_err());
    let back = Config::from_json(&c.to_json()).unwrap();
    assert_eq!(back, c);
}

#[test]
fn strings_one_or_many() {
    let mut c = sample();
    c.set(
        "Addresses.API",
        json!(["/ip4/1.2.3.4/tcp/1", "/ip4/1.2.3.4/tcp/2"]),
    )
    .unwrap();
    assert_eq!(c.addresses.api.0.len(), 2);
    c.set("Addresses.API", json!("/ip4/1.2.3.4/tcp/1")).unwrap();
    assert_eq!(c.addresses.api, Strings(vec!["/ip4/1.2.3.4/tcp/1".into()]));
    c.set("Addresses.API", Value::Null).unwrap();
    assert!(c.addresses.api.0.is_empty());
    assert_eq!(c.get("Addresses.API").unwrap(), Value::Null);
}

#[test]
fn http_headers_take_new_keys_and_are_checked() {
    let mut c = sample();
    assert_eq!(c.get("API.HTTPHeaders").unwrap(), json!({}));
    c.set(
        "API.HTTPHeaders.Access-Control-Allow-Origin",
        json!(["https://a.example"]),
    )
    .unwrap();
    assert_eq!(
        c.api.http_headers["Access-Control-Allow-Origin"],
        vec!["https://a.example".to_string()]
    );
    // Found again ignoring case, not added twice.
    c.set("api.httpheaders.access-control-allow-origin", json!(["*"]))
        .unwrap();
    assert_eq!(c.api.http_headers.len(), 1);
    // Only that map is open: a new key elsewhere is kept but not used.
    let mut other = c.clone();
    other.set("API.Other", json!({})).unwrap();
    assert_eq!(other.api, c.api);
    assert_eq!(other.ignored_keys(), vec!["API.Other"]);
    let before = c.clone();
    for (key, v) in [
        ("API.HTTPHeaders.Bad Name", json!(["x"])),
        ("API.HTTPHeaders.X-Ok", json!(["a\r\nInjected: 1"])),
        ("API.HTTPHeaders.X-Ok", json!("not a list")),
    ] {
        assert!(c.set(key, v).is_err(), "{key}");
    }
    assert_eq!(c, before);
    // Round trip through the file format.
    let back = Config::from_json(&c.to_json()).unwrap();
    assert_eq!(back, c);
}

#[test]
fn request_limits_default_set_and_checked() {
    let mut c = sample();
    for key in ["API.MaxConcurrentRequests", "Gateway.MaxConcurrentRequests"] {
        assert_eq!(c.get(key).unwrap(), json!(16), "{key}");
        c.set(key, json!(4)).unwrap();
        assert_eq!(c.get(key).unwrap(), json!(4), "{key}");
        let before = c.clone();
        for bad in [json!(0), json!(65), json!("x")] {
            assert!(c.set(key, bad.clone()).is_err(), "{key} = {bad}");
        }
        assert_eq!(c, before);
    }
    assert_eq!(c.api.max_concurrent_requests, 4);
    assert_eq!(c.gateway.max_concurrent_requests, 4);
    // A file from before these keys existed loads with the defaults.
    let mut v = c.to_value();
    v["API"]
        .as_object_mut()
        .unwrap()
        .remove("MaxConcurrentRequests");
    v.as_object_mut().unwrap().remove("Gateway");
    let old = Config::from_json(&serde_json::to_vec(&v).unwrap()).unwrap();
    assert_eq!(old.api.max_concurrent_requests, 16);
    assert_eq!(old.gateway.max_concurrent_requests, 16);
}

#[test]
fn http_timing_keys_default_set_and_checked() {
    let mut c = sample();
    for key in [
        "API.HeadDeadline",
        "API.BodyIdleTimeout",
        "Gateway.HeadDeadline",
        "Gateway.BodyIdleTimeout",
    ] {
        assert_eq!(c.get(key).unwrap(), json!("20s"), "{key}");
        let before = c.clone();
        for bad in [json!("0"), json!("soon"), json!(3)] {
            assert!(c.set(key, bad.clone()).is_err(), "{key} = {bad}");
        }
        assert_eq!(c, before);
        c.set(key, json!("3s")).unwrap();
    }
    for http in [c.api.http_config(), c.gateway.http_config()] {
        assert_eq!(http.head_deadline, Duration::from_secs(3));
        assert_eq!(http.body_idle_timeout, Duration::from_secs(3));
        assert_eq!(http.max_connections, 64);
    }
    // A file from before these keys existed loads with the defaults.
    let mut v = c.to_value();
    v["API"].as_object_mut().unwrap().remove("HeadDeadline");
    let old = Config::from_json(&serde_json::to_vec(&v).unwrap()).unwrap();
    assert_eq!(
        old.api.http_config().head_deadline,
        crate::http::HEAD_DEADLINE
    );
}

#[test]
fn http_connection_limit_keys_default_set_and_checked() {
    let mut c = sample();
    for server in ["API", "Gateway"] {
        let key = |k: &str| format!("{server}.{k}");
        assert_eq!(c.get(&key("MaxConnections")).unwrap(), json!(64));
        assert_eq!(c.get(&key("ReservedConnections")).unwrap(), json!(8));
        assert_eq!(c.get(&key("MaxConnectionsPerIP")).unwrap(), json!(8));
        assert_eq!(c.get(&key("MinBodyBytesPerSecond")).unwrap(), json!(1024));
        let before = c.clone();
        for (k, bad) in [
            ("MaxConnections", json!(1)),
            ("MaxConnections", json!(MAX_HTTP_CONNECTIONS_LIMIT + 1)),
            ("ReservedConnections", json!(64)),
            ("MaxConnectionsPerIP", json!(0)),
            ("MinBodyBytesPerSecond", json!(-1)),
            ("MinBodyBytesPerSecond", json!("fast")),
        ] {
            let err = c.set(&key(k), bad.clone()).unwrap_err().to_string();
            assert!(err.contains(&key(k)), "{k} = {bad}: {err}");
        }
        assert_eq!(c, before);
        c.set(&key("MaxConnections"), json!(16)).unwrap();
        c.set(&key("ReservedConnections"), json!(3)).unwrap();
        c.set(&key("MaxConnectionsPerIP"), json!(2)).unwrap();
        c.set(&key("MinBodyBytesPerSecond"), json!(0)).unwrap();
    }
    for http in [c.api.http_config(), c.gateway.http_config()] {
        assert_eq!(http.max_connections, 16);
        assert_eq!(http.reserved_connections, 3);
        assert_eq!(http.max_connections_per_ip, 2);
        assert_eq!(http.min_body_bytes_per_sec, 0);
    }
    // A file from before these keys existed loads with the defaults.
    let mut v = c.to_value();
    v["API"]
        .as_object_mut()
        .unwrap()
        .remove("ReservedConnections");
    v["Gateway"]
        .as_object_mut()
        .unwrap()
        .remove("MaxConnectionsPerIP");
    let old = Config::from_json(&serde_json::to_vec(&v).unwrap()).unwrap();
    assert_eq!(
        old.api.http_config().reserved_connections,
        crate::http::RESERVED_CONNECTIONS_COUNT
    );
    assert_eq!(
        old.gateway.http_config().max_connections_per_ip,
        crate::http::MAX_CONNECTIONS_PER_IP_COUNT
    );
}

#[test]
fn replace_keeps_the_key_and_unknown_keys_and_refuses_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let c = sample();
    c.create_new(dir.path()).unwrap();
    let before = fs::read(config_path(dir.path())).unwrap();
    // As `config show` prints it, edited, with Kubo keys Acorn ignores.
    let mut shown = c.to_value_without_private_key();
    shown["Datastore"]["StorageMax"] = json!("20GB");
    shown["Pubsub"] = json!({"Router": "gossipsub"});
    let new = replace_in_repo(dir.path(), shown.to_string().as_bytes()).unwrap();
    assert_eq!(new.identity, c.identity);
    let loaded = Config::load(dir.path()).unwrap();
    assert_eq!(loaded, new);
    assert_eq!(loaded.datastore.storage_max.as_str(), "20GB");
    assert_eq!(loaded.get("Pubsub.Router").unwrap(), json!("gossipsub"));
    // No Identity at all: the repo's is kept.
    let mut no_id = shown.clone();
    no_id.as_object_mut().unwrap().remove("Identity");
    replace_in_repo(dir.path(), no_id.to_string().as_bytes()).unwrap();
    let after_good = fs::read(config_path(dir.path())).unwrap();
    assert_ne!(after_good, before);
    let mut with_key = c.to_value();
    with_key["Datastore"]["StorageMax"] = json!("1GB");
    let mut other_peer = shown.clone();
    other_peer["Identity"]["PeerID"] = json!(sample().identity.peer_id);
    let mut bad_value = shown.clone();
    bad_value["Acorn"]["BlockingThreads"] = json!(0);
    for (bytes, needle) in [
        (b"{not json".to_vec(), "failed to decode"),
        (b"[1]".to_vec(), "not a JSON object"),
        (with_key.to_string().into_bytes(), "private key"),
        (other_peer.to_string().into_bytes(), "Identity.PeerID"),
        (bad_value.to_string().into_bytes(), "BlockingThreads"),
    ] {
        let e = replace_in_repo(dir.path(), &bytes).unwrap_err().to_string();
        assert!(e.contains(needle), "{needle}: {e}");
        assert_eq!(fs::read(config_path(dir.path())).unwrap(), after_good);
    }
}

#[test]
fn parse_value_reads_json_bool_and_strings() {
    assert_eq!(parse_value("[1]", true, false).unwrap(), json!([1]));
    assert_eq!(parse_value("true", false, true).unwrap(), json!(true));
    assert_eq!(parse_value("20GB", false, false).unwrap(), json!("20GB"));
    assert!(parse_value("[", true, false).is_err());
    assert!(parse_value("yes", false, true).is_err());
    assert!(parse_value("1", true, true).is_err());
}

#[test]
fn set_checks_type_and_range_and_keeps_old_on_error() {
    let mut c = sample();
    let before = c.clone();
    let e = c.set("Discovery.MDNS.Enabled", json!("false")).unwrap_err();
    assert!(e.to_string().contains("Discovery.MDNS.Enabled"), "{e}");
    // A whole file names the key too.
    let mut tree = c.to_value();
    tree["Swarm"]["ConnMgr"]["LowWater"] = json!("many");
    let e = Config::from_value(tree).unwrap_err().to_string();
    assert!(e.starts_with("Swarm.ConnMgr.LowWater: "), "{e}");
    assert!(c
        .set("Swarm.ConnMgr.LowWater", json!(1000))
        .unwrap_err()
        .to_string()
        .contains("HighWater"));
    assert!(c.set("Datastore.StorageMax", json!("lots")).is_err());
    assert!(c.set("Acorn.BlockingThreads", json!(0)).is_err());
    assert!(c.set("Acorn.FetchWindowBlocks", json!(0)).is_err());
    assert!(c.set("Acorn.FetchWindowSize", json!("0")).is_err());
    assert!(c.set("Acorn.FetchPendingLinks", json!(0)).is_err());
    assert!(c.set("Acorn.BitswapWantTimeout", json!("0s")).is_err());
    assert!(c.set("Acorn.BitswapWantTimeout", json!("soon")).is_err());
    assert!(c.set("Routing.Type", json!("bogus")).is_err());
    assert_eq!(c, before);
}

#[test]
fn bitswap_want_timeout_defaults_to_5s_and_is_read() {
    let mut c = sample();
    assert_eq!(
        c.acorn.bitswap_want_timeout().unwrap(),
        Duration::from_secs(5)
    );
    c.set("Acorn.BitswapWantTimeout", json!("12s")).unwrap();
    assert_eq!(
        c.acorn.bitswap_want_timeout().unwrap(),
        Duration::from_secs(12)
    );
}

#[test]
fn keys_case_insensitive_and_unknown_listed() {
    let mut c = sample();
    c.set("datastore.storagemax", json!("1GiB")).unwrap();
    assert_eq!(c.datastore.storage_max_bytes().unwrap(), 1 << 30);
    let e = c.get("Nope").unwrap_err().to_string();
    assert!(e.contains("Nope") && e.contains("Addresses"), "{e}");
    let e = c.get("Swarm.Nope").unwrap_err().to_string();
    assert!(e.contains("ConnMgr"), "{e}");
    let e = c.get("Bootstrap.x").unwrap_err().to_string();
    assert!(e.contains("not a section"), "{e}");
    assert!(matches!(c.get("a..b"), Err(ConfigError::BadKey { .. })));
}

#[test]
fn private_key_guarded() {
    let mut c = sample();
    assert!(matches!(c.get("Identity"), Err(ConfigError::PrivateKey)));
    assert!(matches!(
        c.get("identity.privkey"),
        Err(ConfigError::PrivateKey)
    ));
    assert_eq!(c.get("Identity.PeerID").unwrap(), json!(c.identity.peer_id));
    assert!(matches!(
        c.set("Identity.PeerID", json!("x")),
        Err(ConfigError::IdentityReadOnly { .. })
    ));
    let shown = c.to_value_without_private_key();
    assert!(shown["Identity"].get("PrivKey").is_none());
    assert!(shown["Identity"].get("PeerID").is_some());
}

#[test]
fn save_load_create_new() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = sample();
    c.create_new(dir.path()).unwrap();
    let again = c.create_new(dir.path()).unwrap_err();
    assert!(matches!(again, ConfigError::AlreadyExists { .. }));
    assert_eq!(Config::load(dir.path()).unwrap(), c);
    c.set("Datastore.GCPeriod", json!("2h")).unwrap();
    c.save(dir.path()).unwrap();
    assert_eq!(Config::load(dir.path()).unwrap(), c);
    let names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("config")]);
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(config_path(dir.path()))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn load_refuses_bad_files() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        Config::load(dir.path()),
        Err(ConfigError::NotInitialized { .. })
    ));
    fs::write(config_path(dir.path()), b"{not json").unwrap();
    assert!(matches!(
        Config::load(dir.path()),
        Err(ConfigError::Malformed { .. })
    ));
    let big = vec![b' '; MAX_CONFIG_BYTES as usize + 1];
    fs::write(config_path(dir.path()), big).unwrap();
    assert!(matches!(
        Config::load(dir.path()),
        Err(ConfigError::TooLarge { .. })
    ));
    // A peer ID that does not match the key.
    let mut c = sample();
    c.identity.peer_id = sample().identity.peer_id;
    fs::write(config_path(dir.path()), c.to_json()).unwrap();
    assert!(matches!(
        Config::load(dir.path()),
        Err(ConfigError::Identity { .. })
    ));
}

#[test]
fn byte_sizes() {
    assert_eq!(parse_bytes("10GB"), Ok(10_000_000_000));
    assert_eq!(parse_bytes("10 gb"), Ok(10_000_000_000));
    assert_eq!(parse_bytes("1GiB"), Ok(1 << 30));
    assert_eq!(parse_bytes("1.5MB"), Ok(1_500_000));
    assert_eq!(parse_bytes("512"), Ok(512));
    assert_eq!(parse_bytes("2kB"), Ok(2000));
    assert!(parse_bytes("").is_err());
    assert!(parse_bytes("GB").is_err());
    assert!(parse_bytes("1.2.3GB").is_err());
    assert!(parse_bytes("10XB").is_err());
    assert!(parse_bytes("99999999999PB").is_err());
}

#[test]
fn durations() {
    assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
    assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
    assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
    assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
    assert_eq!(parse_duration("1.5h"), Ok(Duration::from_secs(5400)));
    for bad in ["", "h", "1", "1x", "-1s", "1h-", "s1"] {
        assert!(parse_duration(bad).is_err(), "{bad}");
    }
}

#[test]
fn leaves_flatten() {
    let v = json!({"A": {"B": 1, "C": [1, 2]}, "D": "x"});
    let l = leaves(&v);
    assert_eq!(
        l,
        vec![
            ("A.B".to_string(), json!(1)),
            ("A.C".to_string(), json!([1, 2])),
            ("D".to_string(), json!("x")),
        ]
    );
}

#[test]
fn both_servers_limits_are_one_type_written_in_place() {
    let mut c = sample();
    c.set("API.MaxConnections", json!(40)).unwrap();
    c.set("Gateway.MaxConnections", json!(40)).unwrap();
    c.set("Gateway.HeadDeadline", json!("5s")).unwrap();
    c.set("API.HeadDeadline", json!("5s")).unwrap();
    assert_eq!(c.api.limits, c.gateway.limits);
    let (a, g) = (c.api.http_config(), c.gateway.http_config());
    assert_eq!(
        (a.max_connections, a.head_deadline),
        (40, Duration::from_secs(5))
    );
    assert_eq!(
        (g.max_connections, g.head_deadline),
        (40, Duration::from_secs(5))
    );
    // The keys stay where they were in each section of the written file.
    let text = String::from_utf8(c.to_json()).unwrap();
    for (section, keys) in [
        ("\"API\": {", &["HTTPHeaders", "MaxConcurrentRequests"][..]),
        (
            "\"Gateway\": {",
            &["PublicGateways", "MaxConcurrentRequests"][..],
        ),
    ] {
        let at = text.find(section).unwrap();
        let end = at + text[at..].find("\n  }").unwrap();
        let body = &text[at..end];
        let order: Vec<&str> = keys
            .iter()
            .copied()
            .chain([
                "HeadDeadline",
                "BodyIdleTimeout",
                "MaxConnections",
                "ReservedConnections",
                "MaxConnectionsPerIP",
                "MinBodyBytesPerSecond",
            ])
            .collect();
        let pos: Vec<usize> = order
            .iter()
            .map(|k| {
                body.find(&format!("\"{k}\""))
                    .unwrap_or_else(|| panic!("{section} {k}"))
            })
            .collect();
        assert!(pos.windows(2).all(|w| w[0] < w[1]), "{section}: {body}");
    }
    let back = Config::from_json(text.as_bytes()).unwrap();
    assert_eq!(back.to_json(), c.to_json());
}

#[test]
fn typed_values_keep_their_text_byte_for_byte() {
    let mut tree = sample().to_value();
    let odd = [
        ("Datastore", "StorageMax", "1.5 gb"),
        ("Datastore", "GCPeriod", "1m30s"),
        ("Reprovider", "Interval", "1.5h"),
        ("Gateway", "RetrievalTimeout", "90000ms"),
        ("API", "HeadDeadline", "0.5m"),
        ("Acorn", "WriteBatchSize", "4096kB"),
        ("Acorn", "MinFreeSpace", "0"),
    ];
    for (section, key, text) in odd {
        tree[section][key] = json!(text);
    }
    tree["Swarm"]["ConnMgr"]["GracePeriod"] = json!("2m0s");
    tree["Swarm"]["ResourceMgr"]["MaxMemory"] = json!("32MiB");
    let bytes = serde_json::to_vec_pretty(&tree).unwrap();
    let c = Config::from_json(&bytes).unwrap();
    c.validate().unwrap();
    assert_eq!(c.to_value(), tree);
    let again = Config::from_json(&c.to_json()).unwrap();
    assert_eq!(again.to_json(), c.to_json());
    // Each caller reads the value the text names.
    assert_eq!(c.datastore.storage_max_bytes().unwrap(), 1_500_000_000);
    assert_eq!(c.datastore.gc_period().unwrap(), Duration::from_secs(90));
    assert_eq!(c.reprovider.interval.get(), Duration::from_secs(5400));
    assert_eq!(c.gateway.retrieval_timeout(), Duration::from_secs(90));
    assert_eq!(c.api.http_config().head_deadline, Duration::from_secs(30));
    assert_eq!(c.acorn.write_batch_bytes().unwrap(), 4_096_000);
    assert_eq!(c.acorn.min_free_space_bytes().unwrap(), 0);
    assert_eq!(
        c.swarm.resource_mgr.max_memory_bytes().unwrap(),
        Some(32 << 20)
    );
    assert_eq!(
        crate::swarm::conn_mgr_config(&c).unwrap().grace_period,
        Duration::from_secs(120)
    );
}

#[test]
fn a_bad_size_or_duration_fails_at_load_and_set_naming_its_key() {
    for (section, key, bad) in [
        ("Datastore", "StorageMax", "10XB"),
        ("Datastore", "GCPeriod", "1 hour"),
        ("Reprovider", "Interval", "22"),
        ("Gateway", "RetrievalTimeout", "soon"),
        ("Gateway", "HeadDeadline", "5"),
        ("API", "BodyIdleTimeout", "-1s"),
        ("Acorn", "DbCacheSize", "lots"),
    ] {
        let name = format!("{section}.{key}");
        let mut tree = sample().to_value();
        tree[section][key] = json!(bad);
        let e = Config::from_json(&serde_json::to_vec(&tree).unwrap())
            .unwrap_err()
            .to_string();
        assert!(e.contains(&name) && e.contains(bad), "{name}: {e}");
        let mut c = sample();
        let before = c.to_json();
        let e = c.set(&name, json!(bad)).unwrap_err().to_string();
        assert!(e.contains(&name), "{name}: {e}");
        assert_eq!(c.to_json(), before, "{name}: a refused set changes nothing");
    }
}
