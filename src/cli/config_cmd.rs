//! `acorn config`: Kubo's `ipfs config`.
//!
//! - `acorn config KEY` prints the value: strings bare, anything else as JSON.
//! - `acorn config KEY VALUE` sets a string; `--json` parses VALUE as JSON,
//!   `--bool` as `true`/`false`. Prints nothing.
//! - `acorn config show` prints the config without `Identity.PrivKey`, and on
//!   stderr the keys Acorn keeps but does not use (Kubo's `Experimental`, ...).
//! - `acorn config replace FILE` (Kubo's): FILE (`-`: stdin) becomes the config;
//!   it must not hold `Identity.PrivKey` (the repo's key stays), as `config show`
//!   prints it.
//! - `acorn config edit` (Kubo's) opens `$EDITOR` on a copy of the config file; the
//!   edited copy must be a valid config with the same identity, else it is
//!   refused, the config stays as it was and the edit is kept beside it
//!   (`config.rejected`, mode 0600) so no work is lost.
//! - `acorn config profile ls` lists the profiles (Acorn addition).
//! - `acorn config profile show NAME` prints the worst-case memory of a daemon with
//!   that profile, term by term, against a firmware profile's ceiling (Acorn
//!   addition; [`crate::core_api::settings::profile_budget`]).
//! - `acorn config profile apply NAME [--dry-run]` applies a profile, prints the
//!   changed keys (`Key: old => new`) and, unless `--dry-run`, saves a backup
//!   (`config-pre-NAME-<unix seconds>`) and the new config.
//!
//! Every form but `profile ls` and `profile show` calls the [`Settings`](crate::core_api::Settings)
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
    example = "acorn config show > cfg.json && acorn config replace cfg.json",
    example = "EDITOR=nano acorn config edit",
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
    Replace(ReplaceCmd),
    Edit(EditCmd),
    Profile(ProfileCmd),
}

/// Replace the config with a file (as `config show` prints it; no private key).
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(subcommand, name = "replace")]
pub struct ReplaceCmd {
    /// the new config file (`-` for stdin)
    #[argh(positional)]
    pub file: String,
}

/// Open the config file in $EDITOR; the edit is checked before it is saved.
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(subcommand, name = "edit")]
pub struct EditCmd {}

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
    Show(ProfileShowCmd),
}

/// Print a profile's worst-case memory, term by term, against its ceiling.
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(
    subcommand,
    name = "show",
    note = "The budget is of the default config with the profile applied; firmware profiles (pi-zero, vps-256m, pi3, pi4) show their RSS ceiling."
)]
pub struct ProfileShowCmd {
    /// the profile name
    #[argh(positional)]
    pub name: String,
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
            Some(ConfigSub::Profile(ProfileCmd {
                command: ProfileSub::Show(show),
            })) => {
                return print(&render_budget(&crate::core_api::settings::profile_budget(
                    &show.name,
                )?))
            }
            Some(ConfigSub::Show(_)) => {
                let shown = super::core(ctx)?.config_show()?;
                warn_ignored(&shown);
                return print(&render(&shown));
            }
            Some(ConfigSub::Replace(r)) => {
                let bytes = super::read_input_limited(
                    Some(r.file.as_str()),
                    config::MAX_CONFIG_BYTES as usize,
                )?;
                super::core(ctx)?.config_replace(&bytes)?;
                if let Ok(tree) = serde_json::from_slice::<Value>(&bytes) {
                    warn_ignored(&tree);
                }
                return Ok(());
            }
            Some(ConfigSub::Edit(_)) => return edit(ctx),
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
        if !config::is_known(&key) {
            eprintln!("warning: Acorn does not use config key {key}; it is kept in the file");
        }
        Ok(())
    }
}

/// Tells on stderr which keys of `tree` Acorn keeps but does not use.
fn warn_ignored(tree: &Value) {
    let ignored = config::ignored_keys_of(tree);
    if !ignored.is_empty() {
        eprintln!(
            "warning: Acorn keeps but does not use these config keys: {}",
            ignored.join(", ")
        );
    }
}

/// Name of the kept copy of an edit that was refused.
const REJECTED_EDIT_NAME: &str = "config.rejected";

