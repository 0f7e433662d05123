//! CIDs: parsing, formatting, hashing, and the codes Acorn knows.
//!
//! Spec: multiformats CID (v0 = bare base58btc sha2-256 multihash, implied dag-pb;
//! v1 = `<multibase><version><codec><multihash>`). Acorn computes sha2-256 only but
//! accepts any multihash code when *storing* blocks whose hash it can verify; the
//! identity multihash (0x00) is accepted for reading (its digest is the data).

use cid::multihash::Multihash;
use cid::Cid;
use sha2::{Digest, Sha256};

/// Multicodec: raw binary.
pub const RAW: u64 = 0x55;
/// Multicodec: dag-pb (protobuf, UnixFS).
pub const DAG_PB: u64 = 0x70;
/// Multicodec: dag-cbor.
pub const DAG_CBOR: u64 = 0x71;
/// Multicodec: dag-json.
pub const DAG_JSON: u64 = 0x0129;
/// Multicodec: libp2p-key (peer IDs as CIDs).
pub const LIBP2P_KEY: u64 = 0x72;

/// Multihash: identity (digest is the data).
pub const IDENTITY: u64 = 0x00;
/// Multihash: sha2-256.
pub const SHA2_256: u64 = 0x12;

/// Errors of CID and codec-name parsing.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CidError {
    /// Text or bytes that are not a CID.
    #[error("invalid CID {input:?}: {reason}")]
    Invalid {
        /// The input as given.
        input: String,
        /// The cid crate's message.
        reason: String,
    },
    /// A codec name other than those we know.
    #[error("unknown codec {0:?} (known: raw, dag-pb, dag-cbor, dag-json)")]
    UnknownCodec(String),
    /// A multihash function we do not hash with.
    #[error("unsupported hash function 0x{0:x} (only sha2-256 and identity)")]
    UnsupportedHash(u64),
}

/// Parses a CID string (v0 `Qm…` or v1 in any multibase the `cid` crate knows).
pub fn parse(s: &str) -> Result<Cid, CidError> {
    Cid::try_from(s).map_err(|e| CidError::Invalid {
        input: s.to_string(),
        reason: e.to_string(),
    })
}

/// sha2-256 multihash of `data`.
pub fn sha256_multihash(data: &[u8]) -> Multihash<64> {
    let digest = Sha256::digest(data);
    // A 32-byte digest always fits the 64-byte multihash: cannot fail.
    Multihash::wrap(SHA2_256, &digest).expect("32-byte digest fits")
}

/// The CID of `data` under `codec`: CIDv0 when `version == 0` (only valid for dag-pb),
/// else CIDv1; sha2-256.
pub fn cid_of(version: u8, codec: u64, data: &[u8]) -> Cid {
    let mh = sha256_multihash(data);
    if version == 0 && codec == DAG_PB {
        // v0 + dag-pb + sha2-256 is always a valid CIDv0.
        Cid::new_v0(mh).expect("sha2-256 multihash is a valid v0")
    } else {
        Cid::new_v1(codec, mh)
    }
}

/// Checks that `data` hashes to `cid`'s multihash. Returns `Err` with the hash code
/// if the hash function is one we cannot compute.
pub fn verify(cid: &Cid, data: &[u8]) -> Result<bool, CidError> {
    let mh = cid.hash();
    match mh.code() {
        SHA2_256 => Ok(Sha256::digest(data).as_slice() == mh.digest()),
        IDENTITY => Ok(mh.digest() == data),
        other => Err(CidError::UnsupportedHash(other)),
    }
}

/// Codec name → multicodec code.
pub fn codec_from_name(name: &str) -> Result<u64, CidError> {
    match name {
        "raw" => Ok(RAW),
        "dag-pb" | "protobuf" => Ok(DAG_PB),
        "dag-cbor" | "cbor" => Ok(DAG_CBOR),
        "dag-json" | "json" => Ok(DAG_JSON),
        other => Err(CidError::UnknownCodec(other.to_string())),
    }
}

/// Multicodec code → name (`None` for codes Acorn does not decode).
pub fn codec_name(code: u64) -> Option<&'static str> {
    match code {
        RAW => Some("raw"),
        DAG_PB => Some("dag-pb"),
        DAG_CBOR => Some("dag-cbor"),
        DAG_JSON => Some("dag-json"),
        LIBP2P_KEY => Some("libp2p-key"),
        _ => None,
    }
}

/// A CID in the CIDv1 raw form that Kubo uses for multihash-keyed listings
/// (`refs local`): `bafkrei…`.
pub fn raw_v1_of_multihash(mh: &Multihash<64>) -> Cid {
    Cid::new_v1(RAW, *mh)
}

/// Formats as Kubo does: CIDv0 in base58btc, CIDv1 in base32 lower.
pub fn to_string(cid: &Cid) -> String {
    cid.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_hello_world_leaf() {
        // dag-pb leaf of "hello world\n" as Kubo builds it (Data{Type:File,Data,filesize}).
        let c = parse("QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o").unwrap();
        assert_eq!(c.version(), cid::Version::V0);
        assert_eq!(c.codec(), DAG_PB);
    }

    #[test]
    fn v1_raw_round_trip() {
        let c = cid_of(1, RAW, b"abc");
        let s = to_string(&c);
        assert!(s.starts_with("bafkrei"), "{s}");
        assert_eq!(parse(&s).unwrap(), c);
        assert!(verify(&c, b"abc").unwrap());
        assert!(!verify(&c, b"abd").unwrap());
    }

    #[test]
    fn bad_cid_is_an_error() {
        assert!(parse("Qmnotacid").is_err());
        assert!(parse("").is_err());
    }

    #[test]
    fn codec_names() {
        assert_eq!(codec_from_name("dag-cbor").unwrap(), DAG_CBOR);
        assert!(codec_from_name("dag-xml").is_err());
    }
}
