//! acorn-net: the wire side of Acorn.
//!
//! Laid out as `../shared/DESIGN.md` says: one folder per protocol, protocol cores
//! free of I/O (`core.rs`), thin async tasks around them. Everything runs on one
//! `smol` executor thread; every queue has a capacity from a `Config`.
//!
//! This crate never depends on the node (`src/`); it uses `acorn-storage` only for
//! content types (CIDs, blocks).
#![deny(unsafe_code)]

pub mod dns;
pub mod pnet;
pub mod swarm;
pub mod transport;
