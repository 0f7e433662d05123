//! `acorn init`: create the repo, the identity and the config.
//!
//! Kubo's `ipfs init [--profile a,b]`. Output, as Kubo's:
//! ```text
//! generating ED25519 keypair...done
//! peer identity: 12D3KooW...
//! initializing IPFS node at /home/pi/.acorn
//! ```
//! Order: refuse if a config file exists (nothing is touched); check the profile
//! names; generate the key; build and check the config in memory; create the
//! repo directory and datastore; write the config last, without ever replacing one
//! ([`Config::create_new`]). A config file therefore means a complete repo.

use anyhow::Context as _;
use argh::{ArgsInfo, FromArgs};

use super::{print, Context};
use crate::config::{self, Config, ConfigError};
use crate::identity::Identity;
use crate::profiles;
use crate::repo_glue::{self, Mode};

/// Initialize an acorn repo (config, identity, datastore) at $ACORN_PATH.
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(
    subcommand,
    name = "init",
    example = "acorn init",
    example = "acorn init --profile test,lowpower",
    example = "acorn init --profile pi-zero",
    note = "Profiles: test, default-networking, server, local-discovery, lowpower, randomports; firmware profiles pi-zero, vps-256m, pi3, pi4 (acorn config profile ls)."
)]
pub struct InitCmd {
    /// apply these config profiles (comma-separated)
    #[argh(option, short = 'p')]
    pub profile: Option<String>,
}

impl InitCmd {
    pub fn run(self, ctx: &Context) -> anyhow::Result<()> {
        let root = ctx.repo_root()?;
        let path = config::config_path(&root);
        if path.exists() {
            return Err(ConfigError::AlreadyExists { path }.into());
        }
        let chosen = match &self.profile {
            Some(list) => profiles::resolve_list(list)?,
            None => Vec::new(),
        };

        print("generating ED25519 keypair...")?;
        let identity = Identity::generate();
        print(&format!("done\npeer identity: {}\n", identity.peer_id()))?;
        let mut cfg = Config::with_identity(identity.to_config()?);
        for p in chosen {
            profiles::apply(&mut cfg, p)?;
        }
        cfg.validate()
            .context("the chosen profiles give an invalid config")?;

        print(&format!("initializing IPFS node at {}\n", root.display()))?;
        let repo = repo_glue::open_or_init_datastore(&root, Mode::Init)?;
        cfg.create_new(&repo.root)?;
        tracing::info!(root = %repo.root.display(), "repo initialised");
        Ok(())
    }
}
