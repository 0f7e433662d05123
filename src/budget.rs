//! The daemon's worst-case memory, from its configuration.
//!
//! **What.** [`worst_case`] adds up, term by term, the most memory each bounded part
//! of a running daemon may hold with a given [`Config`]; [`Budget::total`] is
//! `worst_case_bytes`. [`for_profile`] applies a profile (a firmware profile's
//! `[config]`) to the defaults first and pairs the budget with the profile's RSS
//! ceiling; `acorn config profile show NAME` prints it, and a test keeps every
//! `firmware-profiles/*.toml` under its `memory_ceiling_mib`.
//!
//! **Flow.** Every term reads the settings the code itself is built from: the
//! swarm's [`acorn_net::swarm::Config`] from [`crate::swarm::swarm_config`], bitswap's
//! from [`crate::swarm::bitswap_config`], the walk window from
//! [`crate::swarm::fetch_window`], the HTTP servers' from the `API` and `Gateway`
//! sections, the storage's from `Acorn.*`; per-item costs are the named constants
//! beside the code they describe. So a changed default or profile value changes the
//! budget, and no second list of numbers can drift from the code.
//!
//! **Terms.** A fixed [`BASELINE_BYTES`] (the binary, its heap and stacks while
//! idle, measured), then: swarm connections (noise buffers) and their yamux
//! windows, the DHT record stores and routing tables, per-peer byte counters,
//! bitswap's inbound frames, answers, peer wantlists and want tables, the HTTP
//! servers' connection buffers, request bodies and responses per request slot, the
//! queued links of the requests' DAG walks (a walk's window of blocks in flight is
//! network bytes, inside the yamux and bitswap terms), blocking-pool jobs, the
//! database's page cache and the import's write batches.
//!
//! **Limits of the proof.** The sum is the worst case only of what is bounded by a
//! setting or a constant. Three costs are estimates, each named where it lives:
//! a Kademlia routing-table entry ([`acorn_net::swarm::KAD_TABLE_ENTRY_BYTES`]), a
//! bitswap want ([`acorn_net::bitswap::core::WANT_ENTRY_BYTES`]) and the database's
//! dirty pages for a batch of small blocks (counted as one more batch; the
//! `bench-ceiling` small-block workload measures it). yamux windows of streams whose
//! reader keeps up may grow past 256 KiB (yamux's auto-tuning, bounded only by
//! libp2p-yamux's fixed 1 GiB per connection): a peer can only make them grow by
//! having us read fast, so the window term counts the 256 KiB every stream starts with.
//! Allocator slack (freed memory the allocator keeps) is in the baseline only as
//! far as the idle measurement saw it.

use acorn_net::bitswap::{self, core::PEER_WANT_ENTRY_BYTES, core::WANT_ENTRY_BYTES};
use acorn_net::swarm::{
    DhtMode, CONNECTION_BUFFER_BYTES, KAD_BUCKET_PEERS_COUNT, KAD_TABLE_BUCKETS_COUNT,
    KAD_TABLE_ENTRY_BYTES, YAMUX_STREAM_WINDOW_BYTES,
};

use crate::config::{Config, ConfigError, IdentitySection};
use crate::fetch::walk::PENDING_LINK_BYTES;
use crate::http::stream::{RESPONSE_QUEUE_COUNT, STREAM_CHUNK_BYTES};
use crate::http::{BODY_CHUNK_BYTES, BODY_QUEUE_COUNT};
use crate::profiles::{self, board};

/// RSS of an idle daemon with its swarm listening: the binary's pages, the heap
/// after start (config, identity, the repo's tables, the swarm's behaviours) and
/// the two threads' stacks. Measured by `bench-ceiling` on 2026-12-07 (x86_64,
/// `release-small`): 9.2 to 9.3 MiB idle for every firmware profile; rounded up.
/// `bench-ceiling` prints the measured idle RSS beside this constant.
pub const BASELINE_BYTES: u64 = 10 << 20;

/// Bytes of one entry of the per-peer byte counters (`stats bw --peer`).
pub const BANDWIDTH_PEER_BYTES: u64 = 200;

