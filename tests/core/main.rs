//! The core API groups (`src/core_api/`), from the CLI, offline and through a daemon.
//!
//! One test binary per room (so CI links a few binaries, not one per file): each
//! file here is a module; add a new test file as `mod name;` below. Files reach the
//! shared helpers as `use crate::common;` (`crate::http`, `crate::rpc`, ...).
//! Run one room with `cargo test --test core`, one file with
//! `cargo test --test core NAME::`.

#[path = "../common/mod.rs"]
mod common;

mod core_blocks;
mod core_content;
mod core_network;
mod core_pins;
