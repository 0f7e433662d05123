//! Moving from Kubo: `acorn init --from-kubo PATH` and `acorn repo import-kubo PATH`.
//!
//! **What.** Brings a Kubo repo's identity, the config keys Acorn shares with Kubo,
//! every block and every pin into an Acorn repo, from the disk, without the
//! network. The Kubo repo is only read (its LevelDB through a copy, see
//! [`acorn_storage::kubo::datastore`]).
//!
//! **Flow.** 1. [`KuboRepo::open`] checks the repo version (Kubo 0.12 to 0.27,
//! fs-repo 12 to 15) and the datastore layout. 2. [`config_from_kubo`] builds the
//! config: the Kubo identity (`Identity.PrivKey` is the same base64 libp2p key in
//! both), Acorn's defaults, then every Kubo key set over them one by one: keys
//! Acorn knows take Kubo's value when Acorn accepts it (else keep Acorn's default
//! and are reported), keys Acorn does not know are kept unused (as `acorn config`
//! keeps them). 3. [`KuboRepo::check`] re-hashes every block file against its
//! multihash and checks every pinned DAG is complete, before anything is written:
//! bad blocks are refused by name and nothing is imported. 4. [`write`] stores the
//! blocks in batches (each read and hashed again, so a file changed since the check
//! is refused too) and then pins all pins in one transaction, under one
//! [`AddGuard`](acorn_storage::blockstore::AddGuard) so a GC cannot sweep between.
//! `init --from-kubo` writes the config file last, so a failed import leaves no
//! initialised repo.
//!
//! **Not imported.** The MFS root (Acorn has no MFS; its blocks are imported and
//! the root is reported so it can be pinned), IPNS keys (`keystore/`), the
//! filestore and urlstore references, DHT and provider records, and Kubo's pin
//! names. A direct Kubo pin on a CID the Acorn repo pins recursively is covered by
//! that pin and skipped.
//!
//! **Limits.** Those of [`acorn_storage::kubo`]; the blocks need their size plus
//! `Acorn.MinFreeSpace` free on the repo's disk, checked before the first write.

use std::path::{Path, PathBuf};

use acorn_storage::blockstore::Store;
use acorn_storage::kubo::pin_record::PinMode;
use acorn_storage::kubo::{self, Checked, KuboRepo};
use acorn_storage::pins;
use anyhow::Context as _;
use serde_json::Value;

use crate::config::{self, Config, IdentitySection};
use crate::identity::Identity;

/// A Kubo config key that kept Acorn's value, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub key: String,
    pub reason: String,
}

/// The config for a repo made from a Kubo repo whose config is `kubo`: the
/// identity, the shared keys and the unknown keys kept; the keys that kept
/// Acorn's value.
pub fn config_from_kubo(kubo: &Value) -> anyhow::Result<(Config, Vec<Skipped>)> {
    let id = kubo
        .get("Identity")
        .context("the Kubo config has no Identity")?;
    let field = |name: &str| {
        id.get(name)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .with_context(|| format!("the Kubo config has no Identity.{name}"))
    };
    let section = IdentitySection {
        peer_id: field("PeerID")?,
        priv_key: field("PrivKey")?,
    };
    Identity::from_config(&section).context("the Kubo identity cannot be used")?;
    let mut cfg = Config::with_identity(section);
    let mut skipped = Vec::new();
    for (key, value) in config::leaves(kubo) {
        if key.starts_with("Identity.") {
            continue;
        }
        if let Err(e) = cfg.set(&key, value) {
            skipped.push(Skipped {
                key,
                reason: e.to_string(),
            });
        }
    }
    cfg.validate()?;
    Ok((cfg, skipped))
}

/// What an import brought in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Blocks read from the Kubo repo.
    pub blocks: u64,
    /// Of those, blocks the Acorn repo did not hold yet.
    pub new_blocks: u64,
    /// Bytes of block data read.
    pub bytes: u64,
    /// Pins brought over (recursive and direct).
    pub pins: u64,
    /// Kubo's MFS root, not imported (Acorn has no MFS).
    pub files_root: Option<acorn_storage::Cid>,
}

/// A scratch directory inside a repo, removed when dropped.
pub struct Scratch(PathBuf);

