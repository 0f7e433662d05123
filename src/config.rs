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
//! `Acorn.MinFreeSpace`, `Acorn.LanDht`, `Acorn.WriteBatchSize`, `Acorn.DbCacheSize`), except the HTTP servers' limits, which sit
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

/// `Datastore`: how much the repo may hold and when GC runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default, deny_unknown_fields)]
pub struct Datastore {
    /// Humanized size (`"10GB"`); see [`parse_bytes`].
    pub storage_max: String,
    /// Percent of `StorageMax` at which the daemon's automatic GC starts.
    #[serde(rename = "StorageGCWatermark")]
    pub storage_gc_watermark: u8,
    /// Go duration between automatic GC runs (`"1h"`); see [`parse_duration`].
    #[serde(rename = "GCPeriod")]
    pub gc_period: String,
}

impl Default for Datastore {
    fn default() -> Self {
        Datastore {
            storage_max: "10GB".into(),
            storage_gc_watermark: 90,
            gc_period: "1h".into(),
        }
    }
}

impl Datastore {
    /// `StorageMax` in bytes. The value was checked at load/set time.
    pub fn storage_max_bytes(&self) -> Result<u64, ConfigError> {
        parse_bytes(&self.storage_max).map_err(|reason| ConfigError::InvalidValue {
            key: "Datastore.StorageMax".into(),
            reason,
        })
    }

    /// `GCPeriod` as a duration.
    pub fn gc_period(&self) -> Result<Duration, ConfigError> {
        parse_duration(&self.gc_period).map_err(|reason| ConfigError::InvalidValue {
            key: "Datastore.GCPeriod".into(),
            reason,
        })
    }
}

/// `Addresses`: where the node listens and what it announces.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default, deny_unknown_fields)]
pub struct Addresses {
    pub swarm: Vec<String>,
    pub announce: Vec<String>,
    pub append_announce: Vec<String>,
    pub no_announce: Vec<String>,
    #[serde(rename = "API")]
    pub api: Strings,
    pub gateway: Strings,
}

impl Default for Addresses {
    fn default() -> Self {
        Addresses {
            swarm: strings(DEFAULT_SWARM_ADDRS),
            announce: Vec::new(),
            append_announce: Vec::new(),
            no_announce: Vec::new(),
            api: Strings(vec![DEFAULT_API_ADDR.into()]),
            gateway: Strings(vec![DEFAULT_GATEWAY_ADDR.into()]),
        }
    }
}

/// Kubo's `Strings`: one string or a list of strings. Written as a bare string when
/// it holds exactly one, `null` when empty, a list otherwise.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Strings(pub Vec<String>);

impl Serialize for Strings {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0.as_slice() {
            [] => s.serialize_none(),
            [one] => s.serialize_str(one),
            many => many.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Strings {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum OneOrMany {
            One(String),
            Many(Vec<String>),
        }
        Ok(match Option::<OneOrMany>::deserialize(d)? {
            None => Strings(Vec::new()),
            Some(OneOrMany::One(s)) => Strings(vec![s]),
            Some(OneOrMany::Many(v)) => Strings(v),
        })
    }
}

/// `Discovery`: local peer discovery.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default, deny_unknown_fields)]
pub struct Discovery {
    #[serde(rename = "MDNS")]
    pub mdns: Mdns,
}

/// `Discovery.MDNS`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default, deny_unknown_fields)]
pub struct Mdns {
    pub enabled: bool,
}

impl Default for Mdns {
    fn default() -> Self {
        Mdns { enabled: true }
    }
}

/// `Routing`: content routing mode.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default, deny_unknown_fields)]
pub struct Routing {
    #[serde(rename = "Type")]
    pub kind: RoutingType,
}

/// `Routing.Type` values Acorn understands (a subset of Kubo's).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RoutingType {
    /// Kademlia client only: asks the DHT, never serves it. Our default.
    #[default]
    Dhtclient,
    /// Kademlia client and server.
    Dhtserver,
    /// Client, becoming a server when publicly reachable (Kubo's `dht`).
    Dht,
    /// Kubo's default; Acorn treats it as `dht`.
    Auto,
    /// No content routing.
    None,
}

/// `Swarm`: connection settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default, deny_unknown_fields)]
pub struct Swarm {
    /// Multiaddr prefixes (`/ip4/10.0.0.0/ipcidr/8`) we never dial.
    pub addr_filters: Vec<String>,
    /// Do not try to open a port on the router (UPnP/NAT-PMP).
    pub disable_nat_port_map: bool,
    pub conn_mgr: ConnMgr,
    #[serde(rename = "ResourceMgr")]
    pub resource_mgr: ResourceMgr,
}

/// `Swarm.ResourceMgr` (Kubo's key: `MaxMemory`, and our inbound limits per
/// address and subnet, which Kubo's resource manager applies with fixed numbers).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default, deny_unknown_fields)]
pub struct ResourceMgr {
    /// New connections are refused while the daemon's resident memory is at or above
    /// this (humanized size, e.g. `"32MiB"`); empty (default) means no memory limit.
    pub max_memory: String,
    /// Most inbound connections still in their handshake from one IP address.
    #[serde(rename = "MaxPendingInboundConnsPerIP")]
    pub max_pending_inbound_conns_per_ip: u32,
    /// Most inbound connections still in their handshake from one subnet (IPv4 /24,
    /// IPv6 /56).
    pub max_pending_inbound_conns_per_subnet: u32,
    /// Most established inbound connections from one IP address.
    #[serde(rename = "MaxInboundConnsPerIP")]
    pub max_inbound_conns_per_ip: u32,
    /// Most established inbound connections from one subnet (IPv4 /24, IPv6 /56).
    pub max_inbound_conns_per_subnet: u32,
}

impl Default for ResourceMgr {
    fn default() -> Self {
        let l = acorn_net::iplimit::Limits::default();
        ResourceMgr {
            max_memory: String::new(),
            max_pending_inbound_conns_per_ip: l.max_pending_per_ip,
            max_pending_inbound_conns_per_subnet: l.max_pending_per_subnet,
            max_inbound_conns_per_ip: l.max_established_per_ip,
            max_inbound_conns_per_subnet: l.max_established_per_subnet,
        }
    }
}