/// `config edit`: `$EDITOR` on a copy; checked, then saved through the core API.
fn edit(ctx: &Context) -> anyhow::Result<()> {
    use anyhow::Context as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let editor = std::env::var("EDITOR")
        .ok()
        .filter(|e| !e.trim().is_empty())
        .context("ENV variable $EDITOR not set")?;
    let root = ctx.repo_root()?;
    let path = config::config_path(&root);
    let old_bytes = std::fs::read(&path)
        .map_err(|_| config::ConfigError::NotInitialized { root: root.clone() })?;
    let old = config::Config::from_json(&old_bytes).map_err(|reason| {
        anyhow::anyhow!("the config file {} is not valid: {reason}", path.display())
    })?;
    let copy = root.join(format!(".config.edit-{}", std::process::id()));
    {
        use std::io::Write as _;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&copy)
            .with_context(|| format!("creating {}", copy.display()))?;
        f.write_all(&old_bytes)?;
    }
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("acorn-config-edit")
        .arg(&copy)
        .status();
    let status = match status {
        Ok(s) => s,
        Err(e) => {
            let _ = std::fs::remove_file(&copy);
            anyhow::bail!("running $EDITOR ({editor}): {e}");
        }
    };
    if !status.success() {
        let _ = std::fs::remove_file(&copy);
        anyhow::bail!("$EDITOR ({editor}) failed ({status}); the config is unchanged");
    }
    let new_bytes = std::fs::read(&copy)?;
    if new_bytes == old_bytes {
        let _ = std::fs::remove_file(&copy);
        return Ok(());
    }
    match checked_edit(&old, &new_bytes).and_then(|b| Ok(super::core(ctx)?.config_replace(&b)?)) {
        Ok(()) => {
            let _ = std::fs::remove_file(&copy);
            if let Ok(tree) = serde_json::from_slice::<Value>(&new_bytes) {
                warn_ignored(&tree);
            }
            Ok(())
        }
        Err(e) => {
            let kept = root.join(REJECTED_EDIT_NAME);
            std::fs::rename(&copy, &kept)?;
            Err(e.context(format!(
                "the edited config was refused and the config is unchanged; your edit is in {}",
                kept.display()
            )))
        }
    }
}

/// The edited file without its private key, for `config_replace`, once its
/// identity is checked to be the old one.
fn checked_edit(old: &config::Config, bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut tree: Value = serde_json::from_slice(bytes)
        .map_err(|e| anyhow::anyhow!("the edited config is not JSON: {e}"))?;
    let Some(identity) = tree.get_mut("Identity").and_then(Value::as_object_mut) else {
        anyhow::bail!("the edited config has no Identity section");
    };
    let key = identity.shift_remove("PrivKey");
    if key.as_ref().and_then(Value::as_str) != Some(old.identity.priv_key.as_str()) {
        anyhow::bail!("Identity.PrivKey cannot be changed (the identity is made by `acorn init`)");
    }
    // Serializing a Value cannot fail.
    Ok(serde_json::to_vec(&tree).expect("json"))
}

/// `name: description` for every profile, one per line.
fn profile_list() -> String {
    profiles::PROFILES
        .iter()
        .map(|p| format!("{}: {}\n", p.name, p.description))
        .collect()
}

/// `config profile show`: one line per term (name, formula with its values, bytes),
/// then the total against the ceiling.
fn render_budget(p: &crate::core_api::settings::ProfileBudget) -> String {
    let mib = |n: u64| format!("{:.2} MiB", n as f64 / f64::from(1u32 << 20));
    let name_w = p
        .budget
        .terms
        .iter()
        .map(|t| t.name.len())
        .max()
        .unwrap_or(0);
    let formula_w = p
        .budget
        .terms
        .iter()
        .map(|t| t.formula.len())
        .max()
        .unwrap_or(0);
    let mut out = format!("worst-case memory of profile {}:\n", p.name);
    for t in &p.budget.terms {
        out.push_str(&format!(
            "  {:name_w$}  {:formula_w$}  {:>10} B  {:>10}\n",
            t.name,
            t.formula,
            t.bytes,
            mib(t.bytes)
        ));
    }
    let total = p.budget.total();
    let pad = name_w + formula_w + 2;
    out.push_str(&format!(
        "  {:pad$}  {total:>10} B  {:>10}\n",
        "total",
        mib(total)
    ));
    match p.ceiling_bytes {
        Some(c) => out.push_str(&format!(
            "  {:pad$}  {c:>10} B  {:>10}  ({}, {:.0}% used)\n",
            "ceiling",
            mib(c),
            if total < c { "fits" } else { "OVER" },
            total as f64 * 100.0 / c as f64
        )),
        None => out.push_str("  (not a firmware profile: no ceiling)\n"),
    }
    out
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
