//! Two in-memory swarms (MemoryTransport + noise + yamux + libp2p-stream) on one smol
//! executor thread: one serves a UnixFS file's DAG, the other fetches it over bitswap.

use acorn_net::bitswap::{self, Blockstore, Handle, NodeEvent};
use acorn_storage::block::{Block, BlockError, BlockSource, MemStore};
use acorn_storage::dag::links_of;
use acorn_storage::unixfs::{exporter, importer};
use cid::Cid;
use futures::StreamExt;
use libp2p::core::transport::MemoryTransport;
use libp2p::core::upgrade::Version;
use libp2p::swarm::{Config as SwarmConfig, SwarmEvent};
use libp2p::{identity, noise, yamux, Multiaddr, PeerId, Swarm, Transport};
use smol::Executor;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Default)]
struct Store(Mutex<MemStore>);

impl Store {
    fn lock(&self) -> std::sync::MutexGuard<'_, MemStore> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Blockstore for Store {
    fn get(&self, cid: &Cid) -> Result<Option<Vec<u8>>, BlockError> {
        self.lock().get(cid)
    }
    fn has(&self, cid: &Cid) -> Result<bool, BlockError> {
        self.lock().has(cid)
    }
    fn put(&self, block: &Block) -> Result<(), BlockError> {
        self.lock().insert(block.cid(), block.data().to_vec());
        Ok(())
    }
}

struct TestNode {
    peer: PeerId,
    handle: Handle,
    events: smol::channel::Receiver<NodeEvent>,
    store: Arc<Store>,
    dial: smol::channel::Sender<Multiaddr>,
}

/// Builds a swarm listening on `/memory/<port>` and spawns its event loop. `setup` gets
/// the swarm's stream control first and may return a bitswap handle to receive the
/// connection events (raw test peers return `None`).
fn spawn_swarm(
    ex: &Arc<Executor<'static>>,
    port: u64,
    setup: impl FnOnce(libp2p_stream::Control) -> Option<Handle>,
) -> (
    PeerId,
    libp2p_stream::Control,
    smol::channel::Sender<Multiaddr>,
) {
    let key = identity::Keypair::generate_ed25519();
    let peer = key.public().to_peer_id();
    let transport = MemoryTransport::default()
        .upgrade(Version::V1)
        .authenticate(noise::Config::new(&key).expect("noise keys"))
        .multiplex(yamux::Config::default())
        .boxed();
    let behaviour = libp2p_stream::Behaviour::new();
    let control = behaviour.new_control();
    let on_conn = setup(behaviour.new_control());
    let ex2 = ex.clone();
    let mut swarm = Swarm::new(
        transport,
        behaviour,
        peer,
        SwarmConfig::with_executor(move |fut| {
            ex2.spawn(fut).detach();
        })
        .with_idle_connection_timeout(Duration::from_secs(60)),
    );
    swarm
        .listen_on(format!("/memory/{port}").parse().expect("addr"))
        .expect("listen");
    let (dial, dial_rx) = smol::channel::bounded::<Multiaddr>(4);
    ex.spawn(async move {
        loop {
            let ev = smol::future::or(async { Err(dial_rx.recv().await) }, async {
                Ok(swarm.select_next_some().await)
            })
            .await;
            match (ev, &on_conn) {
                (Err(Ok(addr)), _) => swarm.dial(addr).expect("dial"),
                (Err(Err(_)), _) => return,
                (Ok(SwarmEvent::ConnectionEstablished { peer_id, .. }), Some(h)) => {
                    let _ = h.peer_connected(peer_id).await;
                }
                (
                    Ok(SwarmEvent::ConnectionClosed {
                        peer_id,
                        num_established: 0,
                        ..
                    }),
                    Some(h),
                ) => {
                    let _ = h.peer_disconnected(peer_id).await;
                }
                _ => {}
            }
        }
    })
    .detach();
    (peer, control, dial)
}

/// A swarm with a bitswap node on it (blockstore calls on `smol::unblock`).
fn spawn_node(ex: &Arc<Executor<'static>>, port: u64, cfg: bitswap::Config) -> TestNode {
    spawn_node_with(ex, port, cfg, Arc::new(bitswap::Unblock))
}

