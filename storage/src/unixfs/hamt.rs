//! HAMT-sharded UnixFS directories: hashing, layout, and building.
//!
//! Spec: ipfs/specs `UNIXFS.md` (HAMTShard), as boxo builds them: fanout 256
//! (8 bits per level), hash = the first 64 bits of murmur3-x64-128 (seed 0) of the
//! entry name, big-endian, consumed most significant byte first (one byte per
//! level). A shard node is dag-pb with UnixFS `Data{Type: HAMTShard, Data: bitfield,
//! hashType: 0x22, fanout: 256}`; its links are in slot order and named `%02X` +
//! entry name for an entry, or just `%02X` for a sub-shard. The bitfield is the
//! big-endian bytes of a 256-bit integer whose bit `i` is set when slot `i` is used,
//! with leading zero bytes trimmed (go-bitfield's `Bytes()`).
//!
//! **Limits**: 8 levels (the 64-bit hash has 8 bytes); two names whose hashes are
//! equal in all 64 bits cannot be placed and give [`HamtError::HashCollision`].

use super::pb::{Data, DataType};
use crate::block::{BlockError, BlockSink};
use crate::cids;
use crate::codec::dagpb::{PbLink, PbNode};
use cid::Cid;

/// Multihash code of murmur3-x64-64 as the UnixFS `hashType` field carries it.
pub const HASH_TYPE_MURMUR3_X64_64: u64 = 0x22;
/// Slots per shard node.
pub const FANOUT: usize = 256;
/// Deepest shard level (bytes of the 64-bit hash).
pub const MAX_LEVELS: usize = 8;

/// Errors of shard building.
#[derive(Debug, thiserror::Error)]
pub enum HamtError {
    /// Two names whose murmur3 hashes are equal: no shard can hold both.
    #[error("two directory entries ({a:?}, {b:?}) share a 64-bit hash; cannot shard")]
    HashCollision {
        /// One name.
        a: String,
        /// The other.
        b: String,
    },
    /// The sink failed.
    #[error(transparent)]
    Block(#[from] BlockError),
}

/// murmur3 x64 128 (seed 0): returns (h1, h2).
pub fn murmur3_x64_128(data: &[u8], seed: u64) -> (u64, u64) {
    const C1: u64 = 0x87c3_7b91_1142_53d5;
    const C2: u64 = 0x4cf5_ad43_2745_937f;
    let (mut h1, mut h2) = (seed, seed);
    let blocks = data.chunks_exact(16);
    let tail = blocks.remainder();
    for b in blocks {
        let mut k1 = u64::from_le_bytes(b[0..8].try_into().expect("8 bytes"));
        let mut k2 = u64::from_le_bytes(b[8..16].try_into().expect("8 bytes"));
        k1 = k1.wrapping_mul(C1).rotate_left(31).wrapping_mul(C2);
        h1 ^= k1;
        h1 = h1
            .rotate_left(27)
            .wrapping_add(h2)
            .wrapping_mul(5)
            .wrapping_add(0x52dc_e729);
        k2 = k2.wrapping_mul(C2).rotate_left(33).wrapping_mul(C1);
        h2 ^= k2;
        h2 = h2
            .rotate_left(31)
            .wrapping_add(h1)
            .wrapping_mul(5)
            .wrapping_add(0x3849_5ab5);
    }
    let (mut k1, mut k2) = (0u64, 0u64);
    for i in (8..tail.len()).rev() {
        k2 ^= u64::from(tail[i]) << ((i - 8) * 8);
    }
    if tail.len() > 8 {
        k2 = k2.wrapping_mul(C2).rotate_left(33).wrapping_mul(C1);
        h2 ^= k2;
    }
    for i in (0..tail.len().min(8)).rev() {
        k1 ^= u64::from(tail[i]) << (i * 8);
    }
    if !tail.is_empty() {
        k1 = k1.wrapping_mul(C1).rotate_left(31).wrapping_mul(C2);
        h1 ^= k1;
    }
    let len = data.len() as u64;
    h1 ^= len;
    h2 ^= len;
    h1 = h1.wrapping_add(h2);
    h2 = h2.wrapping_add(h1);
    h1 = fmix64(h1);
    h2 = fmix64(h2);
    h1 = h1.wrapping_add(h2);
    h2 = h2.wrapping_add(h1);
    (h1, h2)
}

fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^= k >> 33;
    k
}

/// The 64-bit HAMT key of an entry name.
pub fn hash_key(name: &[u8]) -> u64 {
    murmur3_x64_128(name, 0).0
}

/// The slot of `key` at shard `level` (0 = root).
pub fn slot(key: u64, level: usize) -> usize {
    ((key >> (56 - 8 * level)) & 0xff) as usize
}

/// Link-name prefix of a slot: two uppercase hex digits.
pub fn slot_prefix(slot: usize) -> String {
    format!("{slot:02X}")
}

/// A directory entry to place in a shard.
#[derive(Debug, Clone)]
pub struct ShardEntry {
    /// The entry's name.
    pub name: String,
    /// Its CID.
    pub cid: Cid,
    /// Its cumulative size (the link's Tsize).
    pub tsize: u64,
}

enum Slot {
    Entry(ShardEntry, u64),
    Child(Box<Node>),
}

