//! The node's identity: an Ed25519 keypair and the peer ID derived from it.
//!
//! **What.** [`Identity::generate`] makes a new keypair; [`Identity::to_config`]
//! gives the `Identity` section of the config; [`Identity::from_config`] reads it
//! back and checks that the stored peer ID belongs to the stored key.
//!
//! **Spec.** libp2p peer IDs and keys
//! (<https://github.com/libp2p/specs/blob/master/peer-ids/peer-ids.md>):
//! `Identity.PrivKey` is the standard padded base64 of the protobuf `PrivateKey`
//! message (`Type = Ed25519`, `Data` = 32-byte secret ‖ 32-byte public), exactly
//! what Kubo writes, so a Kubo Ed25519 identity can be moved over and back.
//! `Identity.PeerID` is the base58btc identity-multihash peer ID (`12D3KooW...`).
//!
//! **Flow.** config text → length check ([`MAX_PRIV_KEY_BASE64_CHARS`]) → base64
//! decode → protobuf decode (libp2p-identity) → key type check → derive the peer ID
//! → compare with `Identity.PeerID`.
//!
//! **Limits.** The base64 text is refused above [`MAX_PRIV_KEY_BASE64_CHARS`]
//! before decoding.
//!
//! **Departures.** Only Ed25519 keys: Kubo's older RSA identities are refused with
//! a clear error (generate a new identity, or convert it with Kubo's
//! `ipfs key rotate -t ed25519` first).

use std::str::FromStr;

use base64ct::{Base64, Encoding};
use libp2p_identity::{KeyType, Keypair, PeerId};

use crate::config::IdentitySection;

/// Longest `Identity.PrivKey` text we decode. An Ed25519 key is 92 characters;
/// this leaves room for the 2048-bit RSA keys of old Kubo configs (≈1.6 KiB), so
/// that they get the "unsupported key type" error rather than a length error.
pub const MAX_PRIV_KEY_BASE64_CHARS: usize = 8192;

/// Errors reading an identity.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// `Identity.PrivKey` is longer than [`MAX_PRIV_KEY_BASE64_CHARS`].
    #[error("Identity.PrivKey is {len} characters, over the {limit} limit")]
    PrivKeyTooLong { len: usize, limit: usize },
    /// `Identity.PrivKey` is not standard base64.
    #[error("Identity.PrivKey is not valid base64")]
    Base64,
    /// The decoded bytes are not a libp2p protobuf private key.
    #[error("Identity.PrivKey is not a libp2p private key: {0}")]
    Decode(String),
    /// A key type other than Ed25519.
    #[error("Identity.PrivKey is a {0} key; acorn supports Ed25519 identities only")]
    UnsupportedKeyType(KeyType),
    /// `Identity.PeerID` does not parse.
    #[error("Identity.PeerID {0:?} is not a valid peer ID")]
    BadPeerId(String),
    /// `Identity.PeerID` is not the peer ID of `Identity.PrivKey`.
    #[error("Identity.PeerID {stored} does not match the private key (its peer ID is {derived})")]
    Mismatch { stored: String, derived: String },
    /// The keypair could not be encoded (cannot happen for Ed25519).
    #[error("encoding the private key: {0}")]
    Encode(String),
}

/// A keypair and its peer ID.
#[derive(Clone, Debug)]
pub struct Identity {
    keypair: Keypair,
    peer_id: PeerId,
}

impl Identity {
    /// A fresh Ed25519 identity from the OS random source.
    pub fn generate() -> Identity {
        Identity::from_keypair(Keypair::generate_ed25519())
    }

    /// Wrap an existing keypair.
    pub fn from_keypair(keypair: Keypair) -> Identity {
        let peer_id = keypair.public().to_peer_id();
        Identity { keypair, peer_id }
    }

    /// The keypair (the swarm's identity).
    pub fn keypair(&self) -> &Keypair {
        &self.keypair
    }

    /// The peer ID (`12D3KooW...`).
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
        let bytes = self
            .keypair
            .to_protobuf_encoding()
            .map_err(|e| IdentityError::Encode(e.to_string()))?;
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
        let keypair = Keypair::from_protobuf_encoding(&bytes).map_err(|e| {
            // libp2p-identity built without RSA reports RSA keys as a decode error;
            // look at the protobuf type field (first byte 0x08, then the type) to
            // give the clearer message.
            match bytes.get(..2) {
                Some([0x08, 0x00]) => IdentityError::UnsupportedKeyType(KeyType::RSA),
                Some([0x08, 0x02]) => IdentityError::UnsupportedKeyType(KeyType::Secp256k1),
                Some([0x08, 0x03]) => IdentityError::UnsupportedKeyType(KeyType::Ecdsa),
                _ => IdentityError::Decode(e.to_string()),
            }
        })?;
        if keypair.key_type() != KeyType::Ed25519 {
            return Err(IdentityError::UnsupportedKeyType(keypair.key_type()));
        }
        let identity = Identity::from_keypair(keypair);
        let stored = PeerId::from_str(section.peer_id.trim())
            .map_err(|_| IdentityError::BadPeerId(section.peer_id.clone()))?;
        if stored != identity.peer_id {
            return Err(IdentityError::Mismatch {
                stored: section.peer_id.clone(),
                derived: identity.peer_id.to_base58(),
            });
        }
        Ok(identity)
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
        let peer = PeerId::from_str(&section.peer_id).unwrap().to_bytes();
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
        assert!(matches!(
            Identity::from_config(&with_key("AAAA")),
            Err(IdentityError::Decode(_))
        ));
        let long = "A".repeat(MAX_PRIV_KEY_BASE64_CHARS + 4);
        assert!(matches!(
            Identity::from_config(&with_key(&long)),
            Err(IdentityError::PrivKeyTooLong { .. })
        ));
        // An RSA-typed protobuf key (Type = 0).
        let rsa = Base64::encode_string(&[0x08, 0x00, 0x12, 0x02, 0x30, 0x00]);
        assert!(matches!(
            Identity::from_config(&with_key(&rsa)),
            Err(IdentityError::UnsupportedKeyType(KeyType::RSA))
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
}
