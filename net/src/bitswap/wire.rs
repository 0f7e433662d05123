//! Bitswap wire format: the protobuf `Message` and its length-delimited framing.
//!
//! Spec: <https://specs.ipfs.tech/bitswap-protocol/> and boxo's
//! `bitswap/message/pb/message.proto` (`/ipfs/bitswap/1.2.0`, `1.1.0`, `1.0.0`):
//!
//! ```text
//! Message { Wantlist wantlist = 1; repeated bytes blocks = 2 (1.0.0);
//!           repeated Block payload = 3 (1.1+); repeated BlockPresence blockPresences = 4 (1.2);
//!           int32 pendingBytes = 5; }
//! Wantlist { repeated Entry entries = 1; bool full = 2; }
//! Entry { bytes block = 1 (CID); int32 priority = 2; bool cancel = 3;
//!         WantType wantType = 4 (Block = 0, Have = 1); bool sendDontHave = 5; }
//! Block { bytes prefix = 1; bytes data = 2; }   // prefix = varints: version, codec, mh code, mh len
//! BlockPresence { bytes cid = 1; BlockPresenceType type = 2 (Have = 0, DontHave = 1); }
//! ```
//!
//! On a stream every message is preceded by its length as an unsigned varint.
//!
//! Flow: the handler reads a frame with [`read_frame_len`] (length checked against
//! [`MAX_MESSAGE_BYTES`] before any buffer is sized), then [`Message::decode`] turns the
//! bytes into a typed value; [`Message::encode_frame`] writes the frame back for the
//! protocol version negotiated on the stream ([`Version`]).
//!
//! # Limits (untrusted bytes, STYLE.md §6)
//! - a frame is at most [`MAX_MESSAGE_BYTES`]; checked on the length prefix.
//! - every length-delimited field is checked against the bytes that remain, so decoding
//!   never allocates more than the frame it was given.
//! - at most [`MAX_ENTRIES_PER_MESSAGE`] wantlist entries, [`MAX_BLOCKS_PER_MESSAGE`]
//!   blocks and [`MAX_PRESENCES_PER_MESSAGE`] presences; a block's data is at most
//!   [`MAX_BLOCK_BYTES`]; a CID is at most [`MAX_CID_BYTES`].
//! - a malformed message (bad varints, bad wire types, truncation, groups at the message
//!   level) is a [`WireError`], never a panic. A bad *element* — an entry, block or
//!   presence whose bytes are well delimited but whose content we cannot use (bad or
//!   oversized CID, unknown `WantType` or presence value — proto3 enums are open —, a
//!   prefix that is not sha2-256, an oversized block, one past the per-message counts) —
//!   is skipped and counted in [`Message::skipped`]; the rest of the message stands.
//!
//! # Departures
//! - Unknown fields are skipped (protobuf rules); duplicate embedded `wantlist` fields
//!   are merged as protobuf says.
//! - A block `prefix` must carry a sha2-256 multihash of 32 bytes; blocks with other hash
//!   functions are skipped at decode time (Acorn hashes sha2-256 only).
//! - On `/ipfs/bitswap/1.0.0` and `1.1.0` streams presences and want-have entries are
//!   dropped when encoding (those versions have no such thing: a want-have would read as
//!   want-block there).

use acorn_storage::block::MAX_BLOCK_BYTES;
use acorn_storage::cids;
use acorn_storage::proto::{varint_len, write_varint};
use cid::Cid;

/// Largest bitswap message we decode or encode, in bytes (boxo's and Helia's limit).
/// Checked on the frame's length prefix before any allocation.
/// Inbound frames in memory are bounded by `Config::max_inbound_bytes`, not by this.
pub const MAX_MESSAGE_BYTES: usize = 4 << 20;

/// Most wantlist entries accepted in one message (a full 4 MiB of entries would be
/// ~100k; nobody sends that many honestly). Past this entries are skipped.
pub const MAX_ENTRIES_PER_MESSAGE: usize = 8192;

/// Most blocks in one message (blocks are ≥ 1 byte; 4 MiB / 1 KiB typical smallest).
pub const MAX_BLOCKS_PER_MESSAGE: usize = 4096;

/// Most block presences in one message.
pub const MAX_PRESENCES_PER_MESSAGE: usize = 8192;

