//! Argv normalisation: Kubo's option spellings, rewritten for argh.
//!
//! **What.** Kubo users write `--pin=false`, `--cid-version=1`, `-r=false` and bare
//! `--pin`. argh knows only `--key value` and plain switches. [`normalize`] rewrites
//! argv before argh sees it, using argh's own description of the commands
//! ([`argh::ArgsInfo`]) to know, at each point, which options the current
//! (sub)command has and what kind they are:
//!
//! | written | option kind | becomes |
//! |---|---|---|
//! | `--key=v` | value option | `--key v` |
//! | `--flag=true` / `--flag=false` | switch | `--flag` / (nothing) |
//! | `--flag=other` | switch | error |
//! | `--pin` (next word not `true`/`false`) | bool option | `--pin true` |
//! | `--pin false` | bool option | unchanged |
//!
//! A bool option is a value option whose `arg_name` is `bool` (see
//! [`BOOL_ARG_NAME`]). Words after `--` and unknown options pass through untouched
//! (argh reports unknown ones). The walk descends into a subcommand when a
//! positional word names one, as argh does.
//!
//! **Global options.** Kubo's global options may stand anywhere before `--`
//! (`acorn --offline cat X`, `acorn cat X --offline`); [`take_global`] lifts them out
//! of argv into [`Globals`] unless the current command has an option of that name:
//!
//! | option | value |
//! |---|---|
//! | `--offline` | run on the repo, never through the daemon |
//! | `--api <multiaddr>` | talk to this daemon (`/ip4/…/tcp/…`) instead of `$ACORN_PATH/api` |
//! | `--enc`, `--encoding <json\|text>` | output encoding |
//! | `--timeout <duration>` | Go duration (`30s`, `1m30s`, `500ms`) |
//!
//! `-h` becomes `--help` (unless the command has its own `-h`); `--version` before
//! any command becomes the `version` command. The walk also records the command path
//! ([`Normalized::path`]) and names a word that is no command where one is expected
//! ([`ArgvError::UnknownCommand`]), so `main` can print grouped help or a clear error.
//!
//! **Limits.** None beyond argv itself: one pass, output at most twice the input.
//!
//! **Departures.** Kubo would read `--pin false` as `--pin` plus a positional
//! `false`; here `false` is the option's value.

use std::time::Duration;

use argh::{CommandInfoWithArgs, FlagInfo, FlagInfoKind};

/// The `arg_name` that marks a value option as boolean (`--pin <bool>`).
pub const BOOL_ARG_NAME: &str = "bool";

/// Errors found while normalising.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ArgvError {
    /// `--switch=value` where value is not `true` or `false`.
    #[error("option {option} takes no value other than true or false, got {value:?}")]
    SwitchValue { option: String, value: String },
    /// A value option at the end of argv.
    #[error("option {option} needs a value")]
    MissingValue { option: String },
    /// `--enc` with an encoding we do not write.
    #[error("unknown encoding {value:?} for {option} (use json or text)")]
    BadEncoding { option: String, value: String },
    /// `--timeout` that is no Go duration (Go's `time.ParseDuration` message, as
    /// Kubo prints it).
    #[error("time: invalid duration {value:?}")]
    BadDuration { value: String },
    /// A word that names no command where a command is expected; `path` is the
    /// command path so far plus the word (`pin frobnicate`).
    #[error("{}", super::help::unknown_command_message(path))]
    UnknownCommand { path: String },
}

/// Output encoding (`--enc`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Kubo's text output (the default).
    Text,
    /// The JSON the RPC API answers for the command.
    Json,
}

/// Kubo's global options, lifted out of argv by [`normalize`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Globals {
    /// `--offline`: use the repo in this process even if a daemon runs.
    pub offline: bool,
    /// `--api <multiaddr>`: the daemon to talk to.
    pub api: Option<String>,
    /// `--enc` / `--encoding`.
    pub enc: Option<Encoding>,
    /// `--timeout <duration>`: how long the whole command may take.
    pub timeout: Option<Duration>,
}

/// What [`normalize`] returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Normalized {
    /// Argv for argh (with `argv[0]`).
    pub args: Vec<String>,
    /// The global options found.
    pub globals: Globals,
    /// The command path the words name (`["pin", "add"]`; empty for bare `acorn`).
    pub path: Vec<String>,
    /// `--help` / `-h` / `help` was given.
    pub help: bool,
    /// The last command of `path` has subcommands and none was named.
    pub wants_subcommand: bool,
}

