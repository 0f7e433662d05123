//! The network stack's integration tests: swarms, handshakes, bitswap and identify
//! between peers on loopback (or a network namespace of their own).
//!
//! One test binary (so CI links one binary, not one per file): each file here is a
//! module; add a new test file as `mod name;` below. Shared helpers live in
//! `../common/` and are declared once here (`use crate::swarms;`). `threads.rs` stays a
//! binary of its own: it counts this process's threads. Run with
//! `cargo test -p acorn-net --test peers [NAME::]`.
// A test crate exports nothing: its helpers are `pub` only to be shared between
// its modules.
#![allow(unreachable_pub)]

#[path = "../common/bad_noise.rs"]
mod bad_noise;
#[path = "../common/odd_peer.rs"]
mod odd_peer;
#[path = "../common/swarms.rs"]
mod swarms;

mod bad_keys;
mod bitswap;
mod handshake;
mod identify_push;
mod inbound_per_ip;
mod swarm;
