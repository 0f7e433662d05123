//! Acorn's fuzz targets: every decoder of bytes that come from outside (a peer, a
//! client, a file a user hands us), one libFuzzer binary with the target picked
//! by name from `ACORN_FUZZ_TARGET` (see [`TARGETS`]). One binary, not one per
//! target, because cargo-fuzz links each target against the whole instrumented
//! dependency tree (libp2p included): one link instead of twenty keeps the CI
//! build within its budget. `tools/fuzz.sh` runs each target in turn.
//!
//! Each target asserts what the decoder promises beyond "no panic" where it can:
//! canonical formats round-trip (decode → encode → decode gives the same value,
//! and dag-cbor's bytes are the input's), parsed strings print back
//! to something that parses to the same value, lengths stay within the input.
//!
//! The node's own decoders (`src/http`, `src/config`, `src/identity.rs`) live in
//! the `acorn` binary crate, which has no library: they are compiled into this
//! crate by path, unchanged, and reached through the few `cfg(fuzzing)` hooks they
//! carry (`http::fuzz_request`, `identity::fuzz_private_key`).

#![allow(dead_code, unused_imports, unreachable_pub, missing_docs)]
#![no_main]

use libfuzzer_sys::fuzz_target;

// The node's modules, as `src/main.rs` declares them: `config` names
// `crate::http` and `crate::identity`.
#[path = "../../src/config/mod.rs"]
mod config;
#[path = "../../src/http/mod.rs"]
mod http;
#[path = "../../src/identity.rs"]
mod identity;

mod seeds;
mod targets;

/// A target: what it does with one input.
type Target = fn(&[u8]);

/// Every target: its name (also its corpus folder, `fuzz/corpus/<name>`) and its
/// function.
pub const TARGETS: &[(&str, Target)] = &[
    ("cid", targets::storage::cid),
    ("dagpb", targets::storage::dagpb),
    ("dagcbor", targets::storage::dagcbor),
    ("dagjson", targets::storage::dagjson),
    ("unixfs", targets::storage::unixfs),
    ("hamt", targets::storage::hamt),
    ("car", targets::storage::car),
    ("multiaddr", targets::net::multiaddr),
    ("peer_id", targets::net::peer_id),
    ("bitswap", targets::net::bitswap),
    ("dns", targets::net::dns),
    ("swarm_key", targets::net::swarm_key),
    ("pnet_handshake", targets::net::pnet_handshake),
    ("http_request", targets::node::http_request),
    ("multipart", targets::node::multipart),
    ("query", targets::node::query),
    ("config", targets::node::config),
    ("identity", targets::node::identity),
];

fn target() -> Target {
    static TARGET: std::sync::OnceLock<Target> = std::sync::OnceLock::new();
    *TARGET.get_or_init(|| {
        if let Some(dir) = std::env::var_os("ACORN_FUZZ_SEEDS") {
            seeds::write_all(std::path::Path::new(&dir));
            std::process::exit(0)
        }
        let name = std::env::var("ACORN_FUZZ_TARGET").unwrap_or_default();
        match TARGETS.iter().find(|(n, _)| *n == name) {
            Some((_, f)) => *f,
            None => {
                let names: Vec<&str> = TARGETS.iter().map(|(n, _)| *n).collect();
                eprintln!("set ACORN_FUZZ_TARGET to one of: {}", names.join(" "));
                std::process::exit(2)
            }
        }
    })
}

fuzz_target!(|data: &[u8]| target()(data));
