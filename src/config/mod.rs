//! The node's configuration file, `$ACORN_PATH/config`.
//!
//! **What.** A typed [`Config`] that reads and writes the JSON file, gets and sets
//! single values by dotted key (`Addresses.API`, `Swarm.ConnMgr.HighWater`) and
//! checks every value before anything is written.
//!
//! **Spec.** The shape and key names are Kubo's (`docs/config.md` in ipfs/kubo):
//! `Identity.PeerID`, `Identity.PrivKey` (base64 of the libp2p protobuf private key),
//! `Addresses.{Swarm,API,Gateway,Announce,AppendAnnounce,NoAnnounce}`, `Bootstrap`,
//! `Datastore.{StorageMax,StorageGCWatermark,GCPeriod}`, `Discovery.MDNS.Enabled`,
//! `Routing.Type`, `Swarm.{AddrFilters,DisableNatPortMap,ConnMgr.*,ResourceMgr.*}`,
//! `AutoNAT.ServiceMode`, `Reprovider.Interval`, `API.HTTPHeaders` (a map: any header
//! name may be set, e.g. `API.HTTPHeaders.Access-Control-Allow-Origin`). Settings that
//! Kubo has no key for live under `Acorn` (`Acorn.BlockingThreads`,
//! `Acorn.MinFreeSpace`, `Acorn.LanDht`, `Acorn.WriteBatchSize`, `Acorn.DbCacheSize`, `Acorn.Fetch*`), except the HTTP servers' limits, which sit
//! beside the server they bound: `API.MaxConcurrentRequests`, `API.HeadDeadline`,
//! `API.BodyIdleTimeout`, `API.MaxConnections`, `API.ReservedConnections`,
//! `API.MaxConnectionsPerIP`, `API.MinBodyBytesPerSecond` and the same under `Gateway` (Kubo has no such keys). Sizes use Kubo's humanized
//! form (`"10GB"` = 10⁹ bytes × 10, `"1GiB"` = 2³⁰ bytes) and durations Go's (`"1h"`,
//! `"20s"`, `"1m30s"`, `"0"`). Like Kubo, `Addresses.API` and `Addresses.Gateway` are
//! written as a bare string when they hold one address.
//!
//! **Flow.** [`Config::load`] checks the file size, parses, checks the values
//! ([`Config::validate`]) and the identity (the private key must decode and give
//! `Identity.PeerID`). Parsing splits the file's JSON tree in two: the keys Acorn
//! knows go to the typed value, every other key (Kubo's `Experimental.*`,
//! `Pubsub.Router`, `Gateway.PublicGateways`, ...) to [`Config::unknown`], a tree
//! kept as it was and written back beside the typed keys, so a Kubo config
//! round-trips through `config show`, `config replace` and `config KEY VALUE`.
//! [`Config::ignored_keys`] names them (the daemon logs them once at start,
//! `acorn config show` prints them on stderr). A `null` where Acorn has a list
//! means the empty list, and a `null` where Acorn has a section means its defaults
//! (Kubo writes `"AddrFilters": null`). [`Config::get`] / [`Config::set`] work on
//! the JSON tree of both parts and parse the result back, so a known key with a
//! value of the wrong type is refused with the key in the message.
//! [`Config::save`] writes a temporary file, fsyncs it, renames it over the old file
//! and fsyncs the directory, so a crash leaves the old or the new file, never half
//! of one; [`Config::create_new`] does the same but links instead of renaming and so
//! never replaces an existing file.
//!
//! **Defaults** (what `acorn init` writes, before profiles):
//!
//! | key | default |
//! |---|---|
//! | `Addresses.Swarm` | `["/ip4/0.0.0.0/tcp/4001", "/ip6/::/tcp/4001"]` |
//! | `Addresses.API` | `"/ip4/127.0.0.1/tcp/5001"` |
//! | `Addresses.Gateway` | `"/ip4/127.0.0.1/tcp/8080"` |
//! | `Addresses.Announce`, `AppendAnnounce`, `NoAnnounce` | `[]` |
//! | `Bootstrap` | [`DEFAULT_BOOTSTRAP`] (Kubo's list, TCP entries) |
//! | `Datastore.StorageMax` | `"10GB"` |
//! | `Datastore.StorageGCWatermark` | `90` (percent) |
//! | `Datastore.GCPeriod` | `"1h"` |
//! | `Discovery.MDNS.Enabled` | `true` |
//! | `Routing.Type` | `"dhtclient"` |
//! | `Swarm.AddrFilters` | `[]` |
//! | `Swarm.DisableNatPortMap` | `false` |
//! | `Swarm.ConnMgr.Type` | `"basic"` |
//! | `Swarm.ConnMgr.LowWater` / `HighWater` | `32` / `96` connections |
//! | `Swarm.ConnMgr.GracePeriod` | `"20s"` |
//! | `Swarm.ResourceMgr.MaxPendingInboundConnsPerIP` / `…PerSubnet` | `4` / `8` connections (handshaking; subnet: IPv4 /24, IPv6 /56) |
//! | `Swarm.ResourceMgr.MaxInboundConnsPerIP` / `…PerSubnet` | `8` / `32` connections (established) |
//! | `AutoNAT.ServiceMode` | `"enabled"` |
//! | `Reprovider.Interval` | `"22h"` |
//! | `API.HTTPHeaders` | `{}` (keys are header names, values lists of strings) |
//! | `API.MaxConcurrentRequests` | `16` requests ([`DEFAULT_MAX_CONCURRENT_REQUESTS`]) |
//! | `Gateway.MaxConcurrentRequests` | `16` requests |
//! | `API.HeadDeadline`, `Gateway.HeadDeadline` | `"20s"` (whole request head, idle time before it included) |
//! | `API.BodyIdleTimeout`, `Gateway.BodyIdleTimeout` | `"20s"` (silence inside a request body) |
//! | `API.MaxConnections`, `Gateway.MaxConnections` | `64` connections (2 to [`MAX_HTTP_CONNECTIONS_LIMIT`]) |
//! | `API.ReservedConnections`, `Gateway.ReservedConnections` | `8` connections kept for new clients (below `MaxConnections`) |
//! | `API.MaxConnectionsPerIP`, `Gateway.MaxConnectionsPerIP` | `8` connections of one address before, near full, its waiting ones make room |
//! | `API.MinBodyBytesPerSecond`, `Gateway.MinBodyBytesPerSecond` | `1024` (slowest request-body pace after 10 s; `0`: no check) |
//! | `Gateway.RetrievalTimeout` | `"30s"` (longest wait for one block from the network; Kubo's key) |
//! | `Acorn.BlockingThreads` | `2` threads |
//! | `Acorn.WriteBatchSize` | `"4MiB"` (block data per import write transaction) |
//! | `Acorn.DbCacheSize` | `"8MiB"` (the database's page cache) |
//! | `Acorn.LanDht` | `true` (LAN DHT `/ipfs/lan/kad/1.0.0` beside the WAN one) |
//! | `Acorn.FetchWindowBlocks` | `32` wants in flight per request's DAG walk |
//! | `Acorn.FetchWindowSize` | `"8MiB"` (bytes those wants may bring at once) |
//! | `Acorn.FetchPendingLinks` | `4096` links queued per walk |
//!
//! **Limits.** The file is refused above [`MAX_CONFIG_BYTES`] before it is read;
//! `Acorn.BlockingThreads` is at most [`MAX_BLOCKING_THREADS_COUNT`];
//! `API.MaxConcurrentRequests` and `Gateway.MaxConcurrentRequests` are between 1 and
//! [`MAX_CONCURRENT_REQUESTS_LIMIT`].
//!
//! **Departures from Kubo.** Only the keys above have an effect. Any other key is
//! kept and may be read and set (as Kubo, which creates a key on `config KEY
//! VALUE`); `acorn config` warns that Acorn ignores it. Reading a key that is
//! nowhere in the file is an error naming the keys that exist at that level.
//! Missing keys in a file take their defaults, so a config written by an older
//! Acorn still loads. `Routing.Type` is `dhtclient` by default (Kubo: `auto`), the
//! default addresses are TCP only, and Kubo's QUIC bootstrap entry is left out,
//! because Acorn has no QUIC transport. Multiaddrs are only checked for a leading
//! `/` here; the network layer parses them fully.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

