//! UnixFS: files, directories, symlinks and HAMT shards over dag-pb.
//!
//! Spec: ipfs/specs `UNIXFS.md`; layouts and defaults as Kubo (boxo) builds them.
//! - [`pb`]: the UnixFS `Data` protobuf.
//! - [`chunker`]: Kubo's chunkers (`size-N`, `rabin`, `buzhash`).
//! - [`importer`]: streaming add (chunker, balanced/trickle layouts, raw leaves,
//!   directories, HAMT sharding at Kubo's threshold, symlinks).
//! - [`exporter`]: cat (offset/length), get (safe paths), ls, path resolution,
//!   reading HAMT shards transparently.
//! - [`hamt`]: the HAMT shard layout and murmur3-x64-64 hashing.

pub mod chunker;
pub mod exporter;
pub mod hamt;
pub mod importer;
pub mod pb;
