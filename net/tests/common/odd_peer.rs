//! A listener that speaks libp2p but none of Acorn's security or muxer protocols:
//! [`Offer::TlsOnly`] answers `na` to `/noise` and offers only `/tls/1.0.0`;
//! [`Offer::MplexOnly`] completes noise, then answers `na` to `/yamux/1.0.0` and
//! offers only `/mplex/6.7.0`. Built from our TCP transport and libp2p-core's
//! upgrade machinery (multistream-select 1.0); the offered protocol itself is never
//! run, since negotiation fails first.
//!
//! Shared by `net/tests/peers/handshake.rs` and the end-to-end
//! `tests/interop/kubo_network.rs` (through `#[path]`). It runs on its own thread until dropped.

use std::{io, iter, pin::Pin};

use acorn_net::transport::tcp::{self, Bandwidth};
use libp2p::{
    core::{
        muxing::StreamMuxerBox,
        transport::{Boxed, ListenerId, TransportEvent},
        upgrade::{InboundConnectionUpgrade, OutboundConnectionUpgrade, UpgradeInfo, Version},
        Transport as _,
    },
    identity::{Keypair, PeerId},
    multiaddr::Protocol,
    noise, Multiaddr,
};

/// What the odd peer offers.
#[derive(Debug, Clone, Copy)]
pub enum Offer {
    /// Security: only `/tls/1.0.0`.
    TlsOnly,
    /// Security: noise; muxer: only `/mplex/6.7.0`.
    MplexOnly,
}

/// The running peer; its thread ends when this is dropped.
pub struct OddPeer {
    /// `/ip4/127.0.0.1/tcp/PORT/p2p/ID`.
    pub addr: Multiaddr,
    stop: Option<smol::channel::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// A protocol name that multistream-select may offer but that is never run: the
/// upgrade fails if it is ever chosen.
#[derive(Debug, Clone, Copy)]
struct OnlyName(&'static str);

impl UpgradeInfo for OnlyName {
    type Info = &'static str;
    type InfoIter = iter::Once<&'static str>;
    fn protocol_info(&self) -> Self::InfoIter {
        iter::once(self.0)
    }
}

fn never<T>() -> futures::future::Ready<Result<T, io::Error>> {
    futures::future::ready(Err(io::Error::other("odd peer: protocol not implemented")))
}

/// Security upgrade that only names itself.
#[derive(Debug, Clone, Copy)]
struct Security(OnlyName);

impl UpgradeInfo for Security {
    type Info = &'static str;
    type InfoIter = iter::Once<&'static str>;
    fn protocol_info(&self) -> Self::InfoIter {
        self.0.protocol_info()
    }
}

impl<C> InboundConnectionUpgrade<C> for Security {
    type Output = (PeerId, C);
    type Error = io::Error;
    type Future = futures::future::Ready<Result<(PeerId, C), io::Error>>;
    fn upgrade_inbound(self, _: C, _: Self::Info) -> Self::Future {
        never()
    }
}

impl<C> OutboundConnectionUpgrade<C> for Security {
    type Output = (PeerId, C);
    type Error = io::Error;
    type Future = futures::future::Ready<Result<(PeerId, C), io::Error>>;
    fn upgrade_outbound(self, _: C, _: Self::Info) -> Self::Future {
        never()
    }
}

/// Muxer upgrade that only names itself.
#[derive(Debug, Clone, Copy)]
struct Muxer(OnlyName);

impl UpgradeInfo for Muxer {
    type Info = &'static str;
    type InfoIter = iter::Once<&'static str>;
    fn protocol_info(&self) -> Self::InfoIter {
        self.0.protocol_info()
    }
}

impl<C> InboundConnectionUpgrade<C> for Muxer {
    type Output = StreamMuxerBox;
    type Error = io::Error;
    type Future = futures::future::Ready<Result<StreamMuxerBox, io::Error>>;
    fn upgrade_inbound(self, _: C, _: Self::Info) -> Self::Future {
        never()
    }
}

impl<C> OutboundConnectionUpgrade<C> for Muxer {
    type Output = StreamMuxerBox;
    type Error = io::Error;
    type Future = futures::future::Ready<Result<StreamMuxerBox, io::Error>>;
    fn upgrade_outbound(self, _: C, _: Self::Info) -> Self::Future {
        never()
    }
}

impl OddPeer {
    /// Listens on an ephemeral 127.0.0.1 port and answers every connection.
    pub fn start(offer: Offer) -> OddPeer {
        let keypair = Keypair::generate_ed25519();
        let peer = keypair.public().to_peer_id();
        let tcp = tcp::Transport::new(tcp::Config::default(), Bandwidth::default());
        let mut transport: Boxed<()> = match offer {
            Offer::TlsOnly => tcp
                .upgrade(Version::V1)
                .authenticate(Security(OnlyName("/tls/1.0.0")))
                // Never reached: security negotiation fails first.
                .multiplex(Muxer(OnlyName("/mplex/6.7.0")))
                .map(|_, _| ())
                .boxed(),
            Offer::MplexOnly => tcp
                .upgrade(Version::V1)
                .authenticate(noise::Config::new(&keypair).expect("noise key"))
                .multiplex(Muxer(OnlyName("/mplex/6.7.0")))
                .map(|_, _| ())
                .boxed(),
        };
        transport
            .listen_on(ListenerId::next(), "/ip4/127.0.0.1/tcp/0".parse().unwrap())
            .expect("listen");
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = smol::channel::bounded::<()>(1);
        let thread = std::thread::spawn(move || {
            let ex = smol::Executor::new();
            let serve = async {
                loop {
                    let event =
                        futures::future::poll_fn(|cx| Pin::new(&mut transport).poll(cx)).await;
                    match event {
                        TransportEvent::NewAddress { listen_addr, .. } => {
                            let _ = addr_tx.send(listen_addr);
                        }
                        TransportEvent::Incoming { upgrade, .. } => {
                            // Runs the negotiation to its failure, then drops the socket.
                            ex.spawn(async move {
                                let _ = upgrade.await;
                            })
                            .detach();
                        }
                        _ => {}
                    }
                }
            };
            smol::block_on(ex.run(smol::future::or(serve, async {
                let _ = stopped.recv().await;
            })));
        });
        let addr = addr_rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("odd peer listening");
        OddPeer {
            addr: addr.with(Protocol::P2p(peer)),
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for OddPeer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
