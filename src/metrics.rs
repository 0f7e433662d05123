//! The daemon's metrics: Kubo's `/debug/metrics/prometheus`, in the OpenMetrics
//! text format.
//!
//! **What.** Two kinds of figures:
//! - **events**, counted where they happen through the hooks below, in one set of
//!   process-wide families: RPC and gateway requests by command (route) and status
//!   with latency histograms ([`rpc_request`], [`gateway_request`]), DHT queries by
//!   kind and result with their latency ([`dht_query`]), GC runs and what they freed
//!   ([`gc_run`]);
//! - **levels and totals** read at scrape time into a [`Snapshot`]: connected
//!   peers, bytes per protocol, bitswap's counters and wantlist sizes, provider
//!   records ([`NetFigures`], from the swarm task), repo size and objects (the
//!   figures `repo stat` prints, [`RepoFigures`]) and the process's RSS, threads and
//!   open file descriptors ([`process`]).
//!
//! [`render`] writes both, with a `# HELP` line on every metric, and `# EOF`.
//!
//! **Spec.** OpenMetrics 1.0 text (which Prometheus scrapes; served as
//! [`CONTENT_TYPE`]), written by the `prometheus-client` crate (the one libp2p's
//! metrics use: no runtime, no thread). Counters carry the `_total` suffix; the
//! process figures use Prometheus's standard names (`process_resident_memory_bytes`,
//! `process_open_fds`, `process_threads`), the rest the `acorn_` prefix.
//!
//! **Limits.** Label values come from fixed sets only, so the series are bounded:
//! a command is one of the RPC API's commands or `other` (any unknown path), a
//! gateway route one of [`GATEWAY_ROUTES`], a DHT query kind one of a fixed few
//! (`get_providers`, `start_providing`, `get_closest_peers`, `bootstrap`,
//! `get_record`, `other`), a protocol one of the bandwidth counters' fixed table, a
//! status one of the codes our servers write. A scrape allocates one text buffer
//! (a few tens of KiB) and a registry of fixed size; the hooks cost one map lookup
//! under a short lock and an atomic add.
//!
//! **Departures.** Kubo's metric names come from Go's libraries (`ipfs_*`,
//! `go_*`, `libp2p_*`); ours are the `acorn_` set the README lists. Request
//! latency is the time to the response head: a streamed body (`cat`, `add`) may
//! go on after it.

use std::sync::OnceLock;
use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, EncodeMetric as _};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};

/// The HTTP `Content-Type` of a scrape.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The path that serves the metrics on the API address (as Kubo's).
pub const PATH: &str = "/debug/metrics/prometheus";

/// The `route` label of gateway requests: `/ipfs/…`, `/ipns/…`, anything else.
pub const GATEWAY_ROUTES: [&str; 3] = ["ipfs", "ipns", "other"];

/// The `command` label for a path that is no RPC command.
pub const OTHER_COMMAND: &str = "other";

/// Latency buckets: 1 ms to about 65 s, doubling.
fn latency_buckets() -> impl Iterator<Item = f64> {
    exponential_buckets(0.001, 2.0, 17)
}

