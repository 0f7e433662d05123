//! `acorn daemon` (Kubo's `ipfs daemon`) and `acorn id` (Kubo's `ipfs id`).

use argh::{ArgsInfo, FromArgs};
use serde_json::{json, Value};

use super::{print, Context};

/// Run the node: serve the HTTP RPC API until SIGTERM/SIGINT.
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(
    subcommand,
    name = "daemon",
    note = "Writes the API address to $ACORN_PATH/api while running."
)]
pub struct DaemonCmd {
    /// run the automatic GC: every Datastore.GCPeriod and when the repo passes
    /// Datastore.StorageGCWatermark percent of Datastore.StorageMax (the config key
    /// Acorn.EnableGC makes this the default)
    #[argh(switch)]
    pub enable_gc: bool,
}

/// What `acorn daemon`'s flags ask of the daemon.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DaemonOptions {
    /// `--enable-gc`.
    pub enable_gc: bool,
}

impl DaemonCmd {
    pub fn run(self, ctx: &Context) -> anyhow::Result<()> {
        let run = ctx
            .daemon
            .ok_or_else(|| anyhow::anyhow!("this build has no daemon"))?;
        run(
            &ctx.repo_root()?,
            &DaemonOptions {
                enable_gc: self.enable_gc,
            },
        )
    }
}

/// Show this node's identity (ID, PublicKey, Addresses, AgentVersion, Protocols).
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(subcommand, name = "id")]
pub struct IdCmd {
    /// a peer ID to look up (only this node's own, until the network runs)
    #[argh(positional)]
    pub peer: Option<String>,
}

impl IdCmd {
    pub fn run(self, ctx: &Context) -> anyhow::Result<()> {
        let info = super::core(ctx)?.id(self.peer.as_deref())?;
        let v = json!({
            "ID": info.id,
            "PublicKey": info.public_key,
            "Addresses": info.addresses,
            "AgentVersion": info.agent_version,
            "Protocols": info.protocols,
        });
        print(&format!("{}\n", pretty(&v)))
    }
}

/// Kubo prints `id` as JSON indented by a tab.
fn pretty(v: &Value) -> String {
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"\t");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    serde::Serialize::serialize(v, &mut ser).expect("serializing a JSON value to memory");
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enable_gc_is_a_switch() {
        let on = DaemonCmd::from_args(&["daemon"], &["--enable-gc"]).unwrap();
        assert!(on.enable_gc);
        let off = DaemonCmd::from_args(&["daemon"], &[]).unwrap();
        assert!(!off.enable_gc);
    }
}
