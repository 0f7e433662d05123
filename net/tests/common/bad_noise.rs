//! A libp2p peer whose noise handshake payload carries a bad identity: a truncated
//! protobuf `PublicKey`, an unknown key type, an RSA key outside 2048 to 8192 bits, or a
//! valid key with a signature that does not verify, or no protobuf at all ([`BadKey`]). [`BadKey::Valid`]
//! sends a correct payload, as a control.
//!
//! Spec: libp2p noise (`/noise`, `Noise_XX_25519_ChaChaPoly_SHA256`), after
//! multistream-select 1.0. Each noise message is a frame with a 2-byte big-endian
//! length; the identity travels in the handshake payload
//! `NoiseHandshakePayload { bytes identity_key = 1; bytes identity_sig = 2; }`, the
//! signature being over `"noise-libp2p-static-key:" ‖ static DH public key`.
//!
//! Flow: as responder ([`BadListener`], Acorn dials) we read message 1, send message 2
//! with the bad payload, then read until the socket closes; as initiator ([`dial`],
//! Acorn listens) we send message 1, read message 2, send message 3 with the bad
//! payload, then read until the socket closes. Either way we report how the
//! connection ended ([`Ending`]) within [`CLOSE_WAIT`]. The handshake is built with
//! `snow` and the protobufs and DER by hand, so nothing here checks what it sends.
//!
//! The RSA keys are public keys only: a modulus of the asked size whose bytes are
//! arbitrary, with a signature of the modulus' length that cannot verify. That is
//! enough, since a verifier refuses such keys for their size before looking at the
//! signature.

use std::{net::SocketAddr, time::Duration};

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::identity::Keypair;
use multistream_select::{dialer_select_proto, listener_select_proto, Version};
use smol::net::{TcpListener, TcpStream};

/// How long we wait for the other side to close the socket after our payload.
pub const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// Prefix of the signed message, before the static DH public key.
const STATIC_KEY_DOMAIN: &[u8] = b"noise-libp2p-static-key:";

/// What identity our handshake payload carries.
#[derive(Debug, Clone, Copy)]
pub enum BadKey {
    /// A valid Ed25519 key and signature: the control.
    Valid,
    /// A valid Ed25519 `PublicKey` protobuf with its last bytes cut off.
    TruncatedKey,
    /// A `PublicKey` protobuf with `Type = 9`, a type no libp2p knows.
    UnknownKeyType,
    /// An RSA public key with a modulus of this many bits.
    RsaBits(usize),
    /// A valid Ed25519 key whose signature is over another static key.
    BadSignature,
    /// A payload that is not a protobuf at all (a field tag with wire type 7).
    NotProtobuf,
}

/// How one connection ended, seen from the bad peer.
#[derive(Debug, PartialEq, Eq)]
pub enum Ending {
    /// The other side closed the socket (EOF or reset) after our payload.
    Closed,
    /// The socket was still open [`CLOSE_WAIT`] after our payload.
    StillOpen,
    /// Our side failed before sending the payload: the harness, not the peer, broke.
    Failed(String),
}

