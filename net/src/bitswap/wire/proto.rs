//! The codec's cursor over [`acorn_storage::proto`], the project's one varint and
//! protobuf field reader: readers here consume a `&mut &[u8]` and fail with
//! [`WireError`]; field keys are checked (field 0 and numbers past `u32` are
//! refused) and so is each known field's wire type.

use super::WireError;
use acorn_storage::proto::{self, WIRE_LEN, WIRE_VARINT};

impl From<proto::Error> for WireError {
    fn from(e: proto::Error) -> Self {
        match e {
            proto::Error::TruncatedVarint => WireError::Truncated("varint"),
            proto::Error::VarintOverflow => WireError::BadVarint,
            proto::Error::LengthExceeds { .. } => WireError::Truncated("length-delimited field"),
            proto::Error::Truncated { what } => WireError::Truncated(what),
            // The wire type is a key's low three bits.
            proto::Error::UnknownWireType(wt) => WireError::BadWireType(wt as u8),
            other => WireError::Protobuf(other),
        }
    }
}

/// Runs a reader of `acorn_storage::proto` at the front of `r`, then advances `r`
/// past what it read.
fn advance<'a, T>(
    r: &mut &'a [u8],
    read: impl FnOnce(&'a [u8], &mut usize) -> Result<T, proto::Error>,
) -> Result<T, WireError> {
    let buf: &'a [u8] = r;
    let mut pos = 0;
    let v = read(buf, &mut pos)?;
    *r = buf.get(pos..).unwrap_or_default();
    Ok(v)
}

/// Reads an unsigned varint (at most 10 bytes, no overflow), advancing `r`.
pub(super) fn get_varint(r: &mut &[u8]) -> Result<u64, WireError> {
    advance(r, proto::read_varint)
}

/// Reads a field key: `(field number, wire type)`.
pub(super) fn get_key(r: &mut &[u8]) -> Result<(u32, u8), WireError> {
    let k = get_varint(r)?;
    let wt = (k & 7) as u8;
    let field = u32::try_from(k >> 3).map_err(|_| WireError::BadVarint)?;
    if field == 0 {
        return Err(WireError::BadVarint);
    }
    Ok((field, wt))
}

/// Reads the body of length-delimited field `field`, refusing another wire type.
pub(super) fn expect_bytes<'a>(
    r: &mut &'a [u8],
    field: u32,
    wt: u8,
) -> Result<&'a [u8], WireError> {
    if u64::from(wt) != WIRE_LEN {
        return Err(WireError::WrongType {
            field,
            wire_type: wt,
        });
    }
    advance(r, proto::read_bytes)
}

/// Reads the value of varint field `field`, refusing another wire type.
pub(super) fn expect_varint(r: &mut &[u8], field: u32, wt: u8) -> Result<u64, WireError> {
    if u64::from(wt) != WIRE_VARINT {
        return Err(WireError::WrongType {
            field,
            wire_type: wt,
        });
    }
    get_varint(r)
}

/// Skips the value of an unknown field of wire type `wt`.
pub(super) fn skip_field(r: &mut &[u8], wt: u8) -> Result<(), WireError> {
    advance(r, |buf, pos| proto::skip_field(buf, pos, u64::from(wt)))
}
