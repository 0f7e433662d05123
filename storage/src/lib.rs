//! acorn-storage: Acorn's content and disk layer.
//!
//! - [`cids`]: CID parsing/formatting and the multicodec / multihash codes we use.
//! - [`block`]: verified blocks and the [`block::BlockSink`] / [`block::BlockSource`]
//!   traits that decouple the content code (UnixFS, CAR, DAG walks) from the disk.
//! - [`codec`]: dag-pb, dag-cbor, dag-json and raw, with one data model ([`codec::Ipld`]).
//! - [`unixfs`]: Kubo-compatible importer (chunker, balanced/trickle layouts,
//!   directories, HAMT shards) and exporter (cat, get, ls, path resolution).
//! - [`car`]: CARv1 reader and streaming writer.
//! - [`blockfiles`]: the file layer under block files (fault-injectable in crash tests).
//! - [`blockstore`]: the blockstore keyed by multihash (redb index, large blocks as files).
//! - [`filestore`]: `--nocopy` references into the user's files, hash-checked on read.
//! - [`pins`], [`gc`]: pin sets and the mark-and-sweep collector.
//! - [`repo`]: repo directory layout, lock, format version, verify.
//! - [`kubo`]: Kubo repos read for import (flatfs blocks, LevelDB pins).
//! - [`proto`]: protobuf wire primitives (varints, field readers), bounds-checked.
//! - [`util`]: one copy of small primitives (hex, human-readable byte sizes).
//!
//! Arrows point down only: nothing here knows about the node in `src/`.
#![deny(unsafe_code)]
// Library code does not panic on input: an `expect` names why it cannot fail.
#![cfg_attr(not(test), warn(clippy::unwrap_used))]

pub mod block;
pub mod blockfiles;
pub mod blockstore;
pub mod car;
pub mod cids;
pub mod codec;
pub mod dag;
pub mod filestore;
pub mod gc;
pub mod kubo;
pub mod pins;
pub mod proto;
pub mod repo;
mod tables;
pub mod unixfs;
pub mod util;

pub use block::{Block, BlockError, BlockSink, BlockSource};
pub use cid::Cid;
