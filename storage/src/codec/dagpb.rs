//! DAG-PB: the protobuf node format of UnixFS.
//!
//! Spec: ipld/specs `block-layer/codecs/dag-pb.md`. Schema:
//! `PBNode { Links: [PBLink] (field 2), Data: optional bytes (field 1) }`,
//! `PBLink { Hash: CID bytes (1), Name: optional string (2), Tsize: optional uint64 (3) }`.
//!
//! Strict as go-codec-dagpb: the encoded form puts all Links before Data; decoding
//! rejects unknown fields, wrong wire types, a Data field followed by more Links,
//! duplicate Data, a link without a Hash, and trailing garbage. Varints are at most
//! 10 bytes and lengths are checked against the remaining input before any
//! allocation. Encoding writes fields in canonical order and does not re-sort links:
//! builders pass them in the order they want (UnixFS directories sort by name);
//! [`PbNode::from_ipld`] rejects unsorted links as the spec says.

use super::error::{CodecError, DagPbError as DecodeError};
use super::model::Ipld;
use crate::proto::{
    read_bytes, read_varint, varint_len, write_bytes_field, write_varint, write_varint_field,
};
use cid::Cid;
use std::collections::BTreeMap;

const CODEC: &str = "dag-pb";

/// One link of a dag-pb node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PbLink {
    /// The target's CID.
    pub hash: Cid,
    /// The link's name (`None`: no Name field; `Some("")`: an empty one).
    pub name: Option<String>,
    /// Cumulative size of the target's DAG, in bytes, if given.
    pub tsize: Option<u64>,
}

/// A dag-pb node.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PbNode {
    /// Links, in the order written.
    pub links: Vec<PbLink>,
    /// The Data field (for UnixFS: an encoded `Data` message).
    pub data: Option<Vec<u8>>,
}

impl PbLink {
    fn encoded_len(&self) -> usize {
        let h = self.hash.encoded_len();
        let mut n = 1 + varint_len(h as u64) + h;
        if let Some(name) = &self.name {
            n += 1 + varint_len(name.len() as u64) + name.len();
        }
        if let Some(t) = self.tsize {
            n += 1 + varint_len(t);
        }
        n
    }

    fn encode_into(&self, out: &mut Vec<u8>) {
        write_bytes_field(out, 1, &self.hash.to_bytes());
        if let Some(name) = &self.name {
            write_bytes_field(out, 2, name.as_bytes());
        }
        if let Some(t) = self.tsize {
            write_varint_field(out, 3, t);
        }
    }

    fn decode(buf: &[u8]) -> Result<PbLink, DecodeError> {
        let mut pos = 0;
        let mut hash = None;
        let mut name = None;
        let mut tsize = None;
        let mut last_field = 0u64;
        while pos < buf.len() {
            let key = read_varint(buf, &mut pos)?;
            let (field, wire) = (key >> 3, key & 7);
            if field <= last_field {
                return Err(DecodeError::LinkFieldOrder { field });
            }
            last_field = field;
            match (field, wire) {
                (1, 2) => {
                    let b = read_bytes(buf, &mut pos)?;
                    let c = Cid::try_from(b).map_err(|e| DecodeError::BadHash {
                        reason: e.to_string(),
                    })?;
                    // The cid crate ignores trailing bytes: refuse them, so that a
                    // decoded node always re-encodes to the same bytes.
                    if c.encoded_len() != b.len() {
                        return Err(DecodeError::HashTrailingBytes);
                    }
                    hash = Some(c);
                }
                (2, 2) => {
                    let b = read_bytes(buf, &mut pos)?;
                    let s = std::str::from_utf8(b).map_err(|_| DecodeError::NameNotUtf8)?;
                    name = Some(s.to_string());
                }
                (3, 0) => tsize = Some(read_varint(buf, &mut pos)?),
                (field, wire) => return Err(DecodeError::UnexpectedLinkField { field, wire }),
            }
        }
        let hash = hash.ok_or(DecodeError::MissingHash)?;
        Ok(PbLink { hash, name, tsize })
    }
}

