//! Kubo's flatfs blockstore: one file per block under `blocks/`.
//!
//! **Spec.** go-ds-flatfs (Kubo 0.22). `blocks/SHARDING` names the shard function,
//! `/repo/flatfs/shard/v1/<prefix|suffix|next-to-last>/<n>` (Kubo's default is
//! `next-to-last/2`); a block whose datastore key is `K` lives in
//! `blocks/<shard(K)>/K.data`. `K` is the block's *multihash* in base32 (RFC 4648
//! alphabet, upper case, no padding), so a file name says nothing of the CID's
//! version or codec: the blockstore here, as Kubo's and Acorn's, is keyed by
//! multihash, and codecs come from the CIDs that link to a block (pins, parent
//! nodes). Other files (`_README`, `diskUsage.cache`, `SHARDING`, `.temp*` files
//! of an interrupted write) are not blocks.
//!
//! **Limits.** A file larger than [`crate::block::MAX_BLOCK_BYTES`] is refused by
//! its metadata before it is read.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use cid::multihash::Multihash;
use cid::Cid;

use crate::block::{BlockError, BlockSource, MAX_BLOCK_BYTES};
use crate::cids;

/// Suffix of block files.
const DATA_SUFFIX: &str = ".data";

/// A flatfs shard function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shard {
    /// `/repo/flatfs/shard/v1/prefix/N`: the key's first N characters.
    Prefix(usize),
    /// `/repo/flatfs/shard/v1/suffix/N`: the key's last N characters.
    Suffix(usize),
    /// `/repo/flatfs/shard/v1/next-to-last/N` (Kubo's default, N = 2): N characters before the last.
    NextToLast(usize),
}

impl Shard {
    /// Parses `/repo/flatfs/shard/v1/<name>/<n>` (the `SHARDING` file).
    pub fn parse(s: &str) -> Option<Shard> {
        let rest = s.trim().strip_prefix("/repo/flatfs/shard/v1/")?;
        let (name, n) = rest.split_once('/')?;
        let n: usize = n.parse().ok().filter(|n| (1..=16).contains(n))?;
        match name {
            "prefix" => Some(Shard::Prefix(n)),
            "suffix" => Some(Shard::Suffix(n)),
            "next-to-last" => Some(Shard::NextToLast(n)),
            _ => None,
        }
    }

    /// The directory name of datastore key `key` (without its leading `/`), as
    /// go-ds-flatfs pads short keys with `_`.
    pub fn dir(&self, key: &str) -> String {
        match *self {
            Shard::Prefix(n) => {
                let padded = format!("{key}{}", "_".repeat(n));
                padded[..n].to_owned()
            }
            Shard::Suffix(n) => {
                let padded = format!("{}{key}", "_".repeat(n));
                padded[padded.len() - n..].to_owned()
            }
            Shard::NextToLast(n) => {
                let padded = format!("{}{key}", "_".repeat(n));
                let start = padded.len() - n - 1;
                padded[start..start + n].to_owned()
            }
        }
    }
}

/// The datastore key (base32 upper, no padding) of a multihash.
pub fn key_of(mh: &Multihash<64>) -> String {
    multibase::Base::Base32Upper.encode(mh.to_bytes())
}

/// The multihash a datastore key names.
pub fn multihash_of_key(key: &str) -> Option<Multihash<64>> {
    let bytes = multibase::Base::Base32Upper.decode(key).ok()?;
    let mh = Multihash::<64>::from_bytes(&bytes).ok()?;
    // Only the canonical spelling: one file per block.
    (key_of(&mh) == key).then_some(mh)
}

/// One file under `blocks/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A block file and the multihash its name gives.
    Block {
        /// The file.
        path: PathBuf,
        /// The multihash.
        mh: Multihash<64>,
    },
    /// A `.data` file whose name is no multihash.
    BadName {
        /// The file.
        path: PathBuf,
    },
}

/// Why a flatfs directory could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The `SHARDING` file could not be read.
    #[error("reading {}: {source}", path.display())]
    Read {
        /// The `SHARDING` file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The `SHARDING` file names a shard function flatfs does not have.
    #[error("{}: unknown shard function {spec:?}", path.display())]
    UnknownShard {
        /// The `SHARDING` file.
        path: PathBuf,
        /// Its text, trimmed.
        spec: String,
    },
}

/// A flatfs directory opened for reading.
#[derive(Debug, Clone)]
pub struct Flatfs {
    dir: PathBuf,
    shard: Shard,
}

impl Flatfs {
    /// Opens `dir` (a Kubo repo's `blocks/`), reading its `SHARDING` file.
    pub fn open(dir: &Path) -> Result<Flatfs, OpenError> {
        let sharding = dir.join("SHARDING");
        let text = fs::read_to_string(&sharding).map_err(|source| OpenError::Read {
            path: sharding.clone(),
            source,
        })?;
        let shard = Shard::parse(&text).ok_or_else(|| OpenError::UnknownShard {
            path: sharding.clone(),
            spec: text.trim().to_owned(),
        })?;
        Ok(Flatfs {
            dir: dir.to_owned(),
            shard,
        })
    }

    /// The shard function.
    pub fn shard(&self) -> Shard {
        self.shard
    }

    /// Where the block with multihash `mh` lives.
    pub fn path_of(&self, mh: &Multihash<64>) -> PathBuf {
        let key = key_of(mh);
        self.dir
            .join(self.shard.dir(&key))
            .join(format!("{key}{DATA_SUFFIX}"))
    }

