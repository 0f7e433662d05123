//! Config profiles: named sets of config changes, as Kubo's `ipfs init --profile`.
//!
//! **What.** [`PROFILES`] is a table of name → description → transform. `acorn init
//! --profile a,b` and `acorn config profile apply NAME` look names up with
//! [`find`] / [`resolve_list`] and apply them in order with [`apply`];
//! `acorn config profile ls` prints the table. Board (firmware) profiles
//! (`pi-zero`, `vps-256m`, `pi3`, `pi4`) are rows whose change is a
//! `firmware-profiles/*.toml` file embedded in the binary ([`board`]); they combine
//! with the others (`--profile pi-zero,test`).
//!
//! **Spec.** The rows `server`, `local-discovery`, `test`, `default-networking`,
//! `lowpower` and `randomports` do what Kubo's `config/profile.go` does, on the keys
//! Acorn has. Board profiles are Acorn's.
//!
//! **Flow.** Each transform edits a [`Config`] in memory; the caller validates and
//! writes once at the end, so a failing profile changes nothing on disk.
//!
//! **Departures.** Kubo's datastore profiles (`flatfs`, `badgerds`, `pebbleds`, ...)
//! do not exist: Acorn has one datastore (redb). `local-discovery` keeps the order
//! of the remaining filter entries (Kubo's comes back in map order). `randomports`
//! binds one TCP port on `[::]` (or `0.0.0.0` without IPv6) to pick the number, as
//! Kubo does; the port may be taken again before the daemon starts.

use std::net::TcpListener;

pub mod board;

use crate::config::{
    Addresses, AutoNatServiceMode, Config, GoDuration, RoutingType, DEFAULT_BOOTSTRAP,
};

/// Addresses that are private, local only or unroutable (IANA special-purpose
/// registries); Kubo's `defaultServerFilters`.
pub const SERVER_FILTERS: &[&str] = &[
    "/ip4/10.0.0.0/ipcidr/8",
    "/ip4/100.64.0.0/ipcidr/10",
    "/ip4/169.254.0.0/ipcidr/16",
    "/ip4/172.16.0.0/ipcidr/12",
    "/ip4/192.0.0.0/ipcidr/24",
    "/ip4/192.0.2.0/ipcidr/24",
    "/ip4/192.168.0.0/ipcidr/16",
    "/ip4/198.18.0.0/ipcidr/15",
    "/ip4/198.51.100.0/ipcidr/24",
    "/ip4/203.0.113.0/ipcidr/24",
    "/ip4/240.0.0.0/ipcidr/4",
    "/ip6/100::/ipcidr/64",
    "/ip6/2001:2::/ipcidr/48",
    "/ip6/2001:db8::/ipcidr/32",
    "/ip6/fc00::/ipcidr/7",
    "/ip6/fe80::/ipcidr/10",
];

/// Errors applying profiles.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// A name not in [`PROFILES`].
    #[error("unknown profile {name:?} (known profiles: {known})")]
    Unknown { name: String, known: String },
    /// An empty name in a comma-separated list (`"test,"`).
    #[error("empty profile name in {list:?}")]
    Empty { list: String },
    /// A transform could not do its work.
    #[error("profile {name}: {reason}")]
    Failed {
        name: &'static str,
        reason: Box<TransformError>,
    },
}

