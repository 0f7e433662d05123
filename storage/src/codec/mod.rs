//! IPLD codecs: dag-pb, dag-cbor, dag-json and raw, over one data model.
//!
//! - [`dagpb`]: the protobuf form used by UnixFS (typed [`dagpb::PbNode`]).
//! - [`dagcbor`]: strict, canonical DAG-CBOR on minicbor's encoder/decoder.
//! - [`dagjson`][]: DAG-JSON.
//! - [`Ipld`]: the IPLD data model every codec decodes to and encodes from.
//! - [`CodecError`]: the codecs' error; a malformed block carries its codec's typed
//!   reason ([`Malformed`]).
//!
//! Untrusted bytes are parsed in two steps (checked, then typed): lengths are checked against
//! the remaining input before anything is allocated, then typed values are built.

pub mod dagcbor;
pub mod dagjson;
pub mod dagpb;
mod error;
mod model;

pub use error::{CodecError, DagCborError, DagJsonError, DagPbError, Malformed};
pub use model::Ipld;

use cid::Cid;

/// Decodes `bytes` of multicodec `codec` into the data model.
/// `raw` decodes to [`Ipld::Bytes`].
pub fn decode(codec: u64, bytes: &[u8]) -> Result<Ipld, CodecError> {
    match codec {
        crate::cids::RAW => Ok(Ipld::Bytes(bytes.to_vec())),
        crate::cids::DAG_PB => dagpb::PbNode::decode(bytes).map(|n| n.to_ipld()),
        crate::cids::DAG_CBOR => dagcbor::decode(bytes),
        crate::cids::DAG_JSON => dagjson::decode(bytes),
        other => Err(CodecError::Unsupported(other)),
    }
}

/// Encodes a data-model value with multicodec `codec`.
pub fn encode(codec: u64, value: &Ipld) -> Result<Vec<u8>, CodecError> {
    match codec {
        crate::cids::RAW => match value {
            Ipld::Bytes(b) => Ok(b.clone()),
            _ => Err(CodecError::unencodable(
                "raw",
                "only bytes can be encoded as raw",
            )),
        },
        crate::cids::DAG_PB => dagpb::PbNode::from_ipld(value).map(|n| n.encode()),
        crate::cids::DAG_CBOR => dagcbor::encode(value),
        crate::cids::DAG_JSON => dagjson::encode(value),
        other => Err(CodecError::Unsupported(other)),
    }
}

/// The CIDs a block links to, in order, for any codec Acorn knows
/// (raw has none). Used by pins, GC, refs and CAR export.
pub fn links(codec: u64, bytes: &[u8]) -> Result<Vec<Cid>, CodecError> {
    match codec {
        crate::cids::RAW => Ok(Vec::new()),
        crate::cids::DAG_PB => Ok(dagpb::PbNode::decode(bytes)?
            .links
            .into_iter()
            .map(|l| l.hash)
            .collect()),
        crate::cids::DAG_CBOR | crate::cids::DAG_JSON => {
            let v = decode(codec, bytes)?;
            let mut out = Vec::new();
            collect_links(&v, &mut out);
            Ok(out)
        }
        other => Err(CodecError::Unsupported(other)),
    }
}

fn collect_links(v: &Ipld, out: &mut Vec<Cid>) {
    match v {
        Ipld::Link(c) => out.push(*c),
        Ipld::List(l) => l.iter().for_each(|x| collect_links(x, out)),
        Ipld::Map(m) => m.values().for_each(|x| collect_links(x, out)),
        _ => {}
    }
}