/// Largest CID we parse on the wire, in bytes (boxo's limit). Larger CIDs, and CIDs
/// whose digest is over 64 bytes (what `cid::Cid` holds), are skipped.
pub const MAX_CID_BYTES: usize = 168;

/// The bitswap protocol versions we speak, newest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Version {
    /// `/ipfs/bitswap/1.0.0` and the bare `/ipfs/bitswap`: raw blocks, CIDv0 only.
    V1_0_0,
    /// `/ipfs/bitswap/1.1.0`: blocks with CID prefixes.
    V1_1_0,
    /// `/ipfs/bitswap/1.2.0`: want-have, presences (HAVE / DONT_HAVE).
    V1_2_0,
}

impl Version {
    /// The protocol strings, in the order we offer them when opening a stream.
    pub const PROTOCOLS: [(&'static str, Version); 4] = [
        ("/ipfs/bitswap/1.2.0", Version::V1_2_0),
        ("/ipfs/bitswap/1.1.0", Version::V1_1_0),
        ("/ipfs/bitswap/1.0.0", Version::V1_0_0),
        ("/ipfs/bitswap", Version::V1_0_0),
    ];
}

/// Errors of decoding a bitswap frame or message.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WireError {
    /// A frame or message over [`MAX_MESSAGE_BYTES`].
    #[error("message of {len} bytes is over the limit of {limit} bytes")]
    TooLarge {
        /// Its length in bytes.
        len: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// The input ends inside what the text names.
    #[error("truncated message: {0}")]
    Truncated(&'static str),
    /// A varint over 64 bits, or a field key that is no field number.
    #[error("bad varint")]
    BadVarint,
    /// A wire type that cannot be skipped (groups, or 6 and 7).
    #[error("unsupported protobuf wire type {0}")]
    BadWireType(u8),
    /// A known field with a wire type other than its schema's.
    #[error("field {field} has the wrong wire type {wire_type}")]
    WrongType {
        /// The field number.
        field: u32,
        /// The wire type found.
        wire_type: u8,
    },
    /// More elements of one kind than a message may carry.
    #[error("too many {what} in one message (limit {limit})")]
    TooMany {
        /// The kind of element.
        what: &'static str,
        /// The per-message limit.
        limit: usize,
    },
    /// Bytes that are not a usable CID (the text says why).
    #[error("bad CID: {0}")]
    BadCid(String),
    /// A block prefix we cannot build a CID from.
    #[error("bad CID prefix: {0}")]
    BadPrefix(&'static str),
    /// A block over [`MAX_BLOCK_BYTES`].
    #[error("block of {len} bytes is over the limit of {limit} bytes")]
    BlockTooLarge {
        /// Its data length in bytes.
        len: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// An enum field with a value the schema does not define.
    #[error("bad enum value {value} for {what}")]
    BadEnum {
        /// The enum's name.
        what: &'static str,
        /// The value found.
        value: u64,
    },
    /// Another protobuf framing error of the shared reader.
    #[error(transparent)]
    Protobuf(acorn_storage::proto::Error),
}

/// Want-block or want-have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WantType {
    /// Send the block itself.
    Block,
    /// Say whether we have the block (1.2.0 only).
    Have,
}

/// One wantlist entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The wanted block.
    pub cid: Cid,
    /// Higher first; the sender's order of interest.
    pub priority: i32,
    /// Withdraws an earlier want of `cid`.
    pub cancel: bool,
    /// Block or presence.
    pub want_type: WantType,
    /// Asks for a DONT_HAVE when the receiver lacks the block (1.2.0).
    pub send_dont_have: bool,
}

impl Entry {
    /// A want (block or have) with priority 1.
    pub fn want(cid: Cid, want_type: WantType, send_dont_have: bool) -> Self {
        Entry {
            cid,
            priority: 1,
            cancel: false,
            want_type,
            send_dont_have,
        }
    }
    /// A cancel of an earlier want.
    pub fn cancel(cid: Cid) -> Self {
        Entry {
            cid,
            priority: 0,
            cancel: true,
            want_type: WantType::Block,
            send_dont_have: false,
        }
    }
}

/// The wantlist part of a message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Wantlist {
    /// The entries: wants and cancels.
    pub entries: Vec<Entry>,
    /// The sender's whole wantlist (replace, not update).
    pub full: bool,
}

/// A CID prefix: everything of a CID but the digest (the receiver hashes the data).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefix {
    /// 0 or 1.
    pub version: u64,
    /// Multicodec of the block's content.
    pub codec: u64,
    /// Multihash function code.
    pub mh_type: u64,
    /// Digest length in bytes.
    pub mh_len: u64,
}