/// Counts the jobs it runs (on `smol::unblock`), or drops them all.
struct CountingPool {
    jobs: std::sync::atomic::AtomicUsize,
    drop_jobs: bool,
}

impl bitswap::Blocking for CountingPool {
    fn spawn_blocking(&self, job: Box<dyn FnOnce() + Send>) {
        self.jobs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if !self.drop_jobs {
            bitswap::Unblock.spawn_blocking(job);
        }
    }
}

fn counting_pool(drop_jobs: bool) -> Arc<CountingPool> {
    Arc::new(CountingPool {
        jobs: Default::default(),
        drop_jobs,
    })
}

/// A swarm with a bitswap node whose blockstore calls run through `blocking`.
fn spawn_node_with(
    ex: &Arc<Executor<'static>>,
    port: u64,
    cfg: bitswap::Config,
    blocking: Arc<dyn bitswap::Blocking>,
) -> TestNode {
    let store = Arc::new(Store::default());
    let mut made = None;
    let (peer, _control, dial) = spawn_swarm(ex, port, |control| {
        let (handle, events) =
            bitswap::Node::spawn(ex, control, store.clone(), blocking, cfg).expect("bitswap node");
        made = Some((handle.clone(), events));
        Some(handle)
    });
    let (handle, events) = made.expect("setup ran");
    TestNode {
        peer,
        handle,
        events,
        store,
        dial,
    }
}

fn run<F: std::future::Future<Output = ()> + Send + 'static>(
    f: impl FnOnce(Arc<Executor<'static>>) -> F,
) {
    let ex = Arc::new(Executor::new());
    let fut = f(ex.clone());
    let task = ex.spawn(fut);
    smol::block_on(ex.run(async {
        smol::future::or(task, async {
            async_io::Timer::after(Duration::from_secs(60)).await;
            panic!("test timed out");
        })
        .await
    }));
}

async fn connected(n: &TestNode, to: &TestNode, port: u64) {
    n.dial
        .send(format!("/memory/{port}").parse().expect("addr"))
        .await
        .expect("dial");
    wait_for_peer(n).await;
    wait_for_peer(to).await;
}

/// Waits until the swarm reported a connection to the node's bitswap.
async fn wait_for_peer(n: &TestNode) {
    for _ in 0..500 {
        if n.handle.stats().await.expect("stats").peers >= 1 {
            return;
        }
        async_io::Timer::after(Duration::from_millis(10)).await;
    }
    panic!("no connection at {}", n.peer);
}

