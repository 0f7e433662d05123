//! Helpers the testnet's test files share (each file is its own test binary and
//! declares `mod common;`).

use std::path::{Path, PathBuf};

/// The `acorn` binary beside the `testnet` binary cargo built for these tests.
pub(crate) fn acorn() -> PathBuf {
    let p = Path::new(env!("CARGO_BIN_EXE_testnet")).with_file_name("acorn");
    assert!(
        p.exists(),
        "build the acorn binary first: cargo build --bin acorn"
    );
    p
}
