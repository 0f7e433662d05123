//! The filestore: blocks whose bytes stay in the user's own files.
//!
//! **What.** `acorn add --nocopy` imports a file without copying its data: every raw
//! leaf becomes a [`FileRef`] (absolute path, offset, length, plus the file's size and
//! mtime when it was added) in the `filestore` table, keyed by the leaf's multihash
//! like the `blocks` table; only the internal dag-pb nodes go into the blockstore.
//! Kubo ships the same idea as its experimental filestore (`--nocopy`).
//!
//! **Flow.** Reading a referenced block ([`read_ref`]) opens the file, reads
//! `length` bytes at `offset` and **hashes them against the key before returning
//! them**: a file that changed, shrank or vanished gives [`BlockError::FileChanged`]
//! or [`BlockError::FileMissing`] naming the file, never wrong bytes. The recorded
//! size and mtime are only hints for `filestore verify`; the hash decides.
//! [`check_ref`] classifies one entry into Kubo's statuses ([`Status`]).
//!
//! **Safety of the user's files.** This module only ever opens referenced files
//! read-only. Nothing in Acorn writes, truncates or deletes them: GC and
//! `filestore rm` drop references, never files.
//!
//! **Entry format** (value of the `filestore` table, version byte first):
//! ```text
//! 0x01  format of this entry
//! u64   offset in the file (little endian)
//! u64   length of the block
//! u64   file size when added
//! i64   mtime seconds when added
//! u32   mtime nanoseconds
//! ...   absolute path, UTF-8 (rest of the value)
//! ```
//!
//! **Limits.** A reference's length is at most [`MAX_BLOCK_BYTES`]; a read allocates
//! exactly that length after checking it.
//!
//! **Departures from Kubo.** Kubo keeps only path, offset and size and checks the hash
//! only on `filestore verify`; we check it on every read. Kubo stores paths relative to
//! its root; we store absolute, canonical paths. `filestore rm` is ours (Kubo has none).

use crate::block::{BlockError, BlockSink, MAX_BLOCK_BYTES};
use crate::cids;
use cid::multihash::Multihash;
use cid::Cid;
use sha2::{Digest, Sha256};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Version byte of an encoded [`FileRef`].
const REF_FORMAT: u8 = 1;

/// Fixed part of an encoded [`FileRef`] before the path.
const REF_HEADER_BYTES: usize = 1 + 8 + 8 + 8 + 8 + 4;

/// Where a filestore block's bytes live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRef {
    /// Absolute path of the user's file.
    pub path: PathBuf,
    /// Byte offset of the block in the file.
    pub offset: u64,
    /// Length of the block in bytes.
    pub len: u64,
    /// Size of the file when the block was added.
    pub file_size: u64,
    /// Modification time of the file when the block was added (seconds, nanoseconds).
    pub mtime: (i64, u32),
}

impl FileRef {
    /// Encodes into the table value format (module doc).
    pub fn encode(&self) -> Vec<u8> {
        use std::os::unix::ffi::OsStrExt;
        let p = self.path.as_os_str().as_bytes();
        let mut v = Vec::with_capacity(REF_HEADER_BYTES + p.len());
        v.push(REF_FORMAT);
        v.extend_from_slice(&self.offset.to_le_bytes());
        v.extend_from_slice(&self.len.to_le_bytes());
        v.extend_from_slice(&self.file_size.to_le_bytes());
        v.extend_from_slice(&self.mtime.0.to_le_bytes());
        v.extend_from_slice(&self.mtime.1.to_le_bytes());
        v.extend_from_slice(p);
        v
    }

    /// Decodes a table value; any malformation is [`BlockError::Corrupted`].
    pub fn decode(v: &[u8]) -> Result<FileRef, BlockError> {
        let bad = |why: &str| BlockError::Corrupted(format!("filestore entry: {why}"));
        if v.len() <= REF_HEADER_BYTES {
            return Err(bad("too short"));
        }
        if v[0] != REF_FORMAT {
            return Err(bad(&format!("unknown entry format {}", v[0])));
        }
        let u64_at = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&v[i..i + 8]);
            u64::from_le_bytes(b)
        };
        let mut nb = [0u8; 4];
        nb.copy_from_slice(&v[33..37]);
        let path =
            std::str::from_utf8(&v[REF_HEADER_BYTES..]).map_err(|_| bad("path is not UTF-8"))?;
        let r = FileRef {
            path: PathBuf::from(path),
            offset: u64_at(1),
            len: u64_at(9),
            file_size: u64_at(17),
            mtime: (u64_at(25) as i64, u32::from_le_bytes(nb)),
        };
        if r.len > MAX_BLOCK_BYTES as u64 {
            return Err(bad(&format!("length {} over {MAX_BLOCK_BYTES}", r.len)));
        }
        if !r.path.is_absolute() {
            return Err(bad("path is not absolute"));
        }
        Ok(r)
    }
}