impl PbNode {
    /// A node linking to `links` in order, each with an empty name and no Tsize
    /// (the shape of internal nodes in tests and generic DAGs).
    pub fn with_links(links: &[Cid], data: Option<Vec<u8>>) -> PbNode {
        let links = links
            .iter()
            .map(|c| PbLink {
                hash: *c,
                name: Some(String::new()),
                tsize: None,
            })
            .collect();
        PbNode { links, data }
    }

    /// Decodes and validates a dag-pb block.
    pub fn decode(buf: &[u8]) -> Result<PbNode, CodecError> {
        Self::decode_inner(buf).map_err(|r| CodecError::malformed(CODEC, r))
    }

    fn decode_inner(buf: &[u8]) -> Result<PbNode, DecodeError> {
        let mut pos = 0;
        let mut node = PbNode::default();
        while pos < buf.len() {
            let key = read_varint(buf, &mut pos)?;
            let (field, wire) = (key >> 3, key & 7);
            match (field, wire) {
                (2, 2) => {
                    if node.data.is_some() {
                        return Err(DecodeError::LinksAfterData);
                    }
                    let b = read_bytes(buf, &mut pos)?;
                    node.links.push(PbLink::decode(b)?);
                }
                (1, 2) => {
                    if node.data.is_some() {
                        return Err(DecodeError::DuplicateData);
                    }
                    node.data = Some(read_bytes(buf, &mut pos)?.to_vec());
                }
                (field, wire) => return Err(DecodeError::UnexpectedNodeField { field, wire }),
            }
        }
        Ok(node)
    }

    /// Exact size of [`PbNode::encode`]'s output.
    pub fn encoded_len(&self) -> usize {
        let mut n = 0;
        for l in &self.links {
            let ll = l.encoded_len();
            n += 1 + varint_len(ll as u64) + ll;
        }
        if let Some(d) = &self.data {
            n += 1 + varint_len(d.len() as u64) + d.len();
        }
        n
    }