pub use crate::identity::IdentitySection;
use crate::identity::{self, IdentityError};

/// Name of the config file inside the repo directory (as Kubo).
pub const CONFIG_FILE_NAME: &str = "config";

/// Largest config file we read; checked from the file's metadata before reading.
/// A default config is about 1.5 KiB, so this leaves room for long lists.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// Most threads `Acorn.BlockingThreads` may ask for. Each costs a stack
/// (2 MiB reserved, a few KiB touched) on a board with 512 MiB.
pub const MAX_BLOCKING_THREADS_COUNT: u16 = 64;

/// Default `API.MaxConcurrentRequests` and `Gateway.MaxConcurrentRequests`:
/// requests served at once by one server (more wait for a slot, see
/// [`crate::http::SLOT_WAIT`]). Each may hold a blocking-pool job and up to 256 KiB
/// of queued response.
pub const DEFAULT_MAX_CONCURRENT_REQUESTS: u16 = 16;

/// Largest `*.MaxConcurrentRequests`: a server never has more connections open
/// (one request per connection at a time), so more slots would change nothing.
pub const MAX_CONCURRENT_REQUESTS_LIMIT: u16 = 64;

/// Kubo's default bootstrap peers (`config/bootstrap_peers.go`), without the
/// `/quic-v1` entry because Acorn speaks TCP only.
pub const DEFAULT_BOOTSTRAP: &[&str] = &[
    "/dnsaddr/bootstrap.libp2p.io/p2p/QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJN",
    "/dnsaddr/bootstrap.libp2p.io/p2p/QmQCU2EcMqAqQPR2i9bChDtGNJchTbq5TbXJJ16u19uLTa",
    "/dnsaddr/bootstrap.libp2p.io/p2p/QmbLHAnMoJPWSCR5Zhtx6BHJX9KiKNN6tpvbUcqanj75Nb",
    "/dnsaddr/bootstrap.libp2p.io/p2p/QmcZf59bWwK5XFi76CZX8cbJ4BhTzzA3gU1ZjYZcYW3dwt",
    "/dnsaddr/va1.bootstrap.libp2p.io/p2p/12D3KooWKnDdG3iXw9eTFijk3EWSunZcFi54Zka4wmtqtt6rPxc8",
    "/ip4/104.131.131.82/tcp/4001/p2p/QmaCpDMGvV2BGHeYERUEnRQAwe3N8SzbUtfsmvsqQLuvuJ",
];

