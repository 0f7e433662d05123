//! The node task: drives the [`Core`] on the node's executor, with one accept task
//! per inbound protocol, reader and writer tasks per stream (`handler.rs`), and the
//! blockstore on the caller's [`Blocking`] (see the module doc of `mod.rs`).

use super::*;

/// The bitswap node task.
pub struct Node;

impl Node {
    /// Registers the four bitswap protocols on `control` and spawns the node task on
    /// `ex`; blockstore calls run through `blocking`. Returns the handle and the
    /// daemon's event receiver.
    pub fn spawn(
        ex: &Arc<Executor<'static>>,
        mut control: libp2p_stream::Control,
        store: Arc<dyn Blockstore>,
        blocking: Arc<dyn Blocking>,
        cfg: Config,
    ) -> Result<(Handle, Receiver<NodeEvent>), Error> {
        let mut incoming = Vec::new();
        for (proto, _) in Version::PROTOCOLS {
            incoming.push(
                control
                    .accept(StreamProtocol::new(proto))
                    .map_err(|_| Error::AlreadyRegistered(proto.to_string()))?,
            );
        }
        let (cmd_tx, cmd_rx) = chan::bounded(cfg.command_capacity.max(1));
        let (ev_tx, ev_rx) = chan::bounded(cfg.event_capacity.max(1));
        let (io_tx, io_rx) = chan::bounded(cfg.io_capacity.max(1));
        let refused = Arc::new(AtomicU64::new(0));
        let (stop_tx, stop_rx) = chan::bounded::<()>(1);
        let limits = Arc::new(InboundLimits {
            max_total: cfg.max_inbound_streams,
            max_per_peer: cfg.max_inbound_streams_per_peer,
            count: Mutex::new(InboundCount::default()),
        });
        let read = handler::ReadLimits {
            budget: Arc::new(handler::ByteBudget::new(cfg.max_inbound_bytes)),
            min_timeout: cfg.min_send_timeout,
            max_timeout: cfg.send_timeout,
        };
        for streams in incoming {
            ex.spawn(accept_loop(
                streams,
                ex.clone(),
                limits.clone(),
                read.clone(),
                io_tx.clone(),
                refused.clone(),
                stop_rx.clone(),
            ))
            .detach();
        }
        let driver = Driver {
            core: Core::new(cfg.core.clone()),
            cfg,
            ex: ex.clone(),
            control,
            store,
            blocking,
            events: ev_tx,
            io_tx,
            writers: HashMap::new(),
            waiters: HashMap::new(),
            sessions: HashMap::new(),
            inbound_refused: refused,
            _stop: stop_tx,
            events_dropped: 0,
        };
        ex.spawn(driver.run(cmd_rx, io_rx)).detach();
        Ok((Handle { tx: cmd_tx }, ev_rx))
    }
}

type Reply = oneshot::Sender<Result<Block, Error>>;
type Mh = cid::multihash::Multihash<64>;

struct Driver {
    core: Core,
    cfg: Config,
    ex: Arc<Executor<'static>>,
    control: libp2p_stream::Control,
    store: Arc<dyn Blockstore>,
    blocking: Arc<dyn Blocking>,
    events: Sender<NodeEvent>,
    io_tx: Sender<IoEvent>,
    /// One writer per peer we send to (bounded by the core's peer table).
    writers: HashMap<PeerId, Sender<Message>>,
    /// Fetches waiting for the network, by (session, multihash) like the core's wants,
    /// each with the CID it asked for (bounded: wants × MAX_WAITERS_PER_WANT).
    waiters: HashMap<(SessionId, Mh), Vec<(Cid, Reply)>>,
    /// Live sessions: the token dies when the `Session` is dropped.
    sessions: HashMap<SessionId, Weak<()>>,
    /// Inbound streams reset by the caps (shared with the accept tasks).
    inbound_refused: Arc<AtomicU64>,
    /// Dropped with the driver: the accept tasks see it and end.
    _stop: Sender<()>,
    events_dropped: u64,
}

enum Wake {
    Io(Option<IoEvent>),
    Cmd(Option<Command>),
    Timer,
}

