//! Firmware (board) profiles: `firmware-profiles/*.toml`, embedded at build time.
//!
//! **What.** [`FILES`] holds the text of every firmware profile, compiled into the
//! binary with `include_str!`, so `acorn init --profile pi-zero` needs no files on
//! disk. [`parse`] reads one into a [`BoardProfile`]; [`apply`] sets its `[config]`
//! keys through [`Config::set`], the setter `acorn config KEY VALUE` uses, so a key
//! the config does not have fails loudly. [`readme_table`] renders the README's
//! "Firmware profiles" table from the files.
//!
//! **Spec.** The files use a flat subset of TOML: `# comments`, `[section]`
//! headers (`profile`, `config`), and one `key = value` per line, where a key is
//! bare (`name`) or a basic string (`"Swarm.ConnMgr.HighWater"`) and a value is a
//! basic string (escapes `\"` and `\\`), an integer, `true`/`false`, or a one-line
//! array of strings. Everything else is refused with its line number.
//!
//! **Flow.** `parse` → `BoardProfile { [profile] fields, config: [(key, JSON value)] }`
//! → `apply` sets each key in turn. `Config::set` validates after every key, so a
//! key that is only valid once a later one is set (`LowWater` above the current
//! `HighWater`) is retried after the others; a key that never sets is an error.
//!
//! **Limits.** The files are ours and embedded: no size limit is needed; the
//! parser still never panics on bad input.
//!
//! **Departures from TOML.** No literal strings, multi-line values, tables of
//! tables, floats or dates; a key may not repeat.

use serde_json::Value;

use crate::config::Config;

/// Every firmware profile as (name, file text), smallest ceiling first.
pub const FILES: &[(&str, &str)] = &[
    (
        "pi-zero",
        include_str!("../../firmware-profiles/pi-zero.toml"),
    ),
    (
        "vps-256m",
        include_str!("../../firmware-profiles/vps-256m.toml"),
    ),
    ("pi3", include_str!("../../firmware-profiles/pi3.toml")),
    ("pi4", include_str!("../../firmware-profiles/pi4.toml")),
];

/// The text of the firmware profile called `name`.
pub fn file(name: &str) -> Option<&'static str> {
    FILES.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// One parsed firmware profile.
#[derive(Clone, Debug, PartialEq)]
pub struct BoardProfile {
    /// `[profile] name`.
    pub name: String,
    /// Board models (as in `/proc/device-tree/model`) this profile is for.
    pub boards: Vec<String>,
    /// RAM of the board class, MiB.
    pub board_memory_mib: u64,
    /// Peak RSS (`VmHWM`) the daemon must stay under, MiB.
    pub memory_ceiling_mib: u64,
    /// `MemoryMax` of `acorn.service` for this profile, MiB.
    pub systemd_memory_max_mib: u64,
    /// Rust targets that build for these boards.
    pub rust_targets: Vec<String>,
    /// OS threads the daemon runs idle (`/proc/PID/task`), at most.
    pub idle_threads: u64,
    /// OS threads the daemon runs under any load, at most (`bench-ceiling` checks
    /// both).
    pub max_threads: u64,
    /// `[config]`: dotted config keys and their values, in file order.
    pub config: Vec<(String, Value)>,
}

/// A firmware profile file that does not parse.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum ParseError {
    /// A line outside the supported TOML subset.
    #[error("line {line}: {reason}")]
    Syntax { line: usize, reason: String },
    /// A `[profile]` field that is missing.
    #[error("[profile] has no {key}")]
    Missing { key: &'static str },
}

fn syntax(line: usize, reason: impl ToString) -> ParseError {
    ParseError::Syntax {
        line,
        reason: reason.to_string(),
    }
}