impl ResourceMgr {
    /// `MaxMemory` in bytes, `None` when unset.
    pub fn max_memory_bytes(&self) -> Result<Option<u64>, ConfigError> {
        if self.max_memory.trim().is_empty() {
            return Ok(None);
        }
        parse_bytes(&self.max_memory)
            .map(Some)
            .map_err(|reason| ConfigError::InvalidValue {
                key: "Swarm.ResourceMgr.MaxMemory".into(),
                reason,
            })
    }
}

/// `Swarm.ConnMgr`: connection manager watermarks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default, deny_unknown_fields)]
pub struct ConnMgr {
    /// `"basic"` or `"none"`.
    #[serde(rename = "Type")]
    pub kind: String,
    /// Trim down to this many connections.
    pub low_water: u32,
    /// Start trimming above this many connections.
    pub high_water: u32,
    /// New connections are not trimmed for this long (Go duration).
    pub grace_period: String,
}

impl Default for ConnMgr {
    fn default() -> Self {
        ConnMgr {
            kind: "basic".into(),
            low_water: 32,
            high_water: 96,
            grace_period: "20s".into(),
        }
    }
}

/// `AutoNAT`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default, deny_unknown_fields)]
pub struct AutoNat {
    pub service_mode: AutoNatServiceMode,
}

/// `AutoNAT.ServiceMode`: whether we help other peers find out if they are reachable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AutoNatServiceMode {
    #[default]
    Enabled,
    Disabled,
}

/// `API`: the RPC API's HTTP headers (Kubo's `API.HTTPHeaders`) and request limit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiSection {
    /// Header name → values. `Access-Control-Allow-Origin` lists the browser origins
    /// allowed to call the API (`"*"`: any); `Access-Control-Allow-Methods` and
    /// `Access-Control-Allow-Credentials` shape the CORS answers (see
    /// [`crate::http::cors`]). Default: none (only the API's own localhost origins).
    #[serde(rename = "HTTPHeaders")]
    pub http_headers: std::collections::BTreeMap<String, Vec<String>>,
    /// Requests served at once (Acorn's key; default
    /// [`DEFAULT_MAX_CONCURRENT_REQUESTS`]); more wait for a slot up to
    /// [`crate::http::SLOT_WAIT`], then get 503.
    #[serde(rename = "MaxConcurrentRequests", default = "default_max_requests")]
    pub max_concurrent_requests: u16,
    /// Go duration within which a connection must send a whole request head, idle
    /// time before it included (Acorn's key; default
    /// [`crate::http::HEAD_DEADLINE`], 20 s).
    #[serde(rename = "HeadDeadline", default = "default_head_deadline")]
    pub head_deadline: String,
    /// Go duration of silence after which a request body ends with an error
    /// (Acorn's key; default [`crate::http::BODY_IDLE_TIMEOUT`], 20 s).
    #[serde(rename = "BodyIdleTimeout", default = "default_body_idle_timeout")]
    pub body_idle_timeout: String,
    /// Open connections at most (Acorn's key; default
    /// [`DEFAULT_MAX_CONNECTIONS_COUNT`]); past it a new one gets 503.
    #[serde(rename = "MaxConnections", default = "default_max_connections")]
    pub max_connections: u16,
    /// Connections kept for new clients (Acorn's key; default
    /// [`crate::http::RESERVED_CONNECTIONS_COUNT`]): with fewer free, the
    /// waiting connections of an address holding `MaxConnectionsPerIP` or more
    /// make room for new ones.
    #[serde(
        rename = "ReservedConnections",
        default = "default_reserved_connections"
    )]
    pub reserved_connections: u16,
    /// Connections of one address above which, with the server nearly full, its
    /// waiting ones are closed for new clients (Acorn's key; default
    /// [`crate::http::MAX_CONNECTIONS_PER_IP_COUNT`]).
    #[serde(
        rename = "MaxConnectionsPerIP",
        default = "default_max_connections_per_ip"
    )]
    pub max_connections_per_ip: u16,
    /// Slowest average pace of a request body after its grace time, in bytes per
    /// second (Acorn's key; default [`crate::http::MIN_BODY_BYTES_PER_SEC`];
    /// `0` turns the check off).
    #[serde(rename = "MinBodyBytesPerSecond", default = "default_min_body_rate")]
    pub min_body_bytes_per_second: u64,
}

impl Default for ApiSection {
    fn default() -> Self {
        ApiSection {
            http_headers: Default::default(),
            max_concurrent_requests: DEFAULT_MAX_CONCURRENT_REQUESTS,
            head_deadline: default_head_deadline(),
            body_idle_timeout: default_body_idle_timeout(),
            max_connections: default_max_connections(),
            reserved_connections: default_reserved_connections(),
            max_connections_per_ip: default_max_connections_per_ip(),
            min_body_bytes_per_second: default_min_body_rate(),
        }
    }
}

/// `Gateway`: the HTTP gateway's settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default, deny_unknown_fields)]
pub struct GatewaySection {
    /// Kubo's `Gateway.PublicGateways`: host name → how the gateway answers on
    /// it. `localhost` is a subdomain gateway unless set here (`null` removes it).
    pub public_gateways: BTreeMap<String, Option<PublicGateway>>,
    /// Requests served at once (default [`DEFAULT_MAX_CONCURRENT_REQUESTS`]); more
    /// wait for a slot up to [`crate::http::SLOT_WAIT`], then get 503.
    pub max_concurrent_requests: u16,
    /// As `API.HeadDeadline`, for the gateway.
    pub head_deadline: String,
    /// As `API.BodyIdleTimeout`, for the gateway.
    pub body_idle_timeout: String,
    /// As `API.MaxConnections`, for the gateway (default
    /// [`DEFAULT_MAX_CONNECTIONS_COUNT`]).
    pub max_connections: u16,
    /// As `API.ReservedConnections`, for the gateway.
    pub reserved_connections: u16,
    /// As `API.MaxConnectionsPerIP`, for the gateway.
    #[serde(rename = "MaxConnectionsPerIP")]
    pub max_connections_per_ip: u16,
    /// As `API.MinBodyBytesPerSecond`, for the gateway.
    pub min_body_bytes_per_second: u64,
    /// Go duration (Kubo's key): the longest a request waits for a block from the
    /// network; it then gets 504 (or, mid-body, a cut connection). Default
    /// [`DEFAULT_GATEWAY_RETRIEVAL_TIMEOUT`], set per firmware profile.
    pub retrieval_timeout: String,
}

/// Default `Gateway.RetrievalTimeout` (Kubo's default).
pub const DEFAULT_GATEWAY_RETRIEVAL_TIMEOUT: Duration = Duration::from_secs(30);