/// A listener that answers every connection with the bad payload, on its own thread
/// until dropped.
pub struct BadListener {
    /// `/ip4/127.0.0.1/tcp/PORT` (no `/p2p`: a bad key has no peer ID).
    pub addr: libp2p::Multiaddr,
    /// One [`Ending`] per connection, in order.
    pub endings: smol::channel::Receiver<Ending>,
    stop: Option<smol::channel::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl BadListener {
    /// Listens on an ephemeral 127.0.0.1 port.
    pub fn start(key: BadKey) -> BadListener {
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        // Tests make a handful of connections; more are dropped, not queued.
        let (ending_tx, endings) = smol::channel::bounded(16);
        let (stop, stopped) = smol::channel::bounded::<()>(1);
        let thread = std::thread::spawn(move || {
            let ex = smol::Executor::new();
            let serve = async {
                let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
                let _ = addr_tx.send(listener.local_addr().expect("local addr"));
                loop {
                    let Ok((socket, _)) = listener.accept().await else {
                        continue;
                    };
                    let ending_tx = ending_tx.clone();
                    ex.spawn(async move {
                        let _ = ending_tx.try_send(respond(socket, key).await);
                    })
                    .detach();
                }
            };
            smol::block_on(ex.run(smol::future::or(serve, async {
                let _ = stopped.recv().await;
            })));
        });
        let addr: SocketAddr = addr_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("bad peer listening");
        BadListener {
            addr: format!("/ip4/{}/tcp/{}", addr.ip(), addr.port())
                .parse()
                .expect("multiaddr"),
            endings,
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for BadListener {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Dials `addr`, negotiates `/noise` and sends the bad payload as initiator.
pub async fn dial(addr: SocketAddr, key: BadKey) -> Ending {
    let socket = match TcpStream::connect(addr).await {
        Ok(s) => s,
        Err(e) => return Ending::Failed(format!("connect: {e}")),
    };
    let mut io = match dialer_select_proto(socket, ["/noise"], Version::V1).await {
        Ok((_, io)) => io,
        Err(e) => return Ending::Failed(format!("multistream-select: {e}")),
    };
    let (static_key, identity) = keys();
    let mut noise = builder()
        .local_private_key(&static_key.private)
        .expect("static key")
        .build_initiator()
        .expect("noise initiator");
    let steps = async {
        write_message(&mut io, &mut noise, &[]).await?;
        read_message(&mut io, &mut noise).await?;
        let payload = payload(key, &static_key, &identity);
        write_message(&mut io, &mut noise, &payload).await
    };
    if let Err(e) = steps.await {
        return Ending::Failed(format!("noise: {e}"));
    }
    wait_closed(io).await
}

/// Answers one connection as responder.
async fn respond(socket: TcpStream, key: BadKey) -> Ending {
    let mut io = match listener_select_proto(socket, ["/noise"]).await {
        Ok((_, io)) => io,
        Err(e) => return Ending::Failed(format!("multistream-select: {e}")),
    };
    let (static_key, identity) = keys();
    let mut noise = builder()
        .local_private_key(&static_key.private)
        .expect("static key")
        .build_responder()
        .expect("noise responder");
    let steps = async {
        read_message(&mut io, &mut noise).await?;
        let payload = payload(key, &static_key, &identity);
        write_message(&mut io, &mut noise, &payload).await
    };
    if let Err(e) = steps.await {
        return Ending::Failed(format!("noise: {e}"));
    }
    wait_closed(io).await
}

fn builder() -> snow::Builder<'static> {
    snow::Builder::new(
        "Noise_XX_25519_ChaChaPoly_SHA256"
            .parse()
            .expect("noise params"),
    )
}

/// A fresh static DH key and Ed25519 identity.
fn keys() -> (snow::Keypair, Keypair) {
    (
        builder().generate_keypair().expect("static key"),
        Keypair::generate_ed25519(),
    )
}

/// Reads frames until the other side closes the socket or [`CLOSE_WAIT`] passes.
async fn wait_closed<S: AsyncRead + Unpin>(mut io: S) -> Ending {
    let closed = async {
        let mut buf = [0u8; 4096];
        loop {
            match io.read(&mut buf).await {
                Ok(0) | Err(_) => return Ending::Closed,
                Ok(_) => {}
            }
        }
    };
    smol::future::or(closed, async {
        smol::Timer::after(CLOSE_WAIT).await;
        Ending::StillOpen
    })
    .await
}

/// The handshake payload for `key`, signed (or not) over `static_key`'s public half.
fn payload(key: BadKey, static_key: &snow::Keypair, identity: &Keypair) -> Vec<u8> {
    let signed = [STATIC_KEY_DOMAIN, &static_key.public].concat();
    let signature = || identity.sign(&signed).expect("ed25519 signs");
    if let BadKey::NotProtobuf = key {
        return vec![0x0f; 8];
    }
    let (identity_key, identity_sig) = match key {
        BadKey::NotProtobuf => unreachable!("returned above"),
        BadKey::Valid => (identity.public().encode_protobuf(), signature()),
        BadKey::TruncatedKey => {
            let mut k = identity.public().encode_protobuf();
            k.truncate(k.len() - 5);
            (k, signature())
        }
        BadKey::UnknownKeyType => {
            let ed25519 = identity.public().try_into_ed25519().expect("ed25519");
            (public_key_protobuf(9, &ed25519.to_bytes()), signature())
        }
        BadKey::RsaBits(bits) => (rsa_public_key_protobuf(bits), vec![1; bits.div_ceil(8)]),
        BadKey::BadSignature => {
            let other = [STATIC_KEY_DOMAIN, &[7u8; 32]].concat();
            (
                identity.public().encode_protobuf(),
                identity.sign(&other).expect("ed25519 signs"),
            )
        }
    };
    let mut pb = Vec::new();
    protobuf_bytes(&mut pb, 1, &identity_key);
    protobuf_bytes(&mut pb, 2, &identity_sig);
    pb
}

/// `PublicKey { KeyType Type = 1; bytes Data = 2; }`.
pub fn public_key_protobuf(key_type: u64, data: &[u8]) -> Vec<u8> {
    let mut pb = vec![0x08];
    varint(&mut pb, key_type);
    protobuf_bytes(&mut pb, 2, data);
    pb
}

/// An RSA `PublicKey` protobuf (Type = RSA, 0; Data = X.509 SubjectPublicKeyInfo)
/// whose modulus has `bits` bits: top bit set, the rest arbitrary, odd.
pub fn rsa_public_key_protobuf(bits: usize) -> Vec<u8> {
    let mut modulus = vec![0xA5u8; bits.div_ceil(8)];
    modulus[0] = 0x80 >> ((8 - bits % 8) % 8);
    *modulus.last_mut().expect("non-empty") |= 1;
    // DER INTEGERs are signed: a leading zero keeps the modulus positive.
    let modulus = [&[0u8][..], &modulus].concat();
    let pkcs1 = der(
        0x30,
        &[der(0x02, &modulus), der(0x02, &[0x01, 0x00, 0x01])].concat(),
    );
    // rsaEncryption (1.2.840.113549.1.1.1), NULL parameters.
    let algorithm = der(
        0x30,
        &[
            &[
                0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01,
            ][..],
            &[0x05, 0x00],
        ]
        .concat(),
    );
    let spki = der(
        0x30,
        &[algorithm, der(0x03, &[&[0u8][..], &pkcs1].concat())].concat(),
    );
    public_key_protobuf(0, &spki)
}

/// A DER tag-length-value.
fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

fn protobuf_bytes(out: &mut Vec<u8>, field: u64, bytes: &[u8]) {
    varint(out, field << 3 | 2);
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push(n as u8 | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

async fn write_message<S: AsyncWrite + Unpin>(
    io: &mut S,
    noise: &mut snow::HandshakeState,
    payload: &[u8],
) -> Result<(), String> {
    let mut message = vec![0u8; u16::MAX as usize];
    let len = noise
        .write_message(payload, &mut message)
        .map_err(|e| e.to_string())?;
    let frame = [&(len as u16).to_be_bytes()[..], &message[..len]].concat();
    io.write_all(&frame).await.map_err(|e| e.to_string())?;
    io.flush().await.map_err(|e| e.to_string())
}

async fn read_message<S: AsyncRead + Unpin>(
    io: &mut S,
    noise: &mut snow::HandshakeState,
) -> Result<Vec<u8>, String> {
    let mut len = [0u8; 2];
    io.read_exact(&mut len).await.map_err(|e| e.to_string())?;
    let mut message = vec![0u8; u16::from_be_bytes(len) as usize];
    io.read_exact(&mut message)
        .await
        .map_err(|e| e.to_string())?;
    let mut payload = vec![0u8; message.len()];
    let n = noise
        .read_message(&message, &mut payload)
        .map_err(|e| e.to_string())?;
    payload.truncate(n);
    Ok(payload)
}
