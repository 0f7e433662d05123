//! UnixFS export: `cat` (with offset/length), `get` (files, directories, symlinks,
//! HAMT shards; never outside the target), `ls` and path resolution.
//!
//! Spec: ipfs/specs `UNIXFS.md` (file DAGs, directories, symlinks, HAMT shards) and
//! Kubo's (boxo's) reading behaviour for what the spec leaves open.
//!
//! Flow:
//! - [`cat`] walks a file DAG depth-first with an explicit stack. Each node's children
//!   cover consecutive byte ranges given by its `blocksizes`; children whose range
//!   lies wholly before `offset` or after `offset + length` are skipped **without
//!   being fetched**. Bytes are written block by block: memory is one block plus
//!   the stack, whatever the file size. Works for raw leaves, dag-pb leaves,
//!   identity CIDs and any layout (balanced, trickle) since only `blocksizes` matter.
//! - [`ls`] lists a directory (plain or HAMT, read transparently) or a file's chunk
//!   links, resolving each child as Kubo's `ipfs ls` does (see [`Entry::size`]).
//! - [`resolve_path`] follows `a/b/c` through plain directories (link names),
//!   HAMT shards and plain dag-pb nodes.
//! - [`get()`] first walks the whole tree without writing to validate every name,
//!   then walks again and creates entries with exclusive creation only.
//!
//! HAMT shards are listed by **scanning links**: a link named by exactly the padded
//! hex index (2 uppercase hex digits for fanout 256) is a sub-shard, a longer name
//! is an entry (`<index><name>`). Path lookups ([`resolve_path`]) hash the name
//! (murmur3-x64-64, `unixfs::hamt`) and follow one link per level, reading only the
//! shards on the name's path; a miss falls back to the exact scan.
//!
//! Validation while reading: each block is at most [`MAX_BLOCK_BYTES`](crate::block::MAX_BLOCK_BYTES); a file node's
//! `blocksizes` count must equal its links count; a child's actual size (raw length,
//! or inline data + sum of its blocksizes) must equal the size its parent claims;
//! `filesize`, when present, must equal inline data + sum of blocksizes; HAMT nodes
//! must have hash type murmur3-x64-64, a power-of-two fanout, sorted uppercase-hex
//! prefixes below the fanout, and a bitfield whose set bits are exactly the links.
//! Blocks are not re-hashed here: the blockstore verifies on write (as Kubo with
//! `HashOnRead=false`).
//!
//! Limits:
//! - [`MAX_DEPTH`] levels of DAG (file trees, shard nesting, directory nesting in
//!   `get`); deeper DAGs fail with [`ExportError::TooDeep`].
//! - [`HAMT_MAX_FANOUT`] children per HAMT node.
//! - Memory: `cat` holds one block and at most `MAX_DEPTH` × (links per node)
//!   pending child references; `ls` returns the whole listing (a directory's size).
//!
//! Departures from Kubo:
//! - `get` refuses to write into an existing target (Kubo merges), refuses unsafe
//!   names instead of sanitising them, and does not apply UnixFS mode/mtime.
//! - Listing order of HAMT shards is the shard's link order, depth-first (Kubo's
//!   parallel walk gives an unspecified order).
//! - `cat` of a symlink writes its target path (as Kubo, whose symlink is a file).

mod dir;
mod file;
mod get;
mod node;
mod path;
mod shard;

pub use dir::ls;
pub use file::{cat, file_size, kind};
pub use get::{check_names, get};
pub use node::{
    Entry, EntryKind, ExportError, HAMT_HASH_MURMUR3_X64_64, HAMT_MAX_FANOUT, MAX_DEPTH,
};
pub use path::{parse_ipfs_path, resolve_ipfs_path, resolve_path};