    /// Every block file, in directory order (shard directories sorted).
    pub fn entries(&self) -> io::Result<Vec<Entry>> {
        let mut shards: Vec<PathBuf> = Vec::new();
        for e in fs::read_dir(&self.dir)? {
            let e = e?;
            if e.file_type()?.is_dir() {
                shards.push(e.path());
            }
        }
        shards.sort();
        let mut out = Vec::new();
        for shard in shards {
            let mut names: Vec<(String, PathBuf)> = Vec::new();
            for e in fs::read_dir(&shard)? {
                let e = e?;
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with('.') || !e.file_type()?.is_file() {
                    continue;
                }
                names.push((name, e.path()));
            }
            names.sort();
            for (name, path) in names {
                let Some(key) = name.strip_suffix(DATA_SUFFIX) else {
                    continue;
                };
                out.push(match multihash_of_key(key) {
                    Some(mh) => Entry::Block { path, mh },
                    None => Entry::BadName { path },
                });
            }
        }
        Ok(out)
    }
}

/// Reads a block file, refusing one over [`MAX_BLOCK_BYTES`] before reading it.
pub fn read_block(path: &Path, mh: &Multihash<64>) -> Result<Vec<u8>, BlockError> {
    let io = |e: io::Error| BlockError::Io(format!("{}: {e}", path.display()));
    let f = fs::File::open(path).map_err(io)?;
    let len = f.metadata().map_err(io)?.len();
    if len > MAX_BLOCK_BYTES as u64 {
        return Err(BlockError::TooLarge {
            cid: cids::raw_v1_of_multihash(mh),
            len: usize::try_from(len).unwrap_or(usize::MAX),
            limit: MAX_BLOCK_BYTES,
        });
    }
    let mut data = Vec::with_capacity(len as usize);
    f.take(MAX_BLOCK_BYTES as u64 + 1)
        .read_to_end(&mut data)
        .map_err(io)?;
    if data.len() > MAX_BLOCK_BYTES {
        return Err(BlockError::TooLarge {
            cid: cids::raw_v1_of_multihash(mh),
            len: data.len(),
            limit: MAX_BLOCK_BYTES,
        });
    }
    Ok(data)
}

impl BlockSource for Flatfs {
    fn get(&self, cid: &Cid) -> Result<Option<Vec<u8>>, BlockError> {
        if cid.hash().code() == cids::IDENTITY {
            return Ok(Some(cid.hash().digest().to_vec()));
        }
        let path = self.path_of(cid.hash());
        match read_block(&path, cid.hash()) {
            Ok(d) => Ok(Some(d)),
            Err(BlockError::Io(_)) if !path.exists() => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn has(&self, cid: &Cid) -> Result<bool, BlockError> {
        Ok(cid.hash().code() == cids::IDENTITY || self.path_of(cid.hash()).is_file())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_functions_as_go_ds_flatfs() {
        let key = "CIQA7XL45S7PAICMQONFCJEF6ABFHXFVNW3H6YHAB7DSO6QKRVATINA";
        let ntl = Shard::parse("/repo/flatfs/shard/v1/next-to-last/2\n").unwrap();
        assert_eq!(ntl, Shard::NextToLast(2));
        // Seen in a repo written by Kubo 0.22: blocks/IN/CIQA7…TINA.data.
        assert_eq!(ntl.dir(key), "IN");
        assert_eq!(
            Shard::parse("/repo/flatfs/shard/v1/prefix/3")
                .unwrap()
                .dir(key),
            "CIQ"
        );
        assert_eq!(
            Shard::parse("/repo/flatfs/shard/v1/suffix/2")
                .unwrap()
                .dir(key),
            "NA"
        );
        assert_eq!(Shard::NextToLast(2).dir("A"), "__");
        assert_eq!(Shard::Prefix(3).dir("A"), "A__");
        for bad in [
            "",
            "/repo/flatfs/shard/v1/next-to-last/0",
            "/repo/flatfs/shard/v2/prefix/2",
            "/x",
        ] {
            assert_eq!(Shard::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn keys_are_base32_multihashes() {
        let cid = cids::parse("QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o").unwrap();
        let key = key_of(cid.hash());
        assert!(key.starts_with("CIQ"), "{key}");
        assert_eq!(multihash_of_key(&key), Some(*cid.hash()));
        assert_eq!(multihash_of_key("cIQ"), None);
        assert_eq!(multihash_of_key(&key.to_lowercase()), None);
        assert_eq!(multihash_of_key("NOTBASE32!"), None);
        assert_eq!(multihash_of_key(""), None);
    }

    #[test]
    fn reads_blocks_and_lists_entries() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(
            dir.path().join("SHARDING"),
            "/repo/flatfs/shard/v1/next-to-last/2\n",
        )
        .unwrap();
        let fs_ = Flatfs::open(dir.path()).unwrap();
        let data = b"hello world\n".to_vec();
        let cid = cids::cid_of(1, cids::RAW, &data);
        let path = fs_.path_of(cid.hash());
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, &data).unwrap();
        fs::write(path.parent().unwrap().join("NOPE.data"), b"x").unwrap();
        fs::write(path.parent().unwrap().join(".temp123"), b"x").unwrap();
        fs::write(dir.path().join("_README"), b"x").unwrap();
        assert_eq!(fs_.get(&cid).unwrap(), Some(data));
        let other = cids::cid_of(1, cids::RAW, b"other");
        assert_eq!(fs_.get(&other).unwrap(), None);
        assert!(!fs_.has(&other).unwrap());
        let entries = fs_.entries().unwrap();
        assert_eq!(entries.len(), 2, "{entries:?}");
        assert!(entries.contains(&Entry::Block {
            path: path.clone(),
            mh: *cid.hash()
        }));
        assert!(entries.iter().any(|e| matches!(e, Entry::BadName { .. })));
    }
}
