//! Connection admission: the open connections of one server and the rule that
//! closes a waiting connection, or refuses a new one, when the server is nearly
//! full (the parent module's doc, **Connections**).

use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use smol::channel::{self, Receiver, Sender};

use super::{Config, Stats};

pub(super) struct ConnGuard(pub(super) Arc<Stats>);

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.0.open_connections.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The open connections of one server, for the admission rule (module doc).
/// Holds at most `max_connections` entries: one is added only after the rule
/// made room for it.
pub(super) struct Conns {
    pub(super) table: std::sync::Mutex<Vec<ConnState>>,
    pub(super) next_id: std::sync::atomic::AtomicU64,
    pub(super) max: usize,
    pub(super) reserved: usize,
    pub(super) per_ip: usize,
}

pub(super) struct ConnState {
    pub(super) id: u64,
    pub(super) ip: IpAddr,
    /// Since when it has waited for a request head; `None` while it serves one.
    pub(super) waiting_since: Option<Instant>,
    /// Dropping it closes the connection if it waits for a head.
    pub(super) _evict: Sender<()>,
}

impl Conns {
    pub(super) fn new(config: &Config) -> Conns {
        let max = config.max_connections.max(1);
        Conns {
            table: std::sync::Mutex::new(Vec::with_capacity(max)),
            next_id: Default::default(),
            max,
            reserved: config.reserved_connections.min(max - 1),
            per_ip: config.max_connections_per_ip.max(1),
        }
    }

    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, Vec<ConnState>> {
        // A panic while the lock is held leaves a table still worth using.
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Applies the admission rule to a connection from `ip` arriving at `now`: its
    /// id and the receiver that ends when it is closed for room, or `None` (503).
    pub(super) fn admit(
        &self,
        ip: IpAddr,
        now: Instant,
        stats: &Stats,
    ) -> Option<(u64, Receiver<()>)> {
        let ip = ip.to_canonical();
        let mut table = self.lock();
        if table.len() >= self.max - self.reserved {
            let count = |ip: IpAddr, t: &[ConnState]| t.iter().filter(|c| c.ip == ip).count();
            let victim = table
                .iter()
                .enumerate()
                .filter(|(_, c)| c.waiting_since.is_some() && count(c.ip, &table) >= self.per_ip)
                .min_by_key(|(_, c)| c.waiting_since)
                .map(|(i, _)| i);
            if let Some(i) = victim {
                table.swap_remove(i);
                stats.evicted_connections.fetch_add(1, Ordering::Relaxed);
            } else if table.len() >= self.max || count(ip, &table) >= self.per_ip {
                return None;
            }
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = channel::bounded(1);
        table.push(ConnState {
            id,
            ip,
            waiting_since: Some(now),
            _evict: tx,
        });
        Some((id, rx))
    }

    /// Marks connection `id` as waiting for a head since `since`, or (`None`)
    /// serving a request.
    pub(super) fn set_waiting(&self, id: u64, since: Option<Instant>) {
        if let Some(c) = self.lock().iter_mut().find(|c| c.id == id) {
            c.waiting_since = since;
        }
    }

    pub(super) fn remove(&self, id: u64) {
        let mut table = self.lock();
        if let Some(i) = table.iter().position(|c| c.id == id) {
            table.swap_remove(i);
        }
    }
}

/// A connection's place in [`Conns`]; dropping it frees the place.
pub(super) struct ConnEntry {
    pub(super) conns: Arc<Conns>,
    pub(super) id: u64,
    /// Ends (closed) when the admission rule closed this connection for room.
    pub(super) evict: Receiver<()>,
}

impl Drop for ConnEntry {
    fn drop(&mut self) {
        self.conns.remove(self.id);
    }
}
