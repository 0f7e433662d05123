//! The typed sections of the config file and their defaults.

use super::*;

/// `Datastore`: how much the repo may hold and when GC runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default, deny_unknown_fields)]
pub struct Datastore {
    /// Humanized size (`"10GB"`); see [`parse_bytes`].
    pub storage_max: HumanSize,
    /// Percent of `StorageMax` at which the daemon's automatic GC starts.
    #[serde(rename = "StorageGCWatermark")]
    pub storage_gc_watermark: u8,
    /// Go duration between automatic GC runs (`"1h"`); see [`parse_duration`].
    #[serde(rename = "GCPeriod")]
    pub gc_period: GoDuration,
}

impl Default for Datastore {
    fn default() -> Self {
        Datastore {
            storage_max: default_size("10GB"),
            storage_gc_watermark: 90,
            gc_period: default_duration("1h"),
        }
    }
}

impl Datastore {
    /// `StorageMax` in bytes. The value was checked at load/set time.
    pub fn storage_max_bytes(&self) -> Result<u64, ConfigError> {
        // Parsed on load; only a blank one is left to refuse.
        self.storage_max
            .bytes()
            .ok_or_else(|| ConfigError::InvalidValue {
                key: "Datastore.StorageMax".into(),
                reason: "must be set (a size like \"10GB\")".into(),
            })
    }

    /// `GCPeriod` as a duration (parsed on load).
    pub fn gc_period(&self) -> Result<Duration, ConfigError> {
        Ok(self.gc_period.get())
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
    pub max_memory: HumanSize,
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
            max_memory: HumanSize::default(),
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
        // Parsed on load; blank is unset.
        Ok(self.max_memory.bytes())
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
    pub grace_period: GoDuration,
}

impl Default for ConnMgr {
    fn default() -> Self {
        ConnMgr {
            kind: "basic".into(),
            low_water: 32,
            high_water: 96,
            grace_period: default_duration("20s"),
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
    /// Connection limits and timing (`HeadDeadline`, `BodyIdleTimeout`,
    /// `MaxConnections`, `ReservedConnections`, `MaxConnectionsPerIP`,
    /// `MinBodyBytesPerSecond`), the same keys as the gateway's.
    #[serde(flatten)]
    pub limits: HttpLimits,
}

impl Default for ApiSection {
    fn default() -> Self {
        ApiSection {
            http_headers: Default::default(),
            max_concurrent_requests: DEFAULT_MAX_CONCURRENT_REQUESTS,
            limits: HttpLimits::default(),
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
    /// As the API's: `HeadDeadline`, `BodyIdleTimeout`, `MaxConnections`,
    /// `ReservedConnections`, `MaxConnectionsPerIP`, `MinBodyBytesPerSecond`.
    #[serde(flatten)]
    pub limits: HttpLimits,
    /// Go duration (Kubo's key): the longest a request waits for a block from the
    /// network; it then gets 504 (or, mid-body, a cut connection). Default
    /// [`DEFAULT_GATEWAY_RETRIEVAL_TIMEOUT`], set per firmware profile.
    pub retrieval_timeout: GoDuration,
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
            limits: HttpLimits::default(),
            retrieval_timeout: GoDuration::from_secs(DEFAULT_GATEWAY_RETRIEVAL_TIMEOUT.as_secs()),
        }
    }
}

pub(super) fn default_max_requests() -> u16 {
    DEFAULT_MAX_CONCURRENT_REQUESTS
}

pub(super) fn default_head_deadline() -> GoDuration {
    GoDuration::from_secs(crate::http::HEAD_DEADLINE.as_secs())
}

pub(super) fn default_body_idle_timeout() -> GoDuration {
    GoDuration::from_secs(crate::http::BODY_IDLE_TIMEOUT.as_secs())
}

/// A default size written in this file.
fn default_size(text: &str) -> HumanSize {
    // The defaults are literals checked by the tests (`defaults_validate`).
    HumanSize::new(text).expect("a default size parses")
}

/// A default duration written in this file.
fn default_duration(text: &str) -> GoDuration {
    // The defaults are literals checked by the tests (`defaults_validate`).
    GoDuration::new(text).expect("a default duration parses")
}

pub(super) fn default_max_connections() -> u16 {
    DEFAULT_MAX_CONNECTIONS_COUNT
}

pub(super) fn default_reserved_connections() -> u16 {
    crate::http::RESERVED_CONNECTIONS_COUNT as u16
}

pub(super) fn default_max_connections_per_ip() -> u16 {
    crate::http::MAX_CONNECTIONS_PER_IP_COUNT as u16
}

pub(super) fn default_min_body_rate() -> u64 {
    crate::http::MIN_BODY_BYTES_PER_SEC
}

/// Default `API.MaxConnections` and `Gateway.MaxConnections`: open connections of
/// one HTTP server (one request each at a time).
pub const DEFAULT_MAX_CONNECTIONS_COUNT: u16 = 64;

/// Largest `API.MaxConnections` / `Gateway.MaxConnections`: each connection costs
/// a task, a socket and up to a 64 KiB read buffer and a 64 KiB write buffer.
pub const MAX_HTTP_CONNECTIONS_LIMIT: u16 = 1024;

/// The connection limits and timing of one HTTP server, the same keys in the
/// `API` and `Gateway` sections (Acorn's keys; Kubo has none of them).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpLimits {
    /// Go duration within which a connection must send a whole request head, idle
    /// time before it included (Acorn's key; default
    /// [`crate::http::HEAD_DEADLINE`], 20 s).
    #[serde(rename = "HeadDeadline", default = "default_head_deadline")]
    pub head_deadline: GoDuration,
    /// Go duration of silence after which a request body ends with an error
    /// (Acorn's key; default [`crate::http::BODY_IDLE_TIMEOUT`], 20 s).
    #[serde(rename = "BodyIdleTimeout", default = "default_body_idle_timeout")]
    pub body_idle_timeout: GoDuration,
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

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            head_deadline: default_head_deadline(),
            body_idle_timeout: default_body_idle_timeout(),
            max_connections: default_max_connections(),
            reserved_connections: default_reserved_connections(),
            max_connections_per_ip: default_max_connections_per_ip(),
            min_body_bytes_per_second: default_min_body_rate(),
        }
    }
}

