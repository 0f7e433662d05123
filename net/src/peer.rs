//! Peer IDs as users write them, in every form Kubo accepts.
//!
//! **What.** [`parse`] reads a peer ID typed by a user or found in the config;
//! [`parse_multiaddr`] reads a multiaddr whose `/p2p/` (or `/ipfs/`) component may
//! hold any of those forms. Every place that takes a peer from outside goes
//! through these two.
//!
//! **Spec.** libp2p peer IDs
//! (<https://github.com/libp2p/specs/blob/master/peer-ids/peer-ids.md#string-representation>):
//! a string starting with `Qm` or `1` is the bare base58btc multihash (`Qm…` RSA
//! and ECDSA keys, sha2-256; `12D3KooW…` Ed25519 and `16Uiu2…` secp256k1, identity
//! multihash); anything else is a multibase CIDv1 with the `libp2p-key` codec
//! (0x72) whose multihash is the peer ID (`k51…` base36, `bafz…` base32, as Kubo
//! prints with `--peerid-base`). This is Kubo's `peer.Decode`.
//!
//! **Flow.** string → first characters pick base58 or CID → decode → for a CID, the
//! codec must be `libp2p-key` → the multihash must be identity or sha2-256
//! ([`PeerId::from_multihash`]). For a multiaddr, each `/p2p/<id>` value is read
//! with [`parse`] and written back in base58, the only form rust-multiaddr reads,
//! before the multiaddr is parsed.
//!
//! **Limits.** Inputs are strings the caller already bounds (command lines, config
//! values, HTTP arguments); the decoders allocate at most the input's size.

use std::str::FromStr;

use cid::Cid;
use libp2p::{Multiaddr, PeerId};

/// The multicodec of a CID that names a libp2p public key (a peer).
pub const LIBP2P_KEY_CODEC: u64 = 0x72;

/// Errors reading a peer ID or a multiaddr that holds one.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// Not base58btc or not a valid peer ID multihash.
    #[error("invalid peer ID {input:?}: {reason}")]
    Base58 {
        /// The text given.
        input: String,
        /// Why it is not a peer ID.
        reason: String,
    },
    /// Not a CID in a known multibase.
    #[error("invalid peer ID {input:?}: not base58btc and not a CID: {reason}")]
    Cid {
        /// The text given.
        input: String,
        /// Why it is not a CID.
        reason: String,
    },
    /// A CID of something other than a libp2p key (content, for example).
    #[error(
        "invalid peer ID {input:?}: a CID with codec {codec:#x}, not libp2p-key (0x72): \
         it names content, not a peer"
    )]
    WrongCodec {
        /// The text given.
        input: String,
        /// The CID's codec.
        codec: u64,
    },
    /// A libp2p-key CID whose multihash is neither identity nor sha2-256.
    #[error("invalid peer ID {input:?}: a peer ID's multihash is identity or sha2-256")]
    Multihash {
        /// The text given.
        input: String,
    },
    /// The multiaddr (after its peer ID is rewritten) does not parse.
    #[error("invalid multiaddr {input:?}: {reason}")]
    Multiaddr {
        /// The text given.
        input: String,
        /// Why it does not parse.
        reason: String,
    },
}

/// Reads a peer ID in any form Kubo accepts: base58btc (`Qm…`, `12D3KooW…`,
/// `16Uiu2…`) or a multibase CIDv1 with the `libp2p-key` codec (`k51…`, `bafz…`),
/// bare or as a one-component multiaddr (`/p2p/<id>`, `/ipfs/<id>`).
pub fn parse(input: &str) -> Result<PeerId, ParseError> {
    let s = input.trim();
    let s = s
        .strip_prefix("/p2p/")
        .or_else(|| s.strip_prefix("/ipfs/"))
        .unwrap_or(s);
    if s.starts_with("Qm") || s.starts_with('1') {
        return PeerId::from_str(s).map_err(|e| ParseError::Base58 {
            input: input.to_owned(),
            reason: e.to_string(),
        });
    }
    let cid = Cid::try_from(s).map_err(|e| ParseError::Cid {
        input: input.to_owned(),
        reason: e.to_string(),
    })?;
    if cid.codec() != LIBP2P_KEY_CODEC {
        return Err(ParseError::WrongCodec {
            input: input.to_owned(),
            codec: cid.codec(),
        });
    }
    PeerId::from_multihash(*cid.hash()).map_err(|_| ParseError::Multihash {
        input: input.to_owned(),
    })
}

