//! The daemon as a service: lifecycle, systemd notify and unit, stalls, crashes and full disks.
//!
//! One test binary per room (so CI links a few binaries, not one per file): each
//! file here is a module; add a new test file as `mod name;` below. Files reach the
//! shared helpers as `use crate::common;` (`crate::http`, `crate::rpc`, ...).
//! Run one room with `cargo test --test daemon`, one file with
//! `cargo test --test daemon NAME::`.

#[path = "../common/mod.rs"]
mod common;
#[path = "../common/rpc.rs"]
mod rpc;
// `common/rpc.rs` holds `common/http.rs` (one copy of a file per crate).
use rpc::http;

mod add_durable;
mod auto_gc;
mod cli_diskfull;
mod daemon;
mod daemon_notify;
mod service_unit;
mod stall;
