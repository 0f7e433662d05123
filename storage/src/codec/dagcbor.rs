//! DAG-CBOR: strict, canonical CBOR for IPLD.
//!
//! Spec: ipld/specs `block-layer/codecs/dag-cbor.md` (the "strict" form that
//! go-ipld-prime and @ipld/dag-cbor emit), on RFC 8949 CBOR. Built on minicbor's
//! low-level [`Encoder`] / [`Decoder`]; its derive and map order are not used.
//!
//! Flow: [`decode`] walks one data item with a [`Decoder`], peeking each item's
//! major type, reading it, then checking what minicbor does not: that the head
//! used the shortest form for its argument (position before vs. after), that maps
//! have string keys in canonical order, that tags are 42 and wrap a CID. Every
//! declared length is checked against the bytes left before a `Vec` is sized by
//! it; input after the first data item is rejected. [`encode`] writes the same
//! canonical form: shortest heads, map keys sorted by length then bytes, floats
//! always as 64-bit, links as tag 42 over `0x00 ‖ CID bytes`.
//!
//! Decoding rejects, so that every accepted block re-encodes to the same bytes:
//! indefinite lengths; non-shortest integer, length and tag heads; map keys that
//! are not strings, out of order or repeated; tags other than 42; tag 42 over
//! anything but a byte string `0x00 ‖ canonical CID`; 16- and 32-bit floats;
//! NaN and ±Infinity; `undefined`, simple values and break codes; trailing bytes.
//!
//! # Limits
//! - [`MAX_DEPTH_LEVELS`] nested lists/maps (decode and encode), so that hostile
//!   input cannot exhaust the stack.
//! - Integers span −2⁶⁴ … 2⁶⁴−1 (CBOR major types 0 and 1); others are
//!   unencodable.
//!
//! # Departures
//! None known from the strict spec. Like go-ipld-prime, -0.0 is kept as is.

use super::error::{CodecError, DagCborError as DecodeError};
use super::model::Ipld;
use cid::Cid;
use minicbor::data::{Tag, Type};
use minicbor::{Decoder, Encoder};
use std::cmp::Ordering;
use std::convert::Infallible;

const CODEC: &str = "dag-cbor";

/// Deepest nesting of lists and maps we decode or encode, in levels (the top
/// value is level 0). Each level costs one stack frame of a few hundred bytes,
/// so the worst case is well under 1 MiB of stack.
pub const MAX_DEPTH_LEVELS: usize = 256;

/// The only CBOR tag DAG-CBOR allows: a CID.
const CID_TAG: u64 = 42;

/// Smallest possible encoding of one data item, in bytes (a one-byte head).
const MIN_ITEM_BYTES: u64 = 1;

/// Decodes one strict DAG-CBOR block.
pub fn decode(bytes: &[u8]) -> Result<Ipld, CodecError> {
    let mut d = Decoder::new(bytes);
    let malformed = |r: DecodeError| CodecError::malformed(CODEC, r);
    let v = decode_value(&mut d, 0).map_err(malformed)?;
    if d.position() != bytes.len() {
        return Err(malformed(DecodeError::TrailingBytes {
            count: bytes.len() - d.position(),
            at: d.position(),
        }));
    }
    Ok(v)
}

/// Encodes a value as canonical DAG-CBOR.
pub fn encode(v: &Ipld) -> Result<Vec<u8>, CodecError> {
    let mut e = Encoder::new(Vec::new());
    encode_value(&mut e, v, 0)?;
    Ok(e.into_writer())
}

/// The canonical DAG-CBOR map key order: shorter keys first, then bytewise.
pub fn key_order(a: &str, b: &str) -> Ordering {
    a.len()
        .cmp(&b.len())
        .then_with(|| a.as_bytes().cmp(b.as_bytes()))
}

// ---- decoding ------------------------------------------------------------

fn cbor_err(e: minicbor::decode::Error) -> DecodeError {
    DecodeError::Cbor(e.to_string())
}

/// Length in bytes of the shortest head that carries `arg`.
fn shortest_head_len(arg: u64) -> usize {
    match arg {
        0..=23 => 1,
        24..=0xff => 2,
        0x100..=0xffff => 3,
        0x1_0000..=0xffff_ffff => 5,
        _ => 9,
    }
}

