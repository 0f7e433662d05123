//! The UnixFS `Data` protobuf carried in a dag-pb node's Data field.
//!
//! Spec: ipfs/specs `UNIXFS.md`:
//! `Data { Type=1 (enum), Data=2 bytes?, filesize=3 u64?, blocksizes=4 repeated u64
//! (unpacked, as go-unixfs writes), hashType=5 u64?, fanout=6 u64?, mode=7 u32?,
//! mtime=8 UnixTime{Seconds=1 i64, FractionalNanoseconds=2 fixed32}? }`.
//! Fields are written in field order; `None` fields are omitted, `Some(empty)` is
//! written (the difference shows in CIDs, so builders choose exactly as Kubo).

use crate::proto::{
    self, read_bytes, read_fixed32, read_varint, write_bytes_field, write_varint,
    write_varint_field,
};

/// UnixFS node types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataType {
    /// Raw file data (trickle leaves).
    Raw = 0,
    /// A directory.
    Directory = 1,
    /// A file (a leaf or an internal node).
    File = 2,
    /// Metadata (unused by Kubo).
    Metadata = 3,
    /// A symbolic link; `data` is its target.
    Symlink = 4,
    /// A HAMT directory shard.
    HamtShard = 5,
}

impl DataType {
    fn from_u64(v: u64) -> Option<Self> {
        Some(match v {
            0 => DataType::Raw,
            1 => DataType::Directory,
            2 => DataType::File,
            3 => DataType::Metadata,
            4 => DataType::Symlink,
            5 => DataType::HamtShard,
            _ => return None,
        })
    }
}

/// Modification time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnixTime {
    /// Seconds since the Unix epoch.
    pub seconds: i64,
    /// Nanoseconds within the second.
    pub nanos: Option<u32>,
}

/// The UnixFS `Data` message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Data {
    /// The node's type.
    pub kind: DataType,
    /// File bytes (leaves), symlink target, or HAMT bitfield.
    pub data: Option<Vec<u8>>,
    /// File size in bytes.
    pub filesize: Option<u64>,
    /// File bytes under each link, in link order.
    pub blocksizes: Vec<u64>,
    /// Hash function of HAMT names (murmur3-x64-64).
    pub hash_type: Option<u64>,
    /// HAMT fanout (256 in Kubo).
    pub fanout: Option<u64>,
    /// POSIX permission bits.
    pub mode: Option<u32>,
    /// Modification time.
    pub mtime: Option<UnixTime>,
}

/// Why UnixFS `Data` bytes could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UnixfsPbError {
    /// Bad protobuf framing: a varint, a length or a fixed-width field.
    #[error("malformed UnixFS data: {0}")]
    Protobuf(#[from] proto::Error),
    /// A `Type` value the spec does not define.
    #[error("malformed UnixFS data: unknown type {0}")]
    UnknownType(u64),
    /// More than [`MAX_BLOCKSIZES_COUNT`] blocksizes.
    #[error("malformed UnixFS data: too many blocksizes")]
    TooManyBlocksizes,
    /// A field of `mtime` other than `Seconds` (varint) or `FractionalNanoseconds` (fixed32).
    #[error("malformed UnixFS data: bad mtime field")]
    BadMtimeField,
    /// A field number or wire type the schema does not have.
    #[error("malformed UnixFS data: unexpected field {field} wire type {wire}")]
    UnexpectedField {
        /// The field number.
        field: u64,
        /// Its wire type.
        wire: u64,
    },
    /// No `Type` field.
    #[error("malformed UnixFS data: missing Type")]
    MissingType,
}

/// Largest blocksizes list we decode (a dag-pb block ≤ 2 MiB holds fewer links).
pub const MAX_BLOCKSIZES_COUNT: usize = 1 << 16;

impl Data {
    /// A bare message of the given type.
    pub fn new(kind: DataType) -> Self {
        Data {
            kind,
            data: None,
            filesize: None,
            blocksizes: Vec::new(),
            hash_type: None,
            fanout: None,
            mode: None,
            mtime: None,
        }
    }

