//! The targets, by the crate that owns the decoder.

pub mod net;
pub mod node;
pub mod storage;

/// Splits a fuzz input into pieces, each prefixed by its length as one
/// big-endian `u16` (a short last piece takes what is left): how the targets
/// that need several inputs (blocks of a DAG, parts of a body) read them.
pub fn pieces(mut data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while data.len() >= 2 {
        let len = usize::from(u16::from_be_bytes([data[0], data[1]]));
        let rest = &data[2..];
        let n = len.min(rest.len());
        out.push(&rest[..n]);
        data = &rest[n..];
    }
    out
}

/// The inverse of [`pieces`], to write seeds.
pub fn join(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in parts {
        out.extend_from_slice(&(p.len() as u16).to_be_bytes());
        out.extend_from_slice(p);
    }
    out
}