/// One `Gateway.PublicGateways` entry, Kubo's fields.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default, deny_unknown_fields)]
pub struct PublicGateway {
    /// Path prefixes served on this host (`/ipfs`; `/ipns` is not served by Acorn).
    pub paths: Vec<String>,
    /// Serve `<cid>.ipfs.<host>` and redirect `/ipfs/<cid>` paths there.
    pub use_subdomains: bool,
    /// Kubo's DNSLink switch; kept, Acorn has no DNSLink.
    #[serde(rename = "NoDNSLink")]
    pub no_dns_link: bool,
    /// Kubo's DNSLink inlining; kept, Acorn has no DNSLink.
    #[serde(rename = "InlineDNSLink", skip_serializing_if = "Option::is_none")]
    pub inline_dns_link: Option<bool>,
    /// Kubo's switch for non-trustless answers; kept, Acorn always serves them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deserialized_responses: Option<bool>,
}

impl Default for GatewaySection {
    fn default() -> Self {
        GatewaySection {
            public_gateways: BTreeMap::new(),
            max_concurrent_requests: DEFAULT_MAX_CONCURRENT_REQUESTS,
            head_deadline: default_head_deadline(),
            body_idle_timeout: default_body_idle_timeout(),
            max_connections: DEFAULT_MAX_CONNECTIONS_COUNT,
            reserved_connections: default_reserved_connections(),
            max_connections_per_ip: default_max_connections_per_ip(),
            min_body_bytes_per_second: default_min_body_rate(),
            retrieval_timeout: format!("{}s", DEFAULT_GATEWAY_RETRIEVAL_TIMEOUT.as_secs()),
        }
    }
}

fn default_max_requests() -> u16 {
    DEFAULT_MAX_CONCURRENT_REQUESTS
}

fn default_head_deadline() -> String {
    format!("{}s", crate::http::HEAD_DEADLINE.as_secs())
}

fn default_body_idle_timeout() -> String {
    format!("{}s", crate::http::BODY_IDLE_TIMEOUT.as_secs())
}

fn default_max_connections() -> u16 {
    DEFAULT_MAX_CONNECTIONS_COUNT
}

fn default_reserved_connections() -> u16 {
    crate::http::RESERVED_CONNECTIONS_COUNT as u16
}

fn default_max_connections_per_ip() -> u16 {
    crate::http::MAX_CONNECTIONS_PER_IP_COUNT as u16
}

fn default_min_body_rate() -> u64 {
    crate::http::MIN_BODY_BYTES_PER_SEC
}

/// Default `API.MaxConnections` and `Gateway.MaxConnections`: open connections of
/// one HTTP server (one request each at a time).
pub const DEFAULT_MAX_CONNECTIONS_COUNT: u16 = 64;

/// Largest `API.MaxConnections` / `Gateway.MaxConnections`: each connection costs
/// a task, a socket and up to a 64 KiB read buffer.
pub const MAX_HTTP_CONNECTIONS_LIMIT: u16 = 1024;

/// One server section's connection limits, as `http_config` takes them.
struct ConnLimits {
    max_connections: u16,
    reserved_connections: u16,
    max_connections_per_ip: u16,
    min_body_bytes_per_second: u64,
}

/// The HTTP server settings of one server's section: its connection limits and
/// its `HeadDeadline` and `BodyIdleTimeout` over the defaults.
fn http_config(
    limits: ConnLimits,
    head_deadline: &str,
    body_idle_timeout: &str,
) -> crate::http::Config {
    let mut c = crate::http::Config::new(limits.max_connections.into());
    c.reserved_connections = limits.reserved_connections.into();
    c.max_connections_per_ip = limits.max_connections_per_ip.into();
    c.min_body_bytes_per_sec = limits.min_body_bytes_per_second;
    // `Config::validate` checked both on load and set; a default stays if not.
    if let Ok(d) = parse_duration(head_deadline) {
        c.head_deadline = d;
    }
    if let Ok(d) = parse_duration(body_idle_timeout) {
        c.body_idle_timeout = d;
    }
    c
}

impl ApiSection {
    /// The RPC API server's HTTP settings.
    pub fn http_config(&self) -> crate::http::Config {
        http_config(
            ConnLimits {
                max_connections: self.max_connections,
                reserved_connections: self.reserved_connections,
                max_connections_per_ip: self.max_connections_per_ip,
                min_body_bytes_per_second: self.min_body_bytes_per_second,
            },
            &self.head_deadline,
            &self.body_idle_timeout,
        )
    }
}

impl GatewaySection {
    /// `Gateway.RetrievalTimeout` (checked on load and set; the default if not).
    pub fn retrieval_timeout(&self) -> Duration {
        parse_duration(&self.retrieval_timeout).unwrap_or(DEFAULT_GATEWAY_RETRIEVAL_TIMEOUT)
    }

    /// The gateway server's HTTP settings.
    pub fn http_config(&self) -> crate::http::Config {
        http_config(
            ConnLimits {
                max_connections: self.max_connections,
                reserved_connections: self.reserved_connections,
                max_connections_per_ip: self.max_connections_per_ip,
                min_body_bytes_per_second: self.min_body_bytes_per_second,
            },
            &self.head_deadline,
            &self.body_idle_timeout,
        )
    }
}

/// Sections whose keys are the user's (a map, not a struct); every other section
/// has a fixed set of keys. A section whose default is an empty object counts as
/// open too.
const OPEN_SECTIONS: &[&str] = &["API.HTTPHeaders"];

/// The tree of every key Acorn knows, with the default values: the serialized
/// default config. So every typed field must serialize in the default (no
/// `skip_serializing_if`), or a file's value for it would be kept as unknown; a
/// map section (keys are the user's) serializes as `{}` or is in
/// [`OPEN_SECTIONS`].
fn schema() -> Value {
    Config::with_identity(IdentitySection {
        peer_id: String::new(),
        priv_key: String::new(),
    })
    .typed_value()
}

/// Whether the dotted key names a key (or section) Acorn knows, its parts
/// matching exactly or ignoring ASCII case (as [`Config::get`] finds them).
pub fn is_known(key: &str) -> bool {
    let schema = schema();
    let mut cursor = &schema;
    let mut path = String::new();
    for part in key.split('.') {
        if OPEN_SECTIONS.contains(&path.as_str()) || cursor.as_object().is_some_and(Map::is_empty) {
            // A map's keys are the user's: any name is one Acorn uses.
            return true;
        }
        let next = cursor.as_object().and_then(|m| {
            m.get(part).or_else(|| {
                m.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(part))
                    .map(|(_, v)| v)
            })
        });
        match next {
            Some(next) => cursor = next,
            None => return false,
        }
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(part);
    }
    true
}

