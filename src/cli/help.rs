//! The top-level help (Kubo's grouped `ipfs --help`) and the answer to a command
//! Acorn does not have.
//!
//! **What.** [`grouped`] prints the commands in Kubo's groups (BASIC, DATA
//! STRUCTURE, ADVANCED, NETWORK, TOOL), each with the one-line description from its
//! argh definition, so a command is listed exactly when [`super::Acorn`] has it.
//! [`unknown_command_message`] names a word that is no command; for a Kubo command
//! we do not have, it says so and points at the nearest thing we do have
//! ([`KUBO_ONLY`]).

use argh::CommandInfoWithArgs;

/// Kubo's groups, in Kubo's order, with the commands of each in Kubo's order.
/// A name not in [`super::Acorn`] is skipped; a command of Acorn missing here
/// is listed under TOOL COMMANDS (a test keeps the table complete).
pub const GROUPS: &[(&str, &[&str])] = &[
    (
        "BASIC COMMANDS",
        &["init", "add", "cat", "get", "ls", "refs"],
    ),
    ("DATA STRUCTURE COMMANDS", &["dag", "block"]),
    (
        "ADVANCED COMMANDS",
        &[
            "daemon",
            "shutdown",
            "resolve",
            "pin",
            "repo",
            "stats",
            "filestore",
        ],
    ),
    (
        "NETWORK COMMANDS",
        &[
            "id",
            "bootstrap",
            "swarm",
            "dht",
            "routing",
            "ping",
            "bitswap",
        ],
    ),
    (
        "TOOL COMMANDS",
        &["config", "version", "diag", "commands", "log", "cid"],
    ),
];

/// Kubo commands (and subcommands) Acorn does not have, with the nearest
/// alternative we offer.
pub const KUBO_ONLY: &[(&str, &str)] = &[
    (
        "files",
        "add content with `acorn add` and read it with `acorn cat`/`acorn ls`",
    ),
    ("object", "use `acorn dag get` / `acorn dag put`"),
    ("multibase", "use `acorn cid format -b <base>` for CIDs"),
    (
        "name",
        "share the CID itself (`/ipfs/<cid>`); IPNS is not implemented",
    ),
    ("key", "`acorn id` shows the node's own key"),
    ("pubsub", "no alternative: pubsub is not exposed"),
    ("p2p", "no alternative: stream mounting is not implemented"),
    (
        "mount",
        "use `acorn get` to write content to the filesystem",
    ),
    ("update", "install the new release package (see the README)"),
    ("dns", "no alternative: DNSLink is not implemented"),
    ("tar", "use `acorn get -a` for a tar archive"),
    (
        "urlstore",
        "use `acorn add --nocopy` for files referenced in place",
    ),
    ("pin remote", "pin on this node with `acorn pin add`"),
    ("repo fsck", "use `acorn repo verify`"),
    ("repo migrate", "no migration is needed for Acorn's repo"),
    ("swarm filters", "use the config key Swarm.AddrFilters"),
    (
        "swarm resources",
        "the limits are config keys; see `acorn config show`",
    ),
    (
        "swarm limit",
        "the limits are config keys; see `acorn config show`",
    ),
    ("swarm peering", "use the config key Peering.Peers"),
    ("bitswap ledger", "use `acorn bitswap stat`"),
    ("bitswap reprovide", "use `acorn routing provide <cid>`"),
    ("stats dht", "no alternative: DHT statistics are not kept"),
    ("stats provide", "use `acorn routing provide <cid>`"),
    ("dht query", "use `acorn routing findpeer` or `findprovs`"),
    ("routing get", "no alternative: records are not served"),
    ("routing put", "no alternative: records are not served"),
    ("diag cmds", "use `acorn diag sys`"),
    ("diag profile", "use `acorn diag sys`"),
];