/// Inbound streams being read: in all and per peer (an entry exists only while its
/// count is > 0, so the map holds at most `max_total` peers).
#[derive(Default)]
struct InboundCount {
    total: usize,
    per_peer: HashMap<PeerId, usize>,
}

/// The inbound stream caps, shared by the accept tasks and the readers' slots.
struct InboundLimits {
    max_total: usize,
    max_per_peer: usize,
    count: Mutex<InboundCount>,
}

impl InboundLimits {
    /// A slot for one more stream from `peer`, or `None` when a cap is reached.
    fn try_acquire(self: &Arc<Self>, peer: PeerId) -> Option<InboundSlot> {
        let mut c = self.count.lock().unwrap_or_else(|e| e.into_inner());
        let mine = c.per_peer.get(&peer).copied().unwrap_or(0);
        if c.total >= self.max_total || mine >= self.max_per_peer {
            return None;
        }
        c.total += 1;
        c.per_peer.insert(peer, mine + 1);
        Some(InboundSlot {
            limits: self.clone(),
            peer,
        })
    }
}

/// One inbound stream's place in [`InboundLimits`], given back when the reader ends.
struct InboundSlot {
    limits: Arc<InboundLimits>,
    peer: PeerId,
}

impl Drop for InboundSlot {
    fn drop(&mut self) {
        let mut c = self.limits.count.lock().unwrap_or_else(|e| e.into_inner());
        c.total = c.total.saturating_sub(1);
        if let std::collections::hash_map::Entry::Occupied(mut e) = c.per_peer.entry(self.peer) {
            *e.get_mut() -= 1;
            if *e.get() == 0 {
                e.remove();
            }
        }
    }
}

/// Drains one protocol's inbound streams as they come (libp2p-stream keeps only one
/// pending), applies the caps and spawns a reader per accepted stream. Ends when the
/// node task ends (`stop` closes) or the control is dropped.
async fn accept_loop(
    mut incoming: libp2p_stream::IncomingStreams,
    ex: Arc<Executor<'static>>,
    limits: Arc<InboundLimits>,
    read: handler::ReadLimits,
    io: Sender<IoEvent>,
    refused: Arc<AtomicU64>,
    stop: Receiver<()>,
) {
    loop {
        let next = smol::future::or(async { incoming.next().await }, async {
            let _ = stop.recv().await;
            None
        })
        .await;
        let Some((peer, stream)) = next else {
            return;
        };
        let Some(slot) = limits.try_acquire(peer) else {
            refused.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(%peer, "bitswap: inbound stream cap reached, resetting one");
            continue; // dropping the stream resets it
        };
        let io = io.clone();
        let read = read.clone();
        ex.spawn(async move {
            let _slot = slot;
            handler::read_loop(peer, stream, io, read).await;
        })
        .detach();
    }
}

impl Driver {
    async fn run(mut self, cmd_rx: Receiver<Command>, io_rx: Receiver<IoEvent>) {
        loop {
            self.flush();
            let deadline = self.core.poll_timeout();
            let timer = async {
                match deadline {
                    Some(t) => {
                        async_io::Timer::at(t).await;
                    }
                    None => futures::future::pending::<()>().await,
                }
                Wake::Timer
            };
            // `race` picks a ready branch at random: no source starves the others.
            let wake = smol::future::race(
                async { Wake::Io(io_rx.recv().await.ok()) },
                smol::future::race(async { Wake::Cmd(cmd_rx.recv().await.ok()) }, timer),
            )
            .await;
            let now = Instant::now();
            match wake {
                Wake::Io(Some(ev)) => self.on_io(now, ev),
                Wake::Io(None) => {} // we hold a sender: cannot close
                Wake::Cmd(Some(Command::Shutdown)) => return,
                Wake::Cmd(Some(c)) => self.on_command(now, c),
                Wake::Cmd(None) => return, // every handle dropped: shut down
                Wake::Timer => self.core.on_timeout(now),
            }
        }
    }

    fn emit(&mut self, e: NodeEvent) {
        if let Err(TrySendError::Full(_)) = self.events.try_send(e) {
            self.events_dropped += 1;
        }
    }

