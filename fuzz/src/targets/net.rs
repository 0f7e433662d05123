//! `acorn-net`'s decoders and the libp2p ones it relies on: multiaddrs, peer IDs,
//! bitswap messages, DNS replies, swarm keys and the pnet handshake.

use acorn_net::bitswap::wire::{read_frame_len, Message, Version};
use acorn_net::{dns, peer, pnet};
use futures::io::{AsyncReadExt, Cursor};

/// Multiaddr strings (`swarm connect`, `Addresses.Swarm`, bootstrap lists): a
/// parsed address prints back to one that parses to the same address.
pub fn multiaddr(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(a) = peer::parse_multiaddr(s) {
        let back = peer::parse_multiaddr(&a.to_string()).expect("a printed multiaddr parses");
        assert_eq!(back, a);
    }
}

/// Peer IDs in every form Kubo accepts: a parsed ID prints back (base58) to one
/// that parses to the same ID.
pub fn peer_id(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(id) = peer::parse(s) {
        assert_eq!(
            peer::parse(&id.to_base58()).expect("a printed peer ID parses"),
            id
        );
    }
}

/// Bitswap frames: the length prefix, then the message. A decoded message
/// encodes (1.2.0) to bytes that decode to the same message (less what the
/// decoder skipped, which is never encoded), within its size bound.
pub fn bitswap(data: &[u8]) {
    if let Ok(Some((len, at))) = read_frame_len(data) {
        assert!(at <= data.len());
        let body = &data[at..];
        if body.len() >= len {
            let _ = Message::decode(&body[..len]);
        }
    }
    let Ok(mut msg) = Message::decode(data) else {
        return;
    };
    msg.skipped = 0;
    msg.oversize_blocks = 0;
    let bytes = msg.encode(Version::V1_2_0);
    assert_eq!(bytes.len(), msg.encoded_len(Version::V1_2_0));
    assert!(bytes.len() <= msg.size_bound());
    let again = Message::decode(&bytes).expect("an encoded message decodes");
    assert_eq!(again, msg);
}

/// DNS replies to a TXT query (`/dnsaddr` bootstrap, DNSLink): the input is the
/// reply with the query's question spliced in after its 12-byte header (so the
/// fuzzer gets past the id and question checks); each record found fits in the
/// reply.
pub fn dns(data: &[u8]) {
    let Ok(query) = dns::wire::encode_txt_query(0x1234, "_dnsaddr.bootstrap.libp2p.io") else {
        return;
    };
    let mut msg = Vec::with_capacity(data.len() + query.len());
    let head = data.len().min(12);
    msg.extend_from_slice(&data[..head]);
    if head == 12 {
        msg[0..2].copy_from_slice(&query[0..2]);
        msg.extend_from_slice(&query[12..]);
    }
    msg.extend_from_slice(&data[head..]);
    if let Ok(records) = dns::wire::parse_txt_response(&query, &msg) {
        let total: usize = records.iter().map(Vec::len).sum();
        assert!(total <= msg.len());
    }
    let _ = dns::wire::parse_txt_response(&query, data);
}

/// `swarm.key` files: a key that parses, written back as a Kubo key file (its
/// `Display`), parses to the same key.
pub fn swarm_key(data: &[u8]) {
    let Ok(key) = pnet::parse_swarm_key(data) else {
        return;
    };
    let again =
        pnet::parse_swarm_key(key.to_string().as_bytes()).expect("a written key file parses");
    assert!(again.fingerprint() == key.fingerprint());
}

/// The pnet handshake (libp2p-pnet, run before noise on every TCP connection of a
/// private network): a peer's nonce and then ciphertext, read with a fixed key;
/// the handshake takes its 24-byte nonce and the rest decrypts to as many bytes.
pub fn pnet_handshake(data: &[u8]) {
    use libp2p::pnet::{PnetConfig, PreSharedKey};
    let key = PreSharedKey::new([7u8; 32]);
    let socket = Duplex {
        input: Cursor::new(data.to_vec()),
    };
    futures::executor::block_on(async {
        match PnetConfig::new(key).handshake(socket).await {
            Ok(mut out) => {
                assert!(data.len() >= 24);
                let mut plain = Vec::new();
                out.read_to_end(&mut plain)
                    .await
                    .expect("reads from memory");
                assert_eq!(plain.len(), data.len() - 24);
            }
            Err(_) => assert!(data.len() < 24),
        }
    });
}

/// A socket whose reads come from the input and whose writes go nowhere.
struct Duplex {
    input: Cursor<Vec<u8>>,
}

impl futures::AsyncRead for Duplex {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut [u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.input).poll_read(cx, buf)
    }
}

impl futures::AsyncWrite for Duplex {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::task::Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn poll_close(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}