#[derive(Default)]
struct Node {
    slots: std::collections::BTreeMap<usize, Slot>,
}

impl Node {
    fn insert(&mut self, e: ShardEntry, key: u64, level: usize) -> Result<(), HamtError> {
        if level >= MAX_LEVELS {
            return Err(HamtError::HashCollision {
                a: e.name,
                b: String::from("(another entry)"),
            });
        }
        let s = slot(key, level);
        match self.slots.remove(&s) {
            None => {
                self.slots.insert(s, Slot::Entry(e, key));
            }
            Some(Slot::Entry(old, old_key)) => {
                if old_key == key {
                    return Err(HamtError::HashCollision {
                        a: old.name,
                        b: e.name,
                    });
                }
                let mut child = Node::default();
                child.insert(old, old_key, level + 1)?;
                child.insert(e, key, level + 1)?;
                self.slots.insert(s, Slot::Child(Box::new(child)));
            }
            Some(Slot::Child(mut c)) => {
                c.insert(e, key, level + 1)?;
                self.slots.insert(s, Slot::Child(c));
            }
        }
        Ok(())
    }

    /// Encodes this node (children first) into `sink`; returns (cid, cumulative size).
    fn write(self, cid_version: u8, sink: &mut dyn BlockSink) -> Result<(Cid, u64), HamtError> {
        let mut bitfield = [0u8; FANOUT / 8];
        let mut links = Vec::with_capacity(self.slots.len());
        let mut total = 0u64;
        for (s, slot) in self.slots {
            bitfield[FANOUT / 8 - 1 - s / 8] |= 1 << (s % 8);
            let (name, cid, tsize) = match slot {
                Slot::Entry(e, _) => (format!("{}{}", slot_prefix(s), e.name), e.cid, e.tsize),
                Slot::Child(c) => {
                    let (cid, size) = c.write(cid_version, sink)?;
                    (slot_prefix(s), cid, size)
                }
            };
            total += tsize;
            links.push(PbLink {
                hash: cid,
                name: Some(name),
                tsize: Some(tsize),
            });
        }
        let first_used = bitfield
            .iter()
            .position(|b| *b != 0)
            .unwrap_or(bitfield.len());
        let mut data = Data::new(DataType::HamtShard);
        data.data = Some(bitfield[first_used..].to_vec());
        data.hash_type = Some(HASH_TYPE_MURMUR3_X64_64);
        data.fanout = Some(FANOUT as u64);
        let node = PbNode {
            links,
            data: Some(data.encode()),
        };
        let bytes = node.encode();
        let cid = cids::cid_of(cid_version, cids::DAG_PB, &bytes);
        sink.put(&cid, &bytes)?;
        Ok((cid, total + bytes.len() as u64))
    }
}

/// Builds a HAMT-sharded directory of `entries` (any order), writing every shard
/// node to `sink`; returns the root CID and its cumulative size (Tsize).
pub fn build(
    entries: Vec<ShardEntry>,
    cid_version: u8,
    sink: &mut dyn BlockSink,
) -> Result<(Cid, u64), HamtError> {
    let mut root = Node::default();
    for e in entries {
        let key = hash_key(e.name.as_bytes());
        root.insert(e, key, 0)?;
    }
    root.write(cid_version, sink)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur3_reference_vectors() {
        // Reference values of MurmurHash3_x64_128 with seed 0.
        assert_eq!(murmur3_x64_128(b"", 0), (0, 0));
        assert_eq!(
            murmur3_x64_128(b"hello", 0),
            (0xcbd8_a7b3_41bd_9b02, 0x5b1e_906a_48ae_1d19)
        );
        assert_eq!(
            murmur3_x64_128(b"The quick brown fox jumps over the lazy dog", 0),
            (0xe34b_bc7b_bc07_1b6c, 0x7a43_3ca9_c49a_9347)
        );
    }

    #[test]
    fn slots_take_bytes_most_significant_first() {
        let key = 0x0102_0304_0506_0708u64;
        assert_eq!(slot(key, 0), 1);
        assert_eq!(slot(key, 7), 8);
        assert_eq!(slot_prefix(10), "0A");
    }

    #[test]
    fn shard_links_are_in_slot_order_and_named() {
        let leaf = cids::cid_of(1, cids::RAW, b"x");
        let entries: Vec<ShardEntry> = (0..600)
            .map(|i| ShardEntry {
                name: format!("file-{i}"),
                cid: leaf,
                tsize: 1,
            })
            .collect();
        let mut store = crate::block::MemStore::new();
        let (root, _) = build(entries, 0, &mut store).unwrap();
        let node = PbNode::decode(
            &crate::block::BlockSource::get(&store, &root)
                .unwrap()
                .unwrap(),
        )
        .unwrap();
        let names: Vec<&str> = node
            .links
            .iter()
            .map(|l| l.name.as_deref().unwrap())
            .collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
        // 600 names over 256 slots: some slots must hold sub-shards (bare 2-char names).
        assert!(names.iter().any(|n| n.len() == 2));
        let d = Data::decode(node.data.as_deref().unwrap()).unwrap();
        assert_eq!(d.kind, DataType::HamtShard);
        assert_eq!(d.fanout, Some(256));
        assert_eq!(d.hash_type, Some(0x22));
    }
}
