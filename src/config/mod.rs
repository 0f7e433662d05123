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
//! Kubo has no key for live under `Acorn` (`Acorn.BlockingThreads`, `Acorn.EnableGC`,
//! `Acorn.MinFreeSpace`, `Acorn.LanDht`, `Acorn.WriteBatchSize`, `Acorn.DbCacheSize`, `Acorn.Fetch*`), except the HTTP servers' limits, which sit
//! beside the server they bound: `API.MaxConcurrentRequests`, `API.HeadDeadline`,
//! `API.BodyIdleTimeout`, `API.MaxConnections`, `API.ReservedConnections`,
//! `API.MaxConnectionsPerIP`, `API.MinBodyBytesPerSecond` and the same under `Gateway` (Kubo has no such keys). Sizes use Kubo's humanized
//! form (`"10GB"` = 10⁹ bytes × 10, `"1GiB"` = 2³⁰ bytes) and durations Go's (`"1h"`,
//! `"20s"`, `"1m30s"`, `"0"`), read once into [`HumanSize`] and [`GoDuration`]
//! when the file is parsed or a key is set (a bad one fails there, named by its
//! key); each keeps the text it was written as, so the file reads back and writes
//! out byte for byte. Like Kubo, `Addresses.API` and `Addresses.Gateway` are
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
//! | `Acorn.EnableGC` | `false` (the daemon's automatic GC, as `daemon --enable-gc`) |
//! | `Acorn.WriteBatchSize` | `"4MiB"` (block data per import write transaction) |
//! | `Acorn.DbCacheSize` | `"8MiB"` (the database's page cache) |
//! | `Acorn.BackgroundWriter` | `true` (imports commit intermediate batches on their own `acorn-writer` thread) |
//! | `Acorn.LanDht` | `true` (LAN DHT `/ipfs/lan/kad/1.0.0` beside the WAN one) |
//! | `Acorn.FetchWindowBlocks` | `32` wants in flight per request's DAG walk |
//! | `Acorn.FetchWindowSize` | `"8MiB"` (bytes those wants may bring at once) |
//! | `Acorn.FetchPendingLinks` | `4096` links queued per walk |
//! | `Acorn.BitswapWantTimeout` | `"5s"` (a peer's time to answer or deliver a block before bitswap asks another) |
//! | `Acorn.BitswapMaxInboundBytes` | `"16MiB"` (inbound bitswap frames held at once, all peers; at least 64 KiB) |
//! | `Acorn.BitswapMaxQueuedBytes` | `"16MiB"` (bitswap answers held for other peers, all peers; at least 64 KiB; raised to two peers' queues plus one 2 MiB block when smaller, so a peer that never reads cannot stall the rest) |
//! | `Acorn.BitswapMaxInboundStreams` | `320` inbound bitswap streams read at once |
//! | `Acorn.BitswapMaxPeerWants` | `1024` entries kept from one peer's wantlist |
//! | `Acorn.YamuxMaxStreams` | `128` streams per connection (each up to a 256 KiB yamux window unread; at least [`MIN_YAMUX_STREAMS_COUNT`]) |
//! | `Acorn.MaxPendingConnections` | `32` connections handshaking, inbound and outbound each |
//! | `Acorn.DhtMaxRecords` | `256` value records per DHT (16 KiB each at most) |
//!
//! The daemon's worst-case memory from these settings is
//! `crate::budget::worst_case` (`acorn config profile show NAME`).
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

/// Fewest `Acorn.YamuxMaxStreams`: ping (both ways), identify, a DHT query and
/// bitswap's outbound and inbound streams must fit on one connection at once.
pub const MIN_YAMUX_STREAMS_COUNT: u32 = 6;

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
mod tests;