/// Why a profile's transform failed.
#[derive(Debug, thiserror::Error)]
pub enum TransformError {
    /// `randomports` found no free port.
    #[error("finding a free port: {0}")]
    FreePort(std::io::Error),
    /// A firmware profile's keys.
    #[error(transparent)]
    Board(#[from] board::ApplyError),
    /// A value the transform writes did not parse.
    #[error(transparent)]
    Value(#[from] crate::config::BadValue),
}

/// A config transform.
pub type Transform = fn(&mut Config) -> Result<(), TransformError>;

/// What a profile changes.
pub enum Change {
    /// Code (Kubo's profiles).
    Code(Transform),
    /// The `[config]` keys of the embedded firmware profile with this name
    /// ([`board::FILES`]), set through [`Config::set`].
    Board(&'static str),
}

/// One named profile.
pub struct Profile {
    /// Name as typed on the command line.
    pub name: &'static str,
    /// One-paragraph description for help text.
    pub description: &'static str,
    /// What it changes.
    pub change: Change,
}

/// Every profile, in the order `acorn` lists them.
pub const PROFILES: &[Profile] = &[
    Profile {
        name: "test",
        description: "Reduces external interference: API, gateway and swarm on \
                      127.0.0.1 with port 0, no bootstrap peers, no mDNS, no NAT port \
                      mapping. For tests.",
        change: Change::Code(test),
    },
    Profile {
        name: "default-networking",
        description: "Restores the default network settings; the inverse of `test`.",
        change: Change::Code(default_networking),
    },
    Profile {
        name: "server",
        description: "Disables local host discovery and filters private addresses; \
                      for machines with public IPv4 addresses.",
        change: Change::Code(server),
    },
    Profile {
        name: "local-discovery",
        description: "Undoes `server`: enables discovery in local networks.",
        change: Change::Code(local_discovery),
    },
    Profile {
        name: "lowpower",
        description: "Reduces daemon overhead: DHT client only, no AutoNAT service, no \
                      reproviding, 20-40 connections. Content discovery may be slower.",
        change: Change::Code(lowpower),
    },
    Profile {
        name: "randomports",
        description: "Uses a random free port number for the swarm.",
        change: Change::Code(randomports),
    },
    Profile {
        name: "pi-zero",
        description: "Firmware profile for Raspberry Pi Zero, Zero 2 W and Pi 1 (512 MiB \
                      boards, 32 MiB RSS ceiling): firmware-profiles/pi-zero.toml.",
        change: Change::Board("pi-zero"),
    },
    Profile {
        name: "vps-256m",
        description: "Firmware profile for a VPS with 256 MiB (48 MiB RSS ceiling): \
                      firmware-profiles/vps-256m.toml.",
        change: Change::Board("vps-256m"),
    },
    Profile {
        name: "pi3",
        description: "Firmware profile for Raspberry Pi 2 and 3 (1 GiB boards, 64 MiB \
                      RSS ceiling): firmware-profiles/pi3.toml.",
        change: Change::Board("pi3"),
    },
    Profile {
        name: "pi4",
        description: "Firmware profile for Raspberry Pi 4, 5, CM4 and 400 (2 GiB or \
                      more, 128 MiB RSS ceiling): firmware-profiles/pi4.toml.",
        change: Change::Board("pi4"),
    },
];

/// The names of all profiles, comma-separated.
pub fn known_names() -> String {
    PROFILES
        .iter()
        .map(|p| p.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The profile called `name`.
pub fn find(name: &str) -> Result<&'static Profile, ProfileError> {
    PROFILES
        .iter()
        .find(|p| p.name == name)
        .ok_or_else(|| ProfileError::Unknown {
            name: name.to_owned(),
            known: known_names(),
        })
}

/// Look up every name of a comma-separated list (`"test,lowpower"`).
pub fn resolve_list(list: &str) -> Result<Vec<&'static Profile>, ProfileError> {
    list.split(',')
        .map(|name| {
            let name = name.trim();
            if name.is_empty() {
                Err(ProfileError::Empty { list: list.into() })
            } else {
                find(name)
            }
        })
        .collect()
}

/// Apply one profile.
pub fn apply(config: &mut Config, profile: &'static Profile) -> Result<(), ProfileError> {
    let result = match profile.change {
        Change::Code(transform) => transform(config),
        Change::Board(name) => board::apply_named(config, name).map_err(TransformError::from),
    };
    result.map_err(|reason| ProfileError::Failed {
        name: profile.name,
        reason: Box::new(reason),
    })
}

/// Append the entries of `add` missing from `list`, keeping order.
fn append_missing(list: &mut Vec<String>, add: &[&str]) {
    for a in add {
        if !list.iter().any(|x| x == a) {
            list.push((*a).to_owned());
        }
    }
}

fn test(c: &mut Config) -> Result<(), TransformError> {
    const LOCAL_ANY_PORT: &str = "/ip4/127.0.0.1/tcp/0";
    c.addresses.api.0 = vec![LOCAL_ANY_PORT.into()];
    c.addresses.gateway.0 = vec![LOCAL_ANY_PORT.into()];
    c.addresses.swarm = vec![LOCAL_ANY_PORT.into()];
    c.swarm.disable_nat_port_map = true;
    c.bootstrap.clear();
    c.discovery.mdns.enabled = false;
    Ok(())
}

fn default_networking(c: &mut Config) -> Result<(), TransformError> {
    c.addresses = Addresses::default();
    append_missing(&mut c.bootstrap, DEFAULT_BOOTSTRAP);
    c.swarm.disable_nat_port_map = false;
    c.discovery.mdns.enabled = true;
    Ok(())
}

fn server(c: &mut Config) -> Result<(), TransformError> {
    append_missing(&mut c.addresses.no_announce, SERVER_FILTERS);
    append_missing(&mut c.swarm.addr_filters, SERVER_FILTERS);
    c.discovery.mdns.enabled = false;
    c.swarm.disable_nat_port_map = true;
    Ok(())
}

fn local_discovery(c: &mut Config) -> Result<(), TransformError> {
    let keep = |a: &String| !SERVER_FILTERS.contains(&a.as_str());
    c.addresses.no_announce.retain(keep);
    c.swarm.addr_filters.retain(keep);
    c.discovery.mdns.enabled = true;
    c.swarm.disable_nat_port_map = false;
    Ok(())
}

fn lowpower(c: &mut Config) -> Result<(), TransformError> {
    c.routing.kind = RoutingType::Dhtclient;
    c.auto_nat.service_mode = AutoNatServiceMode::Disabled;
    c.reprovider.interval = GoDuration::new("0")?;
    let cm = &mut c.swarm.conn_mgr;
    cm.kind = "basic".into();
    cm.low_water = 20;
    cm.high_water = 40;
    cm.grace_period = GoDuration::new("1m")?;
    Ok(())
}

fn randomports(c: &mut Config) -> Result<(), TransformError> {
    let listener = TcpListener::bind("[::]:0")
        .or_else(|_| TcpListener::bind("0.0.0.0:0"))
        .map_err(TransformError::FreePort)?;
    let port = listener
        .local_addr()
        .map_err(TransformError::FreePort)?
        .port();
    c.addresses.swarm = vec![
        format!("/ip4/0.0.0.0/tcp/{port}"),
        format!("/ip6/::/tcp/{port}"),
    ];
    Ok(())
}

/// One changed config leaf (`config profile apply`): the key and the old and new
/// values as JSON text (the private key is never listed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigChange {
    pub key: String,
    pub old: String,
    pub new: String,
}

/// `config profile apply NAME [--dry-run]` on the repo at `root` (whose lock the
/// caller holds): applies the profile to the config file's contents, validates the
/// result and, unless `dry_run` or nothing changed, saves a backup
/// (`config-pre-NAME-<unix seconds>`) and then the new config. The changed leaves.
pub fn apply_in_repo(
    root: &std::path::Path,
    name: &str,
    dry_run: bool,
) -> anyhow::Result<Vec<ConfigChange>> {
    use anyhow::Context as _;
    let profile = find(name)?;
    let old = Config::load(root)?;
    let mut new = old.clone();
    apply(&mut new, profile)?;
    new.validate()
        .with_context(|| format!("profile {} gives an invalid config", profile.name))?;
    let changes = diff(&old, &new);
    if !dry_run && old != new {
        let backup = write_backup(root, &old, profile.name)?;
        tracing::info!(backup = %backup.display(), "saved old config");
        new.save(root)?;
    }
    Ok(changes)
}

/// The changed leaves from `old` to `new` (private key never shown).
fn diff(old: &Config, new: &Config) -> Vec<ConfigChange> {
    let before = crate::config::leaves(&old.to_value_without_private_key());
    let after = crate::config::leaves(&new.to_value_without_private_key());
    before
        .iter()
        .zip(after.iter())
        .filter(|((_, a), (_, b))| a != b)
        .map(|((key, a), (_, b))| ConfigChange {
            key: key.clone(),
            old: a.to_string(),
            new: b.to_string(),
        })
        .collect()
}

/// Save `cfg` as `config-pre-<label>-<unix seconds>[-n]` (mode 0600, never
/// replacing a file), as Kubo's `BackupConfig`.
fn write_backup(
    root: &std::path::Path,
    cfg: &Config,
    label: &str,
) -> anyhow::Result<std::path::PathBuf> {
    use anyhow::Context as _;
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    /// Attempts at a fresh backup name before giving up.
    const MAX_BACKUP_NAME_ATTEMPTS: u32 = 100;
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    for n in 0..MAX_BACKUP_NAME_ATTEMPTS {
        let name = if n == 0 {
            format!("{}-pre-{label}-{secs}", crate::config::CONFIG_FILE_NAME)
        } else {
            format!("{}-pre-{label}-{secs}-{n}", crate::config::CONFIG_FILE_NAME)
        };
        let path = root.join(name);
        match std::fs::OpenOptions::new()
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
    anyhow::bail!(
        "could not find a free name for the config backup in {}",
        root.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Identity;

    /// Resolve every name first, then apply in order (what `acorn init` does).
    fn apply_list(config: &mut Config, list: &str) -> Result<(), ProfileError> {
        for p in resolve_list(list)? {
            apply(config, p)?;
        }
        Ok(())
    }

    fn sample() -> Config {
        Config::with_identity(Identity::generate().to_config().unwrap())
    }

    #[test]
    fn names_unique_and_every_profile_validates() {
        for (i, p) in PROFILES.iter().enumerate() {
            assert!(PROFILES[i + 1..].iter().all(|q| q.name != p.name));
            let mut c = sample();
            apply(&mut c, p).unwrap();
            c.validate().unwrap_or_else(|e| panic!("{}: {e}", p.name));
        }
    }

    /// Every firmware profile file has a row, and every board row a file whose
    /// description states its ceiling.
    #[test]
    fn board_rows_match_the_files() {
        for (name, text) in board::FILES {
            let p = find(name).unwrap();
            assert!(matches!(p.change, Change::Board(n) if n == *name));
            let ceiling = board::parse(text).unwrap().memory_ceiling_mib;
            assert!(
                p.description
                    .contains(&format!("{ceiling} MiB RSS ceiling")),
                "{name}: {}",
                p.description
            );
        }
        for p in PROFILES {
            if let Change::Board(name) = p.change {
                assert_eq!(name, p.name);
                assert!(board::file(name).is_some(), "{name} has no file");
            }
        }
    }

    #[test]
    fn board_profile_combines_with_test() {
        let mut c = sample();
        apply_list(&mut c, "pi-zero,test").unwrap();
        c.validate().unwrap();
        assert_eq!(c.acorn.blocking_threads, 1);
        assert_eq!(c.swarm.conn_mgr.high_water, 32);
        assert_eq!(c.addresses.swarm, vec!["/ip4/127.0.0.1/tcp/0"]);
        // A board profile after lowpower (20/40) raises HighWater before LowWater.
        apply_list(&mut c, "lowpower,pi4").unwrap();
        assert_eq!(
            (c.swarm.conn_mgr.low_water, c.swarm.conn_mgr.high_water),
            (64, 128)
        );
    }

    #[test]
    fn test_profile() {
        let mut c = sample();
        apply_list(&mut c, "test").unwrap();
        assert_eq!(c.addresses.api.0, vec!["/ip4/127.0.0.1/tcp/0"]);
        assert_eq!(c.addresses.gateway.0, vec!["/ip4/127.0.0.1/tcp/0"]);
        assert_eq!(c.addresses.swarm, vec!["/ip4/127.0.0.1/tcp/0"]);
        assert!(c.bootstrap.is_empty());
        assert!(!c.discovery.mdns.enabled);
        // default-networking undoes it.
        apply_list(&mut c, "default-networking").unwrap();
        let fresh = sample();
        assert_eq!(c.addresses, fresh.addresses);
        assert_eq!(c.bootstrap, fresh.bootstrap);
        assert_eq!(c.discovery, fresh.discovery);
    }

    #[test]
    fn server_and_local_discovery_are_inverse() {
        let mut c = sample();
        c.swarm.addr_filters.push("/ip4/1.2.3.0/ipcidr/24".into());
        let before = c.clone();
        apply_list(&mut c, "server").unwrap();
        assert_eq!(c.addresses.no_announce.len(), SERVER_FILTERS.len());
        assert_eq!(c.swarm.addr_filters.len(), SERVER_FILTERS.len() + 1);
        assert!(!c.discovery.mdns.enabled && c.swarm.disable_nat_port_map);
        // Applying twice adds nothing.
        apply_list(&mut c, "server").unwrap();
        assert_eq!(c.addresses.no_announce.len(), SERVER_FILTERS.len());
        apply_list(&mut c, "local-discovery").unwrap();
        assert_eq!(c, before);
    }

    #[test]
    fn lowpower_and_randomports() {
        let mut c = sample();
        apply_list(&mut c, "lowpower, randomports").unwrap();
        assert_eq!(c.swarm.conn_mgr.low_water, 20);
        assert_eq!(c.swarm.conn_mgr.high_water, 40);
        assert_eq!(c.auto_nat.service_mode, AutoNatServiceMode::Disabled);
        assert_eq!(c.reprovider.interval.to_string(), "0");
        let port = c.addresses.swarm[0].rsplit('/').next().unwrap();
        assert_ne!(port, "0");
        assert_ne!(port, "4001");
        assert_eq!(c.addresses.swarm[1], format!("/ip6/::/tcp/{port}"));
    }

    #[test]
    fn unknown_and_empty_names() {
        let mut c = sample();
        let before = c.clone();
        let e = apply_list(&mut c, "test,bogus").unwrap_err().to_string();
        assert!(
            e.contains("bogus") && e.contains("test") && e.contains("lowpower"),
            "{e}"
        );
        // Nothing was applied: names are all checked first.
        assert_eq!(c, before);
        assert!(matches!(
            apply_list(&mut c, "test,"),
            Err(ProfileError::Empty { .. })
        ));
    }

    #[test]
    fn diff_lists_changed_leaves() {
        use crate::identity::Identity;
        let old = Config::with_identity(Identity::generate().to_config().unwrap());
        let mut new = old.clone();
        apply(&mut new, find("test").unwrap()).unwrap();
        let d = diff(&old, &new);
        let api = d
            .iter()
            .find(|c| c.key == "Addresses.API")
            .expect("API changed");
        assert_eq!(api.old, "\"/ip4/127.0.0.1/tcp/5001\"");
        assert_eq!(api.new, "\"/ip4/127.0.0.1/tcp/0\"");
        assert!(d
            .iter()
            .any(|c| c.key == "Discovery.MDNS.Enabled" && c.old == "true" && c.new == "false"));
        assert!(!d.iter().any(|c| c.key.contains("PrivKey")));
        assert!(diff(&old, &old).is_empty());
    }

    #[test]
    fn backups_never_replace() {
        use crate::identity::Identity;
        let dir = tempfile::tempdir().unwrap();
        let cfg = Config::with_identity(Identity::generate().to_config().unwrap());
        let a = write_backup(dir.path(), &cfg, "test").unwrap();
        let b = write_backup(dir.path(), &cfg, "test").unwrap();
        assert_ne!(a, b);
        assert_eq!(Config::from_json(&std::fs::read(&b).unwrap()).unwrap(), cfg);
    }
}
