//! Settings: `config` get/set/show/replace, `config profile apply` (offline
//! only), `config profile show` (a profile's memory budget), `version`.
//!
//! The [`Settings`] group of the [core API](super): its trait, its result types, and
//! its two implementations, [`Local`] (this process's node) and [`Remote`] (a
//! daemon over the RPC API).
//!
//! **Local.** The config file of the repo (see [`crate::config`]): a read sees the
//! file as it is now, a write goes through [`crate::config::set_in_repo`] (one
//! writer at a time); a running node keeps the values it started with until it
//! restarts. `Identity.PrivKey` is never shown or changed.
//!
//! **Remote.** `config?arg=KEY[&arg=VALUE&json=true]`, `config/show`,
//! `config/replace` (the file as a one-part multipart body), `version`.

use crate::core_api::error::Result;
use anyhow::Context as _;
use serde_json::Value;

use super::{Local, Remote};
pub use crate::budget::ProfileBudget;
pub use crate::profiles::ConfigChange;

/// `config profile show NAME`: the worst-case memory of a daemon running the
/// default config with profile `name` applied, term by term, and a firmware
/// profile's ceiling. Profiles are built into the binary, so this needs no repo and
/// reads the same offline and while a daemon runs.
pub fn profile_budget(name: &str) -> Result<ProfileBudget> {
    Ok(crate::budget::for_profile(name)?)
}

/// `version`: what this build is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionInfo {
    /// The crate version (`0.1.0`).
    pub version: String,
    /// The repo format version.
    pub repo: String,
    /// `<arch>/<os>`.
    pub system: String,
}

impl VersionInfo {
    /// This binary's.
    pub fn this_build() -> VersionInfo {
        VersionInfo {
            version: env!("CARGO_PKG_VERSION").to_string(),
            repo: acorn_storage::repo::REPO_FORMAT_VERSION.to_string(),
            system: format!("{}/{}", std::env::consts::ARCH, std::env::consts::OS),
        }
    }
}

/// Settings: `config` get/set/show, `version`.
pub trait Settings {
    /// `config KEY`: the value in the config file.
    fn config_get(&self, key: &str) -> Result<Value>;
    /// `config KEY VALUE`: writes the file; the value as stored.
    fn config_set(&self, key: &str, value: Value) -> Result<Value>;
    /// `config show`: the whole config without `Identity.PrivKey`.
    fn config_show(&self) -> Result<Value>;
    /// `config replace FILE`: `config` (JSON bytes, without `Identity.PrivKey`)
    /// becomes the config file (see [`crate::config::replace_in_repo`]).
    fn config_replace(&self, config: &[u8]) -> Result<()>;
    /// `config profile apply NAME`: the changed leaves (saved unless `dry_run`).
    /// Offline only: a running daemon would keep the config it started with.
    fn config_profile_apply(&self, name: &str, dry_run: bool) -> Result<Vec<ConfigChange>>;
    /// `version`: the node's build.
    fn version(&self) -> Result<VersionInfo>;
}

impl Settings for Local {
    fn config_get(&self, key: &str) -> Result<Value> {
        Ok(self.node().config_get(key)?)
    }

    fn config_set(&self, key: &str, value: Value) -> Result<Value> {
        Ok(self.node().config_set(key, value)?)
    }

    fn config_show(&self) -> Result<Value> {
        Ok(self.node().config_show()?)
    }

    fn config_replace(&self, config: &[u8]) -> Result<()> {
        Ok(self.node().config_replace(config)?)
    }

    fn config_profile_apply(&self, name: &str, dry_run: bool) -> Result<Vec<ConfigChange>> {
        Ok(self.node().config_profile_apply(name, dry_run)?)
    }

    fn version(&self) -> Result<VersionInfo> {
        Ok(VersionInfo::this_build())
    }
}

impl Settings for Remote {
    fn config_get(&self, key: &str) -> Result<Value> {
        let mut v = self.client().json("config", &[("arg", key.to_string())])?;
        Ok(v.get_mut("Value")
            .map(Value::take)
            .context("the daemon's config answer has no \"Value\"")?)
    }

    fn config_set(&self, key: &str, value: Value) -> Result<Value> {
        let q = [
            ("arg", key.to_string()),
            ("arg", value.to_string()),
            ("json", "true".to_string()),
        ];
        let mut v = self.client().json("config", &q)?;
        Ok(v.get_mut("Value")
            .map(Value::take)
            .context("the daemon's config answer has no \"Value\"")?)
    }

    fn config_show(&self) -> Result<Value> {
        self.client().json("config/show", &[])
    }

    fn config_replace(&self, config: &[u8]) -> Result<()> {
        let body = super::blocks::one_part_body(config);
        self.client()
            .post("config/replace", &[], Some(body))?
            .finish()
    }

    fn config_profile_apply(&self, _: &str, _: bool) -> Result<Vec<ConfigChange>> {
        Err(anyhow::anyhow!(
            "config profile apply does not run through the daemon: stop the daemon first"
        )
        .into())
    }

    fn version(&self) -> Result<VersionInfo> {
        let v = self.client().json("version", &[])?;
        let s = |k: &str| -> anyhow::Result<String> {
            v.get(k)
                .and_then(Value::as_str)
                .map(str::to_string)
                .with_context(|| format!("the daemon's version answer has no {k:?}"))
        };
        Ok(VersionInfo {
            version: s("Version")?,
            repo: s("Repo")?,
            system: s("System")?,
        })
    }
}
