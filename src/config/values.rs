//! Kubo's humanized byte sizes and Go durations, as the config file writes them.

use super::*;

/// Parse a humanized byte size as Kubo does (go-humanize `ParseBytes`):
/// `"10GB"` = 10 × 10⁹, `"10GiB"` = 10 × 2³⁰, `"512"` = 512 bytes, `"1.5MB"`;
/// case-insensitive, optional space before the unit.
pub fn parse_bytes(s: &str) -> Result<u64, BadValue> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let unit = unit.trim().to_ascii_lowercase();
    let multiplier: u64 = match unit.as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "m" | "mb" => 1_000_000,
        "g" | "gb" => 1_000_000_000,
        "t" | "tb" => 1_000_000_000_000,
        "p" | "pb" => 1_000_000_000_000_000,
        "ki" | "kib" => 1 << 10,
        "mi" | "mib" => 1 << 20,
        "gi" | "gib" => 1 << 30,
        "ti" | "tib" => 1 << 40,
        "pi" | "pib" => 1 << 50,
        _ => return Err(BadValue(format!("{s:?}: unknown size unit {unit:?}"))),
    };
    let bad = || BadValue(format!("{s:?} is not a size like \"10GB\""));
    let (int, frac) = match num.split_once('.') {
        Some((i, f)) => (i, f),
        None => (num, ""),
    };
    if int.is_empty() && frac.is_empty() || frac.contains('.') {
        return Err(bad());
    }
    let int: u64 = if int.is_empty() {
        0
    } else {
        int.parse().map_err(|_| bad())?
    };
    let whole = int
        .checked_mul(multiplier)
        .ok_or_else(|| BadValue(format!("{s:?} is too large")))?;
    // Fraction: at most 18 digits so the arithmetic below stays in u128 range.
    let frac = &frac[..frac.len().min(18)];
    let frac_bytes = if frac.is_empty() {
        0
    } else {
        let digits: u128 = frac.parse().map_err(|_| bad())?;
        let scale = 10u128.pow(frac.len() as u32);
        (digits * multiplier as u128 / scale) as u64
    };
    whole
        .checked_add(frac_bytes)
        .ok_or_else(|| BadValue(format!("{s:?} is too large")))
}

/// Parse a Go duration (`"1h"`, `"20s"`, `"1m30s"`, `"1.5h"`, `"500ms"`, `"0"`).
pub fn parse_duration(s: &str) -> Result<Duration, BadValue> {
    let bad = || {
        BadValue(format!(
            "{s:?} is not a duration like \"1h\", \"20s\" or \"1m30s\""
        ))
    };
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err(bad());
    }
    let mut rest = s;
    let mut total = Duration::ZERO;
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        if n == 0 {
            return Err(bad());
        }
        let number: f64 = rest[..n].parse().map_err(|_| bad())?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit_secs = match &rest[..u] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        rest = &rest[u..];
        total = total
            .checked_add(Duration::try_from_secs_f64(number * unit_secs).map_err(|_| bad())?)
            .ok_or_else(bad)?;
    }
    Ok(total)
}

/// A size or duration that does not parse: why, in words that quote the text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadValue(pub String);

/// A Go duration setting (`"1h"`, `"30s"`), parsed once when the config is read
/// or set: a bad value fails there, named by its key. It keeps the text it was
/// written as, so a config file reads back and writes out byte for byte.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GoDuration {
    text: String,
    value: Duration,
}

impl GoDuration {
    /// The duration `text` names, or why it names none ([`parse_duration`]).
    pub fn new(text: impl Into<String>) -> Result<GoDuration, BadValue> {
        let text = text.into();
        let value = parse_duration(&text)?;
        Ok(GoDuration { text, value })
    }

    /// A duration of whole seconds, written `"<n>s"`.
    pub fn from_secs(secs: u64) -> GoDuration {
        GoDuration {
            text: format!("{secs}s"),
            value: Duration::from_secs(secs),
        }
    }

    /// The duration.
    pub fn get(&self) -> Duration {
        self.value
    }
}

impl std::str::FromStr for GoDuration {
    type Err = BadValue;
    fn from_str(s: &str) -> Result<GoDuration, BadValue> {
        GoDuration::new(s)
    }
}

impl fmt::Display for GoDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for GoDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for GoDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<GoDuration, D::Error> {
        GoDuration::new(String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// A humanized size setting (`"10GB"`, `"32MiB"`, Kubo's go-humanize form),
/// parsed once when the config is read or set; blank text is a size left unset
/// (keys that need one say so at validation). It keeps the text it was written
/// as, so a config file reads back and writes out byte for byte.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HumanSize {
    text: String,
    bytes: Option<u64>,
}

impl HumanSize {
    /// The size `text` names (`None` when blank), or why it names none
    /// ([`parse_bytes`]).
    pub fn new(text: impl Into<String>) -> Result<HumanSize, BadValue> {
        let text = text.into();
        let bytes = if text.trim().is_empty() {
            None
        } else {
            Some(parse_bytes(&text)?)
        };
        Ok(HumanSize { text, bytes })
    }

    /// The size in bytes; `None` when the text is blank.
    pub fn bytes(&self) -> Option<u64> {
        self.bytes
    }

    /// The text as the config file writes it.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl std::str::FromStr for HumanSize {
    type Err = BadValue;
    fn from_str(s: &str) -> Result<HumanSize, BadValue> {
        HumanSize::new(s)
    }
}

impl fmt::Display for HumanSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for HumanSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for HumanSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<HumanSize, D::Error> {
        HumanSize::new(String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}