impl Prefix {
    /// The prefix of `cid` (its version, codec, hash code and digest length).
    pub fn of(cid: &Cid) -> Self {
        Prefix {
            version: u64::from(cid.version()),
            codec: cid.codec(),
            mh_type: cid.hash().code(),
            mh_len: u64::from(cid.hash().size()),
        }
    }

    /// The prefix implied for 1.0.0 raw blocks: CIDv0, dag-pb, sha2-256.
    pub fn v0() -> Self {
        Prefix {
            version: 0,
            codec: cids::DAG_PB,
            mh_type: cids::SHA2_256,
            mh_len: 32,
        }
    }

    /// Hashes `data` and builds the CID this prefix describes.
    pub fn cid_of(&self, data: &[u8]) -> Cid {
        // Decoding checked version ∈ {0,1}, sha2-256, 32 bytes; v0 needs dag-pb.
        let version = if self.version == 0 && self.codec == cids::DAG_PB {
            0
        } else {
            1
        };
        cids::cid_of(version, self.codec, data)
    }

    fn encoded_len(&self) -> usize {
        varint_len(self.version)
            + varint_len(self.codec)
            + varint_len(self.mh_type)
            + varint_len(self.mh_len)
    }

    fn encode(&self, out: &mut Vec<u8>) {
        write_varint(out, self.version);
        write_varint(out, self.codec);
        write_varint(out, self.mh_type);
        write_varint(out, self.mh_len);
    }

    fn decode(mut b: &[u8]) -> Result<Self, WireError> {
        let version = get_varint(&mut b)?;
        let codec = get_varint(&mut b)?;
        let mh_type = get_varint(&mut b)?;
        let mh_len = get_varint(&mut b)?;
        if !b.is_empty() {
            return Err(WireError::BadPrefix("trailing bytes"));
        }
        if version > 1 {
            return Err(WireError::BadPrefix("CID version is not 0 or 1"));
        }
        if version == 0 && codec != cids::DAG_PB {
            return Err(WireError::BadPrefix("CIDv0 with a codec other than dag-pb"));
        }
        if mh_type != cids::SHA2_256 || mh_len != 32 {
            return Err(WireError::BadPrefix("hash is not sha2-256 with 32 bytes"));
        }
        Ok(Prefix {
            version,
            codec,
            mh_type,
            mh_len,
        })
    }
}

/// A block as carried on the wire: prefix + data, not yet verified (the receiver
/// builds the CID by hashing `data`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    /// How to build the block's CID.
    pub prefix: Prefix,
    /// The block's bytes.
    pub data: Vec<u8>,
}

/// HAVE or DONT_HAVE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Presence {
    /// The sender has the block.
    Have,
    /// The sender does not have the block.
    DontHave,
}

/// One block presence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockPresence {
    /// The block asked about.
    pub cid: Cid,
    /// Whether the sender has it.
    pub presence: Presence,
}

/// A bitswap message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    /// Wants and cancels, if the message carries a wantlist.
    pub wantlist: Option<Wantlist>,
    /// Blocks: from `payload` (1.1+) or from `blocks` (1.0.0, given the v0 prefix).
    pub blocks: Vec<Payload>,
    /// HAVE / DONT_HAVE answers (1.2.0).
    pub presences: Vec<BlockPresence>,
    /// Bytes the sender still has queued for us (informative).
    pub pending_bytes: i32,
    /// Elements (entries, blocks, presences) skipped while decoding: unusable content
    /// or past the per-message counts. Never encoded.
    pub skipped: u32,
    /// Of those, blocks over `MAX_BLOCK_BYTES`: no implementation makes or sends
    /// them, so the receiver counts each against the peer. Never encoded.
    pub oversize_blocks: u32,
}

impl Message {
    /// Nothing to say.
    pub fn is_empty(&self) -> bool {
        self.wantlist
            .as_ref()
            .is_none_or(|w| w.entries.is_empty() && !w.full)
            && self.blocks.is_empty()
            && self.presences.is_empty()
    }