/// What is wrong with a key or value of a line.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum ValueError {
    #[error("expected a key")]
    NoKey,
    #[error("unsupported escape in a string")]
    Escape,
    #[error("unterminated string")]
    Unterminated,
    #[error("arrays hold strings only")]
    NotAString,
    #[error("expected `,` or `]` in an array")]
    ArraySeparator,
    #[error("{0:?} is not a string, integer, boolean or array")]
    Unsupported(String),
}

/// Why a firmware profile could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("{key}: not a config key Acorn uses")]
    UnknownKey { key: String },
    #[error("{key} = {value}: {reason}")]
    Rejected {
        key: String,
        value: Value,
        reason: String,
    },
    #[error("no firmware profile file {0}")]
    NoFile(String),
    #[error("firmware-profiles/{name}.toml: {source}")]
    Parse { name: String, source: ParseError },
}

/// Parse one firmware profile file.
pub fn parse(text: &str) -> Result<BoardProfile, ParseError> {
    #[derive(PartialEq)]
    enum Section {
        None,
        Profile,
        Config,
    }
    let mut section = Section::None;
    let mut name = None;
    let mut boards = None;
    let mut board_memory = None;
    let mut ceiling = None;
    let mut memory_max = None;
    let mut targets = None;
    let mut idle_threads = None;
    let mut max_threads = None;
    let mut config: Vec<(String, Value)> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            let (header, after) = rest
                .split_once(']')
                .ok_or_else(|| syntax(line_no, "unclosed section header"))?;
            if !is_blank_or_comment(after) {
                return Err(syntax(line_no, "text after the section header"));
            }
            section = match header.trim() {
                "profile" => Section::Profile,
                "config" => Section::Config,
                other => return Err(syntax(line_no, format!("unknown section [{other}]"))),
            };
            continue;
        }
        let (key, rest) = parse_key(line).map_err(|r| syntax(line_no, r))?;
        let rest = rest
            .trim_start()
            .strip_prefix('=')
            .ok_or_else(|| syntax(line_no, "expected `=` after the key"))?;
        let (value, after) = parse_value(rest.trim_start()).map_err(|r| syntax(line_no, r))?;
        if !is_blank_or_comment(after) {
            return Err(syntax(line_no, "text after the value"));
        }
        match section {
            Section::None => return Err(syntax(line_no, "key before any [section]")),
            Section::Config => {
                if config.iter().any(|(k, _)| *k == key) {
                    return Err(syntax(line_no, format!("{key} appears twice")));
                }
                config.push((key, value));
            }
            Section::Profile => {
                let slot_is_set = match key.as_str() {
                    "name" => set_once(&mut name, string(value), line_no)?,
                    "boards" => set_once(&mut boards, strings(value), line_no)?,
                    "board_memory_mib" => set_once(&mut board_memory, int(value), line_no)?,
                    "memory_ceiling_mib" => set_once(&mut ceiling, int(value), line_no)?,
                    "systemd_memory_max_mib" => set_once(&mut memory_max, int(value), line_no)?,
                    "rust_targets" => set_once(&mut targets, strings(value), line_no)?,
                    "idle_threads" => set_once(&mut idle_threads, int(value), line_no)?,
                    "max_threads" => set_once(&mut max_threads, int(value), line_no)?,
                    other => return Err(syntax(line_no, format!("unknown [profile] key {other}"))),
                };
                if !slot_is_set {
                    return Err(syntax(line_no, format!("{key} has the wrong type")));
                }
            }
        }
    }
    Ok(BoardProfile {
        name: name.ok_or(ParseError::Missing { key: "name" })?,
        boards: boards.ok_or(ParseError::Missing { key: "boards" })?,
        board_memory_mib: board_memory.ok_or(ParseError::Missing {
            key: "board_memory_mib",
        })?,
        memory_ceiling_mib: ceiling.ok_or(ParseError::Missing {
            key: "memory_ceiling_mib",
        })?,
        systemd_memory_max_mib: memory_max.ok_or(ParseError::Missing {
            key: "systemd_memory_max_mib",
        })?,
        rust_targets: targets.ok_or(ParseError::Missing {
            key: "rust_targets",
        })?,
        idle_threads: idle_threads.ok_or(ParseError::Missing {
            key: "idle_threads",
        })?,
        max_threads: max_threads.ok_or(ParseError::Missing { key: "max_threads" })?,
        config,
    })
}

