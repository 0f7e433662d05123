//! `acorn config`: Kubo's `ipfs config`.
//!
//! - `acorn config KEY` prints the value: strings bare, anything else as JSON.
//! - `acorn config KEY VALUE` sets a string; `--json` parses VALUE as JSON,
//!   `--bool` as `true`/`false`. Prints nothing.
//! - `acorn config show` prints the config without `Identity.PrivKey`.
//! - `acorn config profile ls` lists the profiles (Acorn addition).
//! - `acorn config profile apply NAME [--dry-run]` applies a profile, prints the
//!   changed keys (`Key: old => new`) and, unless `--dry-run`, saves a backup
//!   (`config-pre-NAME-<unix seconds>`) and the new config.
//!
//! Every form but `profile ls` calls the [`Settings`](crate::core_api::Settings)
//! core API: the daemon's while one runs (`profile apply` then refuses: "stop the
//! daemon first"), else the repo opened offline; writes go through
//! [`Config::save`](crate::config::Config::save) (atomic) while the repo is locked.

use anyhow::bail;
use argh::{ArgsInfo, FromArgs};
use serde_json::Value;

use super::{print, Context};
use crate::config;
use crate::profiles;

/// Get and set acorn config values.
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(
    subcommand,
    name = "config",
    example = "acorn config Addresses.API",
    example = "acorn config Datastore.StorageMax 20GB",
    example = "acorn config --json Bootstrap '[]'",
    example = "acorn config --bool Discovery.MDNS.Enabled false",
    example = "acorn config show",
    example = "acorn config profile apply lowpower"
)]
pub struct ConfigCmd {
    /// parse VALUE as JSON
    #[argh(switch)]
    pub json: bool,
    /// parse VALUE as a boolean (true or false)
    #[argh(switch, long = "bool")]
    pub bool: bool,
    /// KEY (e.g. Addresses.API) to print, or KEY VALUE to set
    #[argh(positional, arg_name = "key")]
    pub args: Vec<String>,
    #[argh(subcommand)]
    pub command: Option<ConfigSub>,
}

/// `acorn config` subcommands.
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(subcommand)]
pub enum ConfigSub {
    Show(ShowCmd),
    Profile(ProfileCmd),
}

/// Print the config (without the private key).
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(subcommand, name = "show")]
pub struct ShowCmd {}

/// Apply or list config profiles.
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(subcommand, name = "profile")]
pub struct ProfileCmd {
    #[argh(subcommand)]
    pub command: ProfileSub,
}

/// `acorn config profile` subcommands.
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(subcommand)]
pub enum ProfileSub {
    Apply(ApplyCmd),
    Ls(ProfileLsCmd),
}

/// List the profiles and what they change.
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(subcommand, name = "ls")]
pub struct ProfileLsCmd {}

/// Apply a profile to the config.
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(
    subcommand,
    name = "apply",
    note = "Profiles: test, default-networking, server, local-discovery, lowpower, randomports; firmware profiles pi-zero, vps-256m, pi3, pi4 (acorn config profile ls)."
)]
pub struct ApplyCmd {
    /// print the changes without saving them
    #[argh(switch)]
    pub dry_run: bool,
    /// the profile name
    #[argh(positional)]
    pub name: String,
}

impl ConfigCmd {
    pub fn run(self, ctx: &Context) -> anyhow::Result<()> {
        match self.command {
            Some(ConfigSub::Profile(ProfileCmd {
                command: ProfileSub::Ls(_),
            })) => return print(&profile_list()),
            Some(ConfigSub::Profile(ProfileCmd {
                command: ProfileSub::Apply(apply),
            })) => return apply.run(ctx),
            Some(ConfigSub::Show(_)) => return print(&render(&super::core(ctx)?.config_show()?)),
            None => {}
        }
        let mut args = self.args.into_iter();
        let (Some(key), value, None) = (args.next(), args.next(), args.next()) else {
            bail!("expected KEY or KEY VALUE (see `acorn config --help`)");
        };
        let Some(text) = value else {
            if self.json || self.bool {
                bail!("--json and --bool need a VALUE to set");
            }
            return print(&render(&super::core(ctx)?.config_get(&key)?));
        };
        // Parsed before the repo or daemon is reached: a bad VALUE reads the same
        // either way.
        let value = config::parse_value(&text, self.json, self.bool)?;
        super::core(ctx)?.config_set(&key, value)?;
        tracing::info!(key, "config updated");
        Ok(())
    }
}

/// `name: description` for every profile, one per line.
fn profile_list() -> String {
    profiles::PROFILES
        .iter()
        .map(|p| format!("{}: {}\n", p.name, p.description))
        .collect()
}

/// Kubo's human output: a string bare, anything else as indented JSON.
fn render(value: &Value) -> String {
    match value {
        Value::String(s) => format!("{s}\n"),
        // Serializing a Value cannot fail.
        other => format!("{}\n", serde_json::to_string_pretty(other).expect("json")),
    }
}

impl ApplyCmd {
    fn run(self, ctx: &Context) -> anyhow::Result<()> {
        let changes = super::core(ctx)?.config_profile_apply(&self.name, self.dry_run)?;
        if changes.is_empty() {
            return print("no changes\n");
        }
        let text: String = changes
            .iter()
            .map(|c| format!("{}: {} => {}\n", c.key, c.old, c.new))
            .collect();
        print(&text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn render_forms() {
        assert_eq!(render(&json!("/ip4/x")), "/ip4/x\n");
        assert_eq!(render(&json!(true)), "true\n");
        assert_eq!(render(&json!(["a"])), "[\n  \"a\"\n]\n");
    }
}