    /// An upper bound of the encoded size, in bytes (used to fill messages up to
    /// [`MAX_MESSAGE_BYTES`] without encoding twice).
    pub fn size_bound(&self) -> usize {
        let entries = self.wantlist.as_ref().map_or(0, |w| {
            w.entries
                .iter()
                .map(|e| e.cid.encoded_len() + ENTRY_OVERHEAD_BYTES)
                .sum::<usize>()
                + 8
        });
        let blocks: usize = self
            .blocks
            .iter()
            .map(|b| b.data.len() + BLOCK_OVERHEAD_BYTES)
            .sum();
        let presences: usize = self
            .presences
            .iter()
            .map(|p| p.cid.encoded_len() + PRESENCE_OVERHEAD_BYTES)
            .sum();
        entries + blocks + presences + 16
    }

    /// Decodes a protobuf body (without the length prefix).
    pub fn decode(buf: &[u8]) -> Result<Self, WireError> {
        if buf.len() > MAX_MESSAGE_BYTES {
            return Err(WireError::TooLarge {
                len: buf.len(),
                limit: MAX_MESSAGE_BYTES,
            });
        }
        let mut msg = Message::default();
        let mut r = buf;
        while !r.is_empty() {
            let (field, wt) = get_key(&mut r)?;
            match field {
                1 => {
                    let b = expect_bytes(&mut r, field, wt)?;
                    let wl = msg.wantlist.get_or_insert_with(Wantlist::default);
                    decode_wantlist(b, wl, &mut msg.skipped)?;
                }
                2 => {
                    let data = expect_bytes(&mut r, field, wt)?;
                    match check_block(&msg, data.len()) {
                        Ok(()) => msg.blocks.push(Payload {
                            prefix: Prefix::v0(),
                            data: data.to_vec(),
                        }),
                        Err(e) => msg.skip(&e),
                    }
                }
                3 => {
                    let b = expect_bytes(&mut r, field, wt)?;
                    let payload = decode_payload(b).and_then(|(prefix, data)| {
                        check_block(&msg, data.len()).map(|()| (prefix, data))
                    });
                    match payload {
                        Ok((prefix, data)) => msg.blocks.push(Payload {
                            prefix,
                            data: data.to_vec(),
                        }),
                        Err(e) => msg.skip(&e),
                    }
                }
                4 => {
                    let b = expect_bytes(&mut r, field, wt)?;
                    match decode_presence(b) {
                        Ok(p) if msg.presences.len() < MAX_PRESENCES_PER_MESSAGE => {
                            msg.presences.push(p)
                        }
                        _ => msg.skipped = msg.skipped.saturating_add(1),
                    }
                }
                5 => {
                    let v = expect_varint(&mut r, field, wt)?;
                    msg.pending_bytes = v as i32;
                }
                _ => skip_field(&mut r, wt)?,
            }
        }
        Ok(msg)
    }

    /// Counts a skipped element (and an oversize block apart).
    fn skip(&mut self, e: &WireError) {
        self.skipped = self.skipped.saturating_add(1);
        if matches!(e, WireError::BlockTooLarge { .. }) {
            self.oversize_blocks = self.oversize_blocks.saturating_add(1);
        }
    }
}

mod decode;
mod encode;
mod proto;

use decode::*;
use proto::*;

/// Checks a frame's length prefix against [`MAX_MESSAGE_BYTES`]. The reader calls this
/// with the varint it read before sizing any buffer.
pub fn check_frame_len(len: u64) -> Result<usize, WireError> {
    if len > MAX_MESSAGE_BYTES as u64 {
        return Err(WireError::TooLarge {
            len: usize::try_from(len).unwrap_or(usize::MAX),
            limit: MAX_MESSAGE_BYTES,
        });
    }
    Ok(len as usize)
}

