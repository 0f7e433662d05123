//! Kubo repos, read-only: what `acorn init --from-kubo` and `acorn repo
//! import-kubo` bring over.
//!
//! **What.** [`KuboRepo::open`] checks a Kubo repo directory and reads its config;
//! [`KuboRepo::check`] then reads every block file and re-hashes it against its
//! multihash, reads the pins and checks that each pinned DAG is complete in the
//! repo — all before the caller writes anything. Nothing here writes to the Kubo
//! repo.
//!
//! **Spec.** Kubo 0.22 (fs-repo version 14), the layout shared by fs-repo
//! versions [`MIN_REPO_VERSION`] to [`MAX_REPO_VERSION`] (Kubo 0.12 to 0.27):
//! - `repo.lock`: Kubo holds a POSIX (`fcntl`) write lock on it while it runs and
//!   removes it when it stops; a repo whose lock is held is refused, a stale file
//!   is ignored;
//! - `version`: the fs-repo version in ASCII decimal;
//! - `config`: JSON (`Identity.PrivKey` is the same base64 libp2p protobuf key
//!   Acorn's config holds);
//! - `datastore_spec`: the datastore's mounts; only Kubo's default is read,
//!   flatfs at `/blocks` (dir `blocks`) and LevelDB at `/` (dir `datastore`)
//!   (`badgerds` and custom specs are refused with their spec);
//! - `blocks/`: [`flatfs`], the blocks, named by multihash;
//! - `datastore/`: [`datastore`], LevelDB: pin records ([`pin_record`]) and the
//!   MFS root.
//!
//! **Codecs.** Block files carry no codec. Pins carry whole CIDs, and the DAG
//! walk from each pin reads the codecs of its links, so every pinned block is
//! checked under the codec it is used with; an unpinned block is checked as raw
//! bytes against its multihash only (which is all a multihash-keyed blockstore
//! needs). Acorn stores blocks by multihash too, so any later CID of a block
//! finds it.
//!
//! **Limits.** Blocks over [`crate::block::MAX_BLOCK_BYTES`] are refused; pins
//! are bounded by [`datastore::MAX_PIN_COUNT`]; a check holds one block and the
//! list of block file names (about 150 bytes each) in memory.

pub mod datastore;
pub mod flatfs;
pub mod pin_record;

use std::fs;
use std::path::{Path, PathBuf};

use cid::multihash::Multihash;
use serde_json::Value;

use crate::block::{Block, BlockError};
use crate::cids;
use crate::dag::{self, DagError, MemSeen};
use pin_record::{PinMode, PinRecord};

/// Oldest fs-repo version read (Kubo 0.12).
pub const MIN_REPO_VERSION: u32 = 12;
/// Newest fs-repo version read (Kubo 0.23 to 0.27 write 15).
pub const MAX_REPO_VERSION: u32 = 15;
/// Largest Kubo config file read.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;
/// Bad blocks named in an error; the rest are counted.
pub const MAX_NAMED_BAD_BLOCKS: usize = 20;

