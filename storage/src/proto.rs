//! Protobuf wire primitives: unsigned LEB128 varints and the field readers and
//! writers that dag-pb and the UnixFS `Data` message are built from.
//!
//! **Spec.** Protocol Buffers encoding (`protobuf.dev/programming-guides/encoding`):
//! a field is `key = field << 3 | wire type` (varint) then its value; we read wire
//! types 0 (varint), 2 (length-delimited) and 5 (fixed32), and skip 1 (fixed64). The same varint is
//! multiformats' `unsigned-varint` (CIDs, CAR section lengths).
//!
//! **Bounds.** Every reader checks the input before it indexes or allocates: a
//! varint is at most [`MAX_VARINT_BYTES`] bytes and at most `u64::MAX`; a length is
//! checked against the bytes left before the body is sliced. Nothing here panics
//! on input; errors are [`Error`].
//!
//! **Departures.** Looser than the multiformats spec on purpose, as Go's readers
//! are: a varint with redundant trailing zero groups (`0x80 0x00`) is accepted.

/// Longest varint we read: 10 groups of 7 bits hold a `u64`.
pub const MAX_VARINT_BYTES: usize = 10;

/// Wire type of a varint field.
pub const WIRE_VARINT: u64 = 0;
/// Wire type of an 8-byte little-endian field.
pub const WIRE_FIXED64: u64 = 1;
/// Wire type of a length-delimited field (bytes, strings, messages, packed lists).
pub const WIRE_LEN: u64 = 2;
/// Wire type of a 4-byte little-endian field.
pub const WIRE_FIXED32: u64 = 5;

/// Why protobuf bytes could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input ends inside a varint.
    #[error("truncated varint")]
    TruncatedVarint,
    /// The tenth byte of a varint carries bits beyond 64 (or a continuation bit:
    /// no varint is longer than [`MAX_VARINT_BYTES`]).
    #[error("varint overflows 64 bits")]
    VarintOverflow,
    /// A length prefix promises more bytes than are left.
    #[error("length {len} exceeds the {remaining} bytes left")]
    LengthExceeds {
        /// The length prefix.
        len: u64,
        /// Bytes left after it.
        remaining: usize,
    },
    /// The input ends inside a fixed-width field (`what` names it).
    #[error("truncated {what}")]
    Truncated {
        /// The field.
        what: &'static str,
    },
    /// A field key names a wire type we cannot skip (groups, 3 and 4, or 6 and 7).
    #[error("unknown wire type {0}")]
    UnknownWireType(u64),
}

/// Builds a varint one byte at a time, for readers that pull bytes from a stream
/// (CAR section lengths) rather than hold the whole input.
#[derive(Debug, Clone, Copy, Default)]
pub struct VarintDecoder {
    value: u64,
    count: usize,
}

impl VarintDecoder {
    /// Feeds the next byte: `Ok(Some(v))` when it ends the varint, `Ok(None)` when
    /// more bytes must follow. Feed no more bytes once it has returned a value.
    pub fn push(&mut self, b: u8) -> Result<Option<u64>, Error> {
        // The tenth group holds bit 63 only, and ends the varint.
        if self.count >= MAX_VARINT_BYTES || (self.count == MAX_VARINT_BYTES - 1 && b > 1) {
            return Err(Error::VarintOverflow);
        }
        self.value |= u64::from(b & 0x7f) << (7 * self.count);
        self.count += 1;
        Ok((b & 0x80 == 0).then_some(self.value))
    }

    /// Bytes fed so far.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether no byte has been fed yet.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

/// Reads a varint at `*pos`, advancing `*pos` past it.
pub fn read_varint(buf: &[u8], pos: &mut usize) -> Result<u64, Error> {
    let mut d = VarintDecoder::default();
    loop {
        let b = *buf.get(*pos).ok_or(Error::TruncatedVarint)?;
        *pos += 1;
        if let Some(v) = d.push(b)? {
            return Ok(v);
        }
    }
}

/// Reads a field key at `*pos`: `(field number, wire type)`.
pub fn read_key(buf: &[u8], pos: &mut usize) -> Result<(u64, u64), Error> {
    let key = read_varint(buf, pos)?;
    Ok((key >> 3, key & 7))
}

/// Reads a length-delimited body at `*pos`, checking the length against the
/// bytes left before slicing.
pub fn read_bytes<'a>(buf: &'a [u8], pos: &mut usize) -> Result<&'a [u8], Error> {
    let len = read_varint(buf, pos)?;
    let rest = buf.get(*pos..).unwrap_or_default();
    if len > rest.len() as u64 {
        return Err(Error::LengthExceeds {
            len,
            remaining: rest.len(),
        });
    }
    let len = len as usize; // ≤ rest.len(), so it fits usize
    *pos += len;
    Ok(&rest[..len])
}