impl HttpLimits {
    /// The HTTP server settings these limits give, over the defaults.
    pub fn http_config(&self) -> crate::http::Config {
        let mut c = crate::http::Config::new(self.max_connections.into());
        c.reserved_connections = self.reserved_connections.into();
        c.max_connections_per_ip = self.max_connections_per_ip.into();
        c.min_body_bytes_per_sec = self.min_body_bytes_per_second;
        c.head_deadline = self.head_deadline.get();
        c.body_idle_timeout = self.body_idle_timeout.get();
        c
    }
}

impl ApiSection {
    /// The RPC API server's HTTP settings.
    pub fn http_config(&self) -> crate::http::Config {
        self.limits.http_config()
    }
}

impl GatewaySection {
    /// `Gateway.RetrievalTimeout` (checked on load and set; the default if not).
    pub fn retrieval_timeout(&self) -> Duration {
        self.retrieval_timeout.get()
    }

    /// The gateway server's HTTP settings.
    pub fn http_config(&self) -> crate::http::Config {
        self.limits.http_config()
    }
}

/// `Reprovider`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default, deny_unknown_fields)]
pub struct Reprovider {
    /// Go duration between re-announcements of our content; `"0"` disables.
    pub interval: GoDuration,
}

impl Default for Reprovider {
    fn default() -> Self {
        Reprovider {
            interval: default_duration("22h"),
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
    /// Run the automatic GC in the daemon, as `acorn daemon --enable-gc` does
    /// (default `false`, as Kubo; the board profiles turn it on): every
    /// `Datastore.GCPeriod`, and as soon as the stored blocks pass
    /// `Datastore.StorageGCWatermark` percent of `Datastore.StorageMax`. Kubo has
    /// only the flag.
    #[serde(rename = "EnableGC")]
    pub enable_gc: bool,
    /// Free space writes must leave on the repo's filesystem (humanized size,
    /// default `"64MiB"`); a write that would go below fails with "disk full".
    pub min_free_space: HumanSize,
    /// Run the LAN DHT (`/ipfs/lan/kad/1.0.0`, for peers on private or loopback
    /// addresses, as Kubo's dual DHT) beside the WAN DHT whenever `Routing.Type` is not
    /// `none` (default `true`). It costs a second routing table and record store,
    /// bounded as the WAN one's; a node with only public neighbours may turn it off.
    pub lan_dht: bool,
    /// Block data an import (add, `dag import`, `block put` of many blocks) buffers
    /// per write transaction (humanized size, default `"4MiB"`). RAM: up to 3× this
    /// buffered, plus the database's dirty pages for one batch (small blocks, stored
    /// inside the database, take several times their size there).
    pub write_batch_size: HumanSize,
    /// Imports commit their intermediate write batches on a thread of their own
    /// (`acorn-writer`, default `true`), so hashing the next batch overlaps writing
    /// this one; `false` commits them in the import's own thread: one OS thread
    /// fewer, for boards with one core or a tight thread budget.
    pub background_writer: bool,
    /// The database's page cache (humanized size, default `"8MiB"`); applies when the
    /// repo is opened.
    pub db_cache_size: HumanSize,
    /// Wants one request's DAG walk keeps in flight (default `32`): `cat`, `get`,
    /// `pin add`, `refs -r`, CAR export and the gateway ask for this many blocks
    /// before the first arrives.
    pub fetch_window_blocks: u32,
    /// Bytes those wants may bring at once (humanized size, default `"8MiB"`; each
    /// want counts as the largest block the walk has seen). RAM: up to this per
    /// request fetching, in the network buffers.
    pub fetch_window_size: HumanSize,
    /// Links a request's walk keeps queued (default `4096`, about 150 bytes each);
    /// a wider node is re-read from the blockstore as the walk goes.
    pub fetch_pending_links: u32,
    /// How long a peer asked for a block has to answer (HAVE / DONT_HAVE) or deliver
    /// it before bitswap asks another peer (duration, default `"5s"`): a stalled
    /// peer's wants move on after this; a closed connection moves them at once.
    /// Longer suits slow links (a 256 KiB block must cross within it); shorter fails
    /// over faster but may ask a second peer for blocks already on their way.
    pub bitswap_want_timeout: GoDuration,
    /// Bytes of inbound bitswap frames read or waiting for the bitswap task, over all
    /// peers (humanized size, default `"16MiB"`). Full: readers wait before reading a
    /// frame's body, which pushes back on the peers. A frame larger than this (up to
    /// 4 MiB, bitswap's largest message) takes the whole budget, so the RAM is the
    /// larger of the two.
    pub bitswap_max_inbound_bytes: HumanSize,
    /// Bytes of answers bitswap holds for other peers (queued, being looked up, being
    /// sent), over all peers (humanized size, default `"16MiB"`); one peer's queue is
    /// at most the smaller of this and 4 MiB. A block larger than the room still goes
    /// when nothing else is held, so the RAM is the larger of this and 4 MiB.
    pub bitswap_max_queued_bytes: HumanSize,
    /// Inbound bitswap streams read at once over all peers (default `320`); more are
    /// reset. A reader task costs a few hundred bytes idle.
    pub bitswap_max_inbound_streams: u32,
    /// Entries kept from one peer's wantlist (default `1024`, about 200 bytes each);
    /// more are dropped, as if the peer had not asked.
    pub bitswap_max_peer_wants: u32,
    /// Streams open at once on one connection (yamux, default `128`). Each may hold
    /// yamux's 256 KiB receive window of bytes not yet read, so this × 256 KiB is a
    /// connection's worst-case buffer; lower it on small boards. Below about 8, peers
    /// that open a stream per message (Helia) or run ping, identify, the DHT and
    /// bitswap at once see streams refused.
    pub yamux_max_streams: u32,
    /// Connections still dialling or in their handshake, inbound and outbound each
    /// (default `32`); more wait (outbound) or are refused (inbound).
    pub max_pending_connections: u32,
    /// DHT value records stored, per DHT (default `256`), each at most 16 KiB: the
    /// record store's worst case is 2 DHTs × this × 16 KiB.
    pub dht_max_records: u32,
}

impl AcornSection {
    /// `BitswapWantTimeout`, above zero.
    pub fn bitswap_want_timeout(&self) -> Result<Duration, ConfigError> {
        let invalid = |reason: String| ConfigError::InvalidValue {
            key: "Acorn.BitswapWantTimeout".into(),
            reason,
        };
        match self.bitswap_want_timeout.get() {
            d if d.is_zero() => Err(invalid("must be above zero".into())),
            d => Ok(d),
        }
    }

    /// `MinFreeSpace` in bytes.
    pub fn min_free_space_bytes(&self) -> Result<u64, ConfigError> {
        // Parsed on load; only a blank one is left to refuse.
        self.min_free_space
            .bytes()
            .ok_or_else(|| ConfigError::InvalidValue {
                key: "Acorn.MinFreeSpace".into(),
                reason: format!(
                    "{:?} is not a size like \"64MiB\"",
                    self.min_free_space.as_str()
                ),
            })
    }

    /// `WriteBatchSize` in bytes (at least 1).
    pub fn write_batch_bytes(&self) -> Result<usize, ConfigError> {
        size_setting("Acorn.WriteBatchSize", &self.write_batch_size, 1)
    }

    /// `DbCacheSize` in bytes.
    pub fn db_cache_bytes(&self) -> Result<usize, ConfigError> {
        size_setting("Acorn.DbCacheSize", &self.db_cache_size, 1)
    }

    /// `BitswapMaxInboundBytes` in bytes (at least 64 KiB).
    pub fn bitswap_max_inbound_bytes(&self) -> Result<usize, ConfigError> {
        size_setting(
            "Acorn.BitswapMaxInboundBytes",
            &self.bitswap_max_inbound_bytes,
            MIN_BITSWAP_BUFFER_BYTES,
        )
    }

    /// `BitswapMaxQueuedBytes` in bytes (at least 64 KiB).
    pub fn bitswap_max_queued_bytes(&self) -> Result<usize, ConfigError> {
        size_setting(
            "Acorn.BitswapMaxQueuedBytes",
            &self.bitswap_max_queued_bytes,
            MIN_BITSWAP_BUFFER_BYTES,
        )
    }

    /// `FetchWindowSize` in bytes (at least 1).
    pub fn fetch_window_bytes(&self) -> Result<usize, ConfigError> {
        size_setting("Acorn.FetchWindowSize", &self.fetch_window_size, 1)
    }
}

/// Smallest `Acorn.BitswapMaxInboundBytes` / `Acorn.BitswapMaxQueuedBytes`: below
/// this every frame would take the whole budget.
pub const MIN_BITSWAP_BUFFER_BYTES: u64 = 64 << 10;

/// A humanized size setting (parsed on load) of at least `min` bytes that fits
/// in memory.
fn size_setting(key: &str, value: &HumanSize, min: u64) -> Result<usize, ConfigError> {
    let invalid = |reason: String| ConfigError::InvalidValue {
        key: key.into(),
        reason,
    };
    let n = value
        .bytes()
        .ok_or_else(|| invalid(format!("{:?} is not a size like \"64MiB\"", value.as_str())))?;
    if n < min {
        return Err(invalid(format!("must be at least {min} byte")));
    }
    usize::try_from(n).map_err(|_| invalid(format!("{n} bytes is too large")))
}

impl Default for AcornSection {
    fn default() -> Self {
        AcornSection {
            blocking_threads: 2,
            enable_gc: false,
            min_free_space: default_size("64MiB"),
            lan_dht: true,
            write_batch_size: default_size("4MiB"),
            background_writer: true,
            db_cache_size: default_size("8MiB"),
            fetch_window_blocks: 32,
            fetch_window_size: default_size("8MiB"),
            fetch_pending_links: 4096,
            bitswap_want_timeout: default_duration("5s"),
            bitswap_max_inbound_bytes: default_size("16MiB"),
            bitswap_max_queued_bytes: default_size("16MiB"),
            bitswap_max_inbound_streams: 320,
            bitswap_max_peer_wants: 1024,
            yamux_max_streams: 128,
            max_pending_connections: 32,
            dht_max_records: 256,
        }
    }
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

pub(super) fn default_bootstrap() -> Vec<String> {
    strings(DEFAULT_BOOTSTRAP)
}