/// The size and mtime [`FileRef`] records for a file.
pub fn file_stamp(meta: &std::fs::Metadata) -> (u64, (i64, u32)) {
    use std::os::unix::fs::MetadataExt;
    (meta.len(), (meta.mtime(), meta.mtime_nsec() as u32))
}

/// Status of one filestore entry, as Kubo's `filestore verify` prints them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    /// The bytes at the reference hash to the key.
    Ok,
    /// The file exists but could not be read (permissions, I/O error).
    Error,
    /// The file does not exist.
    NoFile,
    /// The file is shorter than the reference or its bytes hash to something else.
    Changed,
    /// No filestore entry for the key.
    Missing,
    /// The entry itself is malformed.
    Corrupt,
}

impl Status {
    /// Kubo's word for the status.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Error => "error",
            Status::NoFile => "no-file",
            Status::Changed => "changed",
            Status::Missing => "missing",
            Status::Corrupt => "ERROR",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// Reads the block a reference points at and checks it against `mh`.
pub fn read_ref(mh: &Multihash<64>, r: &FileRef) -> Result<Vec<u8>, BlockError> {
    match read_checked(mh, r) {
        Ok(data) => Ok(data),
        Err((Status::NoFile, _)) => Err(BlockError::FileMissing {
            path: r.path.clone(),
        }),
        Err((Status::Changed, reason)) => Err(BlockError::FileChanged {
            path: r.path.clone(),
            offset: r.offset,
            reason,
        }),
        Err((_, reason)) => Err(BlockError::Io(format!(
            "filestore file {}: {reason}",
            r.path.display()
        ))),
    }
}

/// Classifies one entry (`filestore verify`).
pub fn check_ref(mh: &Multihash<64>, r: &FileRef) -> (Status, String) {
    match read_checked(mh, r) {
        Ok(_) => (Status::Ok, String::new()),
        Err(e) => e,
    }
}

fn read_checked(mh: &Multihash<64>, r: &FileRef) -> Result<Vec<u8>, (Status, String)> {
    let mut f = match std::fs::File::open(&r.path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err((Status::NoFile, "file not found".into()))
        }
        Err(e) => return Err((Status::Error, e.to_string())),
    };
    let size = f
        .metadata()
        .map_err(|e| (Status::Error, e.to_string()))?
        .len();
    let end = r.offset.saturating_add(r.len);
    if end > size {
        return Err((
            Status::Changed,
            format!("file is {size} bytes, the block ends at {end}"),
        ));
    }
    // `len` was bounded by MAX_BLOCK_BYTES when the entry was decoded.
    let mut data = vec![0u8; r.len as usize];
    f.seek(SeekFrom::Start(r.offset))
        .and_then(|_| f.read_exact(&mut data))
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => (Status::Changed, "file shrank".into()),
            _ => (Status::Error, e.to_string()),
        })?;
    let ok = match mh.code() {
        cids::SHA2_256 => Sha256::digest(&data).as_slice() == mh.digest(),
        other => {
            return Err((
                Status::Error,
                format!("cannot check hash function 0x{other:x}"),
            ))
        }
    };
    if !ok {
        return Err((Status::Changed, "the bytes no longer match the hash".into()));
    }
    Ok(data)
}

/// A block sink that can also record filestore references: the blockstore's
/// batching writer ([`crate::blockstore::Writer`]).
pub trait RefSink: BlockSink {
    /// Records a filestore reference for `cid` (its bytes stay in the user's file).
    fn put_ref(&mut self, cid: &Cid, r: FileRef) -> Result<(), BlockError>;
}

/// The `--nocopy` sink: raw leaves read from a named file become filestore
/// references; every other block (internal dag-pb nodes, directories, leaves of
/// streams) goes to the blockstore through the wrapped writer.
pub struct NocopySink<'a, W: RefSink> {
    writer: &'a mut W,
    /// The file being imported: canonical path, size and mtime.
    file: Option<(PathBuf, u64, (i64, u32))>,
}

impl<'a, W: RefSink> NocopySink<'a, W> {
    /// A sink that writes its references into `writer`.
    pub fn new(writer: &'a mut W) -> Self {
        NocopySink { writer, file: None }
    }
}

