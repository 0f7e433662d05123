//! Kubo's `commands`: the tree of the endpoints this server runs, with the options
//! each one reads.
//!
//! **What.** [`tree`] builds Kubo's answer, `{"Name", "Subcommands", "Options"}`
//! per node (options as `{"Names": [long, short…]}`), the root named `ipfs`, from
//! [`super::COMMANDS`] and [`OPTIONS`]. Kubo's clients and shell completions read it
//! to learn what a node offers.
//!
//! **Departures.** Kubo lists every option a command declares; [`OPTIONS`] lists
//! those Acorn's handlers read (others are ignored, as Kubo ignores unknown ones).

use serde_json::{json, Value};

/// Options every command takes (the root's).
const GLOBAL_OPTIONS: &[&[&str]] = &[&["encoding", "enc"]];

/// The options each command's handler reads, long name first.
const OPTIONS: &[(&str, &[&[&str]])] = &[
    (
        "add",
        &[
            &["quieter", "Q"],
            &["progress", "p"],
            &["trickle", "t"],
            &["only-hash", "n"],
            &["wrap-with-directory", "w"],
            &["chunker", "s"],
            &["pin"],
            &["raw-leaves"],
            &["nocopy"],
            &["cid-version"],
            &["inline"],
            &["inline-limit"],
        ],
    ),
    ("bitswap/stat", &[&["verbose", "v"], &["human"]]),
    ("bitswap/wantlist", &[&["peer", "p"]]),
    (
        "block/put",
        &[
            &["cid-codec"],
            &["mhtype"],
            &["mhlen"],
            &["pin"],
            &["allow-big-block"],
            &["format", "f"],
        ],
    ),
    ("block/rm", &[&["force", "f"], &["quiet", "q"]]),
    ("cat", &[&["offset", "o"], &["length", "l"]]),
    ("config", &[&["bool"], &["json"]]),
    ("dag/get", &[&["output-codec"]]),
    ("dag/import", &[&["pin-roots"], &["silent"], &["stats"]]),
    (
        "dag/put",
        &[
            &["store-codec"],
            &["input-codec"],
            &["pin"],
            &["hash"],
            &["allow-big-block"],
        ],
    ),
    ("dag/stat", &[&["progress", "p"]]),
    ("dht/findprovs", &[&["num-providers", "n"]]),
    ("filestore/ls", &[&["file-order"]]),
    ("filestore/verify", &[&["file-order"]]),
    ("get", &[&["compress", "C"]]),
    ("pin/add", &[&["recursive", "r"], &["progress"]]),
    ("pin/ls", &[&["type", "t"], &["stream", "s"]]),
    ("pin/rm", &[&["recursive", "r"]]),
    ("pin/update", &[&["unpin"]]),
    ("pin/verify", &[&["verbose"], &["quiet", "q"]]),
    ("refs", &[&["recursive", "r"], &["unique", "u"]]),
    ("repo/gc", &[&["stream-errors"], &["quiet", "q"]]),
    ("repo/stat", &[&["size-only", "s"], &["human", "H"]]),
    ("resolve", &[&["recursive", "r"]]),
    ("routing/findprovs", &[&["num-providers", "n"]]),
    ("stats/bitswap", &[&["verbose", "v"], &["human"]]),
    ("stats/bw", &[&["peer", "p"], &["proto", "t"], &["poll"]]),
    ("stats/repo", &[&["size-only", "s"], &["human", "H"]]),
    ("swarm/addrs/local", &[&["id"]]),
];

/// Kubo's `commands` answer for `commands` (paths like `pin/ls`).
pub fn tree(commands: &[&str]) -> Value {
    #[derive(Default)]
    struct Node(std::collections::BTreeMap<String, Node>);
    fn options(list: &[&[&str]]) -> Value {
        list.iter().map(|names| json!({ "Names": names })).collect()
    }
    fn to_json(path: &str, name: &str, n: &Node) -> Value {
        let subs: Vec<Value> =
            n.0.iter()
                .map(|(k, v)| {
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}/{k}")
                    };
                    to_json(&p, k, v)
                })
                .collect();
        let opts = OPTIONS
            .iter()
            .find(|(c, _)| *c == path)
            .map_or(json!([]), |(_, o)| options(o));
        json!({"Name": name, "Subcommands": subs, "Options": opts})
    }
    let mut root = Node::default();
    for c in commands {
        let mut n = &mut root;
        for part in c.split('/') {
            n = n.0.entry(part.to_string()).or_default();
        }
    }
    let mut tree = to_json("", "ipfs", &root);
    tree["Options"] = options(GLOBAL_OPTIONS);
    tree
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_name_served_commands_and_nest() {
        for (c, _) in OPTIONS {
            assert!(super::super::COMMANDS.contains(c), "{c} is not served");
        }
        let t = tree(&["pin/ls", "pin/rm", "cat"]);
        assert_eq!(t["Name"], "ipfs");
        assert_eq!(t["Options"], json!([{"Names": ["encoding", "enc"]}]));
        assert_eq!(t["Subcommands"][0]["Name"], "cat");
        assert_eq!(
            t["Subcommands"][0]["Options"],
            json!([{"Names": ["offset", "o"]}, {"Names": ["length", "l"]}])
        );
        let pin = &t["Subcommands"][1];
        assert_eq!(
            (pin["Name"].as_str(), &pin["Options"]),
            (Some("pin"), &json!([]))
        );
        assert_eq!(pin["Subcommands"][0]["Name"], "ls");
        assert_eq!(
            pin["Subcommands"][0]["Options"],
            json!([{"Names": ["type", "t"]}, {"Names": ["stream", "s"]}])
        );
    }
}
