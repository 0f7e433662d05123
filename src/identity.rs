//! The node's identity: a libp2p keypair (Ed25519, RSA, secp256k1 or ECDSA P-256)
//! and the peer ID derived from it.
//!
//! **What.** [`Identity::generate`] makes a new Ed25519 keypair and
//! [`Identity::generate_with`] one of any [`KeySpec`]; [`Identity::to_config`]
//! gives the `Identity` section of the config; [`Identity::from_config`] reads it
//! back and checks that the stored peer ID belongs to the stored key.
//!
//! **Spec.** libp2p peer IDs and keys
//! (<https://github.com/libp2p/specs/blob/master/peer-ids/peer-ids.md>):
//! `Identity.PrivKey` is the standard padded base64 of the protobuf `PrivateKey`
//! message (field 1 `Type`, field 2 `Data`), exactly what Kubo writes, so a Kubo
//! identity of any type can be moved over and back. `Data` per type:
//! Ed25519 = 32-byte secret ‖ 32-byte public; RSA = PKCS#1 `RSAPrivateKey` DER
//! (Kubo's default identity); secp256k1 = the 32-byte secret; ECDSA = the SEC1
//! `ECPrivateKey` DER. `Identity.PeerID` is the base58btc peer ID: the identity
//! multihash of the protobuf public key when that is at most 42 bytes (Ed25519
//! `12D3KooW…`, secp256k1 `16Uiu2…`), else its sha2-256 multihash (RSA and ECDSA,
//! `Qm…`).
//!
//! **Flow.** config text → length check ([`MAX_PRIV_KEY_BASE64_CHARS`]) → base64
//! decode → our own read of the two protobuf fields (truncation and unknown key
//! types are typed errors) → for RSA, the modulus size read from the PKCS#1 DER
//! and checked against [`RSA_MIN_BITS`]..=[`RSA_MAX_BITS`] → key decode
//! (libp2p-identity) → derive the peer ID → compare with `Identity.PeerID`.
//!
//! **Limits.** The base64 text is refused above [`MAX_PRIV_KEY_BASE64_CHARS`]
//! before decoding. RSA keys are [`RSA_MIN_BITS`] to [`RSA_MAX_BITS`] bits.
//!
//! **Departures.** Kubo accepts RSA identities up to 8192 bits; ours stop at
//! [`RSA_MAX_BITS`] = 4096, because ring, which signs our side of the handshake,
//! loads no larger RSA private keys. Peers' RSA keys up to 8192 bits are verified
//! as Kubo does. libp2p-identity cannot encode RSA private keys, so an RSA identity
//! keeps the protobuf bytes it was read from or generated as.

use std::fmt;

use acorn_storage::proto;
use base64ct::{Base64, Encoding};
use libp2p_identity::{KeyType, Keypair, PeerId};
use serde::{Deserialize, Serialize};

/// `Identity`: who this node is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentitySection {
    /// Base58 peer ID (`12D3KooW...` for Ed25519, `Qm...` for RSA and ECDSA,
    /// `16Uiu2...` for secp256k1).
    #[serde(rename = "PeerID")]
    pub peer_id: String,
    /// Base64 (standard, padded) of the libp2p protobuf-encoded private key.
    #[serde(rename = "PrivKey")]
    pub priv_key: String,
}

/// Longest `Identity.PrivKey` text we decode. An 8192-bit RSA key, the largest
/// Kubo makes, is 6 212 characters (4 653 bytes of PKCS#1 DER in the protobuf);
/// the limit leaves room for it, so that such a key gets the typed
/// [`IdentityError::RsaKeySize`] error rather than a length error. Ed25519 keys are
/// 92 characters, 2048-bit RSA keys about 1 600.
pub const MAX_PRIV_KEY_BASE64_CHARS: usize = 8192;

/// Smallest RSA identity we accept or make, in bits of modulus: smaller keys are
/// too weak (Kubo and libp2p refuse them too).
pub const RSA_MIN_BITS: usize = 2048;