/// Errors opening or checking a Kubo repo.
#[derive(Debug, thiserror::Error)]
pub enum KuboError {
    /// The directory lacks a file every Kubo repo has.
    #[error("{} is not a Kubo repo (no {} file)", path.display(), missing)]
    NotARepo {
        /// The directory.
        path: PathBuf,
        /// The missing file's name.
        missing: &'static str,
    },
    /// A repo version we cannot read.
    #[error("{}: Kubo repo version {found:?} cannot be read (Acorn reads versions {MIN_REPO_VERSION} to {MAX_REPO_VERSION}: Kubo 0.12 to 0.27); migrate it with Kubo's `ipfs repo migrate` or fs-repo-migrations first", path.display())]
    Version {
        /// The `version` file.
        path: PathBuf,
        /// Its content.
        found: String,
    },
    /// A repo file could not be read.
    #[error("reading {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The repo's `config` is not what Kubo writes.
    #[error("{}: {reason}", path.display())]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Kubo holds the repo lock.
    #[error("Kubo is running on {} (it holds {}): stop it first (`ipfs shutdown`)", path.display(), lock.display())]
    Running {
        /// The repo.
        path: PathBuf,
        /// The lock file.
        lock: PathBuf,
    },
    /// A datastore other than flatfs + LevelDB.
    #[error("the Kubo repo's datastore is {spec}: Acorn imports only Kubo's default flatfs + LevelDB datastore")]
    Datastore {
        /// The `Datastore.Spec` found.
        spec: String,
    },
    /// The flatfs `blocks/` directory could not be opened.
    #[error(transparent)]
    FlatfsOpen(#[from] flatfs::OpenError),
    /// The flatfs `blocks/` directory could not be listed.
    #[error("listing {}: {source}", dir.display())]
    FlatfsList {
        /// The directory.
        dir: std::path::PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The LevelDB datastore could not be read.
    #[error(transparent)]
    LevelDb(#[from] datastore::DatastoreError),
    /// Block files failed their check; nothing was imported.
    #[error("{count} of {total} blocks are bad, nothing was imported: {list}", count = bad.len(), list = name_bad(bad))]
    BadBlocks {
        /// Blocks checked.
        total: u64,
        /// The bad ones.
        bad: Vec<BadBlock>,
    },
    /// A pin whose DAG is not complete in the repo.
    #[error("pin {cid} cannot be imported: {reason}")]
    IncompletePin {
        /// The pinned CID.
        cid: cid::Cid,
        /// What is missing.
        reason: String,
    },
}

/// A block file that failed its check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadBlock {
    /// The block file.
    pub path: PathBuf,
    /// The block's CID (CIDv1 raw of its multihash), when the name is one.
    pub cid: Option<cid::Cid>,
    /// What is wrong with it.
    pub reason: String,
}

fn name_bad(bad: &[BadBlock]) -> String {
    let mut s: Vec<String> = bad
        .iter()
        .take(MAX_NAMED_BAD_BLOCKS)
        .map(|b| match &b.cid {
            Some(c) => format!("{} ({}): {}", c, b.path.display(), b.reason),
            None => format!("{}: {}", b.path.display(), b.reason),
        })
        .collect();
    if bad.len() > MAX_NAMED_BAD_BLOCKS {
        s.push(format!("and {} more", bad.len() - MAX_NAMED_BAD_BLOCKS));
    }
    s.join("; ")
}

/// A Kubo repo opened for import.
#[derive(Debug)]
pub struct KuboRepo {
    root: PathBuf,
    /// The fs-repo version.
    pub version: u32,
    /// The config file's JSON.
    pub config: Value,
    flatfs: flatfs::Flatfs,
}

/// What [`KuboRepo::check`] found; everything in it passed.
#[derive(Debug, Clone)]
pub struct Checked {
    /// Every block: its multihash and file.
    pub blocks: Vec<(Multihash<64>, PathBuf)>,
    /// Bytes of block data.
    pub bytes: u64,
    /// Pins, recursive and direct (Kubo's indirect pins follow from them).
    pub pins: Vec<PinRecord>,
    /// The MFS root, when the repo has one.
    pub files_root: Option<cid::Cid>,
}

impl KuboRepo {
    /// Checks the version file, the datastore spec and reads the config.
    pub fn open(root: &Path) -> Result<KuboRepo, KuboError> {
        let io = |path: PathBuf| move |source| KuboError::Io { path, source };
        let version_path = root.join("version");
        let config_path = root.join("config");
        for (path, name) in [(&version_path, "version"), (&config_path, "config")] {
            if !path.is_file() {
                return Err(KuboError::NotARepo {
                    path: root.to_owned(),
                    missing: name,
                });
            }
        }
        let text = fs::read(&version_path).map_err(io(version_path.clone()))?;
        let text = String::from_utf8_lossy(&text[..text.len().min(64)]).into_owned();
        let version = text
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|v| (MIN_REPO_VERSION..=MAX_REPO_VERSION).contains(v))
            .ok_or_else(|| KuboError::Version {
                path: version_path.clone(),
                found: text.trim().to_owned(),
            })?;
        let len = fs::metadata(&config_path)
            .map_err(io(config_path.clone()))?
            .len();
        if len > MAX_CONFIG_BYTES {
            return Err(KuboError::Config {
                path: config_path,
                reason: format!("{len} bytes, over the {MAX_CONFIG_BYTES}-byte limit"),
            });
        }
        let bytes = fs::read(&config_path).map_err(io(config_path.clone()))?;
        let config: Value = serde_json::from_slice(&bytes).map_err(|e| KuboError::Config {
            path: config_path.clone(),
            reason: format!("not JSON: {e}"),
        })?;
        if !config.is_object() {
            return Err(KuboError::Config {
                path: config_path,
                reason: "not a JSON object".into(),
            });
        }
        check_spec(root)?;
        if kubo_running(root)? {
            return Err(KuboError::Running {
                path: root.to_owned(),
                lock: root.join(LOCK_FILE),
            });
        }
        let flatfs = flatfs::Flatfs::open(&root.join("blocks"))?;
        Ok(KuboRepo {
            root: root.to_owned(),
            version,
            config,
            flatfs,
        })
    }

    /// The repo's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The flatfs blockstore (a [`crate::BlockSource`]).
    pub fn blocks(&self) -> &flatfs::Flatfs {
        &self.flatfs
    }

    /// Re-hashes every block, reads the pins and checks every pinned DAG is
    /// complete, using `scratch` (an empty directory the caller removes) for the
    /// LevelDB copy. `progress` is called after each block with (blocks, bytes).
    pub fn check(
        &self,
        scratch: &Path,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<Checked, KuboError> {
        let entries = self
            .flatfs
            .entries()
            .map_err(|source| KuboError::FlatfsList {
                dir: self.flatfs_dir(),
                source,
            })?;
        let total = entries.len() as u64;
        let mut blocks = Vec::with_capacity(entries.len());
        let mut bad = Vec::new();
        let mut bytes = 0u64;
        for entry in entries {
            match entry {
                flatfs::Entry::BadName { path } => bad.push(BadBlock {
                    path,
                    cid: None,
                    reason: "the file name is not a base32 multihash".into(),
                }),
                flatfs::Entry::Block { path, mh } => match verify_file(&path, &mh) {
                    Ok(len) => {
                        bytes += len;
                        blocks.push((mh, path));
                    }
                    Err(e) => bad.push(BadBlock {
                        path,
                        cid: Some(cids::raw_v1_of_multihash(&mh)),
                        reason: e.to_string(),
                    }),
                },
            }
            progress(blocks.len() as u64, bytes);
        }
        if !bad.is_empty() {
            return Err(KuboError::BadBlocks { total, bad });
        }
        let contents = datastore::read(&self.root.join("datastore"), scratch)?;
        for pin in &contents.pins {
            let missing = |e: DagError| KuboError::IncompletePin {
                cid: pin.cid,
                reason: match e {
                    DagError::Missing { cid } => format!("block {cid} is not in the Kubo repo"),
                    other => other.to_string(),
                },
            };
            match pin.mode {
                PinMode::Direct => {
                    dag::fetch(&self.flatfs, &pin.cid).map_err(missing)?;
                }
                PinMode::Recursive => {
                    dag::check_complete(&self.flatfs, &pin.cid, &mut MemSeen::new())
                        .map_err(missing)?;
                }
            }
        }
        Ok(Checked {
            blocks,
            bytes,
            pins: contents.pins,
            files_root: contents.files_root,
        })
    }

    fn flatfs_dir(&self) -> PathBuf {
        self.root.join("blocks")
    }
}

/// Reads one block file and checks it against its multihash; its length.
fn verify_file(path: &Path, mh: &Multihash<64>) -> Result<u64, BlockError> {
    let data = flatfs::read_block(path, mh)?;
    let len = data.len() as u64;
    Block::new(cids::raw_v1_of_multihash(mh), data)?;
    Ok(len)
}

/// Reads a checked block again for writing, re-hashed (the file may have changed
/// since the check).
pub fn read_checked(path: &Path, mh: &Multihash<64>) -> Result<Block, BlockError> {
    let data = flatfs::read_block(path, mh)?;
    Block::new(cids::raw_v1_of_multihash(mh), data)
}

/// Kubo's repo lock file.
const LOCK_FILE: &str = "repo.lock";

/// Whether a process holds Kubo's lock (go4.org/lock: an `fcntl` write lock on
/// the whole of `repo.lock`).
fn kubo_running(root: &Path) -> Result<bool, KuboError> {
    use nix::fcntl::{fcntl, FcntlArg};
    use nix::libc;
    let path = root.join(LOCK_FILE);
    let file = match fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(source) => return Err(KuboError::Io { path, source }),
    };
    let mut query = libc::flock {
        l_type: libc::F_WRLCK as libc::c_short,
        l_whence: libc::SEEK_SET as libc::c_short,
        l_start: 0,
        l_len: 0,
        l_pid: 0,
    };
    fcntl(&file, FcntlArg::F_GETLK(&mut query)).map_err(|e| KuboError::Io {
        path,
        source: e.into(),
    })?;
    Ok(query.l_type != libc::F_UNLCK as libc::c_short)
}

/// Refuses any datastore but Kubo's default (`datastore_spec`).
fn check_spec(root: &Path) -> Result<(), KuboError> {
    let path = root.join("datastore_spec");
    let text = fs::read_to_string(&path).map_err(|source| KuboError::Io {
        path: path.clone(),
        source,
    })?;
    let spec: Value = serde_json::from_str(&text).map_err(|e| KuboError::Config {
        path: path.clone(),
        reason: format!("not JSON: {e}"),
    })?;
    let mounts = spec.get("mounts").and_then(Value::as_array);
    let has = |mountpoint: &str, kind: &str, dir: &str| {
        mounts.is_some_and(|m| {
            m.iter().any(|x| {
                x.get("mountpoint").and_then(Value::as_str) == Some(mountpoint)
                    && x.get("type").and_then(Value::as_str) == Some(kind)
                    && x.get("path").and_then(Value::as_str) == Some(dir)
            })
        })
    };
    if spec.get("type").and_then(Value::as_str) == Some("mount")
        && mounts.is_some_and(|m| m.len() == 2)
        && has("/blocks", "flatfs", "blocks")
        && has("/", "levelds", "datastore")
    {
        Ok(())
    } else {
        Err(KuboError::Datastore {
            spec: text.trim().to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_repo(version: &str) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join("version"), version).unwrap();
        fs::write(d.path().join("config"), r#"{"Identity":{}}"#).unwrap();
        fs::write(
            d.path().join("datastore_spec"),
            r#"{"mounts":[{"mountpoint":"/blocks","path":"blocks","shardFunc":"/repo/flatfs/shard/v1/next-to-last/2","type":"flatfs"},{"mountpoint":"/","path":"datastore","type":"levelds"}],"type":"mount"}"#,
        )
        .unwrap();
        fs::create_dir(d.path().join("blocks")).unwrap();
        fs::write(
            d.path().join("blocks/SHARDING"),
            "/repo/flatfs/shard/v1/next-to-last/2\n",
        )
        .unwrap();
        d
    }

    #[test]
    fn versions_12_to_15_open_others_are_named() {
        for v in ["12", "14", "15\n"] {
            let d = fake_repo(v);
            assert_eq!(
                KuboRepo::open(d.path()).unwrap().version,
                v.trim().parse::<u32>().unwrap()
            );
        }
        for v in ["11", "16", "", "fourteen"] {
            let d = fake_repo(v);
            let e = KuboRepo::open(d.path()).unwrap_err();
            assert!(matches!(e, KuboError::Version { .. }), "{v}: {e}");
            assert!(e.to_string().contains("12 to 15"), "{e}");
        }
        let empty = tempfile::tempdir().unwrap();
        assert!(matches!(
            KuboRepo::open(empty.path()),
            Err(KuboError::NotARepo { .. })
        ));
    }

    #[test]
    fn other_datastores_are_refused() {
        let d = fake_repo("14");
        fs::write(
            d.path().join("datastore_spec"),
            r#"{"path":"badgerds","type":"badgerds"}"#,
        )
        .unwrap();
        let e = KuboRepo::open(d.path()).unwrap_err();
        assert!(matches!(e, KuboError::Datastore { .. }), "{e}");
        assert!(e.to_string().contains("badgerds"), "{e}");
    }

    #[test]
    fn check_names_bad_blocks() {
        let d = fake_repo("14");
        let repo = KuboRepo::open(d.path()).unwrap();
        let good = b"good".to_vec();
        let gcid = cids::cid_of(1, cids::RAW, &good);
        let bad_cid = cids::cid_of(1, cids::RAW, b"original");
        for (cid, data) in [(gcid, &good[..]), (bad_cid, &b"tampered"[..])] {
            let p = repo.blocks().path_of(cid.hash());
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, data).unwrap();
        }
        let scratch = tempfile::tempdir().unwrap();
        let e = repo.check(scratch.path(), &mut |_, _| {}).unwrap_err();
        match &e {
            KuboError::BadBlocks { total, bad } => {
                assert_eq!(*total, 2);
                assert_eq!(bad.len(), 1);
                assert_eq!(bad[0].cid, Some(bad_cid));
            }
            other => panic!("{other}"),
        }
        assert!(e.to_string().contains(&bad_cid.to_string()), "{e}");
    }
}