/// Splits a file's object at `path` into (the keys in `schema`, the others).
/// `null` where the schema has a list becomes the empty list, and `null` where it
/// has a section is dropped (the section's defaults), as Kubo reads them.
fn split_unknown(
    map: Map<String, Value>,
    schema: &Value,
    path: &str,
) -> (Map<String, Value>, Map<String, Value>) {
    let mut known = Map::new();
    let mut unknown = Map::new();
    for (k, v) in map {
        let Some(default) = schema.get(&k) else {
            unknown.insert(k, v);
            continue;
        };
        let key = if path.is_empty() {
            k.clone()
        } else {
            format!("{path}.{k}")
        };
        let open = OPEN_SECTIONS.contains(&key.as_str());
        match (v, default) {
            (Value::Null, Value::Array(_)) => {
                known.insert(k, Value::Array(Vec::new()));
            }
            (Value::Null, Value::Object(_)) => {}
            (Value::Object(sub), Value::Object(d)) if !open && !d.is_empty() => {
                let (sub_known, sub_unknown) = split_unknown(sub, default, &key);
                known.insert(k.clone(), Value::Object(sub_known));
                if !sub_unknown.is_empty() {
                    unknown.insert(k, Value::Object(sub_unknown));
                }
            }
            (v, _) => {
                known.insert(k, v);
            }
        }
    }
    (known, unknown)
}

