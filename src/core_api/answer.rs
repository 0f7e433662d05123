//! Reading a daemon's answers for [`Remote`](super::Remote): the `arg=` parameters
//! of a request, and the fields of Kubo's JSON.
//!
//! Each reader names the field it wanted, so a required field that is missing or of
//! the wrong type is an error naming it, never a silent default.

use super::error::{bail, Context as _, Result};
use cid::Cid;
use serde_json::Value;

use acorn_storage::cids;

/// The `arg=` parameters of `list`, in order.
pub fn args(list: &[String]) -> Vec<(&'static str, String)> {
    list.iter().map(|a| ("arg", a.clone())).collect()
}

/// Field `key` of `v`.
pub fn field<'a>(v: &'a Value, key: &str) -> Result<&'a Value> {
    v.get(key)
        .with_context(|| format!("the daemon's answer has no {key:?}: {v}"))
}

/// String field `key` of `v`.
pub fn str_field<'a>(v: &'a Value, key: &str) -> Result<&'a str> {
    field(v, key)?
        .as_str()
        .with_context(|| format!("the daemon's {key:?} is not a string"))
}

/// Count field `key` of `v`.
pub fn u64_field(v: &Value, key: &str) -> Result<u64> {
    field(v, key)?
        .as_u64()
        .with_context(|| format!("the daemon's {key:?} is not a count"))
}

/// List field `key` of `v` (`null` reads as empty, as Go sends a nil slice).
pub fn array<'a>(v: &'a Value, key: &str) -> Result<&'a [Value]> {
    match field(v, key)? {
        Value::Null => Ok(&[]),
        Value::Array(a) => Ok(a),
        _ => bail!("the daemon's {key:?} is not a list"),
    }
}

/// List-of-strings field `key` of `v`.
pub fn strings(v: &Value, key: &str) -> Result<Vec<String>> {
    array(v, key)?
        .iter()
        .map(|s| {
            s.as_str()
                .map(str::to_string)
                .with_context(|| format!("the daemon's {key:?} holds a non-string"))
        })
        .collect()
}

/// A CID the daemon sent as a JSON string.
pub fn cid_value(v: &Value) -> Result<Cid> {
    let s = v
        .as_str()
        .with_context(|| format!("the daemon sent {v} where a CID belongs"))?;
    cids::parse(s).with_context(|| format!("bad CID {s:?} from the daemon"))
}

/// The CID in string field `key` of `v`.
pub fn cid_field(v: &Value, key: &str) -> Result<Cid> {
    cid_value(field(v, key)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn readers_name_what_is_wrong() {
        let v = json!({"Hash": "bafkqaaa", "N": 3, "L": null, "S": ["a"], "Bad": 1});
        assert_eq!(cid_field(&v, "Hash").unwrap().to_string(), "bafkqaaa");
        assert_eq!(u64_field(&v, "N").unwrap(), 3);
        assert!(array(&v, "L").unwrap().is_empty());
        assert_eq!(strings(&v, "S").unwrap(), ["a"]);
        let e = cid_field(&v, "Missing").unwrap_err().to_string();
        assert!(e.contains("\"Missing\""), "{e}");
        let e = cid_field(&v, "Bad").unwrap_err().to_string();
        assert!(e.contains("where a CID belongs"), "{e}");
        let e = str_field(&v, "N").unwrap_err().to_string();
        assert!(e.contains("\"N\" is not a string"), "{e}");
        assert_eq!(
            args(&["a".into(), "b".into()]),
            [("arg", "a".to_string()), ("arg", "b".to_string())]
        );
    }
}