impl<W: RefSink> BlockSink for NocopySink<'_, W> {
    fn put(&mut self, cid: &Cid, data: &[u8]) -> Result<(), BlockError> {
        self.writer.put(cid, data)
    }

    fn begin_file(&mut self, path: &Path) -> Result<(), BlockError> {
        let path = canonical(path)?;
        let meta = std::fs::metadata(&path)
            .map_err(|e| BlockError::Io(format!("{}: {e}", path.display())))?;
        let (size, mtime) = file_stamp(&meta);
        self.file = Some((path, size, mtime));
        Ok(())
    }

    fn put_leaf(&mut self, cid: &Cid, data: &[u8], offset: u64) -> Result<(), BlockError> {
        match &self.file {
            Some((path, file_size, mtime)) if cid.codec() == cids::RAW => self.writer.put_ref(
                cid,
                FileRef {
                    path: path.clone(),
                    offset,
                    len: data.len() as u64,
                    file_size: *file_size,
                    mtime: *mtime,
                },
            ),
            _ => self.writer.put(cid, data),
        }
    }

    fn end_file(&mut self) -> Result<(), BlockError> {
        self.file = None;
        Ok(())
    }

    fn flush(&mut self) -> Result<(), BlockError> {
        self.writer.flush()
    }
}

/// Canonical absolute path of a file being added with `--nocopy`.
pub fn canonical(path: &Path) -> Result<PathBuf, BlockError> {
    let p = std::fs::canonicalize(path)
        .map_err(|e| BlockError::Io(format!("{}: {e}", path.display())))?;
    if p.to_str().is_none() {
        return Err(BlockError::Io(format!(
            "{}: --nocopy needs a UTF-8 path",
            p.display()
        )));
    }
    Ok(p)
}

/// Whether `path` (canonical) lies under one of `roots` (`Filestore.AllowedRoots`,
/// for adds that arrive over the HTTP API). Roots are canonicalised; a root that
/// does not exist allows nothing.
pub fn is_allowed(path: &Path, roots: &[PathBuf]) -> bool {
    roots.iter().any(|root| match std::fs::canonicalize(root) {
        Ok(root) => path.starts_with(&root),
        Err(_) => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(dir: &Path, data: &[u8]) -> (Multihash<64>, FileRef) {
        let p = dir.join("f");
        std::fs::write(&p, data).unwrap();
        let meta = std::fs::metadata(&p).unwrap();
        let (file_size, mtime) = file_stamp(&meta);
        let cid = cids::cid_of(1, cids::RAW, &data[2..6]);
        (
            *cid.hash(),
            FileRef {
                path: p,
                offset: 2,
                len: 4,
                file_size,
                mtime,
            },
        )
    }

    #[test]
    fn encode_decode_round_trip_and_rejects_junk() {
        let r = FileRef {
            path: "/data/ü.bin".into(),
            offset: 1 << 40,
            len: 262144,
            file_size: 1 << 41,
            mtime: (-5, 999_999_999),
        };
        assert_eq!(FileRef::decode(&r.encode()).unwrap(), r);
        assert!(FileRef::decode(&[]).is_err());
        let mut v = r.encode();
        v[0] = 9;
        assert!(FileRef::decode(&v).is_err());
        let rel = FileRef {
            path: "rel".into(),
            ..r.clone()
        };
        assert!(FileRef::decode(&rel.encode()).is_err());
        let big = FileRef {
            len: MAX_BLOCK_BYTES as u64 + 1,
            ..r
        };
        assert!(FileRef::decode(&big.encode()).is_err());
    }

    #[test]
    fn statuses() {
        let d = tempfile::tempdir().unwrap();
        let (mh, r) = sample(d.path(), b"..abcd..");
        assert_eq!(check_ref(&mh, &r).0, Status::Ok);
        assert_eq!(read_ref(&mh, &r).unwrap(), b"abcd");
        // Same size, other bytes.
        std::fs::write(&r.path, b"..abce..").unwrap();
        assert_eq!(check_ref(&mh, &r).0, Status::Changed);
        assert!(matches!(
            read_ref(&mh, &r),
            Err(BlockError::FileChanged { .. })
        ));
        // Shorter than the block's end.
        std::fs::write(&r.path, b"..ab").unwrap();
        assert_eq!(check_ref(&mh, &r).0, Status::Changed);
        std::fs::remove_file(&r.path).unwrap();
        assert_eq!(check_ref(&mh, &r).0, Status::NoFile);
        assert!(matches!(
            read_ref(&mh, &r),
            Err(BlockError::FileMissing { .. })
        ));
    }

    #[test]
    fn allowed_roots() {
        let d = tempfile::tempdir().unwrap();
        let inside = d.path().join("a");
        std::fs::create_dir(&inside).unwrap();
        let f = inside.join("x");
        std::fs::write(&f, b"x").unwrap();
        let f = canonical(&f).unwrap();
        assert!(is_allowed(&f, std::slice::from_ref(&inside)));
        assert!(!is_allowed(&f, &[d.path().join("b")]));
        assert!(!is_allowed(&f, &[]));
        assert_eq!(Status::Changed.to_string(), "changed");
        assert_eq!(format!("{:<7}|", Status::Ok), "ok     |");
    }
}