/// Store `value` in an empty `slot`: `Ok(false)` if it had the wrong type
/// (`None`), an error if the slot was already set.
fn set_once<T>(slot: &mut Option<T>, value: Option<T>, line: usize) -> Result<bool, ParseError> {
    if slot.is_some() {
        return Err(syntax(line, "key appears twice"));
    }
    *slot = value;
    Ok(slot.is_some())
}

fn string(v: Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s),
        _ => None,
    }
}

fn int(v: Value) -> Option<u64> {
    v.as_u64()
}

fn strings(v: Value) -> Option<Vec<String>> {
    match v {
        Value::Array(items) => items.into_iter().map(string).collect(),
        _ => None,
    }
}

fn is_blank_or_comment(s: &str) -> bool {
    let s = s.trim_start();
    s.is_empty() || s.starts_with('#')
}

/// A bare key (`A-Za-z0-9_-`) or a basic string; returns it and the rest.
fn parse_key(s: &str) -> Result<(String, &str), ValueError> {
    if s.starts_with('"') {
        return parse_string(s);
    }
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        .unwrap_or(s.len());
    if end == 0 {
        return Err(ValueError::NoKey);
    }
    Ok((s[..end].to_owned(), &s[end..]))
}

/// A basic string starting at `s[0] == '"'`; returns it and the rest.
fn parse_string(s: &str) -> Result<(String, &str), ValueError> {
    let mut out = String::new();
    let mut chars = s.char_indices().skip(1);
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((out, &s[i + 1..])),
            '\\' => match chars.next() {
                Some((_, '"')) => out.push('"'),
                Some((_, '\\')) => out.push('\\'),
                _ => return Err(ValueError::Escape),
            },
            c => out.push(c),
        }
    }
    Err(ValueError::Unterminated)
}

/// One value; returns it and the rest of the line.
fn parse_value(s: &str) -> Result<(Value, &str), ValueError> {
    if s.starts_with('"') {
        let (text, rest) = parse_string(s)?;
        return Ok((Value::String(text), rest));
    }
    if let Some(mut rest) = s.strip_prefix('[') {
        let mut items = Vec::new();
        loop {
            rest = rest.trim_start();
            if let Some(after) = rest.strip_prefix(']') {
                return Ok((Value::Array(items), after));
            }
            if !rest.starts_with('"') {
                return Err(ValueError::NotAString);
            }
            let (item, after) = parse_string(rest)?;
            items.push(Value::String(item));
            rest = after.trim_start();
            if let Some(after) = rest.strip_prefix(',') {
                rest = after;
            } else if !rest.starts_with(']') {
                return Err(ValueError::ArraySeparator);
            }
        }
    }
    let end = s
        .find(|c: char| c.is_whitespace() || c == '#')
        .unwrap_or(s.len());
    let (word, rest) = s.split_at(end);
    match word {
        "true" => Ok((Value::Bool(true), rest)),
        "false" => Ok((Value::Bool(false), rest)),
        _ => word
            .parse::<i64>()
            .map(|n| (Value::from(n), rest))
            .map_err(|_| ValueError::Unsupported(word.to_string())),
    }
}

