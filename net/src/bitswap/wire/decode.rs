//! Decoding a message's elements (wantlist entries, blocks, presences, CIDs): each
//! one is bounds-checked, and a bad element is skipped and counted, never fatal (see
//! the module doc of `wire.rs`).

use super::proto::*;
use super::*;

/// Bytes a wantlist entry costs beyond its CID (keys, lengths, flags).
pub(super) const ENTRY_OVERHEAD_BYTES: usize = 24;
/// Bytes a block costs beyond its data (keys, lengths, prefix).
pub(super) const BLOCK_OVERHEAD_BYTES: usize = 40;
/// Bytes a presence costs beyond its CID.
pub(super) const PRESENCE_OVERHEAD_BYTES: usize = 8;

pub(super) fn check_block(msg: &Message, len: usize) -> Result<(), WireError> {
    if msg.blocks.len() >= MAX_BLOCKS_PER_MESSAGE {
        return Err(WireError::TooMany {
            what: "blocks",
            limit: MAX_BLOCKS_PER_MESSAGE,
        });
    }
    if len > MAX_BLOCK_BYTES {
        return Err(WireError::BlockTooLarge {
            len,
            limit: MAX_BLOCK_BYTES,
        });
    }
    Ok(())
}

pub(super) fn decode_wantlist(
    mut r: &[u8],
    wl: &mut Wantlist,
    skipped: &mut u32,
) -> Result<(), WireError> {
    while !r.is_empty() {
        let (field, wt) = get_key(&mut r)?;
        match field {
            1 => {
                let b = expect_bytes(&mut r, field, wt)?;
                match decode_entry(b) {
                    Ok(e) if wl.entries.len() < MAX_ENTRIES_PER_MESSAGE => wl.entries.push(e),
                    _ => *skipped = skipped.saturating_add(1),
                }
            }
            2 => wl.full = expect_varint(&mut r, field, wt)? != 0,
            _ => skip_field(&mut r, wt)?,
        }
    }
    Ok(())
}

pub(super) fn decode_entry(mut r: &[u8]) -> Result<Entry, WireError> {
    let mut cid = None;
    let mut e = Entry {
        cid: Cid::default(),
        priority: 0,
        cancel: false,
        want_type: WantType::Block,
        send_dont_have: false,
    };
    while !r.is_empty() {
        let (field, wt) = get_key(&mut r)?;
        match field {
            1 => cid = Some(decode_cid(expect_bytes(&mut r, field, wt)?)?),
            2 => e.priority = expect_varint(&mut r, field, wt)? as i32,
            3 => e.cancel = expect_varint(&mut r, field, wt)? != 0,
            4 => {
                e.want_type = match expect_varint(&mut r, field, wt)? {
                    0 => WantType::Block,
                    1 => WantType::Have,
                    value => {
                        return Err(WireError::BadEnum {
                            what: "wantType",
                            value,
                        })
                    }
                }
            }
            5 => e.send_dont_have = expect_varint(&mut r, field, wt)? != 0,
            _ => skip_field(&mut r, wt)?,
        }
    }
    e.cid = cid.ok_or(WireError::BadCid("wantlist entry without a CID".into()))?;
    Ok(e)
}

pub(super) fn decode_payload(mut r: &[u8]) -> Result<(Prefix, &[u8]), WireError> {
    let mut prefix = None;
    let mut data: &[u8] = &[];
    while !r.is_empty() {
        let (field, wt) = get_key(&mut r)?;
        match field {
            1 => prefix = Some(Prefix::decode(expect_bytes(&mut r, field, wt)?)?),
            2 => data = expect_bytes(&mut r, field, wt)?,
            _ => skip_field(&mut r, wt)?,
        }
    }
    let prefix = prefix.ok_or(WireError::BadPrefix("block without a prefix"))?;
    Ok((prefix, data))
}

pub(super) fn decode_presence(mut r: &[u8]) -> Result<BlockPresence, WireError> {
    let mut cid = None;
    let mut presence = Presence::Have;
    while !r.is_empty() {
        let (field, wt) = get_key(&mut r)?;
        match field {
            1 => cid = Some(decode_cid(expect_bytes(&mut r, field, wt)?)?),
            2 => {
                presence = match expect_varint(&mut r, field, wt)? {
                    0 => Presence::Have,
                    1 => Presence::DontHave,
                    value => {
                        return Err(WireError::BadEnum {
                            what: "BlockPresenceType",
                            value,
                        })
                    }
                }
            }
            _ => skip_field(&mut r, wt)?,
        }
    }
    let cid = cid.ok_or(WireError::BadCid("presence without a CID".into()))?;
    Ok(BlockPresence { cid, presence })
}

pub(super) fn decode_cid(b: &[u8]) -> Result<Cid, WireError> {
    if b.len() > MAX_CID_BYTES {
        return Err(WireError::BadCid(format!(
            "{} bytes, over the limit of {MAX_CID_BYTES}",
            b.len()
        )));
    }
    let mut r = b;
    let cid = Cid::read_bytes(&mut r).map_err(|e| WireError::BadCid(e.to_string()))?;
    if !r.is_empty() {
        return Err(WireError::BadCid("trailing bytes after the CID".into()));
    }
    Ok(cid)
}

#[cfg(test)]
mod tests {
    use super::super::tests::*;
    use super::*;

