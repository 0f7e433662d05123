//! Real peers for interop tests and benchmarks, each a child process driven by
//! newline-delimited JSON ([`line_peer`]): Kubo ([`kubo`], `interop/kubo-peer.py`).
//! The Helia peer's Rust side lives with the tests that use it
//! (`tests/common/helia.rs`) and shares [`line_peer`].

pub mod kubo;
pub mod line_peer;

/// `tools/interop` inside the repository: the peers' scripts, lockfiles and installs.
pub fn dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("interop")
}