/// Fails unless a head of `head_len` bytes starting at `start` was the shortest for `arg`.
fn check_shortest(arg: u64, head_len: usize, start: usize) -> Result<(), DecodeError> {
    if head_len != shortest_head_len(arg) {
        return Err(DecodeError::NotShortest {
            head_len,
            arg,
            at: start,
        });
    }
    Ok(())
}

/// Fails if `count` items of at least `min_bytes` each cannot fit in what is left.
fn check_fits(
    d: &Decoder<'_>,
    count: u64,
    min_bytes: u64,
    start: usize,
) -> Result<(), DecodeError> {
    let remaining = (d.input().len() - d.position()) as u64;
    if count.saturating_mul(min_bytes) > remaining {
        return Err(DecodeError::LengthExceeds {
            count,
            at: start,
            remaining,
        });
    }
    Ok(())
}

/// Reads a definite-length byte string, checking its head is shortest.
fn read_bytes<'b>(d: &mut Decoder<'b>) -> Result<&'b [u8], DecodeError> {
    let start = d.position();
    let b = d.bytes().map_err(cbor_err)?;
    check_shortest(b.len() as u64, d.position() - start - b.len(), start)?;
    Ok(b)
}

/// Reads a definite-length text string, checking its head is shortest.
fn read_str<'b>(d: &mut Decoder<'b>) -> Result<&'b str, DecodeError> {
    let start = d.position();
    let s = d.str().map_err(cbor_err)?;
    check_shortest(s.len() as u64, d.position() - start - s.len(), start)?;
    Ok(s)
}

fn decode_value(d: &mut Decoder<'_>, depth: usize) -> Result<Ipld, DecodeError> {
    let start = d.position();
    let ty = d.datatype().map_err(cbor_err)?;
    match ty {
        Type::U8
        | Type::U16
        | Type::U32
        | Type::U64
        | Type::I8
        | Type::I16
        | Type::I32
        | Type::I64
        | Type::Int => {
            let v = i128::from(d.int().map_err(cbor_err)?);
            // The head's argument: v for major type 0, −1−v for major type 1;
            // both are in 0..=u64::MAX by construction.
            let arg = if v < 0 { -1 - v } else { v };
            let arg = u64::try_from(arg).map_err(|_| DecodeError::IntegerRange(v))?;
            check_shortest(arg, d.position() - start, start)?;
            Ok(Ipld::Integer(v))
        }
        Type::Bytes => Ok(Ipld::Bytes(read_bytes(d)?.to_vec())),
        Type::String => Ok(Ipld::String(read_str(d)?.to_string())),
        Type::Array => {
            if depth >= MAX_DEPTH_LEVELS {
                return Err(DecodeError::TooDeep {
                    limit: MAX_DEPTH_LEVELS,
                });
            }
            let n = d
                .array()
                .map_err(cbor_err)?
                .ok_or(DecodeError::Indefinite {
                    what: "array",
                    at: start,
                })?;
            check_shortest(n, d.position() - start, start)?;
            check_fits(d, n, MIN_ITEM_BYTES, start)?;
            // n ≤ bytes left, so it fits usize and bounds the allocation.
            let mut list = Vec::with_capacity(n as usize);
            for _ in 0..n {
                list.push(decode_value(d, depth + 1)?);
            }
            Ok(Ipld::List(list))
        }
        Type::Map => {
            if depth >= MAX_DEPTH_LEVELS {
                return Err(DecodeError::TooDeep {
                    limit: MAX_DEPTH_LEVELS,
                });
            }
            let n = d.map().map_err(cbor_err)?.ok_or(DecodeError::Indefinite {
                what: "map",
                at: start,
            })?;
            check_shortest(n, d.position() - start, start)?;
            check_fits(d, n, 2 * MIN_ITEM_BYTES, start)?;
            let mut map = std::collections::BTreeMap::new();
            let mut prev: Option<&str> = None;
            for _ in 0..n {
                let key_at = d.position();
                if d.datatype().map_err(cbor_err)? != Type::String {
                    return Err(DecodeError::KeyNotString { at: key_at });
                }
                let key = read_str(d)?;
                if let Some(p) = prev {
                    match key_order(p, key) {
                        Ordering::Less => {}
                        Ordering::Equal => {
                            return Err(DecodeError::RepeatedKey {
                                key: key.to_owned(),
                                at: key_at,
                            })
                        }
                        Ordering::Greater => {
                            return Err(DecodeError::KeyOrder {
                                key: key.to_owned(),
                                at: key_at,
                            })
                        }
                    }
                }
                prev = Some(key);
                let v = decode_value(d, depth + 1)?;
                map.insert(key.to_string(), v);
            }
            Ok(Ipld::Map(map))
        }
        Type::Tag => {
            let tag = u64::from(d.tag().map_err(cbor_err)?);
            if tag != CID_TAG {
                return Err(DecodeError::Tag { tag, at: start });
            }
            check_shortest(tag, d.position() - start, start)?;
            if d.datatype().map_err(cbor_err)? != Type::Bytes {
                return Err(DecodeError::TagNotBytes { at: start });
            }
            let b = read_bytes(d)?;
            let Some((&0x00, cid_bytes)) = b.split_first() else {
                return Err(DecodeError::CidPrefix { at: start });
            };
            let cid = Cid::try_from(cid_bytes).map_err(|e| DecodeError::BadCid {
                at: start,
                reason: e.to_string(),
            })?;
            if cid.to_bytes() != cid_bytes {
                return Err(DecodeError::CidNotCanonical { at: start });
            }
            Ok(Ipld::Link(cid))
        }
        Type::Bool => Ok(Ipld::Bool(d.bool().map_err(cbor_err)?)),
        Type::Null => {
            d.null().map_err(cbor_err)?;
            Ok(Ipld::Null)
        }
        Type::F64 => {
            let f = d.f64().map_err(cbor_err)?;
            if !f.is_finite() {
                return Err(DecodeError::NonFinite {
                    value: f,
                    at: start,
                });
            }
            Ok(Ipld::Float(f))
        }
        Type::F16 | Type::F32 => Err(DecodeError::ShortFloat { ty, at: start }),
        Type::BytesIndef | Type::StringIndef | Type::ArrayIndef | Type::MapIndef => {
            Err(DecodeError::Indefinite {
                what: "item",
                at: start,
            })
        }
        ty => Err(DecodeError::Unsupported { ty, at: start }),
    }
}