    /// Encodes in field order, for the dag-pb node's Data field.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            16 + self.data.as_ref().map_or(0, |d| d.len()) + 10 * self.blocksizes.len(),
        );
        write_varint_field(&mut out, 1, self.kind as u64);
        if let Some(d) = &self.data {
            write_bytes_field(&mut out, 2, d);
        }
        if let Some(s) = self.filesize {
            write_varint_field(&mut out, 3, s);
        }
        for b in &self.blocksizes {
            write_varint_field(&mut out, 4, *b);
        }
        if let Some(h) = self.hash_type {
            write_varint_field(&mut out, 5, h);
        }
        if let Some(f) = self.fanout {
            write_varint_field(&mut out, 6, f);
        }
        if let Some(m) = self.mode {
            write_varint_field(&mut out, 7, u64::from(m));
        }
        if let Some(t) = self.mtime {
            let mut inner = Vec::new();
            write_varint_field(&mut inner, 1, t.seconds as u64);
            if let Some(n) = t.nanos {
                write_varint(&mut inner, 2 << 3 | 5);
                inner.extend_from_slice(&n.to_le_bytes());
            }
            write_bytes_field(&mut out, 8, &inner);
        }
        out
    }

    /// Decodes and checks `Data` bytes (bounds first; unknown fields refused).
    pub fn decode(buf: &[u8]) -> Result<Data, UnixfsPbError> {
        let mut pos = 0;
        let mut kind = None;
        let mut d = Data::new(DataType::Raw);
        while pos < buf.len() {
            let key = read_varint(buf, &mut pos)?;
            match (key >> 3, key & 7) {
                (1, 0) => {
                    let v = read_varint(buf, &mut pos)?;
                    kind = Some(DataType::from_u64(v).ok_or(UnixfsPbError::UnknownType(v))?);
                }
                (2, 2) => d.data = Some(read_bytes(buf, &mut pos)?.to_vec()),
                (3, 0) => d.filesize = Some(read_varint(buf, &mut pos)?),
                (4, 0) => {
                    if d.blocksizes.len() >= MAX_BLOCKSIZES_COUNT {
                        return Err(UnixfsPbError::TooManyBlocksizes);
                    }
                    d.blocksizes.push(read_varint(buf, &mut pos)?)
                }
                (4, 2) => {
                    // Packed form, accepted on read.
                    let b = read_bytes(buf, &mut pos)?;
                    let mut p = 0;
                    while p < b.len() {
                        if d.blocksizes.len() >= MAX_BLOCKSIZES_COUNT {
                            return Err(UnixfsPbError::TooManyBlocksizes);
                        }
                        d.blocksizes.push(read_varint(b, &mut p)?);
                    }
                }
                (5, 0) => d.hash_type = Some(read_varint(buf, &mut pos)?),
                (6, 0) => d.fanout = Some(read_varint(buf, &mut pos)?),
                (7, 0) => d.mode = Some(read_varint(buf, &mut pos)? as u32),
                (8, 2) => {
                    let b = read_bytes(buf, &mut pos)?;
                    let mut p = 0;
                    let mut t = UnixTime {
                        seconds: 0,
                        nanos: None,
                    };
                    while p < b.len() {
                        let k = read_varint(b, &mut p)?;
                        match (k >> 3, k & 7) {
                            (1, 0) => t.seconds = read_varint(b, &mut p)? as i64,
                            (2, 5) => t.nanos = Some(read_fixed32(b, &mut p, "mtime nanos")?),
                            _ => return Err(UnixfsPbError::BadMtimeField),
                        }
                    }
                    d.mtime = Some(t);
                }
                (field, wire) => return Err(UnixfsPbError::UnexpectedField { field, wire }),
            }
        }
        d.kind = kind.ok_or(UnixfsPbError::MissingType)?;
        Ok(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_is_0801() {
        assert_eq!(Data::new(DataType::Directory).encode(), vec![0x08, 0x01]);
    }

    #[test]
    fn round_trip_all_fields() {
        let d = Data {
            kind: DataType::HamtShard,
            data: Some(vec![1, 2]),
            filesize: Some(5),
            blocksizes: vec![1, 300],
            hash_type: Some(0x22),
            fanout: Some(256),
            mode: Some(0o644),
            mtime: Some(UnixTime {
                seconds: 1_700_000_000,
                nanos: Some(5),
            }),
        };
        assert_eq!(Data::decode(&d.encode()).unwrap(), d);
    }

    #[test]
    fn rejects_garbage() {
        assert!(Data::decode(&[0x08, 0x09]).is_err());
        assert!(Data::decode(&[0x12, 0x05, 0x00]).is_err());
        assert!(Data::decode(&[]).is_err());
    }
}
