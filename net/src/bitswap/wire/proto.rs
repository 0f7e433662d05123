//! Protobuf and varint primitives: keys, varints, length-delimited fields. Readers
//! check every length against the bytes that remain before using it.

use super::{WireError, MAX_VARINT_BYTES};

pub(super) const WT_VARINT: u8 = 0;
pub(super) const WT_I64: u8 = 1;
pub(super) const WT_LEN: u8 = 2;
pub(super) const WT_I32: u8 = 5;

/// Appends `v` as an unsigned LEB128 varint.
pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads an unsigned varint (at most 10 bytes, no overflow), advancing `r`.
pub fn get_varint(r: &mut &[u8]) -> Result<u64, WireError> {
    let mut v: u64 = 0;
    for i in 0..MAX_VARINT_BYTES {
        let Some((&b, rest)) = r.split_first() else {
            return Err(WireError::Truncated("varint"));
        };
        *r = rest;
        if i == 9 && b > 1 {
            return Err(WireError::BadVarint);
        }
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(WireError::BadVarint)
}

/// Bytes of `v` as an unsigned varint.
pub(super) fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// Bytes of a length-delimited field with a body of `len` bytes.
pub(super) fn bytes_field_len(field: u32, len: usize) -> usize {
    varint_len((u64::from(field) << 3) | u64::from(WT_LEN)) + varint_len(len as u64) + len
}

/// Writes the key and length of a length-delimited field whose body follows.
pub(super) fn put_len_key(out: &mut Vec<u8>, field: u32, len: usize) {
    put_key(out, field, WT_LEN);
    put_varint(out, len as u64);
}

pub(super) fn put_key(out: &mut Vec<u8>, field: u32, wt: u8) {
    put_varint(out, (u64::from(field) << 3) | u64::from(wt));
}

pub(super) fn put_bytes_field(out: &mut Vec<u8>, field: u32, b: &[u8]) {
    put_key(out, field, WT_LEN);
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

pub(super) fn get_key(r: &mut &[u8]) -> Result<(u32, u8), WireError> {
    let k = get_varint(r)?;
    let wt = (k & 7) as u8;
    let field = u32::try_from(k >> 3).map_err(|_| WireError::BadVarint)?;
    if field == 0 {
        return Err(WireError::BadVarint);
    }
    Ok((field, wt))
}

pub(super) fn expect_bytes<'a>(
    r: &mut &'a [u8],
    field: u32,
    wt: u8,
) -> Result<&'a [u8], WireError> {
    if wt != WT_LEN {
        return Err(WireError::WrongType {
            field,
            wire_type: wt,
        });
    }
    get_len_delimited(r)
}

pub(super) fn get_len_delimited<'a>(r: &mut &'a [u8]) -> Result<&'a [u8], WireError> {
    let len = get_varint(r)?;
    // Bounds first: a length beyond what remains is truncation, never an allocation.
    if len > r.len() as u64 {
        return Err(WireError::Truncated("length-delimited field"));
    }
    let (b, rest) = r.split_at(len as usize);
    *r = rest;
    Ok(b)
}

pub(super) fn expect_varint(r: &mut &[u8], field: u32, wt: u8) -> Result<u64, WireError> {
    if wt != WT_VARINT {
        return Err(WireError::WrongType {
            field,
            wire_type: wt,
        });
    }
    get_varint(r)
}

pub(super) fn skip_field(r: &mut &[u8], wt: u8) -> Result<(), WireError> {
    let n = match wt {
        WT_VARINT => {
            get_varint(r)?;
            return Ok(());
        }
        WT_LEN => {
            get_len_delimited(r)?;
            return Ok(());
        }
        WT_I64 => 8,
        WT_I32 => 4,
        other => return Err(WireError::BadWireType(other)),
    };
    if r.len() < n {
        return Err(WireError::Truncated("fixed-width field"));
    }
    *r = &r[n..];
    Ok(())
}
