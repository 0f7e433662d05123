//! DAG-JSON: IPLD over JSON, with links and bytes in the reserved `"/"` namespace.
//!
//! Spec: ipld/specs `block-layer/codecs/dag-json.md` (ipld.io `specs/codecs/dag-json`),
//! on RFC 8259 JSON. Links are `{"/":"<CID>"}` (CIDv0 in base58btc, CIDv1 in
//! base32); bytes are `{"/":{"bytes":"<base64, standard alphabet, no padding>"}}`.
//!
//! Flow: [`decode`] checks the input is UTF-8, then a small recursive-descent
//! parser reads one JSON value: numbers without `.`/exponent become integers
//! (exact, as `i128`), others floats; objects are collected into a map (a repeated
//! key is an error) and then, if their first key in byte order is `"/"`, read as a
//! link or bytes per the reserved-namespace rules. [`encode`] writes the canonical
//! form: no whitespace, keys in byte order (the `BTreeMap` order), shortest
//! round-trip floats in JavaScript's `Number#toString` layout with a `.0` added to
//! integral floats, and JSON string escapes as `JSON.stringify` writes them.
//!
//! Reserved namespace (encode and decode alike): a map whose first key is `"/"`
//! with a string value must be exactly `{"/":"<valid CID>"}`; one whose first key
//! is `"/"` with a map value whose own first key is `"bytes"` with a string value
//! must be exactly `{"/":{"bytes":"<valid base64>"}}`. Anything else of those
//! shapes is rejected; other uses of `"/"` are plain maps.
//!
//! # Limits
//! - [`MAX_DEPTH_LEVELS`] nested arrays/objects (decode and encode).
//! - Integers span −2⁶⁴ … 2⁶⁴−1 like DAG-CBOR's; larger ones are rejected rather
//!   than rounded to floats. Floats must be finite (an exponent that overflows
//!   is rejected).
//!
//! # Departures
//! As the spec advises, decoding does not insist on the canonical layout: it
//! accepts insignificant whitespace and keys in any order (so `dag put` of
//! hand-written JSON works). Such input decodes fine but re-encodes to different
//! bytes. It is strict everywhere else: repeated keys, reserved-namespace misuse,
//! non-canonical CID strings (e.g. CIDv1 not in base32), padded or non-canonical
//! base64, lone surrogates and raw control characters in strings are errors.

use super::error::{CodecError, DagJsonError as DecodeError, Malformed};
use super::model::Ipld;
use cid::Cid;
use multibase::Base;
use std::collections::BTreeMap;

const CODEC: &str = "dag-json";

/// Deepest nesting of arrays and objects we decode or encode, in levels (the
/// top value is level 0). Bytes and link wrappers count as values, not levels.
pub const MAX_DEPTH_LEVELS: usize = 256;

/// Longest integer literal we parse, in digits: 2⁶⁴ has 20 digits, so anything
/// longer is out of range without parsing it.
const MAX_INTEGER_DIGITS: usize = 20;

const INT_MIN: i128 = -(1i128 << 64);
const INT_MAX: i128 = (1i128 << 64) - 1;

/// Decodes one DAG-JSON block.
pub fn decode(bytes: &[u8]) -> Result<Ipld, CodecError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| CodecError::malformed(CODEC, Malformed::NotUtf8(e)))?;
    let mut p = Parser {
        s: text.as_bytes(),
        pos: 0,
    };
    let v = p
        .document()
        .map_err(|reason| CodecError::malformed(CODEC, Malformed::DagJson { reason, at: p.pos }))?;
    Ok(v)
}

/// Encodes a value as canonical DAG-JSON.
pub fn encode(v: &Ipld) -> Result<Vec<u8>, CodecError> {
    let mut out = String::new();
    write_value(&mut out, v, 0)?;
    Ok(out.into_bytes())
}

// ---- reserved namespace ----------------------------------------------------

