//! Kubo's pin records: one CBOR map per pin in the LevelDB datastore.
//!
//! **Spec.** boxo `pinning/pinner/dspinner` (Kubo 0.22, go-ipfs-pinner before it):
//! key `/pins/pin/<id>`, value the refmt-CBOR encoding of
//! `pin{Cid, Metadata, Mode, Name}` with serial names `cid` (byte string: the
//! binary CID, CIDv0 as its bare multihash), `mode` (unsigned integer: 0 =
//! recursive, 1 = direct; Kubo never stores the other modes), `name` (text,
//! omitted when empty) and `metadata` (a map, omitted when empty). The pin's id
//! is in the key, not the value. The indexes under `/pins/index/` are derived
//! from these records and not read.
//!
//! **Parsing, in two steps.** The record's length is checked against
//! [`MAX_PIN_RECORD_BYTES`] before anything is decoded; the decoder then reads
//! the map's entries in place from the byte slice (no allocation sized by the
//! input: at most [`MAX_PIN_RECORD_FIELDS`] entries, the name copied once it is
//! known to be at most [`MAX_PIN_NAME_BYTES`]), skips fields it does not know
//! (`metadata`, future ones), and refuses duplicates, missing `cid` or `mode`,
//! unknown modes and trailing bytes. It never panics on any input (fuzzed in
//! `storage/fuzz/fuzz_targets/kubo_pin_record.rs`, property-tested below).

use cid::Cid;
use minicbor::data::Type;
use minicbor::Decoder;

/// Largest pin record decoded. Kubo's are about 60 bytes plus the name.
pub const MAX_PIN_RECORD_BYTES: usize = 64 << 10;
/// Most map entries a record may have (Kubo writes at most four).
pub const MAX_PIN_RECORD_FIELDS: u64 = 16;
/// Longest pin name kept, in bytes.
pub const MAX_PIN_NAME_BYTES: usize = 4 << 10;

/// How a Kubo pin holds its CID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinMode {
    /// The whole DAG (`mode` 0).
    Recursive,
    /// The one block (`mode` 1).
    Direct,
}

/// One decoded pin record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinRecord {
    /// The pinned CID.
    pub cid: Cid,
    /// Recursive or direct.
    pub mode: PinMode,
    /// Kubo's `pin add --name`; empty when none.
    pub name: String,
}