/// Reads a 4-byte little-endian value at `*pos` (`what` names it in the error).
pub fn read_fixed32(buf: &[u8], pos: &mut usize, what: &'static str) -> Result<u32, Error> {
    let b = buf
        .get(*pos..)
        .and_then(|rest| rest.first_chunk::<4>())
        .ok_or(Error::Truncated { what })?;
    *pos += 4;
    Ok(u32::from_le_bytes(*b))
}

/// Skips the value of a field of wire type `wire` at `*pos` (an unknown field a
/// decoder may ignore), checking its length against the bytes left.
pub fn skip_field(buf: &[u8], pos: &mut usize, wire: u64) -> Result<(), Error> {
    let width = match wire {
        WIRE_VARINT => return read_varint(buf, pos).map(drop),
        WIRE_LEN => return read_bytes(buf, pos).map(drop),
        WIRE_FIXED64 => 8,
        WIRE_FIXED32 => 4,
        other => return Err(Error::UnknownWireType(other)),
    };
    let left = buf.len().saturating_sub(*pos);
    if left < width {
        return Err(Error::Truncated {
            what: "fixed-width field",
        });
    }
    *pos += width;
    Ok(())
}

/// Writes `v` into `buf`, returning how many bytes it took.
pub fn encode_varint(mut v: u64, buf: &mut [u8; MAX_VARINT_BYTES]) -> usize {
    let mut n = 0;
    while v >= 0x80 {
        buf[n] = (v as u8) | 0x80;
        v >>= 7;
        n += 1;
    }
    buf[n] = v as u8;
    n + 1
}

/// Appends `v` as a varint.
pub fn write_varint(out: &mut Vec<u8>, v: u64) {
    let mut buf = [0u8; MAX_VARINT_BYTES];
    let n = encode_varint(v, &mut buf);
    out.extend_from_slice(&buf[..n]);
}

/// Bytes `v` takes as a varint.
pub fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

/// Appends the key and length of a length-delimited field whose `len` bytes of
/// body the caller writes next (an embedded message encoded in place).
pub fn write_len_prefix(out: &mut Vec<u8>, field: u32, len: usize) {
    write_varint(out, u64::from(field) << 3 | WIRE_LEN);
    write_varint(out, len as u64);
}

/// Bytes a length-delimited field takes with a body of `len` bytes: key, length
/// and body.
pub fn bytes_field_len(field: u32, len: usize) -> usize {
    varint_len(u64::from(field) << 3 | WIRE_LEN) + varint_len(len as u64) + len
}

/// Appends a length-delimited field.
pub fn write_bytes_field(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    write_len_prefix(out, field, bytes.len());
    out.extend_from_slice(bytes);
}

