//! Get and set by dotted key (`Swarm.ConnMgr.HighWater`), and the tree of the
//! keys Acorn does not know, kept and written back beside the typed ones.

use super::*;

/// Sections whose keys are the user's (a map, not a struct); every other section
/// has a fixed set of keys. A section whose default is an empty object counts as
/// open too.
pub(super) const OPEN_SECTIONS: &[&str] = &["API.HTTPHeaders"];

/// The tree of every key Acorn knows, with the default values: the serialized
/// default config. So every typed field must serialize in the default (no
/// `skip_serializing_if`), or a file's value for it would be kept as unknown; a
/// map section (keys are the user's) serializes as `{}` or is in
/// [`OPEN_SECTIONS`].
pub(super) fn schema() -> Value {
    Config::with_identity(IdentitySection {
        peer_id: String::new(),
        priv_key: String::new(),
    })
    .typed_value()
}

/// Whether the dotted key names a key (or section) Acorn knows, its parts
/// matching exactly or ignoring ASCII case (as [`Config::get`] finds them).
pub fn is_known(key: &str) -> bool {
    let schema = schema();
    let mut cursor = &schema;
    let mut path = String::new();
    for part in key.split('.') {
        if OPEN_SECTIONS.contains(&path.as_str()) || cursor.as_object().is_some_and(Map::is_empty) {
            // A map's keys are the user's: any name is one Acorn uses.
            return true;
        }
        let next = cursor.as_object().and_then(|m| {
            m.get(part).or_else(|| {
                m.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(part))
                    .map(|(_, v)| v)
            })
        });
        match next {
            Some(next) => cursor = next,
            None => return false,
        }
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(part);
    }
    true
}

/// Splits a file's object at `path` into (the keys in `schema`, the others).
/// `null` where the schema has a list becomes the empty list, and `null` where it
/// has a section is dropped (the section's defaults), as Kubo reads them.
pub(super) fn split_unknown(
    map: Map<String, Value>,
    schema: &Value,
    path: &str,
) -> (Map<String, Value>, Map<String, Value>) {
    let mut known = Map::new();
    let mut unknown = Map::new();
    for (k, v) in map {
        let Some(default) = schema.get(&k) else {
            unknown.insert(k, v);
            continue;
        };
        let key = if path.is_empty() {
            k.clone()
        } else {
            format!("{path}.{k}")
        };
        let open = OPEN_SECTIONS.contains(&key.as_str());
        match (v, default) {
            (Value::Null, Value::Array(_)) => {
                known.insert(k, Value::Array(Vec::new()));
            }
            (Value::Null, Value::Object(_)) => {}
            (Value::Object(sub), Value::Object(d)) if !open && !d.is_empty() => {
                let (sub_known, sub_unknown) = split_unknown(sub, default, &key);
                known.insert(k.clone(), Value::Object(sub_known));
                if !sub_unknown.is_empty() {
                    unknown.insert(k, Value::Object(sub_unknown));
                }
            }
            (v, _) => {
                known.insert(k, v);
            }
        }
    }
    (known, unknown)
}

/// The first leaf of a tree of known keys whose value alone, over the defaults,
/// does not parse: the key a decode error is about (serde's own message has no
/// path).
pub(super) fn culprit(known: &Value) -> Option<String> {
    leaves(known).into_iter().find_map(|(key, value)| {
        let mut tree = schema();
        let mut cursor = &mut tree;
        for part in key.split('.') {
            let map = cursor.as_object_mut()?;
            cursor = map
                .entry(part.to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
        }
        *cursor = value;
        serde_json::from_value::<Config>(tree)
            .is_err()
            .then_some(key)
    })
}

/// Puts the kept unknown keys back into a typed tree, after the known keys of
/// each section.
pub(super) fn merge_unknown(tree: &mut Map<String, Value>, unknown: &Map<String, Value>) {
    for (k, v) in unknown {
        match (tree.get_mut(k), v) {
            (Some(Value::Object(sub)), Value::Object(u)) => merge_unknown(sub, u),
            (Some(_), _) => {}
            (None, v) => {
                tree.insert(k.clone(), v.clone());
            }
        }
    }
}

/// [`Config::ignored_keys`] of a config's JSON tree (as `config show` prints it).
pub fn ignored_keys_of(tree: &Value) -> Vec<String> {
    match tree {
        Value::Object(map) => ignored_in(&split_unknown(map.clone(), &schema(), "").1),
        _ => Vec::new(),
    }
}

/// The highest key of each branch of an `unknown` tree.
pub(super) fn ignored_in(unknown: &Map<String, Value>) -> Vec<String> {
    {
        fn walk(prefix: &str, map: &Map<String, Value>, out: &mut Vec<String>) {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                match v {
                    // A branch of `unknown` mirrors a known section: go down.
                    Value::Object(sub) if is_known(&key) => walk(&key, sub, out),
                    _ => out.push(key),
                }
            }
        }
        let mut out = Vec::new();
        walk("", unknown, &mut out);
        out
    }
}

impl Config {
    /// The value at a dotted key (`Addresses.API`). Key parts match exactly, or
    /// else ignoring ASCII case (as Kubo). `Identity` and `Identity.PrivKey` are
    /// refused.
    pub fn get(&self, key: &str) -> Result<Value, ConfigError> {
        let parts = split_key(key)?;
        refuse_private_key(&parts)?;
        let tree = self.to_value();
        let mut cursor = &tree;
        for (depth, part) in parts.iter().enumerate() {
            let map = as_section(cursor, &parts[..depth], key)?;
            let name = resolve(map, part, key)?;
            cursor = &map[name.as_str()];
        }
        Ok(cursor.clone())
    }