/// Why a pin record was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PinRecordError {
    /// A record over [`MAX_PIN_RECORD_BYTES`].
    #[error("pin record is {len} bytes, over the {limit}-byte limit")]
    TooLarge {
        /// Its length in bytes.
        len: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// Not a definite-length CBOR map (minicbor's message).
    #[error("pin record is not a CBOR map of known size: {0}")]
    NotAMap(String),
    /// More fields than [`MAX_PIN_RECORD_FIELDS`].
    #[error("pin record has {0} fields, over the limit of {MAX_PIN_RECORD_FIELDS}")]
    TooManyFields(u64),
    /// A known field with a bad value.
    #[error("pin record field {field:?}: {reason}")]
    BadField {
        /// The field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A field given twice.
    #[error("pin record has field {0:?} twice")]
    Duplicate(&'static str),
    /// A required field missing.
    #[error("pin record has no {0:?} field")]
    Missing(&'static str),
    /// A pin mode other than recursive or direct.
    #[error("pin record has pin mode {0}, not 0 (recursive) or 1 (direct)")]
    UnknownMode(u64),
    /// Bytes after the record's map.
    #[error("pin record has {0} bytes after its map")]
    Trailing(usize),
    /// Not well-formed CBOR (minicbor's message).
    #[error("pin record is malformed CBOR: {0}")]
    Cbor(String),
}

/// Decodes one record (the value of a `/pins/pin/<id>` key).
pub fn parse(bytes: &[u8]) -> Result<PinRecord, PinRecordError> {
    if bytes.len() > MAX_PIN_RECORD_BYTES {
        return Err(PinRecordError::TooLarge {
            len: bytes.len(),
            limit: MAX_PIN_RECORD_BYTES,
        });
    }
    let cbor = |e: minicbor::decode::Error| PinRecordError::Cbor(e.to_string());
    let mut d = Decoder::new(bytes);
    let entries = match d.map() {
        Ok(Some(n)) => n,
        Ok(None) => return Err(PinRecordError::NotAMap("indefinite length".into())),
        Err(e) => return Err(PinRecordError::NotAMap(e.to_string())),
    };
    if entries > MAX_PIN_RECORD_FIELDS {
        return Err(PinRecordError::TooManyFields(entries));
    }
    let mut cid = None;
    let mut mode = None;
    let mut name = None;
    for _ in 0..entries {
        let key = match d.datatype().map_err(cbor)? {
            Type::String => d.str().map_err(cbor)?,
            // refmt writes text keys only; anything else is skipped with its value.
            _ => {
                d.skip().map_err(cbor)?;
                d.skip().map_err(cbor)?;
                continue;
            }
        };
        match key {
            "cid" => {
                if cid.is_some() {
                    return Err(PinRecordError::Duplicate("cid"));
                }
                let raw = d.bytes().map_err(|e| PinRecordError::BadField {
                    field: "cid",
                    reason: e.to_string(),
                })?;
                let c = Cid::try_from(raw).map_err(|e| PinRecordError::BadField {
                    field: "cid",
                    reason: e.to_string(),
                })?;
                cid = Some(c);
            }
            "mode" => {
                if mode.is_some() {
                    return Err(PinRecordError::Duplicate("mode"));
                }
                let m = d.u64().map_err(|e| PinRecordError::BadField {
                    field: "mode",
                    reason: e.to_string(),
                })?;
                mode = Some(match m {
                    0 => PinMode::Recursive,
                    1 => PinMode::Direct,
                    other => return Err(PinRecordError::UnknownMode(other)),
                });
            }
            "name" => {
                if name.is_some() {
                    return Err(PinRecordError::Duplicate("name"));
                }
                let s = d.str().map_err(|e| PinRecordError::BadField {
                    field: "name",
                    reason: e.to_string(),
                })?;
                if s.len() > MAX_PIN_NAME_BYTES {
                    return Err(PinRecordError::BadField {
                        field: "name",
                        reason: format!("{} bytes, over {MAX_PIN_NAME_BYTES}", s.len()),
                    });
                }
                name = Some(s.to_owned());
            }
            _ => d.skip().map_err(cbor)?,
        }
    }
    let rest = bytes.len() - d.position();
    if rest != 0 {
        return Err(PinRecordError::Trailing(rest));
    }
    Ok(PinRecord {
        cid: cid.ok_or(PinRecordError::Missing("cid"))?,
        mode: mode.ok_or(PinRecordError::Missing("mode"))?,
        name: name.unwrap_or_default(),
    })
}

/// Encodes a record as Kubo does (map keys sorted as refmt's `KeySortMode_Strings`,
/// empty name omitted). For tests and fixtures.
pub fn encode(record: &PinRecord) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + record.name.len());
    let mut e = minicbor::Encoder::new(&mut out);
    let fields = if record.name.is_empty() { 2 } else { 3 };
    let mode: u64 = match record.mode {
        PinMode::Recursive => 0,
        PinMode::Direct => 1,
    };
    // Writing into a Vec cannot fail.
    e.map(fields).expect("vec write");
    e.str("cid").expect("vec write");
    e.bytes(&record.cid.to_bytes()).expect("vec write");
    e.str("mode").expect("vec write");
    e.u64(mode).expect("vec write");
    if !record.name.is_empty() {
        e.str("name").expect("vec write");
        e.str(&record.name).expect("vec write");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hello() -> Cid {
        crate::cids::parse("QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o").unwrap()
    }

    fn hex(s: &str) -> Vec<u8> {
        crate::util::hex::decode(s).unwrap_or_else(|| panic!("bad hex {s}"))
    }

    /// The value of `/pins/pin/c0ffc7dc4c7f453798109d829f475777` in a repo written
    /// by Kubo 0.22 (`kubo-peer.py make-repo` adding `hello world\n`): a recursive
    /// pin of QmT78zSu….
    const KUBO_RECORD_HEX: &str = "a2636369645822122046d44814b9c5af141c3aaab7c05dc5e844ead5f91f12858b021eba45768b4c0e646d6f646500";

    #[test]
    fn kubo_record_vector() {
        let real = hex(KUBO_RECORD_HEX);
        let r = parse(&real).unwrap();
        assert_eq!(r.cid, hello());
        assert_eq!(r.mode, PinMode::Recursive);
        assert_eq!(r.name, "");
        assert_eq!(encode(&r), real);
    }

    #[test]
    fn direct_named_and_metadata() {
        let rec = PinRecord {
            cid: hello(),
            mode: PinMode::Direct,
            name: "photos".into(),
        };
        assert_eq!(parse(&encode(&rec)).unwrap(), rec);
        // A metadata map (which Acorn does not keep) is skipped.
        let mut out = Vec::new();
        let mut e = minicbor::Encoder::new(&mut out);
        e.map(3).unwrap();
        e.str("cid").unwrap().bytes(&hello().to_bytes()).unwrap();
        e.str("metadata").unwrap().map(1).unwrap();
        e.str("k").unwrap().str("v").unwrap();
        e.str("mode").unwrap().u64(1).unwrap();
        let r = parse(&out).unwrap();
        assert_eq!(r.mode, PinMode::Direct);
    }

    #[test]
    fn bad_records_are_refused() {
        let good = encode(&PinRecord {
            cid: hello(),
            mode: PinMode::Recursive,
            name: String::new(),
        });
        let mut trailing = good.clone();
        trailing.push(0);
        assert_eq!(parse(&trailing), Err(PinRecordError::Trailing(1)));
        assert!(parse(&good[..good.len() - 1]).is_err());
        assert!(matches!(parse(&[]), Err(PinRecordError::NotAMap(_))));
        assert!(matches!(parse(&[0x80]), Err(PinRecordError::NotAMap(_))));
        // mode 2 (indirect) is never stored.
        let mut m = good.clone();
        *m.last_mut().unwrap() = 2;
        assert_eq!(parse(&m), Err(PinRecordError::UnknownMode(2)));
        // No cid.
        let mut out = Vec::new();
        minicbor::Encoder::new(&mut out)
            .map(1)
            .unwrap()
            .str("mode")
            .unwrap()
            .u64(0)
            .unwrap();
        assert_eq!(parse(&out), Err(PinRecordError::Missing("cid")));
        // A huge declared map is refused before looping.
        assert_eq!(
            parse(&hex("bb00000000ffffffff")),
            Err(PinRecordError::TooManyFields(0xffff_ffff))
        );
        let big = vec![0u8; MAX_PIN_RECORD_BYTES + 1];
        assert!(matches!(parse(&big), Err(PinRecordError::TooLarge { .. })));
    }

    proptest! {
        // The parser is total: any bytes give a record or an error, never a panic.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = parse(&bytes);
        }

        // Records with any name and either mode round-trip.
        #[test]
        fn round_trip(name in "[a-z0-9 ]{0,40}", direct in any::<bool>()) {
            let rec = PinRecord {
                cid: hello(),
                mode: if direct { PinMode::Direct } else { PinMode::Recursive },
                name,
            };
            prop_assert_eq!(parse(&encode(&rec)).unwrap(), rec);
        }

        // Mutating one byte of a valid record never panics.
        #[test]
        fn mutated_records_never_panic(pos in 0usize..48, byte in any::<u8>()) {
            let mut b = encode(&PinRecord { cid: hello(), mode: PinMode::Recursive, name: "x".into() });
            let i = pos % b.len();
            b[i] = byte;
            let _ = parse(&b);
        }
    }
}