/// If `name` (with its `inline` value, or the next word) is a global option, stores
/// it in `g` and returns true; the one place global options are parsed.
pub fn take_global<'a>(
    name: &str,
    inline: Option<&str>,
    rest: &mut impl Iterator<Item = &'a String>,
    g: &mut Globals,
) -> Result<bool, ArgvError> {
    let mut value = |option: &str| -> Result<String, ArgvError> {
        match inline {
            Some(v) => Ok(v.to_owned()),
            None => rest.next().cloned().ok_or_else(|| ArgvError::MissingValue {
                option: option.to_owned(),
            }),
        }
    };
    match name {
        "--offline" => {
            g.offline = match inline {
                None | Some("true") => true,
                Some("false") => false,
                Some(v) => {
                    return Err(ArgvError::SwitchValue {
                        option: name.into(),
                        value: v.into(),
                    })
                }
            }
        }
        "--api" => g.api = Some(value(name)?),
        "--enc" | "--encoding" => {
            let v = value(name)?;
            g.enc = Some(match v.as_str() {
                "json" => Encoding::Json,
                "text" => Encoding::Text,
                _ => {
                    return Err(ArgvError::BadEncoding {
                        option: name.into(),
                        value: v,
                    })
                }
            });
        }
        "--timeout" => {
            let v = value(name)?;
            g.timeout = Some(
                parse_go_duration(&v).map_err(|_| ArgvError::BadDuration { value: v.clone() })?,
            );
        }
        _ => return Ok(false),
    }
    Ok(true)
}

/// Why a Go duration does not parse.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("empty")]
    Empty,
    #[error("missing unit (use e.g. 30s, 1m, 500ms)")]
    MissingUnit,
    #[error("bad number in {0:?}")]
    BadNumber(String),
    #[error("unknown unit {0:?} (use ns, us, ms, s, m or h)")]
    UnknownUnit(String),
    #[error(transparent)]
    OutOfRange(#[from] std::time::TryFromFloatSecsError),
}

/// Go's `time.ParseDuration`: a sequence of decimal numbers with units `ns`, `us`
/// (`µs`), `ms`, `s`, `m`, `h` (`1h30m`, `1.5s`, `300ms`); no sign, `0` alone.
pub fn parse_go_duration(s: &str) -> Result<Duration, DurationError> {
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err(DurationError::Empty);
    }
    let mut rest = s;
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or(DurationError::MissingUnit)?;
        let num: f64 = rest[..num_len]
            .parse()
            .map_err(|_| DurationError::BadNumber(s.to_string()))?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let secs = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            u => return Err(DurationError::UnknownUnit(u.to_string())),
        };
        total += num * secs;
        rest = &rest[unit_len..];
    }
    Ok(Duration::try_from_secs_f64(total)?)
}

/// Rewrite argv (including `argv[0]`) for argh; see the module docs.
pub fn normalize(args: &[String], root: &CommandInfoWithArgs) -> Result<Normalized, ArgvError> {
    let mut n = Normalized::default();
    let out = &mut n.args;
    out.reserve(args.len() + 4);
    let mut iter = args.iter().peekable();
    if let Some(first) = iter.next() {
        out.push(first.clone());
    }
    let mut cmd = root;
    let mut options_ended = false;
    let mut positionals = 0usize;
    while let Some(arg) = iter.next() {
        if options_ended {
            out.push(arg.clone());
            continue;
        }
        if arg == "--" {
            options_ended = true;
            out.push(arg.clone());
            continue;
        }
        if arg.len() > 1 && arg.starts_with('-') {
            let (name, inline) = split_inline(arg);
            if name == "--help" || (name == "-h" && find_flag(cmd, name).is_none()) {
                n.help = true;
                out.push("--help".to_owned());
                continue;
            }
            let Some(flag) = find_flag(cmd, name) else {
                if take_global(name, inline, &mut iter, &mut n.globals)? {
                    continue;
                }
                match name {
                    "--version" if n.path.is_empty() => {
                        n.path.push("version".to_owned());
                        out.push("version".to_owned());
                        cmd = root
                            .commands
                            .iter()
                            .find(|s| s.name == "version")
                            .map_or(root, |s| &s.command);
                    }
                    _ => out.push(arg.clone()),
                }
                continue;
            };
            match (&flag.kind, inline) {
                (FlagInfoKind::Switch, None) => out.push(arg.clone()),
                (FlagInfoKind::Switch, Some(v)) => match v {
                    "true" => out.push(name.to_owned()),
                    "false" => {}
                    _ => {
                        return Err(ArgvError::SwitchValue {
                            option: name.to_owned(),
                            value: v.to_owned(),
                        })
                    }
                },
                (FlagInfoKind::Option { .. }, Some(v)) => {
                    out.push(name.to_owned());
                    out.push(v.to_owned());
                }
                (FlagInfoKind::Option { arg_name }, None) if *arg_name == BOOL_ARG_NAME => {
                    out.push(name.to_owned());
                    match iter.peek() {
                        Some(next) if *next == "true" || *next == "false" => {
                            out.push((*next).clone());
                            iter.next();
                        }
                        _ => out.push("true".to_owned()),
                    }
                }
                (FlagInfoKind::Option { .. }, None) => {
                    // argh takes the next word as the value whatever it looks like.
                    out.push(arg.clone());
                    if let Some(value) = iter.next() {
                        out.push(value.clone());
                    }
                }
            }
            continue;
        }
        if positionals == 0 {
            if let Some(sub) = cmd.commands.iter().find(|s| s.name == arg.as_str()) {
                cmd = &sub.command;
                n.path.push(arg.clone());
                out.push(arg.clone());
                continue;
            }
            if arg == "help" && !cmd.commands.is_empty() {
                n.help = true;
                out.push("--help".to_owned());
                continue;
            }
            if !cmd.commands.is_empty() && cmd.positionals.is_empty() {
                let mut path = n.path.clone();
                path.push(arg.clone());
                return Err(ArgvError::UnknownCommand {
                    path: path.join(" "),
                });
            }
        }
        positionals += 1;
        out.push(arg.clone());
    }
    n.wants_subcommand = !cmd.commands.is_empty() && cmd.positionals.is_empty();
    Ok(n)
}

