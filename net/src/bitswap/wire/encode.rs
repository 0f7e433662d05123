//! Encoding a [`Message`] for a negotiated [`Version`]: the exact length is
//! computed first, so the frame goes into one buffer of exactly its size and
//! every field is written straight into it (block data is copied once).

use super::*;
use acorn_storage::proto::{
    bytes_field_len, write_bytes_field, write_len_prefix, write_varint_field,
};

impl Message {
    /// Whether `e` is sent on a `version` stream (older versions have no want-have).
    fn sends_entry(e: &Entry, version: Version) -> bool {
        !(version < Version::V1_2_0 && e.want_type == WantType::Have && !e.cancel)
    }

    /// Exact encoded length of an entry's body.
    fn entry_len(e: &Entry, version: Version) -> usize {
        let mut n = bytes_field_len(1, e.cid.encoded_len());
        if e.priority != 0 {
            n += 1 + varint_len(i64::from(e.priority) as u64);
        }
        if e.cancel {
            n += 2;
        }
        if version >= Version::V1_2_0 {
            if e.want_type == WantType::Have {
                n += 2;
            }
            if e.send_dont_have {
                n += 2;
            }
        }
        n
    }

    fn wantlist_len(w: &Wantlist, version: Version) -> usize {
        let entries: usize = w
            .entries
            .iter()
            .filter(|e| Self::sends_entry(e, version))
            .map(|e| bytes_field_len(1, Self::entry_len(e, version)))
            .sum();
        entries + if w.full { 2 } else { 0 }
    }

    fn payload_len(b: &Payload) -> usize {
        bytes_field_len(1, b.prefix.encoded_len()) + bytes_field_len(2, b.data.len())
    }

    fn presence_len(p: &BlockPresence) -> usize {
        bytes_field_len(1, p.cid.encoded_len())
            + if p.presence == Presence::DontHave {
                2
            } else {
                0
            }
    }

    /// Exact length of the protobuf body for `version`.
    pub fn encoded_len(&self, version: Version) -> usize {
        let mut n = 0;
        if let Some(w) = &self.wantlist {
            n += bytes_field_len(1, Self::wantlist_len(w, version));
        }
        for b in &self.blocks {
            n += if version == Version::V1_0_0 {
                bytes_field_len(2, b.data.len())
            } else {
                bytes_field_len(3, Self::payload_len(b))
            };
        }
        if version >= Version::V1_2_0 {
            n += self
                .presences
                .iter()
                .map(|p| bytes_field_len(4, Self::presence_len(p)))
                .sum::<usize>();
        }
        if self.pending_bytes != 0 {
            n += 1 + varint_len(i64::from(self.pending_bytes) as u64);
        }
        n
    }

    /// Encodes the protobuf body for `version` (see the module doc for what older
    /// versions drop) into a buffer of exactly its size.
    pub fn encode(&self, version: Version) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len(version));
        self.encode_into(version, &mut out);
        out
    }

    /// Appends the body to `out`, writing every field straight into it (block data is
    /// copied once).
    fn encode_into(&self, version: Version, out: &mut Vec<u8>) {
        if let Some(w) = &self.wantlist {
            write_len_prefix(out, 1, Self::wantlist_len(w, version));
            for e in w.entries.iter().filter(|e| Self::sends_entry(e, version)) {
                write_len_prefix(out, 1, Self::entry_len(e, version));
                write_bytes_field(out, 1, &e.cid.to_bytes());
                if e.priority != 0 {
                    // int32 is sign-extended to 64 bits on the wire.
                    write_varint_field(out, 2, i64::from(e.priority) as u64);
                }
                if e.cancel {
                    write_varint_field(out, 3, 1);
                }
                if version >= Version::V1_2_0 {
                    if e.want_type == WantType::Have {
                        write_varint_field(out, 4, 1);
                    }
                    if e.send_dont_have {
                        write_varint_field(out, 5, 1);
                    }
                }
            }
            if w.full {
                write_varint_field(out, 2, 1);
            }
        }
        for b in &self.blocks {
            if version == Version::V1_0_0 {
                write_bytes_field(out, 2, &b.data);
            } else {
                write_len_prefix(out, 3, Self::payload_len(b));
                write_len_prefix(out, 1, b.prefix.encoded_len());
                b.prefix.encode(out);
                write_bytes_field(out, 2, &b.data);
            }
        }
        if version >= Version::V1_2_0 {
            for p in &self.presences {
                write_len_prefix(out, 4, Self::presence_len(p));
                write_bytes_field(out, 1, &p.cid.to_bytes());
                if p.presence == Presence::DontHave {
                    write_varint_field(out, 2, 1);
                }
            }
        }
        if self.pending_bytes != 0 {
            write_varint_field(out, 5, i64::from(self.pending_bytes) as u64);
        }
    }

    /// Encodes with the unsigned-varint length prefix, into one buffer of exactly the
    /// frame's size (no intermediate body buffer).
    pub fn encode_frame(&self, version: Version) -> Vec<u8> {
        let len = self.encoded_len(version);
        let mut out = Vec::with_capacity(varint_len(len as u64) + len);
        write_varint(&mut out, len as u64);
        self.encode_into(version, &mut out);
        out
    }
}
