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
//! Writes go through [`Config::save`] (atomic) while the repo is open.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use argh::{ArgsInfo, FromArgs};
use serde_json::Value;

use super::{print, Context};
use crate::config::{self, Config};
use crate::profiles;
use crate::repo_glue::{self, Mode};

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
        let root = ctx.repo_root()?;
        match self.command {
            Some(ConfigSub::Profile(ProfileCmd {
                command: ProfileSub::Ls(_),
            })) => return print(&profile_list()),
            Some(ConfigSub::Profile(ProfileCmd {
                command: ProfileSub::Apply(apply),
            })) => {
                if super::client::discover(&root)?.is_some() {
                    bail!("config profile apply does not run through the daemon: stop the daemon first")
                }
                return apply.run(&root);
            }
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
    fn run(self, root: &Path) -> anyhow::Result<()> {
        let profile = profiles::find(&self.name)?;
        let _repo = repo_glue::open_or_init_datastore(root, Mode::Open)?;
        let old = Config::load(root)?;
        let mut new = old.clone();
        profiles::apply(&mut new, profile)?;
        new.validate()
            .with_context(|| format!("profile {} gives an invalid config", profile.name))?;
        let changes = diff(&old, &new);
        if !self.dry_run && old != new {
            let backup = write_backup(root, &old, profile.name)?;
            tracing::info!(backup = %backup.display(), "saved old config");
            new.save(root)?;
        }
        if changes.is_empty() {
            print("no changes\n")
        } else {
            print(&changes)
        }
    }
}

/// One `Key: old => new` line per changed leaf (private key never shown).
fn diff(old: &Config, new: &Config) -> String {
    let before = config::leaves(&old.to_value_without_private_key());
    let after = config::leaves(&new.to_value_without_private_key());
    let mut out = String::new();
    for ((key, a), (_, b)) in before.iter().zip(after.iter()) {
        if a != b {
            out.push_str(&format!("{key}: {a} => {b}\n"));
        }
    }
    out
}

/// Save `cfg` as `config-pre-<label>-<unix seconds>[-n]` (mode 0600, never
/// replacing a file), as Kubo's `BackupConfig`.
fn write_backup(root: &Path, cfg: &Config, label: &str) -> anyhow::Result<PathBuf> {
    /// Attempts at a fresh backup name before giving up.
    const MAX_BACKUP_NAME_ATTEMPTS: u32 = 100;
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    for n in 0..MAX_BACKUP_NAME_ATTEMPTS {
        let name = if n == 0 {
            format!("{}-pre-{label}-{secs}", config::CONFIG_FILE_NAME)
        } else {
            format!("{}-pre-{label}-{secs}-{n}", config::CONFIG_FILE_NAME)
        };
        let path = root.join(name);
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(mut f) => {
                f.write_all(&cfg.to_json())
                    .and_then(|()| f.sync_all())
                    .with_context(|| format!("writing config backup {}", path.display()))?;
                return Ok(path);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(e).with_context(|| format!("writing config backup {}", path.display()))
            }
        }
    }
    bail!(
        "could not find a free name for the config backup in {}",
        root.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Identity;
    use serde_json::json;

    #[test]
    fn render_forms() {
        assert_eq!(render(&json!("/ip4/x")), "/ip4/x\n");
        assert_eq!(render(&json!(true)), "true\n");
        assert_eq!(render(&json!(["a"])), "[\n  \"a\"\n]\n");
    }

    #[test]
    fn diff_lists_changed_leaves() {
        let old = Config::with_identity(Identity::generate().to_config().unwrap());
        let mut new = old.clone();
        profiles::apply(&mut new, profiles::find("test").unwrap()).unwrap();
        let d = diff(&old, &new);
        assert!(
            d.contains("Addresses.API: \"/ip4/127.0.0.1/tcp/5001\" => \"/ip4/127.0.0.1/tcp/0\""),
            "{d}"
        );
        assert!(d.contains("Discovery.MDNS.Enabled: true => false"), "{d}");
        assert!(!d.contains("PrivKey"));
        assert_eq!(diff(&old, &old), "");
    }

    #[test]
    fn backups_never_replace() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = Config::with_identity(Identity::generate().to_config().unwrap());
        let a = write_backup(dir.path(), &cfg, "test").unwrap();
        let b = write_backup(dir.path(), &cfg, "test").unwrap();
        assert_ne!(a, b);
        assert_eq!(Config::from_json(&std::fs::read(&b).unwrap()).unwrap(), cfg);
    }
}
