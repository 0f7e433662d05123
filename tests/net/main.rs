//! Acorn daemons talking to each other on loopback: swarm, bitswap, Kademlia.
//!
//! One test binary per room (so CI links a few binaries, not one per file): each
//! file here is a module; add a new test file as `mod name;` below. Files reach the
//! shared helpers as `use crate::common;` (`crate::http`, `crate::rpc`, ...).
//! Run one room with `cargo test --test net`, one file with
//! `cargo test --test net NAME::`.

#[path = "../common/mod.rs"]
mod common;

mod net_daemon;
mod net_dht;
mod net_hostile;
