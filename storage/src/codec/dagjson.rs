//! TODO: being written.
use super::{CodecError, Ipld};

pub fn decode(_bytes: &[u8]) -> Result<Ipld, CodecError> {
    Err(CodecError::malformed("dagjson", "not implemented yet"))
}

pub fn encode(_v: &Ipld) -> Result<Vec<u8>, CodecError> {
    Err(CodecError::unencodable("dagjson", "not implemented yet"))
}