/// Split `--key=value` / `-k=value` into name and inline value.
fn split_inline(arg: &str) -> (&str, Option<&str>) {
    let is_long = arg.starts_with("--");
    let is_short_eq = !is_long && arg.len() >= 3 && arg.as_bytes()[2] == b'=';
    if is_long || is_short_eq {
        if let Some((k, v)) = arg.split_once('=') {
            return (k, Some(v));
        }
    }
    (arg, None)
}

fn find_flag<'a>(cmd: &'a CommandInfoWithArgs, name: &str) -> Option<&'a FlagInfo<'static>> {
    cmd.flags.iter().find(|f| {
        f.long == name
            || (name.len() == 2
                && name.starts_with('-')
                && f.short.is_some_and(|c| name.ends_with(c)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Acorn;
    use argh::ArgsInfo;

    fn norm(args: &[&str]) -> Result<Vec<String>, ArgvError> {
        let owned: Vec<String> = std::iter::once("acorn")
            .chain(args.iter().copied())
            .map(String::from)
            .collect();
        normalize(&owned, &Acorn::get_args_info()).map(|n| {
            let mut v = n.args;
            v.remove(0);
            v
        })
    }

    fn n(args: &[&str]) -> Vec<String> {
        norm(args).unwrap()
    }

    #[test]
    fn inline_values_split() {
        assert_eq!(
            n(&["add", "--cid-version=1", "f"]),
            ["add", "--cid-version", "1", "f"]
        );
        assert_eq!(
            n(&["add", "--chunker=size-1024", "f"]),
            ["add", "--chunker", "size-1024", "f"]
        );
        assert_eq!(n(&["get", "-o=out", "Qm"]), ["get", "-o", "out", "Qm"]);
        // Only the first '=' splits.
        assert_eq!(
            n(&["config", "--json", "K", "a=b"]),
            ["config", "--json", "K", "a=b"]
        );
    }

    #[test]
    fn bool_options() {
        assert_eq!(
            n(&["add", "--pin=false", "f"]),
            ["add", "--pin", "false", "f"]
        );
        assert_eq!(
            n(&["add", "--pin=true", "f"]),
            ["add", "--pin", "true", "f"]
        );
        assert_eq!(n(&["add", "--pin", "f"]), ["add", "--pin", "true", "f"]);
        assert_eq!(
            n(&["add", "--pin", "false", "f"]),
            ["add", "--pin", "false", "f"]
        );
        assert_eq!(n(&["add", "f", "--pin"]), ["add", "f", "--pin", "true"]);
        assert_eq!(
            n(&["pin", "add", "--recursive=false", "Qm"]),
            ["pin", "add", "--recursive", "false", "Qm"]
        );
        assert_eq!(
            n(&["pin", "add", "-r=false", "Qm"]),
            ["pin", "add", "-r", "false", "Qm"]
        );
        // Malformed bool values are left for argh to reject.
        assert_eq!(
            n(&["add", "--pin=maybe", "f"]),
            ["add", "--pin", "maybe", "f"]
        );
    }

    #[test]
    fn switches_with_values() {
        assert_eq!(
            n(&["add", "--trickle=true", "f"]),
            ["add", "--trickle", "f"]
        );
        assert_eq!(n(&["add", "--trickle=false", "f"]), ["add", "f"]);
        assert_eq!(n(&["add", "-r=true", "d"]), ["add", "-r", "d"]);
        assert_eq!(
            norm(&["add", "--trickle=yes", "f"]),
            Err(ArgvError::SwitchValue {
                option: "--trickle".into(),
                value: "yes".into()
            })
        );
    }

    #[test]
    fn context_decides_meaning() {
        // `-r` is a switch for refs but a bool option for pin add.
        assert_eq!(n(&["refs", "-r", "Qm"]), ["refs", "-r", "Qm"]);
        assert_eq!(
            n(&["pin", "add", "-r", "Qm"]),
            ["pin", "add", "-r", "true", "Qm"]
        );
        // A value option swallows the next word even if it names a subcommand.
        assert_eq!(n(&["get", "-o", "add", "Qm"]), ["get", "-o", "add", "Qm"]);
    }

    fn globals(args: &[&str]) -> Result<(Vec<String>, Globals), ArgvError> {
        let owned: Vec<String> = std::iter::once("acorn")
            .chain(args.iter().copied())
            .map(String::from)
            .collect();
        normalize(&owned, &Acorn::get_args_info()).map(|n| (n.args[1..].to_vec(), n.globals))
    }

    #[test]
    fn global_options_anywhere() {
        let (args, g) = globals(&[
            "--offline",
            "cat",
            "--api=/ip4/127.0.0.1/tcp/5001",
            "Qm",
            "--enc",
            "json",
            "--timeout=1m30s",
        ])
        .unwrap();
        assert_eq!(args, ["cat", "Qm"]);
        assert_eq!(
            g,
            Globals {
                offline: true,
                api: Some("/ip4/127.0.0.1/tcp/5001".into()),
                enc: Some(Encoding::Json),
                timeout: Some(Duration::from_secs(90)),
            }
        );
        assert_eq!(
            globals(&["cat", "--api"]),
            Err(ArgvError::MissingValue {
                option: "--api".into()
            })
        );
        assert!(matches!(
            globals(&["--enc=yaml", "id"]),
            Err(ArgvError::BadEncoding { .. })
        ));
        // After `--` nothing is global.
        let (args, g) = globals(&["add", "--", "--offline"]).unwrap();
        assert_eq!(args, ["add", "--", "--offline"]);
        assert!(!g.offline);
    }

    #[test]
    fn help_version_and_command_paths() {
        let owned = |a: &[&str]| -> Vec<String> {
            std::iter::once("acorn")
                .chain(a.iter().copied())
                .map(String::from)
                .collect()
        };
        let info = Acorn::get_args_info();
        let n = normalize(&owned(&["pin", "add", "-h"]), &info).unwrap();
        assert!(n.help);
        assert_eq!(n.path, ["pin", "add"]);
        assert_eq!(n.args[1..], ["pin", "add", "--help"]);
        let n = normalize(&owned(&["--help"]), &info).unwrap();
        assert!(n.help && n.path.is_empty());
        let n = normalize(&owned(&["--version"]), &info).unwrap();
        assert_eq!(n.args[1..], ["version"]);
        let n = normalize(&owned(&["pin"]), &info).unwrap();
        assert!(n.wants_subcommand);
        assert_eq!(
            normalize(&owned(&["frob"]), &info),
            Err(ArgvError::UnknownCommand {
                path: "frob".into()
            })
        );
        // A positional of a command that also has subcommands is no command name.
        let n = normalize(&owned(&["config", "Addresses.API"]), &info).unwrap();
        assert_eq!(n.path, ["config"]);
    }

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_go_duration("1h2m3s"), Ok(Duration::from_secs(3723)));
        assert_eq!(parse_go_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_go_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_go_duration("0"), Ok(Duration::ZERO));
        for bad in ["", "10", "5x", "s", "-1s", "1..2s"] {
            assert!(parse_go_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passthrough() {
        assert_eq!(
            n(&["add", "--", "--pin=false"]),
            ["add", "--", "--pin=false"]
        );
        assert_eq!(n(&["add", "--bogus=1", "f"]), ["add", "--bogus=1", "f"]);
        assert_eq!(n(&["add", "-"]), ["add", "-"]);
        assert_eq!(n(&["--help"]), ["--help"]);
        assert!(n(&[]).is_empty());
    }
}