/// The first leaf of a tree of known keys whose value alone, over the defaults,
/// does not parse: the key a decode error is about (serde's own message has no
/// path).
fn culprit(known: &Value) -> Option<String> {
    leaves(known).into_iter().find_map(|(key, value)| {
        let mut tree = schema();
        let mut cursor = &mut tree;
        for part in key.split('.') {
            let map = cursor.as_object_mut()?;
            cursor = map
                .entry(part.to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
        }
        *cursor = value;
        serde_json::from_value::<Config>(tree)
            .is_err()
            .then_some(key)
    })
}

/// Puts the kept unknown keys back into a typed tree, after the known keys of
/// each section.
fn merge_unknown(tree: &mut Map<String, Value>, unknown: &Map<String, Value>) {
    for (k, v) in unknown {
        match (tree.get_mut(k), v) {
            (Some(Value::Object(sub)), Value::Object(u)) => merge_unknown(sub, u),
            (Some(_), _) => {}
            (None, v) => {
                tree.insert(k.clone(), v.clone());
            }
        }
    }
}

/// `Reprovider`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default, deny_unknown_fields)]
pub struct Reprovider {
    /// Go duration between re-announcements of our content; `"0"` disables.
    pub interval: String,
}

impl Default for Reprovider {
    fn default() -> Self {
        Reprovider {
            interval: "22h".into(),
        }
    }
}

/// `Filestore`: `add --nocopy` (references into files instead of copies).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default, deny_unknown_fields)]
pub struct Filestore {
    /// Directories under which `add --nocopy` requests arriving over the HTTP API
    /// may reference files (default: none, so API nocopy adds are refused). The CLI
    /// run by the repo's owner may reference any file it can read. Kubo has no such
    /// setting: its RPC `add --nocopy` can read any file the daemon can.
    pub allowed_roots: Vec<String>,
}

/// `Acorn`: settings Kubo has no key for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default, deny_unknown_fields)]
pub struct AcornSection {
    /// Threads in the blocking pool (redb transactions, file reads, hashing).
    pub blocking_threads: u16,
    /// Free space writes must leave on the repo's filesystem (humanized size,
    /// default `"64MiB"`); a write that would go below fails with "disk full".
    pub min_free_space: String,
    /// Run the LAN DHT (`/ipfs/lan/kad/1.0.0`, for peers on private or loopback
    /// addresses, as Kubo's dual DHT) beside the WAN DHT whenever `Routing.Type` is not
    /// `none` (default `true`). It costs a second routing table and record store,
    /// bounded as the WAN one's; a node with only public neighbours may turn it off.
    pub lan_dht: bool,
    /// Block data an import (add, `dag import`, `block put` of many blocks) buffers
    /// per write transaction (humanized size, default `"4MiB"`). RAM: up to 3× this
    /// buffered, plus the database's dirty pages for one batch (small blocks, stored
    /// inside the database, take several times their size there).
    pub write_batch_size: String,
    /// The database's page cache (humanized size, default `"8MiB"`); applies when the
    /// repo is opened.
    pub db_cache_size: String,
}

impl AcornSection {
    /// `MinFreeSpace` in bytes.
    pub fn min_free_space_bytes(&self) -> Result<u64, ConfigError> {
        parse_bytes(&self.min_free_space).map_err(|reason| ConfigError::InvalidValue {
            key: "Acorn.MinFreeSpace".into(),
            reason,
        })
    }

    /// `WriteBatchSize` in bytes (at least 1).
    pub fn write_batch_bytes(&self) -> Result<usize, ConfigError> {
        size_setting("Acorn.WriteBatchSize", &self.write_batch_size)
    }

    /// `DbCacheSize` in bytes.
    pub fn db_cache_bytes(&self) -> Result<usize, ConfigError> {
        size_setting("Acorn.DbCacheSize", &self.db_cache_size)
    }
}

/// A humanized size setting of at least 1 byte that fits in memory.
fn size_setting(key: &str, value: &str) -> Result<usize, ConfigError> {
    let invalid = |reason: String| ConfigError::InvalidValue {
        key: key.into(),
        reason,
    };
    let n = parse_bytes(value).map_err(invalid)?;
    if n == 0 {
        return Err(invalid("must be at least 1 byte".into()));
    }
    usize::try_from(n).map_err(|_| invalid(format!("{n} bytes is too large")))
}

impl Default for AcornSection {
    fn default() -> Self {
        AcornSection {
            blocking_threads: 2,
            min_free_space: "64MiB".into(),
            lan_dht: true,
            write_batch_size: "4MiB".into(),
            db_cache_size: "8MiB".into(),
        }
    }
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

fn default_bootstrap() -> Vec<String> {
    strings(DEFAULT_BOOTSTRAP)
}

/// Path of the config file in the repo at `root`.
pub fn config_path(root: &Path) -> PathBuf {
    root.join(CONFIG_FILE_NAME)
}

impl Config {
    /// A config with every default and the given identity.
    pub fn with_identity(identity: IdentitySection) -> Config {
        Config {
            identity,
            datastore: Datastore::default(),
            addresses: Addresses::default(),
            discovery: Discovery::default(),
            routing: Routing::default(),
            bootstrap: default_bootstrap(),
            api: ApiSection::default(),
            gateway: GatewaySection::default(),
            swarm: Swarm::default(),
            auto_nat: AutoNat::default(),
            reprovider: Reprovider::default(),
            filestore: Filestore::default(),
            acorn: AcornSection::default(),
            unknown: Map::new(),
        }
    }

    /// Read, parse and check the config of the repo at `root`.
    pub fn load(root: &Path) -> Result<Config, ConfigError> {
        let path = config_path(root);
        let mut file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(ConfigError::NotInitialized {
                    root: root.to_owned(),
                })
            }
            Err(source) => return Err(ConfigError::Read { path, source }),
        };
        // Step 1: bound the size before allocating anything for the contents.
        let len = file
            .metadata()
            .map_err(|source| ConfigError::Read {
                path: path.clone(),
                source,
            })?
            .len();
        if len > MAX_CONFIG_BYTES {
            return Err(ConfigError::TooLarge {
                path,
                len,
                limit_bytes: MAX_CONFIG_BYTES,
            });
        }
        let mut bytes = Vec::with_capacity(len as usize);
        // `take` guards against the file growing between metadata and read.
        (&mut file)
            .take(MAX_CONFIG_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|source| ConfigError::Read {
                path: path.clone(),
                source,
            })?;
        if bytes.len() as u64 > MAX_CONFIG_BYTES {
            return Err(ConfigError::TooLarge {
                path,
                len: bytes.len() as u64,
                limit_bytes: MAX_CONFIG_BYTES,
            });
        }
        // Step 2: typed decode, then value checks.
        let config = Config::from_json(&bytes).map_err(|reason| ConfigError::Malformed {
            path: path.clone(),
            reason,
        })?;
        config.validate().map_err(|e| ConfigError::Malformed {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        identity::Identity::from_config(&config.identity)
            .map_err(|source| ConfigError::Identity { path, source })?;
        Ok(config)
    }

    /// Parse JSON bytes into a config (no value checks).
    pub fn from_json(bytes: &[u8]) -> Result<Config, String> {
        let tree: Value = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        Config::from_value(tree)
    }

    /// A JSON tree as a config (no value checks): the keys Acorn knows parse into
    /// the typed value, the others are kept in [`Config::unknown`].
    pub fn from_value(tree: Value) -> Result<Config, String> {
        let Value::Object(map) = tree else {
            return Err("the config is not a JSON object".into());
        };
        let (known, unknown) = split_unknown(map, &schema(), "");
        let known = Value::Object(known);
        let mut config: Config = match serde_json::from_value(known.clone()) {
            Ok(c) => c,
            Err(e) => {
                return Err(match culprit(&known) {
                    Some(key) => format!("{key}: {e}"),
                    None => e.to_string(),
                })
            }
        };
        config.unknown = unknown;
        Ok(config)
    }

    /// The config as pretty JSON (2-space indent, as Kubo), with a final newline.
    pub fn to_json(&self) -> Vec<u8> {
        // Serializing a JSON tree cannot fail.
        let mut out = serde_json::to_vec_pretty(&self.to_value()).expect("config serializes");
        out.push(b'\n');
        out
    }

    /// The config as a JSON tree: the typed keys, then the unknown ones kept.
    pub fn to_value(&self) -> Value {
        let mut tree = self.typed_value();
        if let Value::Object(map) = &mut tree {
            merge_unknown(map, &self.unknown);
        }
        tree
    }

    /// The typed keys only.
    fn typed_value(&self) -> Value {
        // Serializing plain structs, strings, numbers and bools cannot fail.
        serde_json::to_value(self).expect("config serializes")
    }

    /// The dotted names of the keys Acorn keeps but does not use (the highest
    /// unknown key of each branch: `Experimental`, `Gateway.PublicGateways`).
    pub fn ignored_keys(&self) -> Vec<String> {
        ignored_in(&self.unknown)
    }
}

/// [`Config::ignored_keys`] of a config's JSON tree (as `config show` prints it).
pub fn ignored_keys_of(tree: &Value) -> Vec<String> {
    match tree {
        Value::Object(map) => ignored_in(&split_unknown(map.clone(), &schema(), "").1),
        _ => Vec::new(),
    }
}

/// The highest key of each branch of an `unknown` tree.
fn ignored_in(unknown: &Map<String, Value>) -> Vec<String> {
    {
        fn walk(prefix: &str, map: &Map<String, Value>, out: &mut Vec<String>) {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                match v {
                    // A branch of `unknown` mirrors a known section: go down.
                    Value::Object(sub) if is_known(&key) => walk(&key, sub, out),
                    _ => out.push(key),
                }
            }
        }
        let mut out = Vec::new();
        walk("", unknown, &mut out);
        out
    }
}

impl Config {
    /// What `acorn config show` prints: the tree without `Identity.PrivKey`.
    pub fn to_value_without_private_key(&self) -> Value {
        let mut tree = self.to_value();
        if let Some(Value::Object(identity)) = tree.get_mut("Identity") {
            identity.shift_remove("PrivKey");
        }
        tree
    }

    /// Check every value whose type alone does not make it valid.
    pub fn validate(&self) -> Result<(), ConfigError> {
        fn invalid(key: &str, reason: impl fmt::Display) -> ConfigError {
            ConfigError::InvalidValue {
                key: key.into(),
                reason: reason.to_string(),
            }
        }
        self.datastore.storage_max_bytes()?;
        self.datastore.gc_period()?;
        self.acorn.min_free_space_bytes()?;
        self.acorn.write_batch_bytes()?;
        self.acorn.db_cache_bytes()?;
        let rm = &self.swarm.resource_mgr;
        for (key, n) in [
            (
                "Swarm.ResourceMgr.MaxPendingInboundConnsPerIP",
                rm.max_pending_inbound_conns_per_ip,
            ),
            (
                "Swarm.ResourceMgr.MaxPendingInboundConnsPerSubnet",
                rm.max_pending_inbound_conns_per_subnet,
            ),
            (
                "Swarm.ResourceMgr.MaxInboundConnsPerIP",
                rm.max_inbound_conns_per_ip,
            ),
            (
                "Swarm.ResourceMgr.MaxInboundConnsPerSubnet",
                rm.max_inbound_conns_per_subnet,
            ),
        ] {
            if n == 0 {
                return Err(invalid(key, "must be at least 1 connection"));
            }
        }
        if self.datastore.storage_gc_watermark > 100 {
            return Err(invalid(
                "Datastore.StorageGCWatermark",
                "must be a percentage, 0 to 100",
            ));
        }
        for (key, list) in [
            ("Addresses.Swarm", &self.addresses.swarm),
            ("Addresses.Announce", &self.addresses.announce),
            ("Addresses.AppendAnnounce", &self.addresses.append_announce),
            ("Addresses.NoAnnounce", &self.addresses.no_announce),
            ("Addresses.API", &self.addresses.api.0),
            ("Addresses.Gateway", &self.addresses.gateway.0),
            ("Swarm.AddrFilters", &self.swarm.addr_filters),
            ("Bootstrap", &self.bootstrap),
        ] {
            for addr in list {
                if !addr.starts_with('/') || addr.len() < 2 {
                    return Err(invalid(
                        key,
                        format!("{addr:?} is not a multiaddr (it must start with '/')"),
                    ));
                }
            }
        }
        for (host, gw) in &self.gateway.public_gateways {
            let key = format!("Gateway.PublicGateways.{host}");
            if host.is_empty() || host.contains(['/', ' ']) || host.contains("://") {
                return Err(invalid(&key, format!("{host:?} is not a host name")));
            }
            for path in gw.iter().flat_map(|g| &g.paths) {
                if !path.starts_with('/') {
                    return Err(invalid(
                        &format!("{key}.Paths"),
                        format!("{path:?} is not a path (it must start with '/')"),
                    ));
                }
            }
        }
        for addr in &self.bootstrap {
            if !addr.contains("/p2p/") && !addr.contains("/ipfs/") {
                return Err(invalid(
                    "Bootstrap",
                    format!("{addr:?} has no /p2p/<peer-id> part"),
                ));
            }
        }
        let cm = &self.swarm.conn_mgr;
        if cm.kind != "basic" && cm.kind != "none" {
            return Err(invalid(
                "Swarm.ConnMgr.Type",
                format!("{:?} is not one of \"basic\", \"none\"", cm.kind),
            ));
        }
        if cm.low_water > cm.high_water {
            return Err(invalid(
                "Swarm.ConnMgr.LowWater",
                format!(
                    "{} is above Swarm.ConnMgr.HighWater ({})",
                    cm.low_water, cm.high_water
                ),
            ));
        }
        parse_duration(&cm.grace_period).map_err(|r| invalid("Swarm.ConnMgr.GracePeriod", r))?;
        parse_duration(&self.reprovider.interval).map_err(|r| invalid("Reprovider.Interval", r))?;
        self.swarm.resource_mgr.max_memory_bytes()?;
        for (key, value) in [
            ("API.HeadDeadline", &self.api.head_deadline),
            ("API.BodyIdleTimeout", &self.api.body_idle_timeout),
            ("Gateway.HeadDeadline", &self.gateway.head_deadline),
            ("Gateway.BodyIdleTimeout", &self.gateway.body_idle_timeout),
            ("Gateway.RetrievalTimeout", &self.gateway.retrieval_timeout),
        ] {
            match parse_duration(value) {
                Ok(d) if d.is_zero() => return Err(invalid(key, "must be above 0")),
                Ok(_) => {}
                Err(r) => return Err(invalid(key, r)),
            }
        }
        for (name, values) in &self.api.http_headers {
            let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
            if name.is_empty() || !name.chars().all(token) {
                return Err(invalid(
                    "API.HTTPHeaders",
                    format!("{name:?} is not an HTTP header name"),
                ));
            }
            if let Some(v) = values.iter().find(|v| v.chars().any(|c| c.is_control())) {
                return Err(invalid(
                    &format!("API.HTTPHeaders.{name}"),
                    format!("{v:?} holds a control character"),
                ));
            }
        }
        for (key, n) in [
            (
                "API.MaxConcurrentRequests",
                self.api.max_concurrent_requests,
            ),
            (
                "Gateway.MaxConcurrentRequests",
                self.gateway.max_concurrent_requests,
            ),
        ] {
            if n == 0 || n > MAX_CONCURRENT_REQUESTS_LIMIT {
                return Err(invalid(
                    key,
                    format!("{n} is not between 1 and {MAX_CONCURRENT_REQUESTS_LIMIT}"),
                ));
            }
        }
        for (section, max, reserved, per_ip) in [
            (
                "API",
                self.api.max_connections,
                self.api.reserved_connections,
                self.api.max_connections_per_ip,
            ),
            (
                "Gateway",
                self.gateway.max_connections,
                self.gateway.reserved_connections,
                self.gateway.max_connections_per_ip,
            ),
        ] {
            if !(2..=MAX_HTTP_CONNECTIONS_LIMIT).contains(&max) {
                return Err(invalid(
                    &format!("{section}.MaxConnections"),
                    format!("{max} is not between 2 and {MAX_HTTP_CONNECTIONS_LIMIT}"),
                ));
            }
            if reserved >= max {
                return Err(invalid(
                    &format!("{section}.ReservedConnections"),
                    format!("{reserved} is not below {section}.MaxConnections ({max})"),
                ));
            }
            if per_ip == 0 {
                return Err(invalid(
                    &format!("{section}.MaxConnectionsPerIP"),
                    "must be above 0",
                ));
            }
        }
        let threads = self.acorn.blocking_threads;
        if threads == 0 || threads > MAX_BLOCKING_THREADS_COUNT {
            return Err(invalid(
                "Acorn.BlockingThreads",
                format!("{threads} is not between 1 and {MAX_BLOCKING_THREADS_COUNT}"),
            ));
        }
        Ok(())
    }

    /// The value at a dotted key (`Addresses.API`). Key parts match exactly, or
    /// else ignoring ASCII case (as Kubo). `Identity` and `Identity.PrivKey` are
    /// refused.
    pub fn get(&self, key: &str) -> Result<Value, ConfigError> {
        let parts = split_key(key)?;
        refuse_private_key(&parts)?;
        let tree = self.to_value();
        let mut cursor = &tree;
        for (depth, part) in parts.iter().enumerate() {
            let map = as_section(cursor, &parts[..depth], key)?;
            let name = resolve(map, part, key)?;
            cursor = &map[name.as_str()];
        }
        Ok(cursor.clone())
    }

    /// Set the value at a dotted key. A key Acorn does not know is created (and
    /// kept, unused; see [`is_known`]), as Kubo does; the result must parse as a
    /// config and pass [`Config::validate`], else nothing changes. `Identity.*` is
    /// refused.
    pub fn set(&mut self, key: &str, value: Value) -> Result<(), ConfigError> {
        let parts = split_key(key)?;
        refuse_private_key(&parts)?;
        if parts[0].eq_ignore_ascii_case("Identity") {
            return Err(ConfigError::IdentityReadOnly { key: key.into() });
        }
        let mut tree = self.to_value();
        let mut canonical = Vec::with_capacity(parts.len());
        let mut cursor = &mut tree;
        for (depth, part) in parts.iter().enumerate() {
            let map = as_section_mut(cursor, &parts[..depth], key)?;
            let name = match resolve(map, part, key) {
                Err(_) => {
                    // A new key: a leaf, or a section on the way to one.
                    let fresh = if depth + 1 == parts.len() {
                        Value::Null
                    } else {
                        Value::Object(Map::new())
                    };
                    map.insert((*part).to_owned(), fresh);
                    (*part).to_owned()
                }
                r => r?,
            };
            canonical.push(name.clone());
            cursor = map
                .get_mut(name.as_str())
                .expect("resolve returned a key of this map");
        }
        *cursor = value;
        let canonical = canonical.join(".");
        let new = Config::from_value(tree).map_err(|e| ConfigError::InvalidValue {
            key: canonical.clone(),
            reason: format!("{e} (maybe use --json or --bool?)"),
        })?;
        new.validate()?;
        *self = new;
        Ok(())
    }

    /// Write the config over the existing file, atomically (temp + fsync + rename
    /// + directory fsync). Mode 0600: the file holds the private key.
    pub fn save(&self, root: &Path) -> Result<(), ConfigError> {
        let path = config_path(root);
        let tmp = write_temp(root, &self.to_json()).map_err(|source| ConfigError::Write {
            path: path.clone(),
            source,
        })?;
        if let Err(source) = fs::rename(&tmp, &path) {
            let _ = fs::remove_file(&tmp);
            return Err(ConfigError::Write { path, source });
        }
        sync_dir(root).map_err(|source| ConfigError::Write { path, source })
    }

    /// Write the config as a new file; fails with [`ConfigError::AlreadyExists`]
    /// and changes nothing if one is there. Atomic like [`Config::save`], using a
    /// hard link (which never replaces) instead of a rename where the file system
    /// has hard links.
    pub fn create_new(&self, root: &Path) -> Result<(), ConfigError> {
        let path = config_path(root);
        if path.exists() {
            return Err(ConfigError::AlreadyExists { path });
        }
        let tmp = write_temp(root, &self.to_json()).map_err(|source| ConfigError::Write {
            path: path.clone(),
            source,
        })?;
        let placed = match fs::hard_link(&tmp, &path) {
            Ok(()) => fs::remove_file(&tmp),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let _ = fs::remove_file(&tmp);
                return Err(ConfigError::AlreadyExists { path });
            }
            // No hard links (FAT/exFAT USB sticks): check again, then rename. The
            // window between the two is closed by the repo lock `init` holds.
            Err(_) if path.exists() => {
                let _ = fs::remove_file(&tmp);
                return Err(ConfigError::AlreadyExists { path });
            }
            Err(_) => fs::rename(&tmp, &path),
        };
        if let Err(source) = placed {
            let _ = fs::remove_file(&tmp);
            return Err(ConfigError::Write { path, source });
        }
        sync_dir(root).map_err(|source| ConfigError::Write { path, source })
    }
}