/// Largest RSA identity we accept or make, in bits of modulus: ring, which signs
/// the noise handshake with it, loads no larger RSA private keys.
pub const RSA_MAX_BITS: usize = 4096;

/// The RSA size `acorn init -a rsa` makes without `--bits`, as Kubo.
pub const RSA_DEFAULT_BITS: usize = 2048;

/// The protobuf `KeyType` numbers (libp2p `crypto.proto`).
const TYPE_RSA: u64 = 0;
const TYPE_ED25519: u64 = 1;
const TYPE_SECP256K1: u64 = 2;
const TYPE_ECDSA: u64 = 3;

/// Errors reading or making an identity.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// `Identity.PrivKey` is longer than [`MAX_PRIV_KEY_BASE64_CHARS`].
    #[error("Identity.PrivKey is {len} characters, over the {limit} limit")]
    PrivKeyTooLong { len: usize, limit: usize },
    /// `Identity.PrivKey` is not standard base64.
    #[error("Identity.PrivKey is not valid base64")]
    Base64,
    /// The protobuf `PrivateKey` message ends early or is malformed.
    #[error("Identity.PrivKey is a truncated or malformed protobuf key: {0}")]
    Protobuf(&'static str),
    /// A key type number that libp2p does not define.
    #[error(
        "Identity.PrivKey has unknown key type {0} \
         (known: 0 RSA, 1 Ed25519, 2 secp256k1, 3 ECDSA)"
    )]
    UnknownKeyType(u64),
    /// An RSA key outside [`RSA_MIN_BITS`]..=[`RSA_MAX_BITS`].
    #[error("{bits}-bit RSA key refused: acorn's RSA keys are {min} to {max} bits")]
    RsaKeySize { bits: usize, min: usize, max: usize },
    /// The key bytes inside the protobuf do not decode as a key of its type.
    #[error("Identity.PrivKey is not a valid {key_type} private key: {reason}")]
    Decode { key_type: KeyType, reason: String },
    /// `Identity.PeerID` does not parse.
    #[error("Identity.PeerID {0:?} is not a valid peer ID")]
    BadPeerId(String),
    /// `Identity.PeerID` is not the peer ID of `Identity.PrivKey`.
    #[error("Identity.PeerID {stored} does not match the private key (its peer ID is {derived})")]
    Mismatch { stored: String, derived: String },
    /// The keypair could not be encoded (an RSA keypair made outside this module).
    #[error("encoding the private key: {0}")]
    Encode(String),
    /// Key generation failed (the OS random source, for RSA).
    #[error("generating the {spec} key: {reason}")]
    Generate { spec: KeySpec, reason: String },
}

/// A key algorithm and, for RSA, its size: what `acorn init -a … -b …` asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeySpec {
    Ed25519,
    Rsa { bits: usize },
    Secp256k1,
    Ecdsa,
}

impl KeySpec {
    /// The algorithm names `acorn init --algorithm` takes, as Kubo's.
    pub const NAMES: [&'static str; 4] = ["ed25519", "rsa", "secp256k1", "ecdsa"];

    /// Checks the RSA size against [`RSA_MIN_BITS`]..=[`RSA_MAX_BITS`].
    pub fn check(self) -> Result<KeySpec, IdentityError> {
        match self {
            KeySpec::Rsa { bits } if !(RSA_MIN_BITS..=RSA_MAX_BITS).contains(&bits) => {
                Err(IdentityError::RsaKeySize {
                    bits,
                    min: RSA_MIN_BITS,
                    max: RSA_MAX_BITS,
                })
            }
            spec => Ok(spec),
        }
    }
}

/// As Kubo's `ipfs init` names the key it makes: `2048-bit RSA`, `ED25519`.
impl fmt::Display for KeySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySpec::Ed25519 => f.write_str("ED25519"),
            KeySpec::Rsa { bits } => write!(f, "{bits}-bit RSA"),
            KeySpec::Secp256k1 => f.write_str("SECP256K1"),
            KeySpec::Ecdsa => f.write_str("ECDSA"),
        }
    }
}