/// Set every `[config]` key of `profile` with [`Config::set`]. A key that fails
/// is retried after the others (validation may need a later key first); when a
/// round sets nothing, the first failure is the error and `config` is unchanged.
/// A key Acorn does not use is an error (a profile only sets Acorn's settings),
/// though `Config::set` would keep it.
pub fn apply(config: &mut Config, profile: &BoardProfile) -> Result<(), ApplyError> {
    if let Some((key, _)) = profile
        .config
        .iter()
        .find(|(key, _)| !crate::config::is_known(key))
    {
        return Err(ApplyError::UnknownKey { key: key.clone() });
    }
    let mut next = config.clone();
    let mut pending: Vec<&(String, Value)> = profile.config.iter().collect();
    while !pending.is_empty() {
        let mut failed = Vec::new();
        let mut first_error = None;
        for entry in &pending {
            let (key, value) = *entry;
            if let Err(e) = next.set(key, value.clone()) {
                first_error.get_or_insert_with(|| ApplyError::Rejected {
                    key: key.clone(),
                    value: value.clone(),
                    reason: e.to_string(),
                });
                failed.push(*entry);
            }
        }
        if failed.len() == pending.len() {
            if let Some(e) = first_error {
                return Err(e);
            }
        }
        pending = failed;
    }
    *config = next;
    Ok(())
}

/// Parse the embedded file called `name` and apply it.
pub fn apply_named(config: &mut Config, name: &str) -> Result<(), ApplyError> {
    let text = file(name).ok_or_else(|| ApplyError::NoFile(name.to_string()))?;
    let profile = parse(text).map_err(|source| ApplyError::Parse {
        name: name.to_string(),
        source,
    })?;
    apply(config, &profile)
}

