//! acorn-net: the wire side of Acorn.
//!
//! Laid out as `../shared/DESIGN.md` says: one folder per protocol, protocol cores
//! free of I/O (`core.rs`), thin async tasks around them. Everything runs on one
//! `smol` executor thread; every queue has a capacity from a `Config`.
//!
//! This crate never depends on the node (`src/`); it uses `acorn-storage` only for
//! content types (CIDs, blocks).
//!
//! Modules:
//! - [`transport::tcp`]: our libp2p TCP transport on async-io; counts raw TCP bytes.
//! - [`bandwidth`]: byte counters and Kubo-style rates: total (raw TCP), per protocol
//!   (multistream-select sniffed on each substream, fixed table), per peer (bounded).
//! - [`pnet`]: Kubo's `swarm.key` → [`pnet::PreSharedKey`].
//! - [`swarm`]: [`swarm::build_swarm`] assembles TCP [+ pnet] + noise + yamux with
//!   identify, ping, connection limits, Kademlia (client by default) and
//!   `libp2p-stream`, on a [`swarm::Executor`] wrapping the node's one
//!   `smol::Executor`; every limit is a [`swarm::Config`] field.
//! - [`bitswap`]: `/ipfs/bitswap/1.2.0` (and 1.1.0, 1.0.0): sans-IO core, wire codec,
//!   and the node task on `libp2p-stream`.
//! - [`connmgr`]: Kubo's basic connection manager (`Swarm.ConnMgr`) as a sans-IO
//!   state machine: trims connected peers at the watermarks, past a grace period.
//! - [`memlimit`]: refuses new connections while the process RSS is over a ceiling.
//! - [`peer`]: peer IDs in every form users write them (base58, `k51…`/`bafz…`
//!   CIDs) and multiaddrs whose `/p2p/` part holds one.
//! - [`dns`]: `/dns`, `/dns4`, `/dns6` and `/dnsaddr` → dialable `/ip4`, `/ip6`
//!   addresses (the swarm's transport only dials IP addresses).
//!
//! Threads: libp2p's timers run on async-io's reactor (the workspace patches
//! `futures-timer`, see `net/patches/futures-timer`), so a running swarm adds only
//! that reactor thread; `/dns*` lookups use the `blocking` pool (bound it with
//! `BLOCKING_MAX_THREADS`); bitswap's blockstore calls run on the
//! [`bitswap::Blocking`] the caller passes (the daemon: its own bounded pool).
#![deny(unsafe_code)]
// Library code does not panic on input: an `expect` names why it cannot fail.
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

pub mod bandwidth;
pub mod bitswap;
pub mod connmgr;
pub mod dns;
pub mod iplimit;
pub mod memlimit;
pub mod peer;
pub mod pnet;
pub mod swarm;
pub mod transport;