/// A keypair and its peer ID.
#[derive(Clone, Debug)]
pub struct Identity {
    keypair: Keypair,
    peer_id: PeerId,
    /// The protobuf `PrivateKey` of an RSA identity, which libp2p-identity cannot
    /// encode back; `None` for the other types.
    rsa_protobuf: Option<Vec<u8>>,
}

impl Identity {
    /// A fresh Ed25519 identity from the OS random source.
    pub fn generate() -> Identity {
        Identity::from_keypair(Keypair::generate_ed25519())
    }

    /// A fresh identity of the given kind from the OS random source. RSA sizes
    /// outside [`RSA_MIN_BITS`]..=[`RSA_MAX_BITS`] are refused before any work.
    pub fn generate_with(spec: KeySpec) -> Result<Identity, IdentityError> {
        match spec.check()? {
            KeySpec::Ed25519 => Ok(Identity::generate()),
            KeySpec::Secp256k1 => Ok(Identity::from_keypair(Keypair::generate_secp256k1())),
            KeySpec::Ecdsa => Ok(Identity::from_keypair(Keypair::generate_ecdsa())),
            KeySpec::Rsa { bits } => {
                use rsa::pkcs1::EncodeRsaPrivateKey as _;
                let failed = |reason: String| IdentityError::Generate { spec, reason };
                let key = rsa::PrivateKey::new(&mut getrandom::SysRng, bits)
                    .map_err(|e| failed(e.to_string()))?;
                let der = key.to_pkcs1_der().map_err(|e| failed(e.to_string()))?;
                Identity::from_protobuf(&rsa_protobuf(der.as_bytes()))
            }
        }
    }

    /// Wrap an existing keypair. An RSA keypair wrapped this way cannot be written
    /// to the config ([`Identity::to_config`] gives [`IdentityError::Encode`]).
    pub fn from_keypair(keypair: Keypair) -> Identity {
        let peer_id = keypair.public().to_peer_id();
        Identity {
            keypair,
            peer_id,
            rsa_protobuf: None,
        }
    }

    /// The keypair (the swarm's identity).
    pub fn keypair(&self) -> &Keypair {
        &self.keypair
    }

    /// The peer ID (`12D3KooW…`, `Qm…`, `16Uiu2…`).
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// The public key as Kubo's `ipfs id` shows it: base64 (standard, padded) of
    /// the libp2p protobuf `PublicKey`.
    pub fn public_key_base64(&self) -> String {
        Base64::encode_string(&self.keypair.public().encode_protobuf())
    }

    /// The `Identity` config section: peer ID and base64 protobuf private key.
    pub fn to_config(&self) -> Result<IdentitySection, IdentityError> {
        let bytes = match &self.rsa_protobuf {
            Some(bytes) => bytes.clone(),
            None => self
                .keypair
                .to_protobuf_encoding()
                .map_err(|e| IdentityError::Encode(e.to_string()))?,
        };
        Ok(IdentitySection {
            peer_id: self.peer_id.to_base58(),
            priv_key: Base64::encode_string(&bytes),
        })
    }

    /// Read the `Identity` config section and check that its parts agree.
    pub fn from_config(section: &IdentitySection) -> Result<Identity, IdentityError> {
        let text = section.priv_key.trim();
        if text.len() > MAX_PRIV_KEY_BASE64_CHARS {
            return Err(IdentityError::PrivKeyTooLong {
                len: text.len(),
                limit: MAX_PRIV_KEY_BASE64_CHARS,
            });
        }
        let bytes = Base64::decode_vec(text).map_err(|_| IdentityError::Base64)?;
        let identity = Identity::from_protobuf(&bytes)?;
        let stored = acorn_net::peer::parse(&section.peer_id)
            .map_err(|_| IdentityError::BadPeerId(section.peer_id.clone()))?;
        if stored != identity.peer_id {
            return Err(IdentityError::Mismatch {
                stored: section.peer_id.clone(),
                derived: identity.peer_id.to_base58(),
            });
        }
        Ok(identity)
    }

