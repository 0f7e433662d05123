//! Interop with other implementations: Kubo, Helia and the RPC client libraries (npm, Python).
//!
//! One test binary per room (so CI links a few binaries, not one per file): each
//! file here is a module; add a new test file as `mod name;` below. Files reach the
//! shared helpers as `use crate::common;` (`crate::http`, `crate::rpc`, ...).
//! Run one room with `cargo test --test interop`, one file with
//! `cargo test --test interop NAME::`.

#[path = "../common/mod.rs"]
mod common;
#[path = "../common/helia.rs"]
mod helia;
#[path = "../common/rpc.rs"]
mod rpc;

mod api_python_clients;
mod helia_interop;
mod helia_parity;
mod helia_peer;
mod kubo_interop;
mod kubo_network;
mod kubo_repo_import;
mod kubo_rpc_client;
