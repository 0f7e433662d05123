//! Reading and writing the config file: the size limit, parsing into the typed
//! sections plus the unknown-keys tree, and the atomic save.

use super::*;

/// Why JSON does not read as a config ([`Config::from_json`],
/// [`Config::from_value`]); the typed value checks come after, in validation.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// The bytes are not JSON.
    #[error("{0}")]
    Json(#[source] serde_json::Error),
    /// The JSON is not an object.
    #[error("the config is not a JSON object")]
    NotObject,
    /// A known key whose value does not read as its type (a size, a duration, a
    /// number...).
    #[error("{key}: {source}")]
    Key {
        /// The dotted name of the key (`Swarm.ConnMgr.LowWater`).
        key: String,
        #[source]
        source: serde_json::Error,
    },
    /// The known keys do not read as a config, and no one key is to blame.
    #[error("{0}")]
    Shape(#[source] serde_json::Error),
}

impl Config {
    /// A config with every default and the given identity.
    pub fn with_identity(identity: IdentitySection) -> Config {
        Config {
            identity,
            datastore: Datastore::default(),
            addresses: Addresses::default(),
            discovery: Discovery::default(),
            routing: Routing::default(),
            bootstrap: default_bootstrap(),
            api: ApiSection::default(),
            gateway: GatewaySection::default(),
            swarm: Swarm::default(),
            auto_nat: AutoNat::default(),
            reprovider: Reprovider::default(),
            filestore: Filestore::default(),
            acorn: AcornSection::default(),
            unknown: Map::new(),
        }
    }

    /// Read, parse and check the config of the repo at `root`.
    pub fn load(root: &Path) -> Result<Config, ConfigError> {
        let path = config_path(root);
        let mut file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(ConfigError::NotInitialized {
                    root: root.to_owned(),
                })
            }
            Err(source) => return Err(ConfigError::Read { path, source }),
        };
        // Step 1: bound the size before allocating anything for the contents.
        let len = file
            .metadata()
            .map_err(|source| ConfigError::Read {
                path: path.clone(),
                source,
            })?
            .len();
        if len > MAX_CONFIG_BYTES {
            return Err(ConfigError::TooLarge {
                path,
                len,
                limit_bytes: MAX_CONFIG_BYTES,
            });
        }
        let mut bytes = Vec::with_capacity(len as usize);
        // `take` guards against the file growing between metadata and read.
        (&mut file)
            .take(MAX_CONFIG_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|source| ConfigError::Read {
                path: path.clone(),
                source,
            })?;
        if bytes.len() as u64 > MAX_CONFIG_BYTES {
            return Err(ConfigError::TooLarge {
                path,
                len: bytes.len() as u64,
                limit_bytes: MAX_CONFIG_BYTES,
            });
        }
        // Step 2: typed decode, then value checks.
        let config = Config::from_json(&bytes).map_err(|e| ConfigError::Malformed {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        config.validate().map_err(|e| ConfigError::Malformed {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        identity::Identity::from_config(&config.identity)
            .map_err(|source| ConfigError::Identity { path, source })?;
        Ok(config)
    }

    /// Parse JSON bytes into a config (no value checks).
    pub fn from_json(bytes: &[u8]) -> Result<Config, ParseError> {
        let tree: Value = serde_json::from_slice(bytes).map_err(ParseError::Json)?;
        Config::from_value(tree)
    }

    /// A JSON tree as a config (no value checks): the keys Acorn knows parse into
    /// the typed value, the others are kept in [`Config::unknown`].
    pub fn from_value(tree: Value) -> Result<Config, ParseError> {
        let Value::Object(map) = tree else {
            return Err(ParseError::NotObject);
        };
        let (known, unknown) = split_unknown(map, &schema(), "");
        let known = Value::Object(known);
        let mut config: Config = match serde_json::from_value(known.clone()) {
            Ok(c) => c,
            Err(source) => {
                return Err(match culprit(&known) {
                    Some(key) => ParseError::Key { key, source },
                    None => ParseError::Shape(source),
                })
            }
        };
        config.unknown = unknown;
        Ok(config)
    }

    /// The config as pretty JSON (2-space indent, as Kubo), with a final newline.
    pub fn to_json(&self) -> Vec<u8> {
        // Serializing a JSON tree cannot fail.
        let mut out = serde_json::to_vec_pretty(&self.to_value()).expect("config serializes");
        out.push(b'\n');
        out
    }

    /// The config as a JSON tree: the typed keys, then the unknown ones kept.
    pub fn to_value(&self) -> Value {
        let mut tree = self.typed_value();
        if let Value::Object(map) = &mut tree {
            merge_unknown(map, &self.unknown);
        }
        tree
    }

    /// The typed keys only.
    pub(super) fn typed_value(&self) -> Value {
        // Serializing plain structs, strings, numbers and bools cannot fail.
        serde_json::to_value(self).expect("config serializes")
    }

    /// The dotted names of the keys Acorn keeps but does not use (the highest
    /// unknown key of each branch: `Experimental`, `Gateway.PublicGateways`).
    pub fn ignored_keys(&self) -> Vec<String> {
        ignored_in(&self.unknown)
    }

    /// Write the config over the existing file, atomically (temp + fsync + rename
    /// + directory fsync). Mode 0600: the file holds the private key.
    pub fn save(&self, root: &Path) -> Result<(), ConfigError> {
        let path = config_path(root);
        let tmp = write_temp(root, &self.to_json()).map_err(|source| ConfigError::Write {
            path: path.clone(),
            source,
        })?;
        if let Err(source) = fs::rename(&tmp, &path) {
            let _ = fs::remove_file(&tmp);
            return Err(ConfigError::Write { path, source });
        }
        sync_dir(root).map_err(|source| ConfigError::Write { path, source })
    }

    /// Write the config as a new file; fails with [`ConfigError::AlreadyExists`]
    /// and changes nothing if one is there. Atomic like [`Config::save`], using a
    /// hard link (which never replaces) instead of a rename where the file system
    /// has hard links.
    pub fn create_new(&self, root: &Path) -> Result<(), ConfigError> {
        let path = config_path(root);
        if path.exists() {
            return Err(ConfigError::AlreadyExists { path });
        }
        let tmp = write_temp(root, &self.to_json()).map_err(|source| ConfigError::Write {
            path: path.clone(),
            source,
        })?;
        let placed = match fs::hard_link(&tmp, &path) {
            Ok(()) => fs::remove_file(&tmp),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let _ = fs::remove_file(&tmp);
                return Err(ConfigError::AlreadyExists { path });
            }
            // No hard links (FAT/exFAT USB sticks): check again, then rename. The
            // window between the two is closed by the repo lock `init` holds.
            Err(_) if path.exists() => {
                let _ = fs::remove_file(&tmp);
                return Err(ConfigError::AlreadyExists { path });
            }
            Err(_) => fs::rename(&tmp, &path),
        };
        if let Err(source) = placed {
            let _ = fs::remove_file(&tmp);
            return Err(ConfigError::Write { path, source });
        }
        sync_dir(root).map_err(|source| ConfigError::Write { path, source })
    }
}

/// `config KEY VALUE` on the file of the repo at `root`: load, [`Config::set`],
/// [`Config::save`]; returns the value as stored. The caller holds the repo (the
/// CLI its lock, the daemon its open repo) and runs one change at a time. A
/// running daemon keeps the values it started with until it restarts (as Kubo).
pub fn set_in_repo(root: &Path, key: &str, value: Value) -> Result<Value, ConfigError> {
    let mut cfg = Config::load(root)?;
    cfg.set(key, value)?;
    cfg.save(root)?;
    cfg.get(key)
}

/// `config replace FILE` on the repo at `root` (the caller holds it, as for
/// [`set_in_repo`]): `bytes` is a whole config as JSON, as `config show` prints it.
/// As Kubo, it must not hold `Identity.PrivKey` (the key stays the repo's); its
/// `Identity.PeerID`, when present, must be the repo's. Keys Acorn does not know
/// are kept. The new config is checked as [`Config::load`] checks a file, then
/// saved atomically; on any error the old file stays. Returns the new config.
pub fn replace_in_repo(root: &Path, bytes: &[u8]) -> Result<Config, ConfigError> {
    let old = Config::load(root)?;
    let new = replacement(&old, bytes)?;
    new.save(root)?;
    Ok(new)
}

/// The config `bytes` stands for in place of `old` (see [`replace_in_repo`]).
pub fn replacement(old: &Config, bytes: &[u8]) -> Result<Config, ConfigError> {
    let bad = |reason: String| ConfigError::BadInput { reason };
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        return Err(bad(format!(
            "the new config is {} bytes, over the {MAX_CONFIG_BYTES}-byte limit",
            bytes.len()
        )));
    }
    let mut tree: Value = serde_json::from_slice(bytes)
        .map_err(|e| bad(format!("failed to decode file as config: {e}")))?;
    let Some(map) = tree.as_object_mut() else {
        return Err(bad(
            "failed to decode file as config: not a JSON object".into()
        ));
    };
    let identity = map
        .entry("Identity")
        .or_insert_with(|| Value::Object(Map::new()));
    let Some(identity) = identity.as_object_mut() else {
        return Err(bad("Identity is not a JSON object".into()));
    };
    if identity
        .get("PrivKey")
        .is_some_and(|k| !k.is_null() && k.as_str() != Some(""))
    {
        return Err(bad("setting private key with API is not supported".into()));
    }
    match identity.get("PeerID") {
        None | Some(Value::Null) => {}
        Some(Value::String(p)) if *p == old.identity.peer_id => {}
        Some(_) => {
            return Err(ConfigError::IdentityReadOnly {
                key: "Identity.PeerID".into(),
            })
        }
    }
    identity.insert("PeerID".into(), Value::String(old.identity.peer_id.clone()));
    identity.insert(
        "PrivKey".into(),
        Value::String(old.identity.priv_key.clone()),
    );
    let new =
        Config::from_value(tree).map_err(|reason| bad(format!("invalid config: {reason}")))?;
    new.validate()?;
    Ok(new)
}

/// Write `bytes` to a fresh temporary file in `dir` and fsync it.
fn write_temp(dir: &Path, bytes: &[u8]) -> io::Result<PathBuf> {
    let tmp = dir.join(format!(".{CONFIG_FILE_NAME}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()
    })();
    match result {
        Ok(()) => Ok(tmp),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Make a rename or link in `dir` durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}