    /// Decode a protobuf `PrivateKey` of any type, checking the RSA size first.
    fn from_protobuf(bytes: &[u8]) -> Result<Identity, IdentityError> {
        let (type_number, data) = split_private_key(bytes)?;
        let key_type = match type_number {
            TYPE_RSA => KeyType::RSA,
            TYPE_ED25519 => KeyType::Ed25519,
            TYPE_SECP256K1 => KeyType::Secp256k1,
            TYPE_ECDSA => KeyType::Ecdsa,
            n => return Err(IdentityError::UnknownKeyType(n)),
        };
        let is_rsa = type_number == TYPE_RSA;
        if is_rsa {
            let bits = rsa_modulus_bits(data)?;
            KeySpec::Rsa { bits }.check()?;
        }
        let keypair = Keypair::from_protobuf_encoding(bytes).map_err(|e| {
            let reason = match std::error::Error::source(&e) {
                Some(source) => format!("{e}: {source}"),
                None => e.to_string(),
            };
            IdentityError::Decode { key_type, reason }
        })?;
        let mut identity = Identity::from_keypair(keypair);
        if is_rsa {
            identity.rsa_protobuf = Some(bytes.to_vec());
        }
        Ok(identity)
    }
}

/// The two fields of a protobuf `PrivateKey` (`Type` varint, `Data` bytes), read
/// with bounds checks; `Data` borrows from `bytes`. Both fields are required.
fn split_private_key(bytes: &[u8]) -> Result<(u64, &[u8]), IdentityError> {
    let mut pos = 0;
    let (mut key_type, mut data) = (None, None);
    while pos < bytes.len() {
        let key =
            proto::read_key(bytes, &mut pos).map_err(|_| IdentityError::Protobuf("field tag"))?;
        match key {
            (1, proto::WIRE_VARINT) => {
                let v = proto::read_varint(bytes, &mut pos)
                    .map_err(|_| IdentityError::Protobuf("Type"))?;
                key_type = Some(v);
            }
            (2, proto::WIRE_LEN) => {
                let value = proto::read_bytes(bytes, &mut pos).map_err(|e| match e {
                    proto::Error::LengthExceeds { .. } => {
                        IdentityError::Protobuf("Data is shorter than its length")
                    }
                    _ => IdentityError::Protobuf("Data length"),
                })?;
                data = Some(value);
            }
            _ => return Err(IdentityError::Protobuf("unexpected field")),
        }
    }
    match (key_type, data) {
        (Some(t), Some(d)) => Ok((t, d)),
        (None, _) => Err(IdentityError::Protobuf("missing Type")),
        (_, None) => Err(IdentityError::Protobuf("missing Data")),
    }
}

/// The modulus size of a PKCS#1 `RSAPrivateKey` DER, in bits.
fn rsa_modulus_bits(der: &[u8]) -> Result<usize, IdentityError> {
    let key = rsa::pkcs1::RsaPrivateKeyRef::try_from(der).map_err(|e| IdentityError::Decode {
        key_type: KeyType::RSA,
        reason: format!("PKCS#1 RSAPrivateKey: {e}"),
    })?;
    // `as_bytes` strips leading zero bytes, so the first byte is the top one.
    let modulus = key.modulus.as_bytes();
    Ok(match modulus.first() {
        Some(&top) => modulus.len() * 8 - top.leading_zeros() as usize,
        None => 0,
    })
}

