//! Kubo's LevelDB datastore (`datastore/`): the pins and the MFS root.
//!
//! **Spec.** go-ds-leveldb over goleveldb (Kubo 0.22): datastore keys are stored
//! as their bytes (`/pins/pin/<id>`), values as written. Read here: every
//! `/pins/pin/` record ([`super::pin_record`]) and `/local/filesroot` (the MFS
//! root, a binary CID). Everything else (indexes, DHT and provider records, IPNS
//! keys) is left alone.
//!
//! **Flow.** LevelDB writes on open (it replays its log into a new table and
//! manifest), and the Kubo repo is the user's: the directory's files are copied
//! into a scratch directory the caller owns and the copy is opened, never the
//! original. Reading walks keys from the `/pins/pin/` prefix in order.
//!
//! **Limits.** At most [`MAX_PIN_COUNT`] pins are read (about 150 bytes of RAM
//! each); the copy takes the datastore's size on the scratch directory's disk.

use std::fs;
use std::path::Path;

use cid::Cid;
use rusty_leveldb::{LdbIterator, Options, DB};

use super::pin_record::{self, PinRecord, PinRecordError};

/// Prefix of pin record keys.
pub const PIN_KEY_PREFIX: &[u8] = b"/pins/pin/";
/// Key of the MFS root's CID.
pub const FILES_ROOT_KEY: &[u8] = b"/local/filesroot";
/// Key of the pin set root of Kubo before 0.8 (fs-repo 10), which we do not read.
pub const OLD_PINS_KEY: &[u8] = b"/local/pins";
/// Most pins an import reads (about 150 bytes of RAM each: 30 MiB at the limit).
pub const MAX_PIN_COUNT: usize = 200_000;

/// Errors reading the datastore.
#[derive(Debug, thiserror::Error)]
pub enum DatastoreError {
    /// The LevelDB directory could not be copied aside for reading.
    #[error("copying the Kubo datastore {path}: {source}")]
    Copy {
        /// The directory.
        path: std::path::PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// LevelDB refused to open or read (its message).
    #[error("reading the Kubo LevelDB datastore: {0}")]
    LevelDb(String),
    /// A pin record does not decode.
    #[error("pin record {key}: {source}")]
    PinRecord {
        /// Its datastore key.
        key: String,
        /// Why.
        source: PinRecordError,
    },
    /// More pins than [`MAX_PIN_COUNT`].
    #[error("the Kubo repo has over {MAX_PIN_COUNT} pins")]
    TooManyPins,
    /// Pins in the format of Kubo before 0.8.
    #[error("the Kubo repo keeps its pins in the pre-0.8 format (/local/pins); run Kubo 0.22 on it once to migrate them")]
    OldPinFormat,
    /// The MFS root key holds no CID (its bytes, as text).
    #[error("the MFS root (/local/filesroot) is not a CID: {0}")]
    BadFilesRoot(String),
}

/// What the datastore holds for an import.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contents {
    /// Every pin record, in key order.
    pub pins: Vec<PinRecord>,
    /// The MFS root, when set.
    pub files_root: Option<Cid>,
}

/// Reads the LevelDB at `dir` through a copy made in `scratch` (an empty
/// directory the caller removes).
pub fn read(dir: &Path, scratch: &Path) -> Result<Contents, DatastoreError> {
    let copy = scratch.join("leveldb");
    copy_dir(dir, &copy).map_err(|source| DatastoreError::Copy {
        path: dir.to_owned(),
        source,
    })?;
    let ldb = |e: rusty_leveldb::Status| DatastoreError::LevelDb(e.to_string());
    let opts = Options {
        create_if_missing: false,
        paranoid_checks: true,
        ..Options::default()
    };
    let mut db = DB::open(&copy, opts).map_err(ldb)?;
    let mut out = Contents::default();
    if let Some(v) = db.get(FILES_ROOT_KEY) {
        out.files_root =
            Some(Cid::try_from(&v[..]).map_err(|e| DatastoreError::BadFilesRoot(e.to_string()))?);
    }
    let old_pins = db.get(OLD_PINS_KEY).is_some();
    let mut it = db.new_iter().map_err(ldb)?;
    it.seek(PIN_KEY_PREFIX);
    while let Some((k, v)) = it.current() {
        if !k.starts_with(PIN_KEY_PREFIX) {
            break;
        }
        if out.pins.len() == MAX_PIN_COUNT {
            return Err(DatastoreError::TooManyPins);
        }
        let record = pin_record::parse(&v).map_err(|source| DatastoreError::PinRecord {
            key: String::from_utf8_lossy(&k).into_owned(),
            source,
        })?;
        out.pins.push(record);
        if !it.advance() {
            break;
        }
    }
    drop(it);
    if old_pins && out.pins.is_empty() {
        return Err(DatastoreError::OldPinFormat);
    }
    db.close().map_err(ldb)?;
    Ok(out)
}

/// Copies the regular files of `from` (not `LOCK`) into a new directory `to`.
fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    fs::create_dir(to)?;
    for e in fs::read_dir(from)? {
        let e = e?;
        if e.file_type()?.is_file() && e.file_name() != "LOCK" {
            fs::copy(e.path(), to.join(e.file_name()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kubo::pin_record::PinMode;

    #[test]
    fn reads_pins_and_files_root_from_a_copy() {
        let dir = tempfile::tempdir().unwrap();
        let ds = dir.path().join("datastore");
        let cid = crate::cids::parse("QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o").unwrap();
        let rec = PinRecord {
            cid,
            mode: PinMode::Recursive,
            name: String::new(),
        };
        {
            // Snappy-compressed tables, as goleveldb writes by default; `flush`
            // moves the log into a table, as a Kubo that ran a while has.
            use rusty_leveldb::compressor::{CompressorId as _, SnappyCompressor};
            let opts = Options {
                compressor: SnappyCompressor::ID,
                ..Options::default()
            };
            let mut db = DB::open(&ds, opts).unwrap();
            db.put(b"/pins/pin/aaa", &pin_record::encode(&rec)).unwrap();
            db.put(b"/pins/index/cidRindex/x/aaa", b"").unwrap();
            db.put(b"/pins/zzz", b"not a pin").unwrap();
            db.put(FILES_ROOT_KEY, &cid.to_bytes()).unwrap();
            db.flush().unwrap();
            db.close().unwrap();
        }
        let listing = |p: &Path| {
            let mut v: Vec<_> = fs::read_dir(p)
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            v.sort();
            v
        };
        let before = listing(&ds);
        let scratch = tempfile::tempdir().unwrap();
        let c = read(&ds, scratch.path()).unwrap();
        assert_eq!(c.pins, vec![rec]);
        assert_eq!(c.files_root, Some(cid));
        // The original is untouched.
        assert_eq!(listing(&ds), before);

        // A bad record is named.
        {
            let mut db = DB::open(&ds, Options::default()).unwrap();
            db.put(b"/pins/pin/bbb", b"\x01").unwrap();
            db.close().unwrap();
        }
        let scratch = tempfile::tempdir().unwrap();
        let e = read(&ds, scratch.path()).unwrap_err().to_string();
        assert!(e.contains("/pins/pin/bbb"), "{e}");
    }
}