    /// Set the value at a dotted key. A key Acorn does not know is created (and
    /// kept, unused; see [`is_known`]), as Kubo does; the result must parse as a
    /// config and pass [`Config::validate`], else nothing changes. `Identity.*` is
    /// refused.
    pub fn set(&mut self, key: &str, value: Value) -> Result<(), ConfigError> {
        let parts = split_key(key)?;
        refuse_private_key(&parts)?;
        if parts[0].eq_ignore_ascii_case("Identity") {
            return Err(ConfigError::IdentityReadOnly { key: key.into() });
        }
        let mut tree = self.to_value();
        let mut canonical = Vec::with_capacity(parts.len());
        let mut cursor = &mut tree;
        for (depth, part) in parts.iter().enumerate() {
            let map = as_section_mut(cursor, &parts[..depth], key)?;
            let name = match resolve(map, part, key) {
                Err(_) => {
                    // A new key: a leaf, or a section on the way to one.
                    let fresh = if depth + 1 == parts.len() {
                        Value::Null
                    } else {
                        Value::Object(Map::new())
                    };
                    map.insert((*part).to_owned(), fresh);
                    (*part).to_owned()
                }
                r => r?,
            };
            canonical.push(name.clone());
            cursor = map
                .get_mut(name.as_str())
                .expect("resolve returned a key of this map");
        }
        *cursor = value;
        let canonical = canonical.join(".");
        let new = Config::from_value(tree).map_err(|e| {
            // A typed value (a size, a duration) that does not parse names its key
            // already; a value of the wrong JSON type gets the flags' hint.
            let reason = match &e {
                ParseError::Key { key, source }
                    if *key == canonical && !source.to_string().starts_with("invalid type") =>
                {
                    source.to_string()
                }
                _ => format!("{e} (maybe use --json or --bool?)"),
            };
            ConfigError::InvalidValue {
                key: canonical.clone(),
                reason,
            }
        })?;
        new.validate()?;
        *self = new;
        Ok(())
    }
}

/// `config KEY VALUE`'s VALUE: JSON with `json`, `true`/`false` with `boolean`,
/// else the text as a string (Kubo's `--json` / `--bool`).
pub fn parse_value(text: &str, json: bool, boolean: bool) -> Result<Value, ConfigError> {
    let bad = |reason: String| ConfigError::BadInput { reason };
    match (json, boolean) {
        (true, true) => Err(bad("use either --json or --bool, not both".into())),
        (true, false) => serde_json::from_str(text)
            .map_err(|e| bad(format!("VALUE {text:?} is not valid JSON: {e}"))),
        (false, true) => match text {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(bad(format!("expected true or false, got {text:?}"))),
        },
        (false, false) => Ok(Value::String(text.to_owned())),
    }
}

pub(super) fn split_key(key: &str) -> Result<Vec<&str>, ConfigError> {
    let parts: Vec<&str> = key.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(ConfigError::BadKey { key: key.into() });
    }
    Ok(parts)
}

pub(super) fn refuse_private_key(parts: &[&str]) -> Result<(), ConfigError> {
    let is = |i: usize, name: &str| parts.get(i).is_some_and(|p| p.eq_ignore_ascii_case(name));
    if is(0, "Identity") && (parts.len() == 1 || is(1, "PrivKey")) {
        return Err(ConfigError::PrivateKey);
    }
    Ok(())
}

pub(super) fn as_section<'a>(
    v: &'a Value,
    path: &[&str],
    key: &str,
) -> Result<&'a Map<String, Value>, ConfigError> {
    v.as_object().ok_or_else(|| not_a_section(path, key))
}

pub(super) fn as_section_mut<'a>(
    v: &'a mut Value,
    path: &[&str],
    key: &str,
) -> Result<&'a mut Map<String, Value>, ConfigError> {
    match v {
        Value::Object(map) => Ok(map),
        _ => Err(not_a_section(path, key)),
    }
}

pub(super) fn not_a_section(path: &[&str], key: &str) -> ConfigError {
    ConfigError::UnknownKey {
        key: key.into(),
        known: format!("none, {} is a value, not a section", path.join(".")),
    }
}

/// Find `part` in `map`: exact match first, then ASCII case-insensitive.
pub(super) fn resolve(
    map: &Map<String, Value>,
    part: &str,
    key: &str,
) -> Result<String, ConfigError> {
    if map.contains_key(part) {
        return Ok(part.to_owned());
    }
    map.keys()
        .find(|k| k.eq_ignore_ascii_case(part))
        .cloned()
        .ok_or_else(|| ConfigError::UnknownKey {
            key: key.into(),
            known: map.keys().cloned().collect::<Vec<_>>().join(", "),
        })
}

/// Every leaf of a JSON tree as (dotted key, value); lists count as leaves.
pub fn leaves(tree: &Value) -> Vec<(String, Value)> {
    fn walk(prefix: &str, v: &Value, out: &mut Vec<(String, Value)>) {
        match v {
            Value::Object(map) => {
                for (k, child) in map {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&key, child, out);
                }
            }
            _ => out.push((prefix.to_owned(), v.clone())),
        }
    }
    let mut out = Vec::new();
    walk("", tree, &mut out);
    out
}
