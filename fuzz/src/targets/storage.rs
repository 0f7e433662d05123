//! `acorn-storage`'s decoders: CIDs, the IPLD codecs, UnixFS, HAMT shards, CAR.

use std::io;

use acorn_storage::block::MemStore;
use acorn_storage::car::CarReader;
use acorn_storage::cids;
use acorn_storage::codec::dagpb::{PbLink, PbNode};
use acorn_storage::codec::{dagcbor, dagjson};
use acorn_storage::unixfs::exporter;
use acorn_storage::unixfs::pb::Data;
use cid::Cid;

use super::pieces;

/// CID strings (as `cat`, `dag get`, the gateway's paths take them) and CID
/// bytes (as blocks and CARs carry them): a parsed CID prints back to a string
/// that parses to the same CID, and its bytes read back to it.
pub fn cid(data: &[u8]) {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(c) = cids::parse(s) {
            let back = cids::parse(&cids::to_string(&c)).expect("a printed CID parses");
            assert_eq!(back, c);
            assert_eq!(Cid::try_from(c.to_bytes()).expect("CID bytes parse"), c);
        }
    }
    if let Ok(c) = Cid::read_bytes(io::Cursor::new(data)) {
        assert_eq!(
            Cid::read_bytes(&c.to_bytes()[..]).expect("CID bytes parse"),
            c
        );
    }
}

/// dag-pb: what decodes encodes to a canonical form that decodes to the same node.
pub fn dagpb(data: &[u8]) {
    let Ok(node) = PbNode::decode(data) else {
        return;
    };
    let bytes = node.encode();
    assert_eq!(bytes.len(), node.encoded_len());
    let again = PbNode::decode(&bytes).expect("an encoded node decodes");
    assert_eq!(again, node);
    // Readers take varints that are not minimal (as go-codec-dagpb does), which
    // is all the input may have beyond the canonical form: never shorter.
    assert!(
        bytes.len() <= data.len(),
        "canonical form longer than the input"
    );
    assert_eq!(
        PbNode::decode(&bytes).map(|n| n.encode()),
        Ok(bytes.clone())
    );
    // The IPLD view (what `dag get` shows, `dag put` takes) round-trips too when
    // the links are sorted by name: decoding keeps any order, as the spec asks of
    // readers, while the IPLD form refuses unsorted links, as it asks of writers.
    let name = |l: &PbLink| l.name.clone().unwrap_or_default().into_bytes();
    if node.links.windows(2).all(|w| name(&w[0]) <= name(&w[1])) {
        let ipld = node.to_ipld();
        assert_eq!(
            PbNode::from_ipld(&ipld).expect("a node's IPLD form converts"),
            node
        );
    }
}

/// dag-cbor is strict (canonical only): what decodes encodes back to the same
/// bytes.
pub fn dagcbor(data: &[u8]) {
    let Ok(v) = dagcbor::decode(data) else {
        return;
    };
    let bytes = dagcbor::encode(&v).expect("a decoded value encodes");
    assert_eq!(
        dagcbor::decode(&bytes).expect("an encoded value decodes"),
        v
    );
    assert_eq!(bytes, data, "dag-cbor decoded from non-canonical bytes");
}

/// dag-json: decode → encode → decode gives the same value, and the encoding of
/// that value is stable (encode is canonical, the input may not be).
pub fn dagjson(data: &[u8]) {
    let Ok(v) = dagjson::decode(data) else {
        return;
    };
    let bytes = dagjson::encode(&v).expect("a decoded value encodes");
    let again = dagjson::decode(&bytes).expect("an encoded value decodes");
    assert_eq!(again, v);
    assert_eq!(dagjson::encode(&again).expect("encodes"), bytes);
}

/// UnixFS `Data` messages: decode → encode → decode gives the same value.
pub fn unixfs(data: &[u8]) {
    let Ok(d) = Data::decode(data) else {
        return;
    };
    let bytes = d.encode();
    assert_eq!(Data::decode(&bytes).expect("an encoded Data decodes"), d);
}

/// A DAG of untrusted dag-pb blocks (pieces of the input, each stored under its
/// own CIDv1), read from the first as the exporter reads a directory or file a
/// peer sent: HAMT shards, directories, files. Listing, path resolution and
/// `cat` must end with a value or an error, and `cat` writes no more than the
/// size the file claims.
pub fn hamt(data: &[u8]) {
    let mut store = MemStore::new();
    let mut root = None;
    for piece in pieces(data) {
        let cid = cids::cid_of(1, cids::DAG_PB, piece);
        store.insert(&cid, piece.to_vec());
        root.get_or_insert(cid);
    }
    let Some(root) = root else {
        return;
    };
    if let Ok(entries) = exporter::ls(&store, &root) {
        for e in entries.iter().take(8) {
            let unique = entries.iter().filter(|o| o.name == e.name).count() == 1;
            if let Ok(found) = exporter::resolve_path(&store, &root, &e.name) {
                if unique && !e.name.contains('/') && !e.name.is_empty() {
                    assert_eq!(
                        found, e.cid,
                        "ls and path resolution disagree on {:?}",
                        e.name
                    );
                }
            }
        }
    }
    let size = exporter::file_size(&store, &root);
    let mut out = Vec::new();
    if let Ok(n) = exporter::cat(&store, &root, 0, None, &mut out) {
        assert_eq!(n, out.len() as u64);
        if let Ok(Some(size)) = size {
            assert_eq!(n, size, "cat wrote other than the file's size");
        }
    }
}

/// CAR v1 (v2 is refused with an error): the header and every section; a block
/// read matches its CID.
pub fn car(data: &[u8]) {
    let Ok(mut reader) = CarReader::new(data) else {
        return;
    };
    let _ = reader.roots().len();
    let mut total = 0usize;
    while let Ok(Some((cid, block))) = reader.next_block() {
        total += block.len();
        assert!(total <= data.len());
        assert!(cids::verify(&cid, &block).unwrap_or(false));
    }
}
