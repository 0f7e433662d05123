//! The storage layer's integration tests: repo, blockstore, pins, GC and crash
//! safety; CAR export; the UnixFS importer/exporter round trip; the IPLD codec
//! fixtures.
//!
//! One test binary (so CI links one binary, not one per file): each file here is a
//! module; add a new test file as `mod name;` below. Run with
//! `cargo test -p acorn-storage --test storage [NAME::]`.
// A test crate exports nothing: its helpers are `pub` only to be shared between
// its modules.
#![allow(unreachable_pub)]

mod codec_fixtures;
mod export;
mod roundtrip;
mod store;