/// Appends a varint field.
pub fn write_varint_field(out: &mut Vec<u8>, field: u32, v: u64) {
    write_varint(out, u64::from(field) << 3 | WIRE_VARINT);
    write_varint(out, v);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::hex;

    /// (value, encoding) pairs from the unsigned-varint spec and protobuf's docs.
    const VECTORS: [(u64, &str); 7] = [
        (0, "00"),
        (1, "01"),
        (127, "7f"),
        (128, "8001"),
        (150, "9601"),
        (16384, "808001"),
        (u64::MAX, "ffffffffffffffffff01"),
    ];

    #[test]
    fn vectors_both_ways() {
        for (v, h) in VECTORS {
            let bytes = hex::decode(h).unwrap();
            let mut out = Vec::new();
            write_varint(&mut out, v);
            assert_eq!(out, bytes, "{v}");
            assert_eq!(varint_len(v), bytes.len(), "{v}");
            let mut pos = 0;
            assert_eq!(read_varint(&bytes, &mut pos), Ok(v), "{h}");
            assert_eq!(pos, bytes.len(), "{h}");
        }
    }

    #[test]
    fn varint_errors() {
        let read = |h: &str| read_varint(&hex::decode(h).unwrap(), &mut 0);
        assert_eq!(read(""), Err(Error::TruncatedVarint));
        assert_eq!(read("8080"), Err(Error::TruncatedVarint));
        assert_eq!(read("ffffffffffffffffff02"), Err(Error::VarintOverflow));
        assert_eq!(read("80808080808080808080"), Err(Error::VarintOverflow));
        assert_eq!(read("8080808080808080808000"), Err(Error::VarintOverflow));
        assert_eq!(read("ffffffffffffffffff01"), Ok(u64::MAX));
        // Redundant zero groups are read, as Go does.
        assert_eq!(read("8000"), Ok(0));
    }

    #[test]
    fn streaming_decoder_matches_slice_reader() {
        for (v, h) in VECTORS {
            let mut d = VarintDecoder::default();
            assert!(d.is_empty());
            let bytes = hex::decode(h).unwrap();
            let (last, head) = bytes.split_last().unwrap();
            for &b in head {
                assert_eq!(d.push(b), Ok(None));
            }
            assert_eq!(d.push(*last), Ok(Some(v)));
            assert_eq!(d.len(), bytes.len());
        }
    }

    #[test]
    fn bytes_checked_against_what_is_left() {
        let mut pos = 0;
        assert_eq!(read_bytes(&[2, 7, 8, 9], &mut pos), Ok(&[7u8, 8][..]));
        assert_eq!(pos, 3);
        assert_eq!(
            read_bytes(&[5, 1, 2], &mut 0),
            Err(Error::LengthExceeds {
                len: 5,
                remaining: 2
            })
        );
        // A huge length is refused without allocating or overflowing.
        let huge = hex::decode("ffffffffffffffffff01").unwrap();
        assert!(matches!(
            read_bytes(&huge, &mut 0),
            Err(Error::LengthExceeds { .. })
        ));
        assert_eq!(read_bytes(&[], &mut 0), Err(Error::TruncatedVarint));
    }

    #[test]
    fn fields_and_fixed32() {
        let mut out = Vec::new();
        write_varint_field(&mut out, 3, 300);
        write_bytes_field(&mut out, 2, b"ab");
        out.extend_from_slice(&[0x2d, 1, 0, 0, 0]); // field 5, fixed32 = 1
        assert_eq!(hex::encode(&out), "18ac02120261622d01000000");
        assert_eq!(bytes_field_len(2, 2), 4);
        assert_eq!(bytes_field_len(16, 200), 2 + 2 + 200);
        let mut prefixed = Vec::new();
        write_len_prefix(&mut prefixed, 2, 2);
        prefixed.extend_from_slice(b"ab");
        assert_eq!(hex::encode(&prefixed), "12026162");
        let mut pos = 0;
        assert_eq!(read_key(&out, &mut pos), Ok((3, WIRE_VARINT)));
        assert_eq!(read_varint(&out, &mut pos), Ok(300));
        assert_eq!(read_key(&out, &mut pos), Ok((2, WIRE_LEN)));
        assert_eq!(read_bytes(&out, &mut pos), Ok(&b"ab"[..]));
        assert_eq!(read_key(&out, &mut pos), Ok((5, WIRE_FIXED32)));
        assert_eq!(read_fixed32(&out, &mut pos, "x"), Ok(1));
        assert_eq!(pos, out.len());
        for (wire, body) in [
            (WIRE_VARINT, "ac02"),
            (WIRE_LEN, "026162"),
            (WIRE_FIXED64, "0102030405060708"),
            (WIRE_FIXED32, "01020304"),
        ] {
            let b = hex::decode(body).unwrap();
            let mut at = 0;
            assert_eq!(skip_field(&b, &mut at, wire), Ok(()), "{wire}");
            assert_eq!(at, b.len(), "{wire}");
            assert!(
                skip_field(&b[..b.len() - 1], &mut 0, wire).is_err(),
                "{wire}"
            );
        }
        assert_eq!(
            skip_field(&[0; 8], &mut 0, 3),
            Err(Error::UnknownWireType(3))
        );
        assert_eq!(
            read_fixed32(&[1, 2, 3], &mut 0, "mtime nanos")
                .unwrap_err()
                .to_string(),
            "truncated mtime nanos"
        );
    }
}