/// Default `Addresses.Swarm`.
pub const DEFAULT_SWARM_ADDRS: &[&str] = &["/ip4/0.0.0.0/tcp/4001", "/ip6/::/tcp/4001"];
/// Default `Addresses.API`.
pub const DEFAULT_API_ADDR: &str = "/ip4/127.0.0.1/tcp/5001";
/// Default `Addresses.Gateway`.
pub const DEFAULT_GATEWAY_ADDR: &str = "/ip4/127.0.0.1/tcp/8080";

/// Errors reading, changing or writing the config.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// No config file: the repo was never initialised.
    #[error("no acorn repo found at {root} (run `acorn init`)")]
    NotInitialized { root: PathBuf },
    /// `create_new` found a config file already there.
    #[error(
        "acorn configuration file already exists at {path}: reinitializing would overwrite your keys"
    )]
    AlreadyExists { path: PathBuf },
    /// The file could not be read.
    #[error("reading config file {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    /// The file could not be written (nothing was replaced).
    #[error("writing config file {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    /// The file is larger than [`MAX_CONFIG_BYTES`].
    #[error("config file {path} is {len} bytes, over the {limit_bytes}-byte limit")]
    TooLarge {
        path: PathBuf,
        len: u64,
        limit_bytes: u64,
    },
    /// The file is not JSON of the expected shape.
    #[error("config file {path} is not a valid acorn config: {reason}")]
    Malformed { path: PathBuf, reason: String },
    /// A key that does not exist; `known` lists the keys at that level.
    #[error("config has no key {key:?} (keys here: {known})")]
    UnknownKey { key: String, known: String },
    /// A dotted key with an empty part (`""`, `"Swarm."`, `"a..b"`).
    #[error("malformed config key {key:?}")]
    BadKey { key: String },
    /// A value of the wrong type or out of range.
    #[error("invalid value for {key}: {reason}")]
    InvalidValue { key: String, reason: String },
    /// `Identity` and `Identity.PrivKey` cannot be read or changed with `acorn config`.
    #[error("cannot show or change the private key with `acorn config`")]
    PrivateKey,
    /// A `config KEY VALUE` value that does not read as asked (`--json`, `--bool`).
    #[error("{reason}")]
    BadInput { reason: String },
    /// `Identity.*` cannot be changed with `acorn config`.
    #[error("cannot change {key} with `acorn config` (the identity is made by `acorn init`)")]
    IdentityReadOnly { key: String },
    /// The identity in the file is unusable.
    #[error("config file {path}: {source}")]
    Identity {
        path: PathBuf,
        source: IdentityError,
    },
}

