//! Option values as Kubo's RPC API reads them.
//!
//! **What.** Kubo's command library converts each query option with Go's `strconv`:
//! a boolean is `ParseBool` of the lower-cased value (so `1 0 t f true false` in any
//! case; an empty value means true), an integer is `ParseInt(v, 0, bits)` (base
//! from the prefix: `0x`, `0o` or a leading `0`, `0b`; `_` between digits; a sign).
//! Clients rely on it: Python's `ipfshttpclient` sends `True`/`False`, scripts send
//! `pin=1`. This module is that conversion and its error text; [`super::Query`]
//! calls it for every option it reads.
//!
//! **Spec.** Go's `strconv.ParseBool` and `strconv.ParseInt` with base 0 (`underscoreOK` included), and go-ipfs-cmds' converters.
//!
//! **Departures.** Kubo answers a bad value with a plain-text 400; Acorn sends its
//! JSON error (`Code: 1`, HTTP 400) with Kubo's message.

/// A value that does not convert; its `Display` is Kubo's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("could not convert {} to type \"{kind}\" (for option \"-{option}\")", shown(.value))]
pub struct BadValue {
    /// The option's long name.
    pub option: String,
    /// Go's type name: `bool`, `int`, `int64`, `uint64`.
    pub kind: &'static str,
    /// What the client sent.
    pub value: String,
}

fn shown(v: &str) -> String {
    if v.is_empty() {
        "empty value".to_string()
    } else {
        format!("value {v:?}")
    }
}

/// Go's `ParseBool` after go-ipfs-cmds' lower-casing; an empty value is true.
pub fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "" | "1" | "t" | "true" => Some(true),
        "0" | "f" | "false" => Some(false),
        _ => None,
    }
}

/// Go's `ParseInt(v, 0, bits)`: a signed integer that fits in `bits` (1..=64).
pub fn parse_int(v: &str, bits: u32) -> Option<i64> {
    let (neg, digits) = match v.as_bytes().first() {
        Some(b'-') => (true, &v[1..]),
        Some(b'+') => (false, &v[1..]),
        _ => (false, v),
    };
    let n = parse_uint_base0(digits, 64)?;
    let cutoff = 1u64 << (bits - 1);
    if neg {
        if n > cutoff {
            return None;
        }
        // n ≤ 2^63, so the negation fits.
        Some((n as i64).wrapping_neg())
    } else if n >= cutoff {
        None
    } else {
        Some(n as i64)
    }
}

/// Go's `ParseUint(s, 0, bits)`: no sign, fits in `bits` (1..=64).
fn parse_uint_base0(s: &str, bits: u32) -> Option<u64> {
    if s.is_empty() || !underscore_ok(s) {
        return None;
    }
    let b = s.as_bytes();
    let (base, rest): (u32, &[u8]) = if b[0] == b'0' {
        match b.get(1).map(u8::to_ascii_lowercase) {
            Some(b'b') if b.len() >= 3 => (2, &b[2..]),
            Some(b'o') if b.len() >= 3 => (8, &b[2..]),
            Some(b'x') if b.len() >= 3 => (16, &b[2..]),
            _ => (8, &b[1..]),
        }
    } else {
        (10, b)
    };
    let max = if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    let mut n: u64 = 0;
    for &c in rest {
        if c == b'_' {
            continue;
        }
        let d = (c as char).to_digit(base)?;
        n = n.checked_mul(u64::from(base))?.checked_add(u64::from(d))?;
        if n > max {
            return None;
        }
    }
    Some(n)
}

/// Go's `underscoreOK`: underscores only between digits, or after a base prefix.
fn underscore_ok(s: &str) -> bool {
    let b = s.as_bytes();
    // '^' start, '0' digit or prefix, '_' underscore, '!' anything else.
    let mut saw = b'^';
    let mut i = 0;
    let mut hex = false;
    if b.len() >= 2 && b[0] == b'0' && matches!(b[1].to_ascii_lowercase(), b'b' | b'o' | b'x') {
        i = 2;
        saw = b'0';
        hex = b[1].eq_ignore_ascii_case(&b'x');
    }
    while i < b.len() {
        let c = b[i];
        i += 1;
        if c.is_ascii_digit() || (hex && c.is_ascii_hexdigit()) {
            saw = b'0';
        } else if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else {
            if saw == b'_' {
                return false;
            }
            saw = b'!';
        }
    }
    saw != b'_'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_as_go_parse_bool_after_lowercasing() {
        for v in ["", "1", "t", "T", "true", "True", "TRUE", "tRuE"] {
            assert_eq!(parse_bool(v), Some(true), "{v:?}");
        }
        for v in ["0", "f", "F", "false", "False", "FALSE"] {
            assert_eq!(parse_bool(v), Some(false), "{v:?}");
        }
        for v in ["yes", "no", "2", "on", " true", "truee", "-1"] {
            assert_eq!(parse_bool(v), None, "{v:?}");
        }
    }

    #[test]
    fn integers_as_go_parse_int_base_0() {
        let ok = [
            ("0", 0),
            ("42", 42),
            ("+42", 42),
            ("-42", -42),
            ("0x1F", 31),
            ("0X1f", 31),
            ("017", 15),
            ("0o17", 15),
            ("0b101", 5),
            ("1_000", 1000),
            ("0x_1f", 31),
            ("-2147483648", i32::MIN as i64),
            ("2147483647", i32::MAX as i64),
        ];
        for (v, n) in ok {
            assert_eq!(parse_int(v, 32), Some(n), "{v:?}");
        }
        let bad = [
            "",
            "-",
            "08",
            "1.5",
            "1e3",
            "_1",
            "1_",
            "1__0",
            "0x",
            " 1",
            "2147483648",
            "-2147483649",
        ];
        for v in bad {
            assert_eq!(parse_int(v, 32), None, "{v:?}");
        }
        assert_eq!(parse_int("9223372036854775807", 64), Some(i64::MAX));
        assert_eq!(parse_int("-9223372036854775808", 64), Some(i64::MIN));
        assert_eq!(parse_int("9223372036854775808", 64), None);
        assert_eq!(parse_uint_base0("18446744073709551615", 64), Some(u64::MAX));
        assert_eq!(parse_uint_base0("18446744073709551616", 64), None);
        assert_eq!(parse_uint_base0("+1", 64), None);
    }

    #[test]
    fn the_message_is_kubos() {
        let e = BadValue {
            option: "pin".into(),
            kind: "bool",
            value: "yes".into(),
        };
        assert_eq!(
            e.to_string(),
            "could not convert value \"yes\" to type \"bool\" (for option \"-pin\")"
        );
        let e = BadValue {
            option: "offset".into(),
            kind: "int64",
            value: String::new(),
        };
        assert_eq!(
            e.to_string(),
            "could not convert empty value to type \"int64\" (for option \"-offset\")"
        );
    }
}