#[test]
fn fetch_a_unixfs_dag_between_two_in_memory_swarms() {
    run(|ex| async move {
        let server_pool = counting_pool(false);
        let client_pool = counting_pool(false);
        let server = spawn_node_with(&ex, 1001, bitswap::Config::default(), server_pool.clone());
        let client = spawn_node_with(&ex, 1002, bitswap::Config::default(), client_pool.clone());

        // A 1.5 MB file: CIDv0 dag-pb root over six 256 KiB leaves (Kubo's defaults).
        let content: Vec<u8> = (0..1_500_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let added = {
            let mut mem = server.store.lock();
            importer::add_file(&importer::Options::default(), &mut *mem, &content[..])
                .expect("import")
        };
        let blocks_in_dag = server.store.lock().len();
        assert_eq!(blocks_in_dag, 7);

        connected(&client, &server, 1001).await;
        let session = client.handle.new_session().await.expect("session");

        // Walk the DAG over bitswap: the root, then its children concurrently.
        let root = session.fetch(added.cid).await.expect("root");
        let children = links_of(root.cid(), root.data()).expect("links");
        assert_eq!(children.len(), 6);
        let fetched = futures::future::join_all(children.iter().map(|c| session.fetch(*c))).await;
        for (c, b) in children.iter().zip(&fetched) {
            assert_eq!(b.as_ref().expect("child").cid(), c);
        }

        // The client stored every block: the file reads back whole, offline.
        let mut out = Vec::new();
        {
            let mem = client.store.lock();
            exporter::cat(&*mem, &added.cid, 0, None, &mut out).expect("cat");
        }
        assert_eq!(out, content);

        let cs = client.handle.stats().await.expect("stats");
        let ss = server.handle.stats().await.expect("stats");
        assert_eq!(cs.blocks_received, 7);
        assert_eq!(ss.blocks_sent, 7);
        assert_eq!(cs.data_received, ss.data_sent);
        assert_eq!(cs.wantlist_len, 0);
        assert_eq!(cs.unwanted_blocks, 0);

        // A block already stored comes from the blockstore, not the network.
        let again = session.fetch(added.cid).await.expect("local");
        assert_eq!(again.cid(), &added.cid);
        assert_eq!(
            client.handle.stats().await.expect("stats").blocks_received,
            7
        );
        // Every blockstore call went through the given pools: the server's lookups
        // (7 want-blocks at least), the client's local misses and puts (7 + 7) and
        // the last local fetch.
        let jobs = |p: &CountingPool| p.jobs.load(std::sync::atomic::Ordering::SeqCst);
        assert!(jobs(&server_pool) >= 7, "{}", jobs(&server_pool));
        assert_eq!(jobs(&client_pool), 15);
    });
}

#[test]
fn a_blocking_pool_that_drops_jobs_fails_fetches_instead_of_hanging() {
    run(|ex| async move {
        let node = spawn_node_with(&ex, 1101, bitswap::Config::default(), counting_pool(true));
        let session = node.handle.new_session().await.expect("session");
        let cid = acorn_storage::cids::cid_of(1, acorn_storage::cids::RAW, b"never stored");
        match session.fetch(cid).await {
            Err(bitswap::Error::Store(_)) => {}
            other => panic!("expected a store error, got {other:?}"),
        }
    });
}

#[test]
fn missing_block_asks_for_providers_and_fails_at_the_deadline() {
    run(|ex| async move {
        let mut cfg = bitswap::Config::default();
        cfg.core.want_deadline = Duration::from_millis(600);
        cfg.core.want_timeout = Duration::from_millis(200);
        let server = spawn_node(&ex, 2001, bitswap::Config::default());
        let client = spawn_node(&ex, 2002, cfg);
        connected(&client, &server, 2001).await;
        let session = client.handle.new_session().await.expect("session");
        let missing = acorn_storage::cids::cid_of(1, acorn_storage::cids::RAW, b"nobody has me");
        let r = session.fetch(missing).await;
        assert!(
            matches!(r, Err(bitswap::Error::NotFound { cid }) if cid == missing),
            "{r:?}"
        );
        // The server said DONT_HAVE, so the client asked the daemon for providers.
        let ev = client.events.try_recv().expect("an event");
        assert_eq!(
            ev,
            NodeEvent::FindProviders {
                session: session.id(),
                cid: missing
            }
        );
        assert!(client.handle.wantlist().await.expect("wantlist").is_empty());
    });
}

/// Sends a frame on a raw stream to `to` over `proto`.
async fn send_raw(
    control: &mut libp2p_stream::Control,
    to: PeerId,
    proto: &'static str,
    bytes: &[u8],
) {
    use futures::AsyncWriteExt;
    let mut s = control
        .open_stream(to, libp2p::StreamProtocol::new(proto))
        .await
        .expect("stream");
    s.write_all(bytes).await.expect("write");
    s.flush().await.expect("flush");
}

#[test]
fn malformed_frames_get_a_peer_disconnected() {
    run(|ex| async move {
        let mut cfg = bitswap::Config::default();
        cfg.core.misbehaviour_threshold = 2;
        let node = spawn_node(&ex, 3001, cfg);
        let (bad, mut control, dial) = spawn_swarm(&ex, 3002, |_| None);
        dial.send("/memory/3001".parse().expect("addr"))
            .await
            .expect("dial");
        wait_for_peer(&node).await;
        // Field 1 with a length beyond the frame; then a frame claiming 5 MiB.
        send_raw(
            &mut control,
            node.peer,
            "/ipfs/bitswap/1.2.0",
            &[0x02, 0x0a, 0x05],
        )
        .await;
        let mut big = Vec::new();
        acorn_storage::proto::write_varint(&mut big, 5 << 20);
        send_raw(&mut control, node.peer, "/ipfs/bitswap/1.1.0", &big).await;
        let ev = smol::future::or(async { node.events.recv().await.ok() }, async {
            async_io::Timer::after(Duration::from_secs(10)).await;
            None
        })
        .await;
        assert_eq!(ev, Some(NodeEvent::Disconnect { peer: bad }));
        let st = node.handle.stats().await.expect("stats");
        assert_eq!(st.malformed_messages, 2);
        assert_eq!(st.peers_disconnected, 1);
    });
}

#[test]
fn falls_back_to_bitswap_1_0_0_for_older_peers() {
    run(|ex| async move {
        let node = spawn_node(&ex, 4001, bitswap::Config::default());
        let (old, mut control, _dial) = spawn_swarm(&ex, 4002, |_| None);
        // The old peer speaks only 1.0.0.
        let mut incoming = control
            .accept(libp2p::StreamProtocol::new("/ipfs/bitswap/1.0.0"))
            .expect("accept");
        node.dial
            .send("/memory/4002".parse().expect("addr"))
            .await
            .expect("dial");
        let session = node.handle.new_session().await.expect("session");
        session.add_providers(vec![old]).await.expect("providers");
        let data = b"an old block".to_vec();
        let cid = acorn_storage::cids::cid_of(0, acorn_storage::cids::DAG_PB, &data);
        let fetch = ex.spawn(async move { session.fetch(cid).await });
        let (from, mut stream) = incoming.next().await.expect("inbound stream");
        assert_eq!(from, node.peer);
        let msg = read_one(&mut stream).await;
        let entries = msg.wantlist.expect("wantlist").entries;
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].cid, cid);
        assert_eq!(entries[0].want_type, bitswap::WantType::Block);
        // Answer the 1.0.0 way: raw block bytes in field 2, on our own stream.
        let reply = bitswap::Message {
            blocks: vec![bitswap::wire::Payload {
                prefix: bitswap::wire::Prefix::v0(),
                data: data.clone(),
            }],
            ..Default::default()
        };
        send_raw(
            &mut control,
            node.peer,
            "/ipfs/bitswap/1.0.0",
            &reply.encode_frame(bitswap::Version::V1_0_0),
        )
        .await;
        let block = fetch.await.expect("fetched");
        assert_eq!(block.data(), &data[..]);
    });
}