/// What a map with `"/"` as its first key stands for.
enum Reserved<'a> {
    /// Not a reserved form: a plain map.
    Plain,
    /// `{"/": "<cid>"}` (valid only as the sole entry).
    Link(&'a str),
    /// `{"/": {"bytes": "<base64>"}}` (valid only as sole entries).
    Bytes(&'a str),
    /// A reserved form with extra entries: never valid.
    Misused(&'static str),
}

fn classify(m: &BTreeMap<String, Ipld>) -> Reserved<'_> {
    let Some((k, v)) = m.iter().next() else {
        return Reserved::Plain;
    };
    if k != "/" {
        return Reserved::Plain;
    }
    match v {
        Ipld::String(s) if m.len() == 1 => Reserved::Link(s),
        Ipld::String(_) => Reserved::Misused("a link map {\"/\": string} has extra keys"),
        Ipld::Map(inner) => match inner.iter().next() {
            Some((ik, Ipld::String(s))) if ik == "bytes" => {
                if m.len() == 1 && inner.len() == 1 {
                    Reserved::Bytes(s)
                } else {
                    Reserved::Misused("a bytes map {\"/\": {\"bytes\": string}} has extra keys")
                }
            }
            _ => Reserved::Plain,
        },
        _ => Reserved::Plain,
    }
}

/// Parses a link string, accepting only the canonical form (v0 base58btc, v1 base32).
fn parse_link(s: &str) -> Result<Cid, DecodeError> {
    let c = Cid::try_from(s).map_err(|e| DecodeError::BadLink {
        text: s.to_owned(),
        reason: e.to_string(),
    })?;
    if c.to_string() != s {
        return Err(DecodeError::LinkNotCanonical(s.to_owned()));
    }
    Ok(c)
}

fn parse_bytes(s: &str) -> Result<Vec<u8>, DecodeError> {
    Base::Base64.decode(s).map_err(DecodeError::BadBase64)
}

// ---- decoding ------------------------------------------------------------

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn document(&mut self) -> Result<Ipld, DecodeError> {
        let v = self.value(0)?;
        self.skip_ws();
        if self.pos != self.s.len() {
            return Err(DecodeError::Syntax(
                "trailing characters after the JSON value",
            ));
        }
        Ok(v)
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.s.get(self.pos) {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn expect(&mut self, c: u8) -> Result<(), DecodeError> {
        if self.peek() != Some(c) {
            return Err(DecodeError::Expected(char::from(c)));
        }
        self.pos += 1;
        Ok(())
    }

    fn literal(&mut self, word: &str, v: Ipld) -> Result<Ipld, DecodeError> {
        if self.s[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(v)
        } else {
            Err(DecodeError::Syntax("invalid literal"))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Ipld, DecodeError> {
        self.skip_ws();
        match self.peek() {
            None => Err(DecodeError::Syntax("unexpected end of input")),
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => Ok(Ipld::String(self.string()?)),
            Some(b't') => self.literal("true", Ipld::Bool(true)),
            Some(b'f') => self.literal("false", Ipld::Bool(false)),
            Some(b'n') => self.literal("null", Ipld::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(c) => Err(DecodeError::UnexpectedChar(char::from(c))),
        }
    }

    fn check_depth(depth: usize) -> Result<(), DecodeError> {
        if depth >= MAX_DEPTH_LEVELS {
            return Err(DecodeError::TooDeep {
                limit: MAX_DEPTH_LEVELS,
            });
        }
        Ok(())
    }

    fn array(&mut self, depth: usize) -> Result<Ipld, DecodeError> {
        Self::check_depth(depth)?;
        self.expect(b'[')?;
        let mut list = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Ipld::List(list));
        }
        loop {
            list.push(self.value(depth + 1)?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Ipld::List(list));
                }
                _ => return Err(DecodeError::Syntax("expected ',' or ']' in array")),
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<Ipld, DecodeError> {
        Self::check_depth(depth)?;
        let start = self.pos;
        self.expect(b'{')?;
        let mut map = BTreeMap::new();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Ipld::Map(map));
        }
        loop {
            self.skip_ws();
            let key = self.string()?;
            self.skip_ws();
            self.expect(b':')?;
            let v = self.value(depth + 1)?;
            if map.contains_key(&key) {
                return Err(DecodeError::RepeatedKey(key));
            }
            map.insert(key, v);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    break;
                }
                _ => return Err(DecodeError::Syntax("expected ',' or '}' in object")),
            }
        }
        let at = |r: DecodeError| DecodeError::InObject {
            reason: Box::new(r),
            at: start,
        };
        match classify(&map) {
            Reserved::Plain => Ok(Ipld::Map(map)),
            Reserved::Link(s) => parse_link(s).map(Ipld::Link).map_err(at),
            Reserved::Bytes(s) => parse_bytes(s).map(Ipld::Bytes).map_err(at),
            Reserved::Misused(r) => Err(at(DecodeError::Syntax(r))),
        }
    }

    fn hex4(&mut self) -> Result<u32, DecodeError> {
        let h = self
            .s
            .get(self.pos..self.pos + 4)
            .ok_or(DecodeError::Syntax("truncated \\u escape"))?;
        let h = std::str::from_utf8(h).map_err(|_| DecodeError::Syntax("invalid \\u escape"))?;
        if !h.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(DecodeError::Syntax("invalid \\u escape"));
        }
        self.pos += 4;
        // Four hex digits always fit u32.
        u32::from_str_radix(h, 16).map_err(|_| DecodeError::Syntax("invalid \\u escape"))
    }

    fn string(&mut self) -> Result<String, DecodeError> {
        self.expect(b'"')?;
        let mut out = String::new();
        loop {
            // Copy the run of plain characters up to the next quote, escape or control.
            let run = self.pos;
            while let Some(b) = self.peek() {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            // The input was checked as UTF-8 and runs end at ASCII bytes: valid.
            out.push_str(std::str::from_utf8(&self.s[run..self.pos]).map_err(DecodeError::Utf8)?);
            match self.peek() {
                None => return Err(DecodeError::Syntax("unterminated string")),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    let e = self
                        .peek()
                        .ok_or(DecodeError::Syntax("unterminated escape"))?;
                    self.pos += 1;
                    match e {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let hi = self.hex4()?;
                            let code = match hi {
                                0xd800..=0xdbff => {
                                    if !self.s[self.pos..].starts_with(b"\\u") {
                                        return Err(DecodeError::Syntax(
                                            "lone high surrogate in string",
                                        ));
                                    }
                                    self.pos += 2;
                                    let lo = self.hex4()?;
                                    if !(0xdc00..=0xdfff).contains(&lo) {
                                        return Err(DecodeError::Syntax(
                                            "lone high surrogate in string",
                                        ));
                                    }
                                    0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00)
                                }
                                0xdc00..=0xdfff => {
                                    return Err(DecodeError::Syntax("lone low surrogate in string"))
                                }
                                c => c,
                            };
                            out.push(
                                char::from_u32(code)
                                    .ok_or(DecodeError::Syntax("invalid \\u escape"))?,
                            );
                        }
                        c => return Err(DecodeError::InvalidEscape(char::from(c))),
                    }
                }
                Some(_) => {
                    return Err(DecodeError::Syntax("unescaped control character in string"))
                }
            }
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> Result<Ipld, DecodeError> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        let int_start = self.pos;
        let n = self.digits();
        if n == 0 {
            return Err(DecodeError::Syntax("number without digits"));
        }
        if n > 1 && self.s[int_start] == b'0' {
            return Err(DecodeError::Syntax("number with a leading zero"));
        }
        let mut is_float = false;
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return Err(DecodeError::Syntax("number without digits after '.'"));
            }
            is_float = true;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(DecodeError::Syntax("number without exponent digits"));
            }
            is_float = true;
        }
        // The number is ASCII by construction.
        let text = std::str::from_utf8(&self.s[start..self.pos]).map_err(DecodeError::Utf8)?;
        if is_float {
            let f: f64 = text.parse().map_err(|reason| DecodeError::BadFloat {
                text: text.to_owned(),
                reason,
            })?;
            if !f.is_finite() {
                return Err(DecodeError::FloatRange(text.to_owned()));
            }
            return Ok(Ipld::Float(f));
        }
        if n > MAX_INTEGER_DIGITS {
            return Err(DecodeError::IntegerRange(text.to_owned()));
        }
        let i: i128 = text.parse().map_err(|reason| DecodeError::BadInteger {
            text: text.to_owned(),
            reason,
        })?;
        if !(INT_MIN..=INT_MAX).contains(&i) {
            return Err(DecodeError::IntegerRange(text.to_owned()));
        }
        Ok(Ipld::Integer(i))
    }
}