/// `config KEY VALUE`'s VALUE: JSON with `json`, `true`/`false` with `boolean`,
/// else the text as a string (Kubo's `--json` / `--bool`).
pub fn parse_value(text: &str, json: bool, boolean: bool) -> Result<Value, ConfigError> {
    let bad = |reason: String| ConfigError::BadInput { reason };
    match (json, boolean) {
        (true, true) => Err(bad("use either --json or --bool, not both".into())),
        (true, false) => serde_json::from_str(text)
            .map_err(|e| bad(format!("VALUE {text:?} is not valid JSON: {e}"))),
        (false, true) => match text {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(bad(format!("expected true or false, got {text:?}"))),
        },
        (false, false) => Ok(Value::String(text.to_owned())),
    }
}

/// `config KEY VALUE` on the file of the repo at `root`: load, [`Config::set`],
/// [`Config::save`]; returns the value as stored. The caller holds the repo (the
/// CLI its lock, the daemon its open repo) and runs one change at a time. A
/// running daemon keeps the values it started with until it restarts (as Kubo).
pub fn set_in_repo(root: &Path, key: &str, value: Value) -> Result<Value, ConfigError> {
    let mut cfg = Config::load(root)?;
    cfg.set(key, value)?;
    cfg.save(root)?;
    cfg.get(key)
}