async fn read_one(s: &mut libp2p::Stream) -> bitswap::Message {
    use futures::AsyncReadExt;
    let mut len = 0u64;
    for i in 0.. {
        let mut b = [0u8; 1];
        s.read_exact(&mut b).await.expect("varint");
        len |= u64::from(b[0] & 0x7f) << (7 * i);
        if b[0] & 0x80 == 0 {
            break;
        }
    }
    let mut body = vec![0u8; len as usize];
    s.read_exact(&mut body).await.expect("body");
    bitswap::Message::decode(&body).expect("decode")
}

/// Polls the node's stats until `f` holds, for up to 10 s.
async fn wait_stats(h: &Handle, what: &str, f: impl Fn(&bitswap::Stats) -> bool) {
    for _ in 0..1000 {
        if f(&h.stats().await.expect("stats")) {
            return;
        }
        async_io::Timer::after(Duration::from_millis(10)).await;
    }
    panic!("never happened: {what}");
}

#[test]
fn one_peer_cannot_take_every_inbound_stream_slot() {
    run(|ex| async move {
        let server = spawn_node(&ex, 5001, bitswap::Config::default());
        let mut ccfg = bitswap::Config::default();
        ccfg.core.want_timeout = Duration::from_millis(500);
        ccfg.core.want_deadline = Duration::from_secs(3);
        let client = spawn_node(&ex, 5002, ccfg);
        let (_hog, mut control, dial) = spawn_swarm(&ex, 5003, |_| None);
        dial.send("/memory/5001".parse().expect("addr"))
            .await
            .expect("dial");
        wait_for_peer(&server).await;
        // The hog opens 40 streams (more than the old global cap of 32) and keeps them.
        let mut held = Vec::new();
        for _ in 0..40 {
            let s = control
                .open_stream(
                    server.peer,
                    libp2p::StreamProtocol::new("/ipfs/bitswap/1.2.0"),
                )
                .await
                .expect("stream");
            held.push(s);
        }
        let per_peer = bitswap::Config::default().max_inbound_streams_per_peer as u64;
        wait_stats(&server.handle, "hog's extra streams refused", |s| {
            s.inbound_streams_refused == 40 - per_peer
        })
        .await;

        // An honest client is still served.
        let data = b"served despite the hog".to_vec();
        let block = Block::new(
            acorn_storage::cids::cid_of(1, acorn_storage::cids::RAW, &data),
            data,
        )
        .expect("block");
        server.store.put(&block).expect("put");
        connected(&client, &server, 5001).await;
        let session = client.handle.new_session().await.expect("session");
        session
            .add_providers(vec![server.peer])
            .await
            .expect("providers");
        let got = session.fetch(*block.cid()).await.expect("fetched");
        assert_eq!(got, block);
        drop(held);
    });
}

