//! Writing DAG-JSON in its canonical form: no whitespace, keys in byte order,
//! JavaScript's float layout, `JSON.stringify`'s string escapes, and the reserved
//! `"/"` namespace checked on the way out as on the way in.

use super::*;

pub(super) fn write_value(out: &mut String, v: &Ipld, depth: usize) -> Result<(), CodecError> {
    match v {
        Ipld::Null => out.push_str("null"),
        Ipld::Bool(true) => out.push_str("true"),
        Ipld::Bool(false) => out.push_str("false"),
        Ipld::Integer(i) => {
            if !(INT_MIN..=INT_MAX).contains(i) {
                return Err(CodecError::unencodable(
                    CODEC,
                    format!("integer {i} outside -2^64..2^64-1"),
                ));
            }
            out.push_str(&i.to_string());
        }
        Ipld::Float(f) => write_float(out, *f)?,
        Ipld::String(s) => write_string(out, s),
        Ipld::Bytes(b) => {
            out.push_str(r#"{"/":{"bytes":""#);
            out.push_str(&Base::Base64.encode(b));
            out.push_str(r#""}}"#);
        }
        Ipld::Link(c) => {
            out.push_str(r#"{"/":""#);
            out.push_str(&c.to_string());
            out.push_str(r#""}"#);
        }
        Ipld::List(l) => {
            check_depth(depth)?;
            out.push('[');
            for (i, x) in l.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, x, depth + 1)?;
            }
            out.push(']');
        }
        Ipld::Map(m) => {
            check_depth(depth)?;
            match classify(m) {
                Reserved::Plain => {}
                Reserved::Link(_) | Reserved::Bytes(_) => {
                    return Err(CodecError::unencodable(
                        CODEC,
                        "a map of the reserved {\"/\": …} form would read back as a link or bytes",
                    ))
                }
                Reserved::Misused(r) => return Err(CodecError::unencodable(CODEC, r)),
            }
            out.push('{');
            // BTreeMap<String, _> iterates in byte order, the order the spec asks for.
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(out, k);
                out.push(':');
                write_value(out, x, depth + 1)?;
            }
            out.push('}');
        }
    }
    Ok(())
}

fn check_depth(depth: usize) -> Result<(), CodecError> {
    crate::codec::model::check_encode_depth(CODEC, depth, MAX_DEPTH_LEVELS)
}

/// Writes a JSON string the way `JSON.stringify` does: `"` and `\` escaped, the
/// short escapes for \b \f \n \r \t, `\u00xx` for other controls, all else as is.
fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Writes the shortest decimal that reads back as `f`, laid out as JavaScript's
/// `Number#toString` does (plain for 1e-7 ≤ |f| < 1e21, else `d.ddde±x`), with
/// `.0` appended when the plain form has no fraction so it reads back as a float.
fn write_float(out: &mut String, f: f64) -> Result<(), CodecError> {
    if !f.is_finite() {
        return Err(CodecError::unencodable(
            CODEC,
            format!("non-finite float {f}"),
        ));
    }
    // `{:e}` gives the shortest round-trip digits: "-8.940696716308594e-8".
    let sci = format!("{:e}", f.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    // Rust's LowerExp always writes a decimal exponent; 0 is a safe fallback.
    let exp: i32 = exp.parse().unwrap_or(0);
    let k = digits.len() as i32;
    let n = exp + 1; // value = 0.d1d2…dk × 10^n
    if f.is_sign_negative() {
        out.push('-');
    }
    if k <= n && n <= 21 {
        out.push_str(&digits);
        out.push_str(&"0".repeat((n - k) as usize));
        out.push_str(".0");
    } else if 0 < n && n <= 21 {
        out.push_str(&digits[..n as usize]);
        out.push('.');
        out.push_str(&digits[n as usize..]);
    } else if -6 < n && n <= 0 {
        out.push_str("0.");
        out.push_str(&"0".repeat((-n) as usize));
        out.push_str(&digits);
    } else {
        out.push_str(&digits[..1]);
        if k > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if n - 1 < 0 { '-' } else { '+' });
        out.push_str(&(n - 1).abs().to_string());
    }
    Ok(())
}