fn latency_histogram() -> Histogram {
    Histogram::new(latency_buckets())
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CommandCode {
    command: &'static str,
    code: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Command {
    command: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteCode {
    route: &'static str,
    code: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Route {
    route: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindResult {
    kind: &'static str,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Kind {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProtocolDirection {
    protocol: &'static str,
    direction: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Direction {
    direction: &'static str,
}

type HistFamily<S> = Family<S, Histogram, fn() -> Histogram>;

/// The event families, one set per process.
#[derive(Debug, Clone)]
struct Events {
    rpc_requests: Family<CommandCode, Counter>,
    rpc_latency: HistFamily<Command>,
    gateway_requests: Family<RouteCode, Counter>,
    gateway_latency: HistFamily<Route>,
    dht_queries: Family<KindResult, Counter>,
    dht_latency: HistFamily<Kind>,
    gc_runs: Counter,
    gc_freed_bytes: Counter,
    gc_freed_blocks: Counter,
}

fn events() -> &'static Events {
    static EVENTS: OnceLock<Events> = OnceLock::new();
    EVENTS.get_or_init(|| Events {
        rpc_requests: Family::default(),
        rpc_latency: Family::new_with_constructor(latency_histogram),
        gateway_requests: Family::default(),
        gateway_latency: Family::new_with_constructor(latency_histogram),
        dht_queries: Family::default(),
        dht_latency: Family::new_with_constructor(latency_histogram),
        gc_runs: Counter::default(),
        gc_freed_bytes: Counter::default(),
        gc_freed_blocks: Counter::default(),
    })
}

/// An RPC request answered: its command (one of the API's fixed set, or
/// [`OTHER_COMMAND`]), HTTP status and time to the response head.
pub fn rpc_request(command: &'static str, code: u16, took: Duration) {
    let e = events();
    e.rpc_requests
        .get_or_create(&CommandCode { command, code })
        .inc();
    e.rpc_latency
        .get_or_create(&Command { command })
        .observe(took.as_secs_f64());
}

/// The gateway route label of a request path.
pub fn gateway_route(path: &str) -> &'static str {
    if path.starts_with("/ipfs/") {
        GATEWAY_ROUTES[0]
    } else if path.starts_with("/ipns/") {
        GATEWAY_ROUTES[1]
    } else {
        GATEWAY_ROUTES[2]
    }
}

/// A gateway request answered: its route ([`gateway_route`]), status and time to
/// the response head.
pub fn gateway_request(route: &'static str, code: u16, took: Duration) {
    let e = events();
    e.gateway_requests
        .get_or_create(&RouteCode { route, code })
        .inc();
    e.gateway_latency
        .get_or_create(&Route { route })
        .observe(took.as_secs_f64());
}

/// A DHT query ended: its kind (a fixed name, see the module doc), whether it succeeded,
/// and how long it ran.
pub fn dht_query(kind: &'static str, ok: bool, took: Duration) {
    let e = events();
    let result = if ok { "ok" } else { "error" };
    e.dht_queries
        .get_or_create(&KindResult { kind, result })
        .inc();
    e.dht_latency
        .get_or_create(&Kind { kind })
        .observe(took.as_secs_f64());
}

/// A GC run ended, having removed `blocks` blocks of `bytes` bytes.
pub fn gc_run(blocks: u64, bytes: u64) {
    let e = events();
    e.gc_runs.inc();
    e.gc_freed_blocks.inc_by(blocks);
    e.gc_freed_bytes.inc_by(bytes);
}

/// The network's figures at scrape time (from the swarm task).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetFigures {
    /// Connected peers.
    pub peers: u64,
    /// Raw TCP bytes of every connection (in, out).
    pub transport_bytes: (u64, u64),
    /// Substream bytes per tracked protocol (name, in, out).
    pub protocol_bytes: Vec<(&'static str, u64, u64)>,
    pub bitswap_blocks_received: u64,
    pub bitswap_data_received: u64,
    pub bitswap_blocks_sent: u64,
    pub bitswap_data_sent: u64,
    pub bitswap_dup_blocks_received: u64,
    pub bitswap_dup_data_received: u64,
    pub bitswap_messages_received: u64,
    /// Our live wants.
    pub bitswap_wantlist: u64,
    /// Entries of the connected peers' wantlists, in all.
    pub bitswap_peer_wants: u64,
    /// Records that this node provides (announces) in its DHT record stores.
    pub provided_records: u64,
}

/// The repo's figures at scrape time (`repo stat`'s).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RepoFigures {
    pub size_bytes: u64,
    pub objects: u64,
    pub storage_max_bytes: u64,
}

/// This process's figures ([`process`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProcessFigures {
    pub resident_bytes: u64,
    pub threads: u64,
    pub open_fds: u64,
}

/// Reads this process's RSS, threads and open file descriptors from `/proc`
/// (zeros where it is not mounted). Three small reads and one directory listing
/// (as long as the open descriptors, allocating nothing per entry kept).
pub fn process() -> ProcessFigures {
    let rss_kb = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .unwrap_or(0);
    let count = |dir: &str| std::fs::read_dir(dir).map_or(0, |d| d.count() as u64);
    ProcessFigures {
        resident_bytes: rss_kb * 1024,
        threads: count("/proc/self/task"),
        // The listing itself holds one descriptor while it runs.
        open_fds: count("/proc/self/fd").saturating_sub(1),
    }
}

/// What a scrape shows besides the events.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// `None` while the network is off.
    pub net: Option<NetFigures>,
    pub repo: Option<RepoFigures>,
    pub process: ProcessFigures,
}

/// The snapshot's metrics, written at scrape time.
#[derive(Debug)]
struct SnapshotCollector(Snapshot);

/// Writes one metric without labels.
fn one(
    enc: &mut prometheus_client::encoding::DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    metric: &impl prometheus_client::encoding::EncodeMetric,
) -> std::fmt::Result {
    metric.encode(enc.encode_descriptor(name, help, unit, metric.metric_type())?)
}

impl prometheus_client::collector::Collector for SnapshotCollector {
    fn encode(
        &self,
        mut enc: prometheus_client::encoding::DescriptorEncoder,
    ) -> Result<(), std::fmt::Error> {
        let s = &self.0;
        let p = &s.process;
        let gauge = |v: u64| ConstGauge::new(i64::try_from(v).unwrap_or(i64::MAX));
        let counter = ConstCounter::new;
        one(
            &mut enc,
            "process_resident_memory",
            "Resident memory of the daemon (VmRSS).",
            Some(&Unit::Bytes),
            &gauge(p.resident_bytes),
        )?;
        one(
            &mut enc,
            "process_threads",
            "OS threads of the daemon.",
            None,
            &gauge(p.threads),
        )?;
        one(
            &mut enc,
            "process_open_fds",
            "Open file descriptors of the daemon.",
            None,
            &gauge(p.open_fds),
        )?;
        if let Some(r) = &s.repo {
            one(
                &mut enc,
                "acorn_repo_size",
                "Bytes the repo takes on disk (as repo stat's RepoSize).",
                Some(&Unit::Bytes),
                &gauge(r.size_bytes),
            )?;
            one(
                &mut enc,
                "acorn_repo_objects",
                "Blocks in the repo (as repo stat's NumObjects).",
                None,
                &gauge(r.objects),
            )?;
            one(
                &mut enc,
                "acorn_repo_storage_max",
                "The repo's size limit (Datastore.StorageMax).",
                Some(&Unit::Bytes),
                &gauge(r.storage_max_bytes),
            )?;
        }
        let Some(n) = &s.net else {
            return Ok(());
        };
        one(
            &mut enc,
            "acorn_peers",
            "Connected peers.",
            None,
            &gauge(n.peers),
        )?;
        {
            let c = ConstCounter::new(0u64);
            let mut m = enc.encode_descriptor(
                "acorn_transport",
                "Raw TCP bytes of every connection (handshakes and muxer framing included).",
                Some(&Unit::Bytes),
                c.metric_type(),
            )?;
            for (dir, v) in [("in", n.transport_bytes.0), ("out", n.transport_bytes.1)] {
                counter(v).encode(m.encode_family(&Direction { direction: dir })?)?;
            }
        }
        {
            let c = ConstCounter::new(0u64);
            let mut m = enc.encode_descriptor(
                "acorn_protocol",
                "Substream bytes per protocol (the tracked protocols of stats bw).",
                Some(&Unit::Bytes),
                c.metric_type(),
            )?;
            for &(protocol, i, o) in &n.protocol_bytes {
                for (direction, v) in [("in", i), ("out", o)] {
                    counter(v).encode(m.encode_family(&ProtocolDirection {
                        protocol,
                        direction,
                    })?)?;
                }
            }
        }
        let bytes = Unit::Bytes;
        let counters: [(&str, &str, Option<&Unit>, u64); 7] = [
            (
                "acorn_bitswap_blocks_received",
                "Blocks received over bitswap that we wanted.",
                None,
                n.bitswap_blocks_received,
            ),
            (
                "acorn_bitswap_data_received",
                "Bytes of the blocks received over bitswap.",
                Some(&bytes),
                n.bitswap_data_received,
            ),
            (
                "acorn_bitswap_blocks_sent",
                "Blocks sent to peers over bitswap.",
                None,
                n.bitswap_blocks_sent,
            ),
            (
                "acorn_bitswap_data_sent",
                "Bytes of the blocks sent over bitswap.",
                Some(&bytes),
                n.bitswap_data_sent,
            ),
            (
                "acorn_bitswap_dup_blocks_received",
                "Blocks received more than once over bitswap.",
                None,
                n.bitswap_dup_blocks_received,
            ),
            (
                "acorn_bitswap_dup_data_received",
                "Bytes of the duplicate blocks received over bitswap.",
                Some(&bytes),
                n.bitswap_dup_data_received,
            ),
            (
                "acorn_bitswap_messages_received",
                "Well-formed bitswap messages received.",
                None,
                n.bitswap_messages_received,
            ),
        ];
        for (name, help, unit, v) in counters {
            one(&mut enc, name, help, unit, &counter(v))?;
        }
        one(
            &mut enc,
            "acorn_bitswap_wantlist_entries",
            "Blocks we want (our wantlist).",
            None,
            &gauge(n.bitswap_wantlist),
        )?;
        one(
            &mut enc,
            "acorn_bitswap_peer_wantlist_entries",
            "Entries of the peers' wantlists we hold, in all.",
            None,
            &gauge(n.bitswap_peer_wants),
        )?;
        one(
            &mut enc,
            "acorn_dht_provided_records",
            "Provider records this node announces (its DHT record stores).",
            None,
            &gauge(n.provided_records),
        )?;
        Ok(())
    }
}

/// The scrape: the events and `snapshot`, with `# EOF`. (The registry ends each
/// help text with a full stop itself.)
pub fn render(snapshot: Snapshot) -> String {
    let e = events().clone();
    let mut r = Registry::default();
    r.register(
        "acorn_rpc_requests",
        "RPC API requests by command and HTTP status",
        e.rpc_requests,
    );
    r.register_with_unit(
        "acorn_rpc_request_duration",
        "RPC API time to the response head, by command",
        Unit::Seconds,
        e.rpc_latency,
    );
    r.register(
        "acorn_gateway_requests",
        "Gateway requests by route and HTTP status",
        e.gateway_requests,
    );
    r.register_with_unit(
        "acorn_gateway_request_duration",
        "Gateway time to the response head, by route",
        Unit::Seconds,
        e.gateway_latency,
    );
    r.register(
        "acorn_dht_queries",
        "DHT queries ended, by kind and result",
        e.dht_queries,
    );
    r.register_with_unit(
        "acorn_dht_query_duration",
        "DHT query run time, by kind",
        Unit::Seconds,
        e.dht_latency,
    );
    r.register("acorn_gc_runs", "Garbage collections run", e.gc_runs);
    r.register(
        "acorn_gc_freed_blocks",
        "Blocks removed by garbage collection",
        e.gc_freed_blocks,
    );
    r.register_with_unit(
        "acorn_gc_freed",
        "Bytes of the blocks removed by garbage collection",
        Unit::Bytes,
        e.gc_freed_bytes,
    );
    r.register_collector(Box::new(SnapshotCollector(snapshot)));
    let mut out = String::with_capacity(16 * 1024);
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, &r);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_has_help_on_every_metric_and_the_snapshot() {
        rpc_request("id", 200, Duration::from_millis(3));
        gc_run(2, 300);
        let s = Snapshot {
            net: Some(NetFigures {
                peers: 3,
                protocol_bytes: vec![("/ipfs/bitswap/1.2.0", 10, 20)],
                bitswap_wantlist: 5,
                ..NetFigures::default()
            }),
            repo: Some(RepoFigures {
                size_bytes: 4096,
                objects: 7,
                storage_max_bytes: 1 << 30,
            }),
            process: ProcessFigures {
                resident_bytes: 1 << 20,
                threads: 4,
                open_fds: 9,
            },
        };
        let t = render(s);
        assert!(t.ends_with("# EOF\n"), "{t}");
        assert!(!t.contains(".."), "a help text ends twice: {t}");
        for line in t.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap_or("");
            let family = name
                .trim_end_matches("_total")
                .trim_end_matches("_bucket")
                .trim_end_matches("_sum")
                .trim_end_matches("_count");
            assert!(
                t.contains(&format!("# HELP {family} ")),
                "no help for {name}: {t}"
            );
        }
        for want in [
            "acorn_peers 3\n",
            "acorn_protocol_bytes_total{protocol=\"/ipfs/bitswap/1.2.0\",direction=\"out\"} 20\n",
            "acorn_bitswap_wantlist_entries 5\n",
            "acorn_repo_objects 7\n",
            "process_threads 4\n",
            "process_resident_memory_bytes 1048576\n",
            "acorn_rpc_requests_total{command=\"id\",code=\"200\"}",
            "acorn_gc_runs_total",
        ] {
            assert!(t.contains(want), "{want:?} missing from:\n{t}");
        }
    }

    #[test]
    fn offline_scrape_leaves_out_the_network() {
        let t = render(Snapshot::default());
        assert!(!t.contains("acorn_peers"), "{t}");
        assert!(t.contains("# HELP process_open_fds "), "{t}");
    }

    #[test]
    fn process_figures_are_read() {
        let p = process();
        assert!(
            p.resident_bytes > 0 && p.threads >= 1 && p.open_fds >= 3,
            "{p:?}"
        );
    }

    #[test]
    fn gateway_routes_are_a_fixed_set() {
        assert_eq!(gateway_route("/ipfs/bafy/x"), "ipfs");
        assert_eq!(gateway_route("/ipns/k51"), "ipns");
        assert_eq!(gateway_route("/../etc/passwd"), "other");
    }
}