/// The README's "Firmware profiles" table: one row per file in [`FILES`] order,
/// one column per `[config]` key (in order of first appearance; `default` where a
/// profile leaves the key alone). Only the README test renders it.
#[cfg(test)]
pub fn readme_table() -> Result<String, ParseError> {
    let profiles = FILES
        .iter()
        .map(|(_, text)| parse(text))
        .collect::<Result<Vec<_>, _>>()?;
    let mut keys: Vec<&str> = Vec::new();
    for p in &profiles {
        for (k, _) in &p.config {
            if !keys.contains(&k.as_str()) {
                keys.push(k);
            }
        }
    }
    let mut out =
        String::from("| profile | board memory | RSS ceiling | MemoryMax | threads idle/max |");
    for k in &keys {
        out.push_str(&format!(" `{k}` |"));
    }
    out.push_str("\n|---|---|---|---|---|");
    out.push_str(&"---|".repeat(keys.len()));
    out.push('\n');
    for p in &profiles {
        out.push_str(&format!(
            "| {} | {} MiB | {} MiB | {}M | {}/{} |",
            p.name,
            p.board_memory_mib,
            p.memory_ceiling_mib,
            p.systemd_memory_max_mib,
            p.idle_threads,
            p.max_threads
        ));
        for k in &keys {
            let cell = match p.config.iter().find(|(key, _)| key == k) {
                Some((_, Value::String(s))) => s.clone(),
                Some((_, v)) => v.to_string(),
                None => "default".into(),
            };
            out.push_str(&format!(" {cell} |"));
        }
        out.push('\n');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Identity;

    fn sample() -> Config {
        Config::with_identity(Identity::generate().to_config().unwrap())
    }

    #[test]
    fn every_file_parses_is_named_as_its_row_and_applies_to_a_fresh_config() {
        for (name, text) in FILES {
            let p = parse(text).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(p.name, *name);
            assert!(p.memory_ceiling_mib < p.systemd_memory_max_mib, "{name}");
            assert!(p.systemd_memory_max_mib < p.board_memory_mib, "{name}");
            assert!(
                2 <= p.idle_threads && p.idle_threads <= p.max_threads,
                "{name}"
            );
            let mut c = sample();
            apply(&mut c, &p).unwrap_or_else(|e| panic!("{name}: {e}"));
            c.validate().unwrap_or_else(|e| panic!("{name}: {e}"));
            // Every key landed with the file's value.
            for (key, value) in &p.config {
                assert_eq!(&c.get(key).unwrap(), value, "{name}: {key}");
            }
            for key in [
                "Acorn.BlockingThreads",
                "Acorn.BitswapWantTimeout",
                "Swarm.ConnMgr.HighWater",
                "Routing.Type",
                "API.MaxConcurrentRequests",
                "Gateway.MaxConcurrentRequests",
                "Gateway.RetrievalTimeout",
                "API.MaxConnections",
                "API.ReservedConnections",
                "API.MaxConnectionsPerIP",
                "API.MinBodyBytesPerSecond",
                "Gateway.MaxConnections",
                "Gateway.ReservedConnections",
                "Gateway.MaxConnectionsPerIP",
                "Gateway.MinBodyBytesPerSecond",
                "Acorn.BitswapMaxInboundBytes",
                "Acorn.BitswapMaxQueuedBytes",
                "Acorn.BitswapMaxInboundStreams",
                "Acorn.BitswapMaxPeerWants",
                "Acorn.YamuxMaxStreams",
                "Acorn.MaxPendingConnections",
                "Acorn.DhtMaxRecords",
            ] {
                assert!(
                    p.config.iter().any(|(k, _)| k == key),
                    "{name} does not set {key}"
                );
            }
        }
    }

    /// `Swarm.ResourceMgr.MaxMemory` (refuse new connections) sits below the RSS
    /// ceiling, high enough that an idle daemon (about 8 MiB) takes connections.
    #[test]
    fn every_profile_limits_connections_below_its_ceiling() {
        for (name, text) in FILES {
            let p = parse(text).unwrap();
            let mut c = sample();
            apply(&mut c, &p).unwrap();
            let max = c
                .swarm
                .resource_mgr
                .max_memory_bytes()
                .unwrap()
                .unwrap_or_else(|| panic!("{name} does not set Swarm.ResourceMgr.MaxMemory"));
            let ceiling = p.memory_ceiling_mib << 20;
            assert!(max < ceiling, "{name}: MaxMemory {max} >= ceiling");
            assert!(max >= ceiling / 2, "{name}: MaxMemory {max} < ceiling / 2");
            assert!(max >= 16 << 20, "{name}: MaxMemory {max} below 16 MiB");
        }
    }

    #[test]
    fn pi_zero_values() {
        let mut c = sample();
        apply_named(&mut c, "pi-zero").unwrap();
        assert_eq!(c.acorn.blocking_threads, 1);
        assert_eq!(c.api.max_concurrent_requests, 4);
        assert_eq!(c.gateway.max_concurrent_requests, 4);
        assert_eq!(
            c.gateway.retrieval_timeout(),
            std::time::Duration::from_secs(20)
        );
        assert_eq!(c.swarm.conn_mgr.low_water, 16);
        assert_eq!(c.swarm.conn_mgr.high_water, 32);
        assert_eq!(c.get("Routing.Type").unwrap(), "dhtclient");
    }

    #[test]
    fn unknown_key_or_bad_value_fails_and_changes_nothing() {
        let text = "[profile]\nname = \"x\"\nboards = []\nboard_memory_mib = 1\n\
                    memory_ceiling_mib = 1\nsystemd_memory_max_mib = 1\nrust_targets = []\nidle_threads = 2\nmax_threads = 4\n\
                    [config]\n\"Acorn.BlockingThreads\" = 1\n";
        let mut c = sample();
        let before = c.clone();
        for extra in [
            "\"Swarm.ConnMgr.HighWaterMark\" = 3",
            "\"Acorn.BlockingThreads2\" = 1",
            "\"Routing.Type\" = 7",
            "\"Datastore.StorageGCWatermark\" = 101",
        ] {
            let p = parse(&format!("{text}{extra}\n")).unwrap();
            let e = apply(&mut c, &p).unwrap_err().to_string();
            assert!(e.contains(extra.split('"').nth(1).unwrap()), "{e}");
            assert_eq!(c, before);
        }
    }

    #[test]
    fn order_of_keys_does_not_matter() {
        // LowWater 200 is above the default HighWater (96) until HighWater is set.
        let text = "[profile]\nname = \"x\"\nboards = [\"a\", \"b\"]\nboard_memory_mib = 1\n\
                    memory_ceiling_mib = 1\nsystemd_memory_max_mib = 1\nrust_targets = []\nidle_threads = 2\nmax_threads = 4\n\
                    [config]\n\"Swarm.ConnMgr.LowWater\" = 200\n\"Swarm.ConnMgr.HighWater\" = 300\n";
        let p = parse(text).unwrap();
        assert_eq!(p.boards, ["a", "b"]);
        let mut c = sample();
        apply(&mut c, &p).unwrap();
        assert_eq!(
            (c.swarm.conn_mgr.low_water, c.swarm.conn_mgr.high_water),
            (200, 300)
        );
    }

    #[test]
    fn parse_errors_name_the_line() {
        for (text, want) in [
            ("name = \"x\"", "line 1: key before any [section]"),
            ("[profile]\nname = \"x", "line 2: unterminated string"),
            ("[other]", "line 1: unknown section [other]"),
            ("[config]\n\"A.B\" = 1.5", "line 2: \"1.5\" is not"),
            (
                "[config]\n\"A.B\" = [1]",
                "line 2: arrays hold strings only",
            ),
            ("[config]\n\"A.B\" 1", "line 2: expected `=`"),
            ("[config]\n\"A.B\" = 1 2", "line 2: text after the value"),
            (
                "[profile]\ncolour = \"red\"",
                "line 2: unknown [profile] key",
            ),
            ("[profile]\nname = 3", "line 2: name has the wrong type"),
            ("[profile]\nname = \"a\"", "[profile] has no boards"),
            ("[config]\n\"A\" = 1\n\"A\" = 2", "line 3: A appears twice"),
        ] {
            let e = parse(text).unwrap_err().to_string();
            assert!(e.contains(want), "{text:?}: {e}");
        }
        // Comments after values and escapes in strings.
        let p = parse(
            "[profile] # board\nname = \"a\\\"b\" # the name\nboards = [ \"x\" , \"y\" ]\n\
             board_memory_mib = 2\nmemory_ceiling_mib = 1\nsystemd_memory_max_mib = 1\n\
             rust_targets = []\nidle_threads = 2\nmax_threads = 4\n[config]\n\"K\" = true\n",
        )
        .unwrap();
        assert_eq!(p.name, "a\"b");
        assert_eq!(p.config, vec![("K".to_owned(), Value::Bool(true))]);
    }

    /// The table under `## Firmware profiles` in README.md is [`readme_table`].
    /// To regenerate it: `ACORN_BLESS_README=1 cargo test -p acorn --bin acorn
    /// readme_firmware_table`.
    #[test]
    fn readme_firmware_table_matches_the_files() {
        let readme = include_str!("../../README.md");
        let want = readme_table().unwrap();
        let start = readme
            .find("\n## Firmware profiles\n")
            .expect("README has a `## Firmware profiles` section");
        let section_end = readme[start + 1..]
            .find("\n## ")
            .map_or(readme.len(), |i| start + 1 + i);
        let section = &readme[start..section_end];
        let table_start = section.find("\n|").map(|i| start + i + 1);
        let table_end = table_start.map(|t| {
            readme[t..]
                .find("\n\n")
                .map_or(section_end, |i| (t + i + 1).min(section_end))
        });
        let have = match (table_start, table_end) {
            (Some(a), Some(b)) => &readme[a..b],
            _ => "",
        };
        if have != want && std::env::var_os("ACORN_BLESS_README").is_some() {
            let path = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
            let fixed = match (table_start, table_end) {
                (Some(a), Some(b)) => format!("{}{want}{}", &readme[..a], &readme[b..]),
                _ => panic!("add a table (a line starting with `|`) under the heading first"),
            };
            std::fs::write(path, fixed).unwrap();
            return;
        }
        assert_eq!(
            have, want,
            "README's firmware table is stale; rerun with ACORN_BLESS_README=1"
        );
    }
}