/// `config replace FILE` on the repo at `root` (the caller holds it, as for
/// [`set_in_repo`]): `bytes` is a whole config as JSON, as `config show` prints it.
/// As Kubo, it must not hold `Identity.PrivKey` (the key stays the repo's); its
/// `Identity.PeerID`, when present, must be the repo's. Keys Acorn does not know
/// are kept. The new config is checked as [`Config::load`] checks a file, then
/// saved atomically; on any error the old file stays. Returns the new config.
pub fn replace_in_repo(root: &Path, bytes: &[u8]) -> Result<Config, ConfigError> {
    let old = Config::load(root)?;
    let new = replacement(&old, bytes)?;
    new.save(root)?;
    Ok(new)
}

/// The config `bytes` stands for in place of `old` (see [`replace_in_repo`]).
pub fn replacement(old: &Config, bytes: &[u8]) -> Result<Config, ConfigError> {
    let bad = |reason: String| ConfigError::BadInput { reason };
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(bad(format!(
            "the new config is {} bytes, over the {MAX_CONFIG_BYTES}-byte limit",
            bytes.len()
        )));
    }
    let mut tree: Value = serde_json::from_slice(bytes)
        .map_err(|e| bad(format!("failed to decode file as config: {e}")))?;
    let Some(map) = tree.as_object_mut() else {
        return Err(bad(
            "failed to decode file as config: not a JSON object".into()
        ));
    };
    let identity = map
        .entry("Identity")
        .or_insert_with(|| Value::Object(Map::new()));
    let Some(identity) = identity.as_object_mut() else {
        return Err(bad("Identity is not a JSON object".into()));
    };
    if identity
        .get("PrivKey")
        .is_some_and(|k| !k.is_null() && k.as_str() != Some(""))
    {
        return Err(bad("setting private key with API is not supported".into()));
    }
    match identity.get("PeerID") {
        None | Some(Value::Null) => {}
        Some(Value::String(p)) if *p == old.identity.peer_id => {}
        Some(_) => {
            return Err(ConfigError::IdentityReadOnly {
                key: "Identity.PeerID".into(),
            })
        }
    }
    identity.insert("PeerID".into(), Value::String(old.identity.peer_id.clone()));
    identity.insert(
        "PrivKey".into(),
        Value::String(old.identity.priv_key.clone()),
    );
    let new =
        Config::from_value(tree).map_err(|reason| bad(format!("invalid config: {reason}")))?;
    new.validate()?;
    Ok(new)
}