/// `unknown command "X"`, or for a Kubo command we lack, that it is not
/// supported and what to use instead.
pub fn unknown_command_message(path: &str) -> String {
    match KUBO_ONLY.iter().find(|(k, _)| *k == path) {
        Some((_, alt)) => {
            format!("\"{path}\" is a Kubo command not supported by Acorn; instead: {alt}")
        }
        None => format!("unknown command \"{path}\" (see acorn --help)"),
    }
}

/// Kubo's grouped top-level help, for the commands `root` has.
pub fn grouped(root: &CommandInfoWithArgs) -> String {
    let desc = |name: &str| {
        root.commands
            .iter()
            .find(|c| c.name == name)
            .map(|c| first_line(c.command.description))
    };
    let mut listed: Vec<&str> = Vec::new();
    let mut groups: Vec<(&str, Vec<(String, String)>)> = Vec::new();
    for (group, names) in GROUPS {
        let rows: Vec<(String, String)> = names
            .iter()
            .filter_map(|n| desc(n).map(|d| (n.to_string(), d)))
            .collect();
        listed.extend(names.iter());
        groups.push((group, rows));
    }
    // Anything not placed above still shows (under TOOL COMMANDS).
    let extra: Vec<(String, String)> = root
        .commands
        .iter()
        .filter(|c| !listed.contains(&c.name))
        .map(|c| (c.name.to_string(), first_line(c.command.description)))
        .collect();
    if let Some(tool) = groups.iter_mut().find(|(g, _)| *g == "TOOL COMMANDS") {
        tool.1.extend(extra);
    }
    let mut out = String::from(
        "USAGE\n  acorn - An IPFS node for small machines.\n\n  \
         acorn [--offline] [--api=<multiaddr>] [--enc=<json|text>] [--timeout=<duration>]\n        \
         [--help | -h] [--version] <command> ...\n\nSUBCOMMANDS\n",
    );
    for (group, rows) in groups.iter().filter(|(_, r)| !r.is_empty()) {
        out.push_str(&format!("  {group}\n"));
        for (name, d) in rows {
            out.push_str(&format!("    {name:<13} {d}\n"));
        }
        out.push('\n');
    }
    out.push_str(
        "  Use 'acorn <command> --help' to learn more about each command.\n\n  \
         acorn uses a repository in the local file system. By default, the repo is\n  \
         located at ~/.acorn. To change the repo location, set the $ACORN_PATH\n  \
         environment variable:\n\n    export ACORN_PATH=/path/to/acornrepo\n\n  \
         Logging goes to stderr; set ACORN_LOG or RUST_LOG (default: warn).\n\n  \
         EXIT STATUS\n\n  The CLI will exit with one of the following values:\n\n  \
         0     Successful execution.\n  1     Failed executions.\n",
    );
    out
}

fn first_line(s: &str) -> String {
    let line = s.lines().next().unwrap_or("").trim().trim_end_matches('.');
    line.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Acorn;
    use argh::ArgsInfo;

    #[test]
    fn every_command_has_a_group_and_no_group_names_a_kubo_only_command() {
        let info = Acorn::get_args_info();
        for c in &info.commands {
            assert!(
                GROUPS.iter().any(|(_, names)| names.contains(&c.name)),
                "{} has no group",
                c.name
            );
            assert!(
                !KUBO_ONLY.iter().any(|(k, _)| *k == c.name),
                "{} is listed as unsupported but exists",
                c.name
            );
        }
        let help = grouped(&info);
        for c in &info.commands {
            assert!(help.contains(&format!("    {} ", c.name)), "{}", c.name);
        }
        assert!(!help.contains("    files "), "{help}");
    }

    #[test]
    fn messages() {
        assert_eq!(
            unknown_command_message("frob"),
            "unknown command \"frob\" (see acorn --help)"
        );
        let m = unknown_command_message("files");
        assert!(
            m.contains("not supported by Acorn") && m.contains("acorn add"),
            "{m}"
        );
    }
}
