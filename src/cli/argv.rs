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
//! **Limits.** None beyond argv itself: one pass, output at most twice the input.
//!
//! **Departures.** Kubo would read `--pin false` as `--pin` plus a positional
//! `false`; here `false` is the option's value.

use argh::{CommandInfoWithArgs, FlagInfo, FlagInfoKind};

/// The `arg_name` that marks a value option as boolean (`--pin <bool>`).
pub const BOOL_ARG_NAME: &str = "bool";

/// Errors found while normalising.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ArgvError {
    /// `--switch=value` where value is not `true` or `false`.
    #[error("option {option} takes no value other than true or false, got {value:?}")]
    SwitchValue { option: String, value: String },
}

/// Rewrite argv (including `argv[0]`) for argh; see the module docs.
pub fn normalize(args: &[String], root: &CommandInfoWithArgs) -> Result<Vec<String>, ArgvError> {
    let mut out = Vec::with_capacity(args.len() + 4);
    let mut iter = args.iter().peekable();
    if let Some(first) = iter.next() {
        out.push(first.clone());
    }
    let mut cmd = root;
    let mut options_ended = false;
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
            let Some(flag) = find_flag(cmd, name) else {
                out.push(arg.clone());
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
        if let Some(sub) = cmd.commands.iter().find(|s| s.name == arg.as_str()) {
            cmd = &sub.command;
        }
        out.push(arg.clone());
    }
    Ok(out)
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
        normalize(&owned, &Acorn::get_args_info()).map(|mut v| {
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