    #[test]
    fn malformed_inputs_are_errors() {
        let cases: &[(&str, &str)] = &[
            ("0a", "truncated key payload"),
            ("0a05", "length beyond the buffer"),
            ("0aff", "truncated length varint"),
            ("ffffffffffffffffffff01", "overlong varint"),
            ("0b", "group wire type"),
            ("08", "field 1 as varint"),
            ("00", "field 0"),
            ("1a", "truncated payload field"),
        ];
        for (h, why) in cases {
            let r = Message::decode(&unhex(h));
            assert!(r.is_err(), "{why}: {h} decoded to {r:?}");
        }
    }

    #[test]
    fn bad_elements_are_skipped_and_counted() {
        let cases: &[(&str, &str)] = &[
            ("0a020a00", "entry without CID"),
            ("0a060a040a020000", "bad CID bytes"),
            ("1a050a03015512", "prefix truncated"),
            ("1a070a050155112000", "prefix sha1"),
            ("1a060a0402551220", "prefix version 2"),
            ("22020802", "presence without CID"),
        ];
        for (h, why) in cases {
            let m = Message::decode(&unhex(h)).unwrap_or_else(|e| panic!("{why}: {e}"));
            assert_eq!(m.skipped, 1, "{why}");
            assert!(m.blocks.is_empty() && m.presences.is_empty(), "{why}");
        }
    }

    #[test]
    fn a_bad_element_does_not_reject_the_good_ones() {
        let good = raw_cid(b"good");
        let mut msg = Message {
            wantlist: Some(Wantlist {
                entries: vec![Entry::want(good, WantType::Have, true)],
                full: false,
            }),
            presences: vec![BlockPresence {
                cid: good,
                presence: Presence::Have,
            }],
            ..Default::default()
        };
        let mut b = msg.encode(Version::V1_2_0);
        // An entry with an unknown WantType (2), a presence with an unknown type (7), a
        // block with a sha1 prefix, and a CID of 160 bytes (boxo allows up to 168).
        let cid = hex(&good.to_bytes());
        let e = format!("0a24{cid}2002");
        let wl = format!("0a{:02x}{e}", e.len() / 2);
        b.extend(unhex(&format!("0a{:02x}{wl}", wl.len() / 2)));
        b.extend(unhex(&format!("2228 0a24{cid}1007").replace(' ', "")));
        b.extend(unhex("1a070a050155112000"));
        // An entry whose CID is 160 bytes: over what our CID type holds (64-byte
        // digests), so skipped, but the message stands.
        let mut long = vec![0x01, 0x55, 0x00, 0x9c, 0x01];
        long.resize(160, 7);
        let mut eb = Vec::new();
        acorn_storage::proto::write_bytes_field(&mut eb, 1, &long);
        let mut wlb = Vec::new();
        acorn_storage::proto::write_bytes_field(&mut wlb, 1, &eb);
        acorn_storage::proto::write_bytes_field(&mut b, 1, &wlb);
        let m = Message::decode(&b).unwrap();
        assert_eq!(m.skipped, 4);
        assert_eq!(m.wantlist.as_ref().unwrap().entries.len(), 1);
        assert_eq!(m.presences.len(), 1);
        msg.skipped = 4;
        assert_eq!(m, msg);
    }

    #[test]
    fn bad_enum_values_are_skipped() {
        let cid = hex(&raw_cid(b"abc").to_bytes());
        let e = format!("0a24{cid}2002");
        let entry = format!("0a{:02x}{e}", e.len() / 2);
        let msg = format!("0a{:02x}{entry}", entry.len() / 2);
        let m = Message::decode(&unhex(&msg)).unwrap();
        assert_eq!(m.skipped, 1);
        assert!(m.wantlist.unwrap().entries.is_empty());
    }

    #[test]
    fn frame_length_is_checked_before_allocation() {
        let mut b = Vec::new();
        write_varint(&mut b, (MAX_MESSAGE_BYTES + 1) as u64);
        assert!(matches!(
            read_frame_len(&b),
            Err(WireError::TooLarge { .. })
        ));
        write_varint(&mut b, 0);
        assert_eq!(read_frame_len(&[0x05, 1]).unwrap(), Some((5, 1)));
        assert_eq!(read_frame_len(&[0x85]).unwrap(), None);
    }

    #[test]
    fn oversize_block_is_refused() {
        let mut b = Vec::new();
        acorn_storage::proto::write_len_prefix(&mut b, 2, MAX_BLOCK_BYTES + 1);
        b.resize(b.len() + MAX_BLOCK_BYTES + 1, 0);
        let m = Message::decode(&b).unwrap();
        assert_eq!((m.blocks.len(), m.skipped), (0, 1));
    }

    #[test]
    fn too_many_entries_is_refused() {
        let cid = raw_cid(b"e");
        let msg = Message {
            wantlist: Some(Wantlist {
                entries: vec![Entry::cancel(cid); MAX_ENTRIES_PER_MESSAGE + 1],
                full: false,
            }),
            ..Default::default()
        };
        let m = Message::decode(&msg.encode(Version::V1_2_0)).unwrap();
        assert_eq!(m.wantlist.unwrap().entries.len(), MAX_ENTRIES_PER_MESSAGE);
        assert_eq!(m.skipped, 1);
    }

    #[test]
    fn unknown_fields_are_skipped() {
        // field 9 varint, field 10 fixed64, field 11 fixed32, field 12 bytes.
        let b = unhex(
            "4801510102030405060708 5d01020304 620100"
                .replace(' ', "")
                .as_str(),
        );
        assert_eq!(Message::decode(&b).unwrap(), Message::default());
    }
}