/// Bytes the import keeps per byte of `Acorn.WriteBatchSize`: up to 3 batches
/// buffered (one being hashed, one queued, one being written) and the database's
/// dirty pages for one.
pub const WRITE_BATCH_FACTOR: u64 = 4;

/// One term of the budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    /// What holds the memory (`"yamux windows"`).
    pub name: &'static str,
    /// How the bytes are counted, with the values (`"64 connections × 8 streams × 256 KiB"`).
    pub formula: String,
    /// The worst case, in bytes.
    pub bytes: u64,
}

/// The worst-case memory of a daemon, term by term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budget {
    pub terms: Vec<Term>,
}

impl Budget {
    /// `worst_case_bytes`: the sum of the terms.
    pub fn total(&self) -> u64 {
        self.terms.iter().map(|t| t.bytes).sum()
    }
}

/// A profile's budget and its ceiling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileBudget {
    /// The profile's name.
    pub name: String,
    /// The budget of the defaults with the profile applied.
    pub budget: Budget,
    /// `memory_ceiling_mib` of a firmware profile, in bytes; `None` for the others.
    pub ceiling_bytes: Option<u64>,
}

/// Why a budget could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum BudgetError {
    /// The profile is unknown or does not apply.
    #[error(transparent)]
    Profile(#[from] profiles::ProfileError),
    /// A firmware profile file that does not parse.
    #[error("firmware-profiles/{name}.toml: {source}")]
    Board {
        name: String,
        source: board::ParseError,
    },
    /// A setting the budget reads is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
}

fn kib(n: u64) -> String {
    if n >= 1 << 20 && n.is_multiple_of(1 << 20) {
        format!("{} MiB", n >> 20)
    } else if n.is_multiple_of(1024) {
        format!("{} KiB", n >> 10)
    } else {
        format!("{n} B")
    }
}