    /// Encodes in canonical field order (Links, then Data).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        for l in &self.links {
            write_varint(&mut out, 2 << 3 | 2);
            write_varint(&mut out, l.encoded_len() as u64);
            l.encode_into(&mut out);
        }
        if let Some(d) = &self.data {
            write_bytes_field(&mut out, 1, d);
        }
        out
    }

    /// The data-model form: `{"Data": bytes?, "Links": [{"Hash", "Name"?, "Tsize"?}]}`.
    pub fn to_ipld(&self) -> Ipld {
        let mut m = BTreeMap::new();
        if let Some(d) = &self.data {
            m.insert("Data".to_string(), Ipld::Bytes(d.clone()));
        }
        let links = self
            .links
            .iter()
            .map(|l| {
                let mut lm = BTreeMap::new();
                lm.insert("Hash".to_string(), Ipld::Link(l.hash));
                if let Some(n) = &l.name {
                    lm.insert("Name".to_string(), Ipld::String(n.clone()));
                }
                if let Some(t) = l.tsize {
                    lm.insert("Tsize".to_string(), Ipld::Integer(i128::from(t)));
                }
                Ipld::Map(lm)
            })
            .collect();
        m.insert("Links".to_string(), Ipld::List(links));
        Ipld::Map(m)
    }

    /// Builds a node from its data-model form, with the spec's checks.
    pub fn from_ipld(v: &Ipld) -> Result<PbNode, CodecError> {
        let bad = |r: &str| CodecError::unencodable(CODEC, format!("Invalid DAG-PB form ({r})"));
        let Ipld::Map(m) = v else {
            return Err(bad("not a map"));
        };
        if m.keys().any(|k| k != "Data" && k != "Links") {
            return Err(bad("extraneous properties"));
        }
        let data = match m.get("Data") {
            None => None,
            Some(Ipld::Bytes(b)) => Some(b.clone()),
            Some(_) => return Err(bad("Data must be bytes")),
        };
        let Some(Ipld::List(list)) = m.get("Links") else {
            return Err(bad("Links must be a list"));
        };
        let mut links = Vec::with_capacity(list.len());
        for l in list {
            let Ipld::Map(lm) = l else {
                return Err(bad("bad link"));
            };
            if lm
                .keys()
                .any(|k| k != "Hash" && k != "Name" && k != "Tsize")
            {
                return Err(bad("extraneous properties on link"));
            }
            let hash = match lm.get("Hash") {
                None => return Err(bad("link must have a Hash")),
                Some(Ipld::Link(c)) => *c,
                Some(_) => return Err(bad("link Hash must be a CID")),
            };
            let name = match lm.get("Name") {
                None => None,
                Some(Ipld::String(s)) => Some(s.clone()),
                Some(_) => return Err(bad("link Name must be a string")),
            };
            let tsize = match lm.get("Tsize") {
                None => None,
                Some(Ipld::Integer(i)) if *i < 0 => {
                    return Err(bad("link Tsize cannot be negative"))
                }
                Some(Ipld::Integer(i)) => {
                    Some(u64::try_from(*i).map_err(|_| bad("link Tsize too large"))?)
                }
                Some(_) => return Err(bad("link Tsize must be an integer")),
            };
            links.push(PbLink { hash, name, tsize });
        }
        let key = |l: &PbLink| l.name.as_deref().unwrap_or("").as_bytes().to_vec();
        if links.windows(2).any(|w| key(&w[0]) > key(&w[1])) {
            return Err(bad("links must be sorted by Name bytes"));
        }
        Ok(PbNode { links, data })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The typed reasons print as the text the decoder always gave.
    #[test]
    fn error_messages_name_the_rule() {
        let msg = |b: &[u8]| PbNode::decode(b).unwrap_err().to_string();
        // Data (field 1) twice.
        assert_eq!(
            msg(&[0x0a, 0x00, 0x0a, 0x00]),
            "malformed dag-pb: duplicate Data field"
        );
        // Field 3 as a varint.
        assert_eq!(
            msg(&[0x18, 0x01]),
            "malformed dag-pb: unexpected field 3 with wire type 0 in node"
        );
        // A link (field 2) with no Hash.
        assert_eq!(
            msg(&[0x12, 0x00]),
            "malformed dag-pb: invalid Hash field found in link, expected CID"
        );
        // A length past the end.
        assert_eq!(
            msg(&[0x0a, 0x05, 0x00]),
            "malformed dag-pb: length 5 exceeds the 1 bytes left"
        );
    }

    fn hex(s: &str) -> Vec<u8> {
        crate::util::hex::decode(s).unwrap_or_else(|| panic!("bad hex {s}"))
    }

    #[test]
    fn empty_node_round_trip() {
        let n = PbNode::decode(&[]).unwrap();
        assert_eq!(n, PbNode::default());
        assert!(n.encode().is_empty());
    }

    #[test]
    fn empty_dir_is_well_known() {
        // UnixFS Data{Type: Directory} = 08 01, wrapped as field 1.
        let n = PbNode {
            links: vec![],
            data: Some(vec![0x08, 0x01]),
        };
        let c = crate::cids::cid_of(0, crate::cids::DAG_PB, &n.encode());
        assert_eq!(
            c.to_string(),
            "QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn"
        );
    }

    #[test]
    fn negative_edges() {
        for h in [
            "1200",
            "12000a050001020304",
            "12020a00",
            "12021200",
            "12021800",
            "0a01000a0100",
            "1a00",
            "12",
        ] {
            assert!(PbNode::decode(&hex(h)).is_err(), "{h} must be rejected");
        }
    }

    #[test]
    fn link_hash_with_trailing_bytes_is_refused() {
        let c = crate::cids::cid_of(1, crate::cids::RAW, b"x");
        let mut h = c.to_bytes();
        h.push(0);
        let mut link = Vec::new();
        write_bytes_field(&mut link, 1, &h);
        let mut node = Vec::new();
        write_bytes_field(&mut node, 2, &link);
        assert!(PbNode::decode(&node).is_err());
    }

    #[test]
    fn link_round_trip_and_len() {
        let c = crate::cids::cid_of(0, crate::cids::DAG_PB, b"x");
        let n = PbNode {
            links: vec![
                PbLink {
                    hash: c,
                    name: Some("a".into()),
                    tsize: Some(300),
                },
                PbLink {
                    hash: c,
                    name: None,
                    tsize: None,
                },
            ],
            data: Some(vec![1, 2, 3]),
        };
        let b = n.encode();
        assert_eq!(b.len(), n.encoded_len());
        assert_eq!(PbNode::decode(&b).unwrap(), n);
    }
}
