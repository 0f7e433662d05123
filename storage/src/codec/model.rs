//! The IPLD data model ([`Ipld`]), below every codec and the dispatch in `codec`.

use super::error::CodecError;
use cid::Cid;
use std::collections::BTreeMap;

/// The IPLD data model.
///
/// Integers span CBOR's range (−2⁶⁴ … 2⁶⁴−1), hence `i128`. Map keys are strings
/// (DAG-CBOR and DAG-JSON allow only string keys); the `BTreeMap` order is *not*
/// the canonical DAG-CBOR order — encoders sort as their spec says.
#[derive(Debug, Clone, PartialEq)]
pub enum Ipld {
    /// `null`.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Integer(i128),
    /// A 64-bit float (finite).
    Float(f64),
    /// A UTF-8 string.
    String(String),
    /// A byte string.
    Bytes(Vec<u8>),
    /// A list.
    List(Vec<Ipld>),
    /// A map with string keys.
    Map(BTreeMap<String, Ipld>),
    /// A link to another block.
    Link(Cid),
}

/// Refuses to encode values nested `max` levels deep or more.
pub(crate) fn check_encode_depth(
    codec: &'static str,
    depth: usize,
    max: usize,
) -> Result<(), CodecError> {
    if depth >= max {
        return Err(CodecError::unencodable(
            codec,
            format!("nesting deeper than {max} levels"),
        ));
    }
    Ok(())
}