mod encode;
use encode::write_value;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::dagcbor::tests::arb_ipld;
    use proptest::prelude::*;

    /// The typed reasons print as the text the parser always gave.
    #[test]
    fn error_messages_name_the_rule_and_the_byte() {
        let msg = |s: &str| decode(s.as_bytes()).unwrap_err().to_string();
        assert_eq!(
            msg("[1,]"),
            "malformed dag-json: unexpected character ']' at byte 3"
        );
        assert_eq!(
            msg(r#"{"a":1,"a":2}"#),
            "malformed dag-json: repeat map key \"a\" at byte 12"
        );
        assert_eq!(
            msg(r#""\x""#),
            "malformed dag-json: invalid escape \\x at byte 3"
        );
        assert!(matches!(
            decode(b"01"),
            Err(CodecError::Malformed {
                reason: Malformed::DagJson {
                    reason: DecodeError::Syntax("number with a leading zero"),
                    at: 2
                },
                ..
            })
        ));
        assert_eq!(
            msg("01"),
            "malformed dag-json: number with a leading zero at byte 2"
        );
        assert_eq!(
            msg(r#"{"/":"x","y":1}"#),
            "malformed dag-json: a link map {\"/\": string} has extra keys (object at byte 0) at byte 15"
        );
    }

    fn enc(v: &Ipld) -> String {
        String::from_utf8(encode(v).unwrap()).unwrap()
    }

    fn dec(s: &str) -> Result<Ipld, CodecError> {
        decode(s.as_bytes())
    }

    #[test]
    fn floats_like_javascript() {
        for (f, s) in [
            (0.5, "0.5"),
            (-1.1, "-1.1"),
            (1e-323, "1e-323"),
            (-8.940696716308594e-8, "-8.940696716308594e-8"),
            (82497.63712086187, "82497.63712086187"),
            (1.0, "1.0"),
            (-0.0, "-0.0"),
            (100.0, "100.0"),
            (1e21, "1e+21"),
            (1.5e300, "1.5e+300"),
            (0.000001, "0.000001"),
            (1e-7, "1e-7"),
            (123456789012345680000.0, "123456789012345680000.0"),
        ] {
            assert_eq!(enc(&Ipld::Float(f)), s);
            assert_eq!(dec(s).unwrap(), Ipld::Float(f), "{s}");
        }
        assert!(encode(&Ipld::Float(f64::NAN)).is_err());
        assert!(encode(&Ipld::Float(f64::NEG_INFINITY)).is_err());
        assert!(dec("1e400").is_err());
    }

    #[test]
    fn integers_are_exact() {
        for (i, s) in [
            (-(1i128 << 64), "-18446744073709551616"),
            ((1i128 << 64) - 1, "18446744073709551615"),
            (-9007199254740993, "-9007199254740993"),
            (0, "0"),
        ] {
            assert_eq!(enc(&Ipld::Integer(i)), s);
            assert_eq!(dec(s).unwrap(), Ipld::Integer(i));
        }
        assert!(dec("18446744073709551616").is_err());
        assert!(dec("-18446744073709551617").is_err());
        assert!(dec("123456789012345678901234567890").is_err());
        assert!(encode(&Ipld::Integer(1i128 << 64)).is_err());
        assert_eq!(dec("-0").unwrap(), Ipld::Integer(0));
    }

    #[test]
    fn strings_escape_like_json_stringify() {
        let v = Ipld::String("a\"\\/\u{8}\u{c}\n\r\t\u{1}\u{1f}\u{7f}☺𐅑".into());
        let s = enc(&v);
        assert_eq!(s, "\"a\\\"\\\\/\\b\\f\\n\\r\\t\\u0001\\u001f\u{7f}☺𐅑\"");
        assert_eq!(dec(&s).unwrap(), v);
        assert_eq!(
            dec(r#""\ud800\udc00\u00e9\/""#).unwrap(),
            Ipld::String("\u{10000}é/".into())
        );
    }

    #[test]
    fn links_and_bytes() {
        let c = crate::cids::parse("QmQg1v4o9xdT3Q14wh4S7dxZkDjyZ9ssFzFzyep1YrVJBY").unwrap();
        let s = r#"{"/":"QmQg1v4o9xdT3Q14wh4S7dxZkDjyZ9ssFzFzyep1YrVJBY"}"#;
        assert_eq!(enc(&Ipld::Link(c)), s);
        assert_eq!(dec(s).unwrap(), Ipld::Link(c));
        assert_eq!(enc(&Ipld::Bytes(vec![0xa1])), r#"{"/":{"bytes":"oQ"}}"#);
        assert_eq!(
            dec(r#"{"/":{"bytes":"AQID"}}"#).unwrap(),
            Ipld::Bytes(vec![1, 2, 3])
        );
        assert_eq!(dec(r#"{"/":{"bytes":""}}"#).unwrap(), Ipld::Bytes(vec![]));
    }

    #[test]
    fn reserved_namespace() {
        // Rejected on decode (spec examples and friends).
        for s in [
            r#"{"/":"foo","bar":"baz"}"#,
            r#"{"/":{"bytes":"foo"},"bar":"baz"}"#,
            r#"{"/":{"bytes":"AQID","bz":"baz"}}"#,
            r#"{"/":"notacid"}"#,
            r#"{"/":"BAFKQABIAAEBAGBA"}"#,
            r#"{"/":"zdj7Wd8AMwqnhJGQCbFxBVodGSBG84TM7Hs1rcJuQMwTyfEDS"}"#,
            r#"{"/":{"bytes":"AQI="}}"#,
            r#"{"/":{"bytes":"AQJ"}}"#,
            r#"{"/":{"bytes":"!!"}}"#,
        ] {
            assert!(dec(s).is_err(), "{s} must be rejected");
        }
        // Valid plain maps that use "/".
        for s in [
            r#"{"/":true,"bar":"baz"}"#,
            r#"{"/":"foo","!":1}"#,
            r#"{"/":{"abar":"baz","bytes":"foo"}}"#,
            r#"{"/":{"bytes":true},"bar":"baz"}"#,
            r#"{"/":{"/":"bafkqabiaaebagba"}}"#,
        ] {
            let v = dec(s).unwrap_or_else(|e| panic!("{s}: {e}"));
            assert!(matches!(v, Ipld::Map(_)), "{s}");
            assert_eq!(dec(&enc(&v)).unwrap(), v, "{s}");
        }
        // Maps the encoder cannot write without them reading back as something else.
        let m = |k: &str, v: Ipld| Ipld::Map([(k.to_string(), v)].into_iter().collect());
        assert!(encode(&m("/", Ipld::String("x".into()))).is_err());
        assert!(encode(&m("/", m("bytes", Ipld::String("AQID".into())))).is_err());
    }

    #[test]
    fn decode_is_lenient_on_layout_strict_on_syntax() {
        let a = dec(" { \"b\" : [1 , 2.5] ,\n\"a\":null } ").unwrap();
        assert_eq!(enc(&a), r#"{"a":null,"b":[1,2.5]}"#);
        for s in [
            "",
            "{",
            "[1,]",
            "{\"a\":1,}",
            "01",
            "1.",
            ".5",
            "1e",
            "+1",
            "NaN",
            "Infinity",
            "tru",
            "nul",
            "\"a",
            "\"\\x\"",
            "\"\\ud800\"",
            "\"\\udc00\"",
            "\"\u{1}\"",
            "[1] 2",
            "{1:2}",
            r#"{"foo":1,"foo":2,"bar":3}"#,
        ] {
            assert!(dec(s).is_err(), "{s:?} must be rejected");
        }
        assert!(decode(&[b'"', 0xff, b'"']).is_err());
    }

    #[test]
    fn depth_is_bounded() {
        let ok = "[".repeat(MAX_DEPTH_LEVELS) + &"]".repeat(MAX_DEPTH_LEVELS);
        assert!(dec(&ok).is_ok());
        let deep = "[".repeat(MAX_DEPTH_LEVELS + 1) + &"]".repeat(MAX_DEPTH_LEVELS + 1);
        assert!(dec(&deep).is_err());
        assert!(dec(&"[".repeat(1 << 20)).is_err());
        let mut v = Ipld::Null;
        for _ in 0..=MAX_DEPTH_LEVELS {
            v = Ipld::Map([("a".to_string(), v)].into_iter().collect());
        }
        assert!(encode(&v).is_err());
    }

    proptest! {
        #[test]
        fn round_trip(v in arb_ipld()) {
            let b = encode(&v).unwrap();
            let back = decode(&b).unwrap();
            prop_assert_eq!(&back, &v);
            prop_assert_eq!(encode(&back).unwrap(), b);
        }

        #[test]
        fn arbitrary_input_never_panics(s in "[\\[\\]{}\":,/a-z0-9.eE+\\- \\\\u]{0,40}") {
            let _ = decode(s.as_bytes());
        }
    }
}