    /// Moves everything the core has ready out to tasks and the daemon.
    fn flush(&mut self) {
        let now = Instant::now();
        while let Some(ev) = self.core.poll_event() {
            match ev {
                Event::Block { sessions, block } => {
                    let mh = *block.cid().hash();
                    let replies: Vec<(Cid, Reply)> = sessions
                        .iter()
                        .filter_map(|s| self.waiters.remove(&(*s, mh)))
                        .flatten()
                        .collect();
                    let store = self.store.clone();
                    let blocking = self.blocking.clone();
                    self.ex
                        .spawn(async move {
                            let b = block.clone();
                            let put = run_blocking(&*blocking, move || store.put(&b))
                                .await
                                .unwrap_or_else(|| Err(lost_job()));
                            for (cid, r) in replies {
                                let _ = r.send(match &put {
                                    Ok(()) if cid == *block.cid() => Ok(block.clone()),
                                    // Same digest, another version or codec: the block
                                    // under the CID this waiter asked for.
                                    Ok(()) => {
                                        Block::new(cid, block.data().to_vec()).map_err(Error::from)
                                    }
                                    Err(e) => Err(Error::Store(BlockError::Io(e.to_string()))),
                                });
                            }
                        })
                        .detach();
                }
                Event::WantFailed { session, cid } => {
                    let waiters = self.waiters.remove(&(session, *cid.hash()));
                    for (cid, r) in waiters.into_iter().flatten() {
                        let _ = r.send(Err(Error::NotFound { cid }));
                    }
                }
                Event::FindProviders { session, cid } => {
                    self.emit(NodeEvent::FindProviders { session, cid })
                }
                Event::Disconnect { peer } => self.emit(NodeEvent::Disconnect { peer }),
                Event::Refused { peer } => self.emit(NodeEvent::Refuse { peer }),
            }
        }
        while let Some(lookup) = self.core.poll_lookup() {
            let store = self.store.clone();
            let blocking = self.blocking.clone();
            let io = self.io_tx.clone();
            self.ex
                .spawn(async move {
                    let l = lookup.clone();
                    let found = run_blocking(&*blocking, move || match l.want_type {
                        WantType::Block => match store.get(&l.cid) {
                            Ok(Some(d)) => Found::Block(d),
                            _ => Found::Missing,
                        },
                        WantType::Have => match store.has(&l.cid) {
                            Ok(true) => Found::Have,
                            _ => Found::Missing,
                        },
                    })
                    .await
                    .unwrap_or(Found::Missing);
                    let _ = io.send(IoEvent::Lookup { lookup, found }).await;
                })
                .detach();
        }
        while let Some((peer, msg)) = self.core.poll_transmit(now) {
            let tx = match self.writers.get(&peer) {
                Some(tx) => tx.clone(),
                None => {
                    let (tx, rx) = chan::bounded(1);
                    let task = handler::write_loop(
                        peer,
                        self.control.clone(),
                        rx,
                        self.io_tx.clone(),
                        handler::WriteLimits {
                            min_timeout: self.cfg.min_send_timeout,
                            max_timeout: self.cfg.send_timeout,
                            idle_timeout: self.cfg.outbound_idle_timeout,
                        },
                    );
                    self.ex.spawn(task).detach();
                    self.writers.insert(peer, tx.clone());
                    tx
                }
            };
            if tx.try_send(msg).is_err() {
                // Writer gone (or, against the contract, busy): count as a failed send.
                self.writers.remove(&peer);
                self.core.on_send_failed(now, peer);
            }
        }
    }