// ---- encoding ------------------------------------------------------------

fn enc_err(e: minicbor::encode::Error<Infallible>) -> CodecError {
    CodecError::unencodable(CODEC, e.to_string())
}

fn encode_value(e: &mut Encoder<Vec<u8>>, v: &Ipld, depth: usize) -> Result<(), CodecError> {
    match v {
        Ipld::Null => e.null().map_err(enc_err)?,
        Ipld::Bool(b) => e.bool(*b).map_err(enc_err)?,
        Ipld::Integer(i) => {
            let int = minicbor::data::Int::try_from(*i).map_err(|_| {
                CodecError::unencodable(CODEC, format!("integer {i} outside -2^64..2^64-1"))
            })?;
            e.int(int).map_err(enc_err)?
        }
        Ipld::Float(f) => {
            if !f.is_finite() {
                return Err(CodecError::unencodable(
                    CODEC,
                    format!("non-finite float {f}"),
                ));
            }
            e.f64(*f).map_err(enc_err)?
        }
        Ipld::String(s) => e.str(s).map_err(enc_err)?,
        Ipld::Bytes(b) => e.bytes(b).map_err(enc_err)?,
        Ipld::List(l) => {
            check_depth(depth)?;
            e.array(l.len() as u64).map_err(enc_err)?;
            for x in l {
                encode_value(e, x, depth + 1)?;
            }
            e
        }
        Ipld::Map(m) => {
            check_depth(depth)?;
            let mut entries: Vec<(&String, &Ipld)> = m.iter().collect();
            entries.sort_by(|a, b| key_order(a.0, b.0));
            e.map(entries.len() as u64).map_err(enc_err)?;
            for (k, x) in entries {
                e.str(k).map_err(enc_err)?;
                encode_value(e, x, depth + 1)?;
            }
            e
        }
        Ipld::Link(c) => {
            let mut b = Vec::with_capacity(1 + c.encoded_len());
            b.push(0x00);
            b.extend_from_slice(&c.to_bytes());
            e.tag(Tag::new(CID_TAG)).map_err(enc_err)?;
            e.bytes(&b).map_err(enc_err)?
        }
    };
    Ok(())
}

