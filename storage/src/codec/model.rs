//! The IPLD data model ([`Ipld`]) and the codecs' error ([`CodecError`]), below
//! every codec and the dispatch in `codec`.

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

/// What is wrong with bytes in their codec: each codec's own reason, typed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Malformed {
    /// A dag-pb rule broken.
    #[error(transparent)]
    DagPb(#[from] super::dagpb::DecodeError),
    /// A DAG-CBOR rule broken.
    #[error(transparent)]
    DagCbor(#[from] super::dagcbor::DecodeError),
    /// A DAG-JSON rule broken.
    #[error("{reason} at byte {at}")]
    DagJson {
        /// The rule.
        reason: super::dagjson::DecodeError,
        /// Where the parser stood, in bytes from the start.
        at: usize,
    },
    /// DAG-JSON bytes that are not UTF-8.
    #[error("not UTF-8: {0}")]
    NotUtf8(std::str::Utf8Error),
}

/// Errors of decoding and encoding any codec.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CodecError {
    /// Bytes that are not valid in the codec.
    #[error("malformed {codec}: {reason}")]
    Malformed {
        /// The codec's name.
        codec: &'static str,
        /// What is wrong, and where.
        reason: Malformed,
    },
    /// A value the codec cannot represent.
    #[error("cannot encode as {codec}: {reason}")]
    Unencodable {
        /// The codec's name.
        codec: &'static str,
        /// Why.
        reason: String,
    },
    /// A multicodec we have no codec for.
    #[error("unsupported codec 0x{0:x}")]
    Unsupported(u64),
}

impl CodecError {
    pub(crate) fn malformed(codec: &'static str, reason: impl Into<Malformed>) -> Self {
        CodecError::Malformed {
            codec,
            reason: reason.into(),
        }
    }
    pub(crate) fn unencodable(codec: &'static str, reason: impl Into<String>) -> Self {
        CodecError::Unencodable {
            codec,
            reason: reason.into(),
        }
    }
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