    fn on_io(&mut self, now: Instant, ev: IoEvent) {
        match ev {
            IoEvent::Inbound { peer, result, held } => {
                match result {
                    Ok(msg) => self.core.on_message(now, peer, msg),
                    Err(_) => self.core.on_malformed(now, peer),
                }
                drop(held); // the core has the message: its frame bytes are free
            }
            IoEvent::Sent { peer } => self.core.on_sent(peer),
            IoEvent::SendFailed { peer } => {
                self.writers.remove(&peer);
                self.core.on_send_failed(now, peer);
            }
            IoEvent::Lookup { lookup, found } => self.core.on_lookup(lookup, found),
            IoEvent::FetchMiss {
                session,
                cid,
                reply,
            } => {
                if !self.sessions.contains_key(&session) {
                    let _ = reply.send(Err(Error::Core(core::CoreError::UnknownSession(session))));
                    return;
                }
                let key = (session, *cid.hash());
                let n = self.waiters.get(&key).map_or(0, Vec::len);
                if n >= MAX_WAITERS_PER_WANT {
                    let _ = reply.send(Err(Error::Busy {
                        cid,
                        limit: MAX_WAITERS_PER_WANT,
                    }));
                    return;
                }
                if n == 0 {
                    if let Err(e) = self.core.want(now, session, &[cid]) {
                        let _ = reply.send(Err(e.into()));
                        return;
                    }
                }
                self.waiters.entry(key).or_default().push((cid, reply));
            }
        }
    }

    /// Closes sessions whose `Session` was dropped.
    fn sweep_sessions(&mut self) {
        let dead: Vec<SessionId> = self
            .sessions
            .iter()
            .filter(|(_, t)| t.strong_count() == 0)
            .map(|(id, _)| *id)
            .collect();
        for id in dead {
            self.sessions.remove(&id);
            self.core.close_session(id);
            self.waiters.retain(|(s, _), _| *s != id);
        }
    }

    fn on_command(&mut self, now: Instant, c: Command) {
        self.sweep_sessions();
        match c {
            Command::NewSession { token, reply } => {
                let r = self.core.new_session().map_err(Error::from);
                if let Ok(id) = r {
                    self.sessions.insert(id, token);
                }
                let _ = reply.send(r);
            }
            Command::Fetch {
                session,
                cid,
                reply,
            } => {
                let store = self.store.clone();
                let blocking = self.blocking.clone();
                let io = self.io_tx.clone();
                self.ex
                    .spawn(async move {
                        if cid.hash().code() == acorn_storage::cids::IDENTITY {
                            let data = cid.hash().digest().to_vec();
                            let _ = reply.send(Block::new(cid, data).map_err(Error::from));
                            return;
                        }
                        let local = run_blocking(&*blocking, move || store.get(&cid))
                            .await
                            .unwrap_or_else(|| Err(lost_job()));
                        match local {
                            Ok(Some(data)) => {
                                let _ = reply.send(Block::new(cid, data).map_err(Error::from));
                            }
                            Ok(None) => {
                                let _ = io
                                    .send(IoEvent::FetchMiss {
                                        session,
                                        cid,
                                        reply,
                                    })
                                    .await;
                            }
                            Err(e) => {
                                let _ = reply.send(Err(e.into()));
                            }
                        }
                    })
                    .detach();
            }
            Command::Cancel { session, cid } => {
                // Waiters for this CID go; the want stays while the session still waits
                // for another CID with the same multihash.
                let key = (session, *cid.hash());
                let left = match self.waiters.get_mut(&key) {
                    Some(ws) => {
                        ws.retain(|(c, _)| *c != cid);
                        ws.len()
                    }
                    None => 0,
                };
                if left == 0 {
                    self.waiters.remove(&key);
                    self.core.cancel(session, &cid);
                }
            }
            Command::AddProviders { session, peers } => {
                self.core.add_providers(now, session, &peers)
            }
            Command::Connected(peer) => self.core.on_connected(Instant::now(), peer),
            Command::Disconnected(peer) => {
                // Dropping the sender ends the writer task.
                self.writers.remove(&peer);
                self.core.on_disconnected(now, peer);
            }
            Command::Stats(reply) => {
                let mut s = self.core.stats();
                s.events_dropped += self.events_dropped;
                s.inbound_streams_refused = self.inbound_refused.load(Ordering::Relaxed);
                let _ = reply.send(s);
            }
            Command::Wantlist(reply) => {
                let _ = reply.send(self.core.wantlist());
            }
            Command::PeerWantlist(peer, reply) => {
                let _ = reply.send(self.core.peer_wantlist(&peer));
            }
            Command::Peers(reply) => {
                let _ = reply.send(self.core.connected_peers().to_vec());
            }
            Command::Shutdown => {} // handled in `run`
        }
    }
}