fn check_depth(depth: usize) -> Result<(), CodecError> {
    super::model::check_encode_depth(CODEC, depth, MAX_DEPTH_LEVELS)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::cids;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    /// The typed reasons print as the text the decoder always gave.
    #[test]
    fn error_messages_name_the_rule_and_the_byte() {
        let msg = |b: &[u8]| decode(b).unwrap_err().to_string();
        assert_eq!(
            msg(&[0x18, 0x01]),
            "malformed dag-cbor: non-canonical 2-byte head for argument 1 at byte 0"
        );
        assert_eq!(
            msg(&[0x01, 0x02]),
            "malformed dag-cbor: 1 trailing bytes after the data item at byte 1"
        );
        assert_eq!(
            msg(&[0x9f]),
            "malformed dag-cbor: indefinite-length item at byte 0"
        );
        // {"b": 0, "a": 0}
        assert_eq!(
            msg(&[0xa2, 0x61, b'b', 0x00, 0x61, b'a', 0x00]),
            "malformed dag-cbor: map key \"a\" at byte 4 is out of canonical order"
        );
        assert_eq!(
            msg(&[0xc1, 0x00]),
            "malformed dag-cbor: tag 1 at byte 0 (only 42 is allowed)"
        );
        // The reason is typed, for callers that act on it.
        assert!(matches!(
            decode(&[0x18, 0x01]),
            Err(CodecError::Malformed {
                reason: crate::codec::Malformed::DagCbor(DecodeError::NotShortest {
                    head_len: 2,
                    arg: 1,
                    at: 0
                }),
                ..
            })
        ));
    }

    fn hex(s: &str) -> Vec<u8> {
        crate::util::hex::decode(s).unwrap_or_else(|| panic!("bad hex {s}"))
    }

    /// Any data-model value DAG-CBOR and DAG-JSON can both carry (map keys
    /// never `"/"`, which DAG-JSON reserves), up to 4 levels deep.
    pub(crate) fn arb_ipld() -> impl Strategy<Value = Ipld> {
        let min = -(1i128 << 64);
        let max = (1i128 << 64) - 1;
        let cid = (
            any::<bool>(),
            prop_oneof![
                Just(cids::RAW),
                Just(cids::DAG_PB),
                Just(cids::DAG_CBOR),
                Just(cids::DAG_JSON)
            ],
            proptest::collection::vec(any::<u8>(), 0..8),
        )
            .prop_map(|(v0, codec, data)| {
                let version = if v0 && codec == cids::DAG_PB { 0 } else { 1 };
                cids::cid_of(version, codec, &data)
            });
        let leaf = prop_oneof![
            Just(Ipld::Null),
            any::<bool>().prop_map(Ipld::Bool),
            (min..=max).prop_map(Ipld::Integer),
            prop_oneof![Just(min), Just(max), Just(0), Just(-1), Just(23), Just(24)]
                .prop_map(Ipld::Integer),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Ipld::Float),
            any::<String>().prop_map(Ipld::String),
            proptest::collection::vec(any::<u8>(), 0..40).prop_map(Ipld::Bytes),
            cid.prop_map(Ipld::Link),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..8).prop_map(Ipld::List),
                proptest::collection::btree_map(
                    any::<String>().prop_filter("not reserved", |k| k != "/"),
                    inner,
                    0..8
                )
                .prop_map(Ipld::Map),
            ]
        })
    }

    #[test]
    fn spec_vectors_both_ways() {
        let cases: Vec<(&str, Ipld)> = vec![
            ("f6", Ipld::Null),
            ("f5", Ipld::Bool(true)),
            ("17", Ipld::Integer(23)),
            ("1818", Ipld::Integer(24)),
            ("1bffffffffffffffff", Ipld::Integer(u64::MAX.into())),
            ("3bffffffffffffffff", Ipld::Integer(-(1i128 << 64))),
            ("20", Ipld::Integer(-1)),
            ("fb3ff199999999999a", Ipld::Float(1.1)),
            ("4101", Ipld::Bytes(vec![1])),
            ("6161", Ipld::String("a".into())),
            (
                "d82a4a00015500050001020304",
                Ipld::Link(cids::parse("bafkqabiaaebagba").unwrap()),
            ),
        ];
        for (h, v) in cases {
            assert_eq!(decode(&hex(h)).unwrap(), v, "{h}");
            assert_eq!(encode(&v).unwrap(), hex(h), "{h}");
        }
        // The same CID with one byte too many inside the tag.
        assert!(decode(&hex("d82a4b0001550005000102030400")).is_err());
    }

    #[test]
    fn keys_sorted_length_first() {
        let mut m = BTreeMap::new();
        for k in ["aa", "b", "a", "ab"] {
            m.insert(k.to_string(), Ipld::Null);
        }
        // {"a", "b", "aa", "ab"}
        let want = hex("a46161f66162f6626161f6626162f6");
        assert_eq!(encode(&Ipld::Map(m.clone())).unwrap(), want);
        assert_eq!(decode(&want).unwrap(), Ipld::Map(m));
    }

    #[test]
    fn rejects_non_canonical_forms() {
        for (h, why) in [
            ("a2616201616102", "unsorted keys"),
            ("a2616101616102", "duplicate keys"),
            (
                "a3636261720363666f6f0163666f6f02",
                "duplicate keys (fixture)",
            ),
            ("a2626161016162f6", "length-first order broken"),
            ("a10101", "integer key"),
            ("1817", "non-shortest uint8"),
            ("190017", "non-shortest uint16"),
            ("1a0000ffff", "non-shortest uint32"),
            ("1b00000000ffffffff", "non-shortest uint64"),
            ("3817", "non-shortest negative"),
            ("5801ff", "non-shortest bytes length"),
            ("780161", "non-shortest string length"),
            ("980100", "non-shortest array length"),
            ("b801616100", "non-shortest map length"),
            ("9f00ff", "indefinite array"),
            ("bf616100ff", "indefinite map"),
            ("5f4100ff", "indefinite bytes"),
            ("7f6161ff", "indefinite string"),
            ("f93c00", "16-bit float"),
            ("fa3f800000", "32-bit float"),
            ("fb7ff8000000000000", "NaN"),
            ("fb7ff0000000000000", "Infinity"),
            ("fbfff0000000000000", "-Infinity"),
            ("f7", "undefined"),
            ("f0", "simple value"),
            ("f820", "simple value (1-byte)"),
            ("ff", "break"),
            ("c074323031332d30332d32315432303a30343a30305a", "tag 0"),
            ("d9002a4100", "non-shortest tag 42"),
            ("d82a6161", "tag 42 over a string"),
            ("d82a420155", "tag 42 without 0x00 prefix"),
            ("d82a4100", "tag 42 over an empty CID"),
            ("0000", "trailing bytes"),
            ("", "empty input"),
            ("82", "truncated array"),
            ("9bffffffffffffffff", "huge array length"),
            ("bbffffffffffffffff", "huge map length"),
            ("5bffffffffffffffff", "huge bytes length"),
            ("62c328", "invalid UTF-8"),
            ("1c", "reserved additional info"),
        ] {
            assert!(decode(&hex(h)).is_err(), "{why}: {h} must be rejected");
        }
    }

    #[test]
    fn depth_is_bounded() {
        let ok = [vec![0x81; MAX_DEPTH_LEVELS], vec![0xf6]].concat();
        assert!(decode(&ok).is_ok());
        let deep = [vec![0x81; MAX_DEPTH_LEVELS + 1], vec![0xf6]].concat();
        assert!(decode(&deep).is_err());
        let mut v = Ipld::Null;
        for _ in 0..=MAX_DEPTH_LEVELS {
            v = Ipld::List(vec![v]);
        }
        assert!(encode(&v).is_err());
        // Far deeper than the stack would allow without the bound.
        let hostile = vec![0x81; 1 << 20];
        assert!(decode(&hostile).is_err());
    }

    #[test]
    fn unencodable_values() {
        assert!(encode(&Ipld::Integer(1i128 << 64)).is_err());
        assert!(encode(&Ipld::Integer(-(1i128 << 64) - 1)).is_err());
        assert!(encode(&Ipld::Float(f64::NAN)).is_err());
        assert!(encode(&Ipld::Float(f64::INFINITY)).is_err());
    }

    proptest! {
        #[test]
        fn round_trip(v in arb_ipld()) {
            let b = encode(&v).unwrap();
            let back = decode(&b).unwrap();
            prop_assert_eq!(&back, &v);
            prop_assert_eq!(encode(&back).unwrap(), b);
        }

        /// Whatever strict decoding accepts re-encodes to the very same bytes.
        #[test]
        fn accepted_input_is_canonical(b in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(v) = decode(&b) {
                prop_assert_eq!(encode(&v).unwrap(), b);
            }
        }
    }
}