/// The worst-case memory of a daemon running with `config`.
pub fn worst_case(config: &Config) -> Result<Budget, ConfigError> {
    let swarm = crate::swarm::swarm_config(config);
    let bs = crate::swarm::bitswap_config(config)?;
    let window = crate::swarm::fetch_window(config)?;
    let a = &config.acorn;
    let u = |n: usize| n as u64;
    let mut terms = Vec::new();
    let mut add = |name: &'static str, formula: String, bytes: u64| {
        terms.push(Term {
            name,
            formula,
            bytes,
        })
    };
    add(
        "baseline",
        "idle daemon, measured (binary, heap, 2 threads)".into(),
        BASELINE_BYTES,
    );

    // The swarm.
    let conns = u64::from(swarm.max_connections);
    let pending = u64::from(swarm.max_pending_inbound_connections)
        + u64::from(swarm.max_pending_outbound_connections);
    add(
        "swarm connections",
        format!(
            "({conns} established + {pending} handshaking) × {} noise buffers",
            kib(u(CONNECTION_BUFFER_BYTES))
        ),
        (conns + pending) * u(CONNECTION_BUFFER_BYTES),
    );
    let streams = u(swarm.max_streams_per_connection);
    add(
        "yamux windows",
        format!(
            "{conns} connections × {streams} streams × {} unread",
            kib(u(YAMUX_STREAM_WINDOW_BYTES))
        ),
        conns * streams * u(YAMUX_STREAM_WINDOW_BYTES),
    );
    let dhts: u64 = match (swarm.dht_mode, swarm.lan_dht) {
        (DhtMode::None, _) => 0,
        (_, true) => 2,
        (_, false) => 1,
    };
    add(
        "DHT record stores",
        format!(
            "{dhts} DHTs × {} records × {}",
            swarm.kad_max_records,
            kib(u(swarm.kad_max_record_bytes))
        ),
        dhts * u(swarm.kad_max_records) * u(swarm.kad_max_record_bytes),
    );
    add(
        "DHT routing tables",
        format!(
            "{dhts} DHTs × {KAD_TABLE_BUCKETS_COUNT} buckets × {KAD_BUCKET_PEERS_COUNT} peers × {KAD_TABLE_ENTRY_BYTES} B"
        ),
        dhts * u(KAD_TABLE_BUCKETS_COUNT) * u(KAD_BUCKET_PEERS_COUNT) * u(KAD_TABLE_ENTRY_BYTES),
    );
    add(
        "peer byte counters",
        format!("{} peers × {BANDWIDTH_PEER_BYTES} B", swarm.bandwidth_peers),
        u(swarm.bandwidth_peers) * BANDWIDTH_PEER_BYTES,
    );

    // Bitswap.
    let inbound = bs.max_inbound_bytes.max(bitswap::MAX_MESSAGE_BYTES);
    add(
        "bitswap inbound frames",
        format!(
            "max(BitswapMaxInboundBytes {}, one frame {})",
            kib(u(bs.max_inbound_bytes)),
            kib(u(bitswap::MAX_MESSAGE_BYTES))
        ),
        u(inbound),
    );
    let answers = bs
        .core
        .max_server_queued_bytes
        .max(bs.core.max_message_bytes);
    add(
        "bitswap answers",
        format!(
            "max(BitswapMaxQueuedBytes {}, one message {})",
            kib(u(bs.core.max_server_queued_bytes)),
            kib(u(bs.core.max_message_bytes))
        ),
        u(answers),
    );
    let wantlist_peers = u(bs.core.max_peers).min(conns);
    add(
        "bitswap peer wantlists",
        format!(
            "{wantlist_peers} peers × {} entries × {PEER_WANT_ENTRY_BYTES} B",
            bs.core.max_peer_wantlist_entries
        ),
        wantlist_peers * u(bs.core.max_peer_wantlist_entries) * u(PEER_WANT_ENTRY_BYTES),
    );
    let recent = bs.core.recent_blocks_count.max(bs.core.max_wants);
    add(
        "bitswap wants",
        format!(
            "({} wants + {recent} recent) × {WANT_ENTRY_BYTES} B",
            bs.core.max_wants
        ),
        u(bs.core.max_wants + recent) * u(WANT_ENTRY_BYTES),
    );

    // The HTTP servers.
    let api = config.api.http_config();
    let gateway = config.gateway.http_config();
    let http_conns = u(api.max_connections + gateway.max_connections);
    add(
        "HTTP connections",
        format!(
            "({} API + {} gateway) × 2 × {}",
            api.max_connections,
            gateway.max_connections,
            kib(u(BODY_CHUNK_BYTES))
        ),
        http_conns * 2 * u(BODY_CHUNK_BYTES),
    );
    let slots = u64::from(config.api.max_concurrent_requests)
        + u64::from(config.gateway.max_concurrent_requests);
    let per_slot =
        u(BODY_QUEUE_COUNT * BODY_CHUNK_BYTES + RESPONSE_QUEUE_COUNT * STREAM_CHUNK_BYTES);
    add(
        "HTTP request slots",
        format!(
            "({} API + {} gateway) × ({BODY_QUEUE_COUNT} body + {RESPONSE_QUEUE_COUNT} response chunks of {})",
            config.api.max_concurrent_requests,
            config.gateway.max_concurrent_requests,
            kib(u(STREAM_CHUNK_BYTES))
        ),
        slots * per_slot,
    );
    // The window's bytes are blocks on their way: in the yamux windows, bitswap's
    // inbound frames and the put jobs, all counted above; the walk keeps only links.
    add(
        "fetch walks",
        format!(
            "{slots} requests × {} links × {PENDING_LINK_BYTES} B",
            window.pending
        ),
        slots * u(window.pending) * u(PENDING_LINK_BYTES),
    );

    // Storage.
    let block = u(acorn_storage::block::MAX_BLOCK_BYTES);
    add(
        "blocking jobs",
        format!(
            "{} blocking threads × one block {}",
            a.blocking_threads,
            kib(block)
        ),
        u64::from(a.blocking_threads) * block,
    );
    let cache = u(a.db_cache_bytes()?);
    add(
        "database cache",
        format!("DbCacheSize {}", kib(cache)),
        cache,
    );
    // One import per blocking thread, each with its writer.
    let batch = u(a.write_batch_bytes()?);
    add(
        "write batches",
        format!(
            "{} imports × {WRITE_BATCH_FACTOR} × WriteBatchSize {}",
            a.blocking_threads,
            kib(batch)
        ),
        u64::from(a.blocking_threads) * WRITE_BATCH_FACTOR * batch,
    );
    Ok(Budget { terms })
}

