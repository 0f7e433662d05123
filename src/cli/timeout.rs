//! The global `--timeout` flag (Kubo's): a Go duration (`30s`, `1m30s`, `500ms`)
//! after which a command run through the daemon fails with `context deadline
//! exceeded`.
//!
//! **What.** [`take`] removes `--timeout DURATION` / `--timeout=DURATION` from argv
//! (anywhere before `--`, before or after the command name, as Kubo allows) and
//! hands it to the RPC client, which sends it as `timeout=` on every request; the
//! daemon enforces it. `0` means no limit.
//!
//! **Departures.** A command that runs offline (no daemon) waits on nothing but
//! the disk and ignores the flag.

use anyhow::bail;

/// Removes the flag from `args` (`args[0]` is the program) and installs it.
pub fn take(args: &mut Vec<String>) -> anyhow::Result<()> {
    if let Some(v) = extract(args)? {
        crate::core_api::client::set_timeout(v);
    }
    Ok(())
}

/// Removes the flag from `args`; its value, checked.
fn extract(args: &mut Vec<String>) -> anyhow::Result<Option<String>> {
    let mut value = None;
    let mut i = 1;
    while i < args.len() {
        let a = &args[i];
        if a == "--" {
            break;
        }
        if a == "--timeout" {
            if i + 1 >= args.len() {
                bail!("option --timeout needs a duration like \"30s\"");
            }
            value = Some(args.remove(i + 1));
            args.remove(i);
            continue;
        }
        if let Some(v) = a.strip_prefix("--timeout=") {
            value = Some(v.to_string());
            args.remove(i);
            continue;
        }
        i += 1;
    }
    if let Some(v) = &value {
        if crate::config::parse_duration(v).is_err() {
            bail!("time: invalid duration \"{v}\"");
        }
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        s.split(' ').map(str::to_string).collect()
    }

    #[test]
    fn the_flag_is_taken_anywhere_before_the_separator_and_checked() {
        let mut a = argv("acorn --timeout 5s cat x");
        assert_eq!(extract(&mut a).unwrap().as_deref(), Some("5s"));
        assert_eq!(a, argv("acorn cat x"));
        let mut a = argv("acorn cat --timeout=1m30s x -- --timeout 1s");
        assert_eq!(extract(&mut a).unwrap().as_deref(), Some("1m30s"));
        assert_eq!(a, argv("acorn cat x -- --timeout 1s"));
        let mut a = argv("acorn cat x");
        assert_eq!(extract(&mut a).unwrap(), None);
        let e = extract(&mut argv("acorn cat x --timeout soon")).unwrap_err();
        assert_eq!(e.to_string(), "time: invalid duration \"soon\"");
        assert!(extract(&mut argv("acorn cat --timeout")).is_err());
    }
}