/// Write `bytes` to a fresh temporary file in `dir` and fsync it.
fn write_temp(dir: &Path, bytes: &[u8]) -> io::Result<PathBuf> {
    let tmp = dir.join(format!(".{CONFIG_FILE_NAME}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    })();
    match result {
        Ok(()) => Ok(tmp),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Make a rename or link in `dir` durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn split_key(key: &str) -> Result<Vec<&str>, ConfigError> {
    let parts: Vec<&str> = key.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(ConfigError::BadKey { key: key.into() });
    }
    Ok(parts)
}

fn refuse_private_key(parts: &[&str]) -> Result<(), ConfigError> {
    let is = |i: usize, name: &str| parts.get(i).is_some_and(|p| p.eq_ignore_ascii_case(name));
    if is(0, "Identity") && (parts.len() == 1 || is(1, "PrivKey")) {
        return Err(ConfigError::PrivateKey);
    }
    Ok(())
}

fn as_section<'a>(
    v: &'a Value,
    path: &[&str],
    key: &str,
) -> Result<&'a Map<String, Value>, ConfigError> {
    v.as_object().ok_or_else(|| not_a_section(path, key))
}

fn as_section_mut<'a>(
    v: &'a mut Value,
    path: &[&str],
    key: &str,
) -> Result<&'a mut Map<String, Value>, ConfigError> {
    match v {
        Value::Object(map) => Ok(map),
        _ => Err(not_a_section(path, key)),
    }
}

fn not_a_section(path: &[&str], key: &str) -> ConfigError {
    ConfigError::UnknownKey {
        key: key.into(),
        known: format!("none, {} is a value, not a section", path.join(".")),
    }
}

/// Find `part` in `map`: exact match first, then ASCII case-insensitive.
fn resolve(map: &Map<String, Value>, part: &str, key: &str) -> Result<String, ConfigError> {
    if map.contains_key(part) {
        return Ok(part.to_owned());
    }
    map.keys()
        .find(|k| k.eq_ignore_ascii_case(part))
        .cloned()
        .ok_or_else(|| ConfigError::UnknownKey {
            key: key.into(),
            known: map.keys().cloned().collect::<Vec<_>>().join(", "),
        })
}

/// Every leaf of a JSON tree as (dotted key, value); lists count as leaves.
pub fn leaves(tree: &Value) -> Vec<(String, Value)> {
    fn walk(prefix: &str, v: &Value, out: &mut Vec<(String, Value)>) {
        match v {
            Value::Object(map) => {
                for (k, child) in map {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&key, child, out);
                }
            }
            _ => out.push((prefix.to_owned(), v.clone())),
        }
    }
    let mut out = Vec::new();
    walk("", tree, &mut out);
    out
}

/// Parse a humanized byte size as Kubo does (go-humanize `ParseBytes`):
/// `"10GB"` = 10 × 10⁹, `"10GiB"` = 10 × 2³⁰, `"512"` = 512 bytes, `"1.5MB"`;
/// case-insensitive, optional space before the unit.
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let unit = unit.trim().to_ascii_lowercase();
    let multiplier: u64 = match unit.as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "m" | "mb" => 1_000_000,
        "g" | "gb" => 1_000_000_000,
        "t" | "tb" => 1_000_000_000_000,
        "p" | "pb" => 1_000_000_000_000_000,
        "ki" | "kib" => 1 << 10,
        "mi" | "mib" => 1 << 20,
        "gi" | "gib" => 1 << 30,
        "ti" | "tib" => 1 << 40,
        "pi" | "pib" => 1 << 50,
        _ => return Err(format!("{s:?}: unknown size unit {unit:?}")),
    };
    let bad = || format!("{s:?} is not a size like \"10GB\"");
    let (int, frac) = match num.split_once('.') {
        Some((i, f)) => (i, f),
        None => (num, ""),
    };
    if int.is_empty() && frac.is_empty() || frac.contains('.') {
        return Err(bad());
    }
    let int: u64 = if int.is_empty() {
        0
    } else {
        int.parse().map_err(|_| bad())?
    };
    let whole = int
        .checked_mul(multiplier)
        .ok_or_else(|| format!("{s:?} is too large"))?;
    // Fraction: at most 18 digits so the arithmetic below stays in u128 range.
    let frac = &frac[..frac.len().min(18)];
    let frac_bytes = if frac.is_empty() {
        0
    } else {
        let digits: u128 = frac.parse().map_err(|_| bad())?;
        let scale = 10u128.pow(frac.len() as u32);
        (digits * multiplier as u128 / scale) as u64
    };
    whole
        .checked_add(frac_bytes)
        .ok_or_else(|| format!("{s:?} is too large"))
}

/// Parse a Go duration (`"1h"`, `"20s"`, `"1m30s"`, `"1.5h"`, `"500ms"`, `"0"`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("{s:?} is not a duration like \"1h\", \"20s\" or \"1m30s\"");
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err(bad());
    }
    let mut rest = s;
    let mut total = Duration::ZERO;
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        if n == 0 {
            return Err(bad());
        }
        let number: f64 = rest[..n].parse().map_err(|_| bad())?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit_secs = match &rest[..u] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        rest = &rest[u..];
        total = total
            .checked_add(Duration::try_from_secs_f64(number * unit_secs).map_err(|_| bad())?)
            .ok_or_else(bad)?;
    }
    Ok(total)
}

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