/// Reads a multiaddr whose `/p2p/` or `/ipfs/` values may be in any form
/// [`parse`] takes; they come out as `/p2p/<base58>`.
pub fn parse_multiaddr(input: &str) -> Result<Multiaddr, ParseError> {
    let s = input.trim();
    let mut parts: Vec<String> = Vec::new();
    let mut segments = s.split('/');
    while let Some(seg) = segments.next() {
        parts.push(seg.to_owned());
        if seg == "p2p" || seg == "ipfs" {
            if let Some(value) = segments.next() {
                parts.push(parse(value)?.to_base58());
            }
        }
    }
    parts
        .join("/")
        .parse()
        .map_err(|e: libp2p::multiaddr::Error| ParseError::Multiaddr {
            input: input.to_owned(),
            reason: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use libp2p::identity::Keypair;
    use libp2p::multiaddr::Protocol;

    /// The base36 and base32 CIDv1 forms of a peer ID, built from its bytes.
    fn forms(peer: &PeerId) -> (String, String) {
        let cid = Cid::new_v1(LIBP2P_KEY_CODEC, cid_multihash(peer));
        (
            cid.to_string_of_base(cid::multibase::Base::Base36Lower)
                .unwrap(),
            cid.to_string_of_base(cid::multibase::Base::Base32Lower)
                .unwrap(),
        )
    }

    fn cid_multihash(peer: &PeerId) -> cid::multihash::Multihash<64> {
        cid::multihash::Multihash::from_bytes(&peer.to_bytes()).unwrap()
    }

    #[test]
    fn every_form_of_every_key_type() {
        let rsa = PeerId::from_str("QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJN").unwrap();
        let ed = Keypair::generate_ed25519().public().to_peer_id();
        let secp = Keypair::generate_secp256k1().public().to_peer_id();
        let ecdsa = Keypair::generate_ecdsa().public().to_peer_id();
        for (peer, prefix) in [
            (rsa, "Qm"),
            (ed, "12D3KooW"),
            (secp, "16Uiu2"),
            (ecdsa, "Qm"),
        ] {
            let b58 = peer.to_base58();
            assert!(b58.starts_with(prefix), "{b58}");
            let (b36, b32) = forms(&peer);
            assert!(b36.starts_with('k'), "{b36}");
            assert!(b32.starts_with("bafz"), "{b32}");
            for s in [
                &b58,
                &b36,
                &b32,
                &format!(" {b58}\n"),
                &format!("/p2p/{b36}"),
            ] {
                assert_eq!(parse(s).unwrap(), peer, "{s}");
            }
            for s in [&b58, &b36, &b32] {
                for proto in ["p2p", "ipfs"] {
                    let addr =
                        parse_multiaddr(&format!("/ip4/1.2.3.4/tcp/4001/{proto}/{s}")).unwrap();
                    assert_eq!(addr.iter().last(), Some(Protocol::P2p(peer)), "{s}");
                    assert_eq!(addr.to_string(), format!("/ip4/1.2.3.4/tcp/4001/p2p/{b58}"));
                }
            }
        }
        // Ed25519 peer IDs in base36 are Kubo's familiar `k51qzi5uqu5d…`.
        assert!(forms(&ed).0.starts_with("k51qzi5uqu5d"), "{}", forms(&ed).0);
    }

    #[test]
    fn content_cids_and_junk_are_refused() {
        // The CIDv1 of a peer ID's bytes with a content codec (raw, dag-pb, dag-cbor).
        let peer = Keypair::generate_ed25519().public().to_peer_id();
        for codec in [0x55, 0x70, 0x71] {
            let cid = Cid::new_v1(codec, cid_multihash(&peer));
            for base in [
                cid::multibase::Base::Base36Lower,
                cid::multibase::Base::Base32Lower,
            ] {
                let s = cid.to_string_of_base(base).unwrap();
                match parse(&s) {
                    Err(e @ ParseError::WrongCodec { codec: c, .. }) if c == codec => {
                        assert!(e.to_string().contains("not libp2p-key"), "{e}");
                    }
                    other => panic!("{s}: {other:?}"),
                }
                assert!(matches!(
                    parse_multiaddr(&format!("/ip4/1.2.3.4/tcp/1/p2p/{s}")),
                    Err(ParseError::WrongCodec { .. })
                ));
            }
        }
        assert!(matches!(parse("Qmnope"), Err(ParseError::Base58 { .. })));
        assert!(matches!(parse("12D3KooW"), Err(ParseError::Base58 { .. })));
        assert!(matches!(
            parse("k51-not-base36"),
            Err(ParseError::Cid { .. })
        ));
        assert!(matches!(parse(""), Err(ParseError::Cid { .. })));
        // A libp2p-key CID whose multihash is sha2-512: not a peer ID.
        let sha512 = cid::multihash::Multihash::<64>::wrap(0x13, &[7; 64]).unwrap();
        let s = Cid::new_v1(LIBP2P_KEY_CODEC, sha512).to_string();
        assert!(
            matches!(parse(&s), Err(ParseError::Multihash { .. })),
            "{s}"
        );
        assert!(matches!(
            parse_multiaddr("/ip4/1.2.3.4/tcpx/1"),
            Err(ParseError::Multiaddr { .. })
        ));
    }
}
