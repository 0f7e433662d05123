//! `acorn init`: create the repo, the identity and the config.
//!
//! Kubo's `ipfs init [--profile a,b] [-a ALGORITHM] [-b BITS]`. Output, as Kubo's:
//! ```text
//! generating ED25519 keypair...done          (or: generating 2048-bit RSA keypair...done)
//! peer identity: 12D3KooW...
//! initializing IPFS node at /home/pi/.acorn
//! ```
//! Order: refuse if a config file exists (nothing is touched); check the profile
//! names and the key algorithm and size; generate the key; build and check the config in memory; create the
//! repo directory and datastore; write the config last, without ever replacing one
//! ([`Config::create_new`]). A config file therefore means a complete repo.
//!
//! `acorn init --from-kubo PATH` makes the repo from a Kubo repo instead (see
//! [`crate::core_api::repo::init_from_kubo`]): Kubo's identity and config, then every block and pin,
//! all checked before the repo is created. Output:
//! ```text
//! importing Kubo repo at /home/pi/.ipfs (repo version 14)
//! peer identity: QmRBZH1pu3yxYnfS8S9icbhW6oHMvMAsN4GCKsSmnVuw6Q
//! checked 14 blocks (701234 bytes) and 3 pins
//! initializing IPFS node at /home/pi/.acorn
//! imported 14 blocks (14 new, 701234 bytes) and 3 pins
//! ```
//! then the Kubo config keys that kept Acorn's value and the ones kept unused. On
//! any error, what this run created in the repo directory is removed again.

use anyhow::Context as _;
use argh::{ArgsInfo, FromArgs};

use super::{print, Context};
use crate::config::{self, Config, ConfigError};
use crate::identity::{Identity, KeySpec, RSA_DEFAULT_BITS};
use crate::profiles;

/// Initialize an acorn repo (config, identity, datastore) at $ACORN_PATH.
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(
    subcommand,
    name = "init",
    example = "acorn init",
    example = "acorn init --profile test,lowpower",
    example = "acorn init --profile pi-zero",
    example = "acorn init --algorithm rsa --bits 2048",
    example = "acorn init --from-kubo ~/.ipfs",
    note = "Key: --algorithm ed25519 (default), rsa (--bits 2048 to 4096, default 2048), secp256k1 or ecdsa. Profiles: test, default-networking, server, local-discovery, lowpower, randomports; firmware profiles pi-zero, vps-256m, pi3, pi4 (acorn config profile ls)."
)]
pub struct InitCmd {
    /// apply these config profiles (comma-separated)
    #[argh(option, short = 'p')]
    pub profile: Option<String>,
    /// identity key type: ed25519 (default), rsa, secp256k1, ecdsa
    #[argh(option, short = 'a')]
    pub algorithm: Option<String>,
    /// RSA key size in bits, 2048 (default) to 4096; rsa only
    #[argh(option, short = 'b')]
    pub bits: Option<usize>,
    /// make the repo from a Kubo repo (its identity, config, blocks and pins)
    #[argh(option)]
    pub from_kubo: Option<String>,
}

/// Errors in `acorn init`'s key options.
#[derive(Debug, thiserror::Error)]
pub enum KeyOptionError {
    /// `--algorithm` names no key type we make.
    #[error("unknown key algorithm {0:?}: choose one of ed25519, rsa, secp256k1, ecdsa")]
    UnknownAlgorithm(String),
    /// `--bits` with an algorithm whose size is fixed.
    #[error("--bits applies to rsa keys only ({0} keys have a fixed size)")]
    BitsNotForAlgorithm(String),
}

impl InitCmd {
    /// The key to make, from `--algorithm` and `--bits`, checked before anything
    /// is generated or written.
    fn key_spec(&self) -> anyhow::Result<KeySpec> {
        let algorithm = self.algorithm.as_deref().unwrap_or("ed25519");
        let spec = match algorithm.to_ascii_lowercase().as_str() {
            "rsa" => KeySpec::Rsa {
                bits: self.bits.unwrap_or(RSA_DEFAULT_BITS),
            },
            other if self.bits.is_some() && KeySpec::NAMES.contains(&other) => {
                return Err(KeyOptionError::BitsNotForAlgorithm(algorithm.to_owned()).into());
            }
            "ed25519" => KeySpec::Ed25519,
            "secp256k1" => KeySpec::Secp256k1,
            "ecdsa" => KeySpec::Ecdsa,
            _ => return Err(KeyOptionError::UnknownAlgorithm(algorithm.to_owned()).into()),
        };
        Ok(spec.check()?)
    }
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

        if let Some(kubo) = &self.from_kubo {
            if self.algorithm.is_some() || self.bits.is_some() {
                anyhow::bail!(
                    "--from-kubo takes the identity from the Kubo repo: --algorithm and --bits do not apply"
                );
            }
            return from_kubo(&root, std::path::Path::new(kubo), chosen);
        }

        let spec = self.key_spec()?;

        print(&format!("generating {spec} keypair..."))?;
        let identity = Identity::generate_with(spec)?;
        print(&format!("done\npeer identity: {}\n", identity.peer_id()))?;
        let mut cfg = Config::with_identity(identity.to_config()?);
        for p in chosen {
            profiles::apply(&mut cfg, p)?;
        }
        cfg.validate()
            .context("the chosen profiles give an invalid config")?;

        print(&format!("initializing IPFS node at {}\n", root.display()))?;
        let root = crate::core_api::repo::init(&root, &cfg)?;
        tracing::info!(root = %root.display(), "repo initialised");
        Ok(())
    }
}

/// `init --from-kubo`: see the module doc.
fn from_kubo(
    root: &std::path::Path,
    kubo_root: &std::path::Path,
    chosen: Vec<&'static profiles::Profile>,
) -> anyhow::Result<()> {
    let (report, skipped, cfg) =
        crate::core_api::repo::init_from_kubo(root, kubo_root, chosen, &mut |s| Ok(print(s)?))?;
    let mut out = crate::core_api::repo::kubo_import_summary(&report);
    for s in &skipped {
        out.push_str(&format!("config: kept Acorn's {} ({})\n", s.key, s.reason));
    }
    let ignored = cfg.ignored_keys();
    if !ignored.is_empty() {
        out.push_str(&format!(
            "config: kept Kubo keys Acorn does not use: {}\n",
            ignored.join(", ")
        ));
    }
    print(&out)?;
    tracing::info!(root = %root.display(), "repo initialised from a Kubo repo");
    Ok(())
}