/// `worst_case(config)`'s total, in bytes.
pub fn worst_case_bytes(config: &Config) -> Result<u64, ConfigError> {
    Ok(worst_case(config)?.total())
}

/// The budget of the default config with profile `name` applied, and the ceiling
/// of a firmware profile.
pub fn for_profile(name: &str) -> Result<ProfileBudget, BudgetError> {
    let profile = profiles::find(name)?;
    // No key is made: the budget reads no identity.
    let mut config = Config::with_identity(IdentitySection {
        peer_id: String::new(),
        priv_key: String::new(),
    });
    profiles::apply(&mut config, profile)?;
    let ceiling_bytes = match board::file(name) {
        Some(text) => Some(
            board::parse(text)
                .map_err(|source| BudgetError::Board {
                    name: name.to_string(),
                    source,
                })?
                .memory_ceiling_mib
                << 20,
        ),
        None => None,
    };
    Ok(ProfileBudget {
        name: profile.name.to_string(),
        budget: worst_case(&config)?,
        ceiling_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// pi-zero lowers every term of the defaults (its values are all smaller), and
    /// every firmware profile has a budget and its ceiling.
    #[test]
    fn pi_zero_lowers_every_term() {
        let base = for_profile("test").unwrap();
        let zero = for_profile("pi-zero").unwrap();
        assert_eq!(zero.ceiling_bytes, Some(32 << 20));
        for (t, d) in zero.budget.terms.iter().zip(&base.budget.terms) {
            assert_eq!(t.name, d.name);
            assert!(t.bytes <= d.bytes, "{}: {} > {}", t.name, t.bytes, d.bytes);
        }
        assert!(zero.budget.total() < base.budget.total());
        for (name, _) in board::FILES {
            let b = for_profile(name).unwrap();
            assert!(b.ceiling_bytes.is_some(), "{name}");
            assert!(b.budget.total() > BASELINE_BYTES, "{name}");
        }
    }

    /// The budget reads the settings the code is built from.
    #[test]
    fn the_terms_follow_the_settings() {
        let base = for_profile("test").unwrap();
        assert_eq!(base.ceiling_bytes, None);
        let zero = for_profile("pi-zero").unwrap();
        assert!(base.budget.total() > zero.budget.total());
        let term = |b: &Budget, name: &str| {
            b.terms
                .iter()
                .find(|t| t.name == name)
                .unwrap_or_else(|| panic!("no term {name}"))
                .bytes
        };
        // Halving the streams per connection halves the yamux term.
        let mut c = Config::with_identity(IdentitySection {
            peer_id: String::new(),
            priv_key: String::new(),
        });
        let before = term(&worst_case(&c).unwrap(), "yamux windows");
        c.set("Acorn.YamuxMaxStreams", serde_json::json!(64))
            .unwrap();
        assert_eq!(term(&worst_case(&c).unwrap(), "yamux windows") * 2, before);
        // A bigger cache shows one for one.
        let before = worst_case_bytes(&c).unwrap();
        c.set("Acorn.DbCacheSize", serde_json::json!("9MiB"))
            .unwrap();
        assert_eq!(worst_case_bytes(&c).unwrap(), before + (1 << 20));
        // No DHT, no DHT terms.
        c.set("Routing.Type", serde_json::json!("none")).unwrap();
        let b = worst_case(&c).unwrap();
        assert_eq!(term(&b, "DHT record stores"), 0);
        assert_eq!(term(&b, "DHT routing tables"), 0);
        // The bitswap inbound term never drops below one frame.
        c.set("Acorn.BitswapMaxInboundBytes", serde_json::json!("64KiB"))
            .unwrap();
        assert_eq!(
            term(&worst_case(&c).unwrap(), "bitswap inbound frames"),
            bitswap::MAX_MESSAGE_BYTES as u64
        );
    }

    #[test]
    fn unknown_profile_is_an_error() {
        assert!(matches!(
            for_profile("pi-nine"),
            Err(BudgetError::Profile(_))
        ));
    }
}