impl Scratch {
    /// A fresh directory in `root` (which must exist).
    pub fn new(root: &Path) -> anyhow::Result<Scratch> {
        let p = root.join(format!(".kubo-import-{}", std::process::id()));
        if p.exists() {
            std::fs::remove_dir_all(&p).with_context(|| format!("removing {}", p.display()))?;
        }
        std::fs::create_dir(&p).with_context(|| format!("creating {}", p.display()))?;
        Ok(Scratch(p))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Opens and checks the Kubo repo at `path` (nothing written but `scratch`).
pub fn check(kubo_root: &Path, scratch: &Scratch) -> anyhow::Result<(KuboRepo, Checked)> {
    let repo = KuboRepo::open(kubo_root)?;
    let checked = repo.check(scratch.path(), &mut |_, _| {})?;
    Ok((repo, checked))
}

/// Stores the checked blocks and pins in `store` (see the module doc).
pub fn write(store: &Store, checked: &Checked) -> anyhow::Result<Report> {
    store.check_space(checked.bytes)?;
    let _guard = store.begin_add();
    let before = store.count_and_size()?.blocks;
    let mut writer = store.writer();
    for (mh, path) in &checked.blocks {
        let block = kubo::read_checked(path, mh).with_context(|| {
            format!(
                "block {} ({}) changed since it was checked; nothing was pinned",
                acorn_storage::cids::raw_v1_of_multihash(mh),
                path.display()
            )
        })?;
        writer.put_block(&block)?;
    }
    writer.finish()?;
    let after = store.count_and_size()?.blocks;
    let mut list = Vec::with_capacity(checked.pins.len());
    for p in &checked.pins {
        let recursive = p.mode == PinMode::Recursive;
        if !recursive && pins::pin_kind(store, &p.cid)? == Some(pins::PinKind::Recursive) {
            continue;
        }
        list.push((p.cid, recursive));
    }
    pins::pin_add_all(store, &list)?;
    Ok(Report {
        blocks: checked.blocks.len() as u64,
        new_blocks: after.saturating_sub(before),
        bytes: checked.bytes,
        pins: checked.pins.len() as u64,
        files_root: checked.files_root,
    })
}

/// The lines `init --from-kubo` and `repo import-kubo` print after the import.
pub fn summary(report: &Report) -> String {
    let mut s = format!(
        "imported {} blocks ({} new, {} bytes) and {} pins\n",
        report.blocks, report.new_blocks, report.bytes, report.pins
    );
    if let Some(root) = report.files_root {
        s.push_str(&format!(
            "not imported: the MFS root {root} (Acorn has no MFS; its blocks are here, `acorn pin add {root}` keeps them)\n"
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kubo_config_keeps_identity_shared_keys_and_unknown_ones() {
        let id = Identity::generate().to_config().unwrap();
        let kubo = json!({
            "Identity": {"PeerID": id.peer_id, "PrivKey": id.priv_key},
            "Datastore": {"StorageMax": "20GB", "Spec": {"type": "mount"}, "HashOnRead": false},
            "Addresses": {"Swarm": ["/ip4/0.0.0.0/tcp/4001"], "API": "/ip4/127.0.0.1/tcp/5001"},
            "Routing": {"Type": "custom", "Routers": null},
            "Swarm": {"AddrFilters": null, "ConnMgr": {}},
            "Experimental": {"FilestoreEnabled": true},
            "Bootstrap": []
        });
        let (cfg, skipped) = config_from_kubo(&kubo).unwrap();
        assert_eq!(cfg.identity, id);
        assert_eq!(cfg.datastore.storage_max.as_str(), "20GB");
        assert!(cfg.bootstrap.is_empty());
        assert_eq!(
            cfg.get("Experimental.FilestoreEnabled").unwrap(),
            json!(true)
        );
        assert_eq!(cfg.get("Datastore.Spec.type").unwrap(), json!("mount"));
        // Acorn has no custom routing: its default stays, and it is reported.
        assert_eq!(cfg.routing, config::Routing::default());
        assert_eq!(skipped.len(), 1, "{skipped:?}");
        assert_eq!(skipped[0].key, "Routing.Type");
        // A key that does not match its peer ID is refused.
        let mut bad = kubo.clone();
        bad["Identity"]["PeerID"] = json!(Identity::generate().to_config().unwrap().peer_id);
        assert!(config_from_kubo(&bad).is_err());
    }
}