/// The whole config file. Field order is the order written to disk, keys Acorn
/// does not know ([`Config::unknown`]) after the known ones of their section.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct Config {
    pub identity: IdentitySection,
    #[serde(default)]
    pub datastore: Datastore,
    #[serde(default)]
    pub addresses: Addresses,
    #[serde(default)]
    pub discovery: Discovery,
    #[serde(default)]
    pub routing: Routing,
    #[serde(default = "default_bootstrap")]
    pub bootstrap: Vec<String>,
    #[serde(default, rename = "API")]
    pub api: ApiSection,
    #[serde(default)]
    pub gateway: GatewaySection,
    #[serde(default)]
    pub swarm: Swarm,
    #[serde(default, rename = "AutoNAT")]
    pub auto_nat: AutoNat,
    #[serde(default)]
    pub reprovider: Reprovider,
    #[serde(default)]
    pub filestore: Filestore,
    #[serde(default)]
    pub acorn: AcornSection,
    /// The file's keys that Acorn does not know, as a tree of the same shape
    /// (`{"Experimental": {"FilestoreEnabled": false}, "Gateway": {"PublicGateways":
    /// null}}`): kept and written back, never used.
    #[serde(skip)]
    pub unknown: Map<String, Value>,
}

/// Path of the config file in the repo at `root`.
pub fn config_path(root: &Path) -> PathBuf {
    root.join(CONFIG_FILE_NAME)
}

mod file;
mod keys;
mod schema;
mod validate;
mod values;

pub use file::*;
pub use keys::*;
pub use schema::*;
pub use values::*;

#[cfg(test)]
mod tests {
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
        c.swarm.resource_mgr.max_memory = "32MiB".into();
        assert_eq!(
            c.swarm.resource_mgr.max_memory_bytes().unwrap(),
            Some(32 << 20)
        );
        c.validate().unwrap();
        c.swarm.resource_mgr.max_memory = "lots".into();
        assert!(c.validate().is_err());
        assert_eq!(
            crate::swarm::swarm_config(&{
                let mut d = sample();
                d.swarm.resource_mgr.max_memory = "48MiB".into();
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
        assert_eq!(loaded.datastore.storage_max, "20GB");
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
        let e = Config::from_value(tree).unwrap_err();
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
        assert!(c.set("Routing.Type", json!("bogus")).is_err());
        assert_eq!(c, before);
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
}