#[test]
fn idle_outbound_stream_is_closed_and_reopened_for_the_next_message() {
    run(|ex| async move {
        let cfg = bitswap::Config {
            outbound_idle_timeout: Duration::from_millis(300),
            ..Default::default()
        };
        let node = spawn_node(&ex, 6001, cfg);
        let (peer, mut control, _dial) = spawn_swarm(&ex, 6002, |_| None);
        let mut incoming = control
            .accept(libp2p::StreamProtocol::new("/ipfs/bitswap/1.2.0"))
            .expect("accept");
        node.dial
            .send("/memory/6002".parse().expect("addr"))
            .await
            .expect("dial");
        let session = node.handle.new_session().await.expect("session");
        session.add_providers(vec![peer]).await.expect("providers");
        let first = acorn_storage::cids::cid_of(1, acorn_storage::cids::RAW, b"first");
        let second = acorn_storage::cids::cid_of(1, acorn_storage::cids::RAW, b"second");
        let session = Arc::new(session);
        let s1 = session.clone();
        let _f1 = ex.spawn(async move { s1.fetch(first).await });
        let (_, mut stream) = incoming.next().await.expect("first stream");
        let msg = read_one(&mut stream).await;
        assert_eq!(msg.wantlist.expect("wantlist").entries[0].cid, first);
        // Nothing more to say: the node closes the stream after the idle timeout.
        let eof = smol::future::or(
            async {
                use futures::AsyncReadExt;
                let mut b = [0u8; 1];
                Some(stream.read(&mut b).await.map_or(1, |n| n))
            },
            async {
                async_io::Timer::after(Duration::from_secs(10)).await;
                None
            },
        )
        .await;
        assert_eq!(eof, Some(0), "idle outbound stream closed");
        // The next message goes on a new stream.
        let s2 = session.clone();
        let _f2 = ex.spawn(async move { s2.fetch(second).await });
        let (_, mut stream) = incoming.next().await.expect("second stream");
        let msg = read_one(&mut stream).await;
        assert_eq!(msg.wantlist.expect("wantlist").entries[0].cid, second);
    });
}

#[test]
fn two_cids_with_one_multihash_are_both_fetched() {
    run(|ex| async move {
        let server = spawn_node(&ex, 7001, bitswap::Config::default());
        let client = spawn_node(&ex, 7002, bitswap::Config::default());
        let data = b"same bytes, two CIDs".to_vec();
        let v0 = acorn_storage::cids::cid_of(0, acorn_storage::cids::DAG_PB, &data);
        let v1 = acorn_storage::cids::cid_of(1, acorn_storage::cids::DAG_PB, &data);
        assert_ne!(v0, v1);
        assert_eq!(v0.hash(), v1.hash());
        server
            .store
            .put(&Block::new(v0, data.clone()).expect("block"))
            .expect("put");
        connected(&client, &server, 7001).await;
        let session = client.handle.new_session().await.expect("session");
        let both = futures::future::join(session.fetch(v0), session.fetch(v1));
        let (a, b) = smol::future::or(async { Some(both.await) }, async {
            async_io::Timer::after(Duration::from_secs(10)).await;
            None
        })
        .await
        .expect("both fetches finish");
        assert_eq!(a.expect("v0").cid(), &v0);
        assert_eq!(b.expect("v1").cid(), &v1);
    });
}
