//! The CLI end to end: the real `acorn` binary on a temp repo, offline and through a daemon.
//!
//! One test binary per room (so CI links a few binaries, not one per file): each
//! file here is a module; add a new test file as `mod name;` below. Files reach the
//! shared helpers as `use crate::common;` (`crate::http`, `crate::rpc`, ...).
//! Run one room with `cargo test --test cli`, one file with
//! `cargo test --test cli NAME::`.

#[path = "../common/mod.rs"]
mod common;
#[path = "../common/rpc.rs"]
mod rpc;
// `common/rpc.rs` holds `common/http.rs` (one copy of a file per crate).
use rpc::http;

mod cli_add;
mod cli_add_inline;
mod cli_blocks;
mod cli_config;
mod cli_dag;
mod cli_dag_resolve;
mod cli_diag;
mod cli_filestore;
mod cli_get_compress;
mod cli_kubo_habits;
mod cli_log;
mod cli_repo_budget;
mod cli_stream_errors;
mod config_compat;
mod duplicate_names;
