//! The RPC API end to end (`/api/v0`): requests to a daemon on a temp repo.
//!
//! One test binary per room (so CI links a few binaries, not one per file): each
//! file here is a module; add a new test file as `mod name;` below. Files reach the
//! shared helpers as `use crate::common;` (`crate::http`, `crate::rpc`, ...).
//! Run one room with `cargo test --test api`, one file with
//! `cargo test --test api NAME::`.

#[path = "../common/mod.rs"]
mod common;
#[path = "../common/rpc.rs"]
mod rpc;
// `common/rpc.rs` holds `common/http.rs` (one copy of a file per crate).
use rpc::http;

mod api_add;
mod api_client_errors;
mod api_cluster;
mod api_config;
mod api_dag;
mod api_dialect;
mod api_filestore;
mod api_metrics;
mod api_ping_stream;
mod api_security;
mod api_slots;
mod api_slowloris;
mod api_stats;