/// The protobuf `PrivateKey` of an RSA key: `Type = RSA`, `Data` = PKCS#1 DER.
fn rsa_protobuf(pkcs1_der: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(pkcs1_der.len() + 6);
    out.extend_from_slice(&[0x08, TYPE_RSA as u8, 0x12]);
    proto::write_varint(&mut out, pkcs1_der.len() as u64);
    out.extend_from_slice(pkcs1_der);
    out
}

/// The fuzz target of the private key decoder (`fuzz/`, built with `--cfg
/// fuzzing` only): a key that decodes writes back to a config section that reads
/// back to the same peer.
#[cfg(fuzzing)]
pub fn fuzz_private_key(bytes: &[u8]) {
    if let Ok(identity) = Identity::from_protobuf(bytes) {
        let section = identity.to_config().expect("a decoded key encodes");
        let again = Identity::from_config(&section).expect("a written identity reads back");
        assert_eq!(again.peer_id(), identity.peer_id());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixed() -> Identity {
        Identity::from_keypair(Keypair::ed25519_from_bytes([7u8; 32]).unwrap())
    }

    #[test]
    fn generated_identity_is_ed25519_peer_id() {
        let id = Identity::generate();
        let section = id.to_config().unwrap();
        assert!(
            section.peer_id.starts_with("12D3KooW"),
            "{}",
            section.peer_id
        );
        assert_eq!(section.peer_id.len(), 52);
        // protobuf: field 1 varint Ed25519(1), field 2 bytes len 64 → base64 "CAESQ".
        assert!(
            section.priv_key.starts_with("CAESQ"),
            "{}",
            section.priv_key
        );
        let back = Identity::from_config(&section).unwrap();
        assert_eq!(back.peer_id(), id.peer_id());
    }

    #[test]
    fn protobuf_layout_is_kubos() {
        let section = fixed().to_config().unwrap();
        let bytes = Base64::decode_vec(&section.priv_key).unwrap();
        assert_eq!(bytes.len(), 68);
        assert_eq!(&bytes[..4], &[0x08, 0x01, 0x12, 0x40]);
        assert_eq!(&bytes[4..36], &[7u8; 32]);
        // The second half is the public key; the peer ID embeds it (identity multihash
        // of the protobuf public key: 0x00 0x24 0x08 0x01 0x12 0x20 || pubkey).
        let peer = section.peer_id.parse::<PeerId>().unwrap().to_bytes();
        assert_eq!(&peer[..6], &[0x00, 0x24, 0x08, 0x01, 0x12, 0x20]);
        assert_eq!(&peer[6..], &bytes[36..]);
    }

    #[test]
    fn mismatched_peer_id_refused() {
        let mut section = fixed().to_config().unwrap();
        section.peer_id = Identity::generate().peer_id().to_base58();
        assert!(matches!(
            Identity::from_config(&section),
            Err(IdentityError::Mismatch { .. })
        ));
    }

    #[test]
    fn bad_inputs_refused() {
        let good = fixed().to_config().unwrap();
        let with_key = |k: &str| IdentitySection {
            peer_id: good.peer_id.clone(),
            priv_key: k.to_owned(),
        };
        assert!(matches!(
            Identity::from_config(&with_key("not base64!")),
            Err(IdentityError::Base64)
        ));
        // 0x00 0x00 0x00: field 0 is not a PrivateKey field.
        assert!(matches!(
            Identity::from_config(&with_key("AAAA")),
            Err(IdentityError::Protobuf(_))
        ));
        let long = "A".repeat(MAX_PRIV_KEY_BASE64_CHARS + 4);
        assert!(matches!(
            Identity::from_config(&with_key(&long)),
            Err(IdentityError::PrivKeyTooLong { .. })
        ));
        let bad_peer = IdentitySection {
            peer_id: "nope".into(),
            priv_key: good.priv_key.clone(),
        };
        assert!(matches!(
            Identity::from_config(&bad_peer),
            Err(IdentityError::BadPeerId(_))
        ));
    }

    /// RSA private keys in PKCS#1 DER, made with `openssl genrsa -traditional N`.
    const RSA_1024: &[u8] = include_bytes!("../tests/data/rsa-1024.der");
    const RSA_2048: &[u8] = include_bytes!("../tests/data/rsa-2048.der");
    const RSA_8192: &[u8] = include_bytes!("../tests/data/rsa-8192.der");
    /// The peer ID of `RSA_2048`, computed apart from libp2p: base58btc of the
    /// sha2-256 multihash of the protobuf `PublicKey` {RSA, SubjectPublicKeyInfo DER
    /// from `openssl rsa -pubout -outform DER`}.
    const RSA_2048_PEER_ID: &str = "Qmcw3wwYCw3YakYgy2BfjUco97moch3E537SRuairho5YB";

    fn section_of(protobuf: &[u8], peer_id: &str) -> IdentitySection {
        IdentitySection {
            peer_id: peer_id.to_owned(),
            priv_key: Base64::encode_string(protobuf),
        }
    }

    #[test]
    fn kubo_rsa_identity_loads_and_writes_back_unchanged() {
        let section = section_of(&rsa_protobuf(RSA_2048), RSA_2048_PEER_ID);
        // As Kubo writes them: Type 0, Data length 0x04a6 → "CAASpgkw…".
        assert!(
            section.priv_key.starts_with("CAASpgkw"),
            "{}",
            section.priv_key
        );
        let id = Identity::from_config(&section).unwrap();
        assert_eq!(id.peer_id().to_base58(), RSA_2048_PEER_ID);
        assert_eq!(id.keypair().key_type(), KeyType::RSA);
        let back = id.to_config().unwrap();
        assert_eq!(back.priv_key, section.priv_key);
        assert_eq!(back.peer_id, RSA_2048_PEER_ID);
        // The public key as `id` shows it: protobuf {Type RSA, Data SPKI DER}.
        let public = Base64::decode_vec(&id.public_key_base64()).unwrap();
        assert_eq!(&public[..3], &[0x08, 0x00, 0x12]);
    }

    #[test]
    fn every_key_type_round_trips_through_config() {
        for (spec, prefix, key_type) in [
            (KeySpec::Ed25519, "12D3KooW", KeyType::Ed25519),
            (KeySpec::Secp256k1, "16Uiu2", KeyType::Secp256k1),
            (KeySpec::Ecdsa, "Qm", KeyType::Ecdsa),
            (KeySpec::Rsa { bits: 2048 }, "Qm", KeyType::RSA),
        ] {
            let id = Identity::generate_with(spec).unwrap();
            assert_eq!(id.keypair().key_type(), key_type, "{spec}");
            let section = id.to_config().unwrap();
            assert!(
                section.peer_id.starts_with(prefix),
                "{spec}: {}",
                section.peer_id
            );
            let back = Identity::from_config(&section).unwrap();
            assert_eq!(back.peer_id(), id.peer_id(), "{spec}");
            assert_eq!(
                back.to_config().unwrap().priv_key,
                section.priv_key,
                "{spec}"
            );
            assert_eq!(back.public_key_base64(), id.public_key_base64(), "{spec}");
        }
    }

    #[test]
    fn generated_rsa_key_has_the_asked_size() {
        let id = Identity::generate_with(KeySpec::Rsa { bits: 2048 }).unwrap();
        let bytes = Base64::decode_vec(&id.to_config().unwrap().priv_key).unwrap();
        let (t, data) = split_private_key(&bytes).unwrap();
        assert_eq!(t, TYPE_RSA);
        assert_eq!(rsa_modulus_bits(data).unwrap(), 2048);
    }

    #[test]
    fn rsa_sizes_out_of_range_are_refused() {
        for (der, bits) in [(RSA_1024, 1024), (RSA_8192, 8192)] {
            let section = section_of(&rsa_protobuf(der), RSA_2048_PEER_ID);
            // The largest Kubo key fits the length limit, so it gets the size error.
            assert!(section.priv_key.len() <= MAX_PRIV_KEY_BASE64_CHARS);
            match Identity::from_config(&section) {
                Err(IdentityError::RsaKeySize { bits: b, min, max }) => {
                    assert_eq!((b, min, max), (bits, RSA_MIN_BITS, RSA_MAX_BITS));
                }
                other => panic!("{bits}: {other:?}"),
            }
        }
        // Over 8192 bits: a PKCS#1 structure whose modulus is 8200 bits (the other
        // integers do not matter, the size is checked first).
        let mut modulus = vec![0x00, 0xff];
        modulus.extend(std::iter::repeat_n(0xab, 1024));
        let mut body = vec![0x02, 0x01, 0x00, 0x02, 0x82];
        body.extend_from_slice(&(modulus.len() as u16).to_be_bytes());
        body.extend_from_slice(&modulus);
        for _ in 0..7 {
            body.extend_from_slice(&[0x02, 0x01, 0x03]);
        }
        let mut der = vec![0x30, 0x82];
        der.extend_from_slice(&(body.len() as u16).to_be_bytes());
        der.extend_from_slice(&body);
        assert!(matches!(
            Identity::from_config(&section_of(&rsa_protobuf(&der), RSA_2048_PEER_ID)),
            Err(IdentityError::RsaKeySize { bits: 8200, .. })
        ));
        for bits in [1024, 4097, 8192, 16384] {
            assert!(matches!(
                Identity::generate_with(KeySpec::Rsa { bits }),
                Err(IdentityError::RsaKeySize { bits: b, .. }) if b == bits
            ));
        }
        assert!(KeySpec::Rsa { bits: RSA_MAX_BITS }.check().is_ok());
    }

    #[test]
    fn truncated_and_unknown_keys_are_refused() {
        let whole = rsa_protobuf(RSA_2048);
        for cut in [1, 2, 3, 4, 100, whole.len() - 1] {
            let section = section_of(&whole[..cut], RSA_2048_PEER_ID);
            assert!(
                matches!(
                    Identity::from_config(&section),
                    Err(IdentityError::Protobuf(_))
                ),
                "cut at {cut}"
            );
        }
        let ed = Base64::decode_vec(&fixed().to_config().unwrap().priv_key).unwrap();
        for cut in 1..ed.len() {
            assert!(
                matches!(
                    Identity::from_protobuf(&ed[..cut]),
                    Err(IdentityError::Protobuf(_))
                ),
                "cut at {cut}"
            );
        }
        // An Ed25519 key whose Data is short of 64 bytes: a typed Ed25519 error.
        assert!(matches!(
            Identity::from_protobuf(&[0x08, 0x01, 0x12, 0x02, 0x01, 0x02]),
            Err(IdentityError::Decode {
                key_type: KeyType::Ed25519,
                ..
            })
        ));
        // PKCS#1 bytes that are not DER.
        assert!(matches!(
            Identity::from_protobuf(&rsa_protobuf(&[0x30, 0x03, 0x02, 0x01])),
            Err(IdentityError::Decode {
                key_type: KeyType::RSA,
                ..
            })
        ));
        // Key type 7 does not exist.
        let mut unknown = ed.clone();
        unknown[1] = 0x07;
        let err = Identity::from_protobuf(&unknown).unwrap_err();
        assert!(matches!(err, IdentityError::UnknownKeyType(7)), "{err:?}");
        assert!(err.to_string().contains("unknown key type 7"), "{err}");
    }

    #[test]
    fn key_spec_names_as_kubo_prints_them() {
        assert_eq!(KeySpec::Rsa { bits: 2048 }.to_string(), "2048-bit RSA");
        assert_eq!(KeySpec::Ed25519.to_string(), "ED25519");
    }
}