/// Splits one frame off the front of `buf`: `Ok(Some((message, consumed)))`,
/// `Ok(None)` when more bytes are needed.
pub fn read_frame_len(buf: &[u8]) -> Result<Option<(usize, usize)>, WireError> {
    let mut r = buf;
    match get_varint(&mut r) {
        Ok(len) => {
            let len = check_frame_len(len)?;
            Ok(Some((len, buf.len() - r.len())))
        }
        Err(WireError::Truncated(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(super) use acorn_storage::util::hex::encode as hex;

    pub(super) fn unhex(s: &str) -> Vec<u8> {
        acorn_storage::util::hex::decode(s).expect("test vectors are hex")
    }

    pub(super) fn raw_cid(data: &[u8]) -> Cid {
        cids::cid_of(1, cids::RAW, data)
    }

    // CIDv1 raw of "abc" (bafkreif2pall7dybz7vecqka3zo24irdwabwdi4wc55jznaq75q7eaavvu).
    const ABC_CID_HEX: &str =
        "01551220ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

    #[test]
    fn an_oversize_block_is_skipped_and_counted_apart() {
        let cid = acorn_storage::cids::cid_of(1, acorn_storage::cids::RAW, b"x");
        let msg = Message {
            blocks: vec![
                Payload {
                    prefix: Prefix::of(&cid),
                    data: vec![0; MAX_BLOCK_BYTES + 1],
                },
                Payload {
                    prefix: Prefix::of(&cid),
                    data: b"x".to_vec(),
                },
            ],
            ..Message::default()
        };
        let back = Message::decode(&msg.encode(Version::V1_2_0)).unwrap();
        assert_eq!((back.skipped, back.oversize_blocks), (1, 1));
        assert_eq!(back.blocks.len(), 1);
    }

    #[test]
    fn vector_want_have_entry_both_ways() {
        let cid = raw_cid(b"abc");
        assert_eq!(hex(&cid.to_bytes()), ABC_CID_HEX);
        let msg = Message {
            wantlist: Some(Wantlist {
                entries: vec![Entry::want(cid, WantType::Have, true)],
                full: false,
            }),
            ..Default::default()
        };
        // Message{wantlist(1){entries(1){block(1)=cid, priority(2)=1, wantType(4)=1,
        // sendDontHave(5)=1}}}
        let expect = format!("0a2e0a2c0a24{ABC_CID_HEX}100120012801");
        assert_eq!(hex(&msg.encode(Version::V1_2_0)), expect);
        assert_eq!(Message::decode(&unhex(&expect)).unwrap(), msg);
        // Framed: 0x2f = 47 bytes.
        assert_eq!(
            hex(&msg.encode_frame(Version::V1_2_0)),
            format!("30{expect}")
        );
    }

    #[test]
    fn vector_payload_and_presence_both_ways() {
        let cid = raw_cid(b"abc");
        let msg = Message {
            blocks: vec![Payload {
                prefix: Prefix::of(&cid),
                data: b"abc".to_vec(),
            }],
            presences: vec![BlockPresence {
                cid,
                presence: Presence::DontHave,
            }],
            ..Default::default()
        };
        // payload(3){prefix(1)=01 55 12 20, data(2)="abc"}, blockPresences(4){cid, type=1}
        let expect =
            format!("1a0b0a040155122012036162632228 0a24{ABC_CID_HEX}1001").replace(' ', "");
        assert_eq!(hex(&msg.encode(Version::V1_2_0)), expect);
        assert_eq!(Message::decode(&unhex(&expect)).unwrap(), msg);
        assert_eq!(msg.blocks[0].prefix.cid_of(b"abc"), cid);
    }

    #[test]
    fn vector_v1_0_0_raw_blocks_are_v0() {
        // blocks(2) = "hi": a 1.0.0 block, implied CIDv0 dag-pb.
        let msg = Message::decode(&unhex("12026869")).unwrap();
        assert_eq!(msg.blocks.len(), 1);
        assert_eq!(msg.blocks[0].prefix, Prefix::v0());
        assert_eq!(
            msg.blocks[0].prefix.cid_of(b"hi").version(),
            cid::Version::V0
        );
        assert_eq!(hex(&msg.encode(Version::V1_0_0)), "12026869");
    }

    #[test]
    fn old_versions_drop_have_and_presences() {
        let cid = raw_cid(b"x");
        let msg = Message {
            wantlist: Some(Wantlist {
                entries: vec![
                    Entry::want(cid, WantType::Have, true),
                    Entry::want(cid, WantType::Block, true),
                ],
                full: false,
            }),
            presences: vec![BlockPresence {
                cid,
                presence: Presence::Have,
            }],
            ..Default::default()
        };
        let back = Message::decode(&msg.encode(Version::V1_1_0)).unwrap();
        let entries = &back.wantlist.unwrap().entries;
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].want_type, WantType::Block);
        assert!(!entries[0].send_dont_have);
        assert!(back.presences.is_empty());
    }

    #[test]
    fn negative_priority_round_trips() {
        let mut e = Entry::want(raw_cid(b"p"), WantType::Block, false);
        e.priority = -5;
        let msg = Message {
            wantlist: Some(Wantlist {
                entries: vec![e],
                full: true,
            }),
            pending_bytes: -1,
            ..Default::default()
        };
        assert_eq!(Message::decode(&msg.encode(Version::V1_2_0)).unwrap(), msg);
    }

    fn arb_cid() -> impl Strategy<Value = Cid> {
        (
            prop::collection::vec(any::<u8>(), 0..8),
            any::<bool>(),
            prop_oneof![Just(cids::RAW), Just(cids::DAG_PB), Just(cids::DAG_CBOR)],
        )
            .prop_map(|(d, v0, codec)| {
                if v0 {
                    cids::cid_of(0, cids::DAG_PB, &d)
                } else {
                    cids::cid_of(1, codec, &d)
                }
            })
    }

    fn arb_message() -> impl Strategy<Value = Message> {
        let entry = (
            arb_cid(),
            any::<i32>(),
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
        )
            .prop_map(|(cid, priority, cancel, have, sdh)| Entry {
                cid,
                priority,
                cancel,
                want_type: if have {
                    WantType::Have
                } else {
                    WantType::Block
                },
                send_dont_have: sdh,
            });
        let wl = prop::option::of(
            (prop::collection::vec(entry, 0..6), any::<bool>())
                .prop_map(|(entries, full)| Wantlist { entries, full }),
        );
        let block =
            (arb_cid(), prop::collection::vec(any::<u8>(), 0..64)).prop_map(|(c, data)| Payload {
                prefix: Prefix::of(&c),
                data,
            });
        let presence = (arb_cid(), any::<bool>()).prop_map(|(cid, h)| BlockPresence {
            cid,
            presence: if h {
                Presence::Have
            } else {
                Presence::DontHave
            },
        });
        (
            wl,
            prop::collection::vec(block, 0..4),
            prop::collection::vec(presence, 0..4),
            any::<i32>(),
        )
            .prop_map(|(wantlist, blocks, presences, pending_bytes)| Message {
                wantlist,
                blocks,
                presences,
                pending_bytes,
                skipped: 0,
                oversize_blocks: 0,
            })
    }

    #[test]
    fn frame_is_encoded_once_into_a_buffer_of_its_exact_size() {
        let data = vec![9u8; MAX_BLOCK_BYTES];
        let cid = raw_cid(&data);
        let msg = Message {
            blocks: vec![Payload {
                prefix: Prefix::of(&cid),
                data,
            }],
            presences: vec![BlockPresence {
                cid,
                presence: Presence::DontHave,
            }],
            ..Default::default()
        };
        for v in [Version::V1_0_0, Version::V1_1_0, Version::V1_2_0] {
            let frame = msg.encode_frame(v);
            assert_eq!(frame.capacity(), frame.len(), "{v:?}: presized, no spare");
            let (len, used) = read_frame_len(&frame).unwrap().unwrap();
            assert_eq!(len, msg.encoded_len(v));
            assert_eq!(used + len, frame.len());
        }
    }

    proptest! {
        #[test]
        fn encoded_len_is_exact(msg in arb_message()) {
            for v in [Version::V1_0_0, Version::V1_1_0, Version::V1_2_0] {
                prop_assert_eq!(msg.encode(v).len(), msg.encoded_len(v));
            }
        }

        #[test]
        fn round_trip_1_2_0(msg in arb_message()) {
            let frame = msg.encode_frame(Version::V1_2_0);
            let (len, used) = read_frame_len(&frame).unwrap().unwrap();
            prop_assert_eq!(len, frame.len() - used);
            prop_assert_eq!(Message::decode(&frame[used..]).unwrap(), msg);
        }

        #[test]
        fn decode_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            let _ = Message::decode(&bytes);
            let _ = read_frame_len(&bytes);
        }

        #[test]
        fn mutated_messages_never_panic(msg in arb_message(), idx in any::<usize>(), byte in any::<u8>()) {
            let mut b = msg.encode(Version::V1_2_0);
            if !b.is_empty() {
                let i = idx % b.len();
                b[i] = byte;
            }
            let _ = Message::decode(&b);
        }
    }
}
