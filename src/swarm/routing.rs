//! The swarm task's Kademlia jobs: provider lookups for bitswap and `routing`
//! queries, each running one Kademlia query per DHT (WAN, and LAN when on) and
//! answering once both ended or it has enough (see the module doc of `swarm.rs`).

use acorn_net::swarm::Kad;
use futures::channel::oneshot;
use libp2p::{kad, PeerId};

use super::jobs::{Dht, JobId, QueryKey, RoutingError, RoutingQuery, StartError, DHTS};
use super::task::Task;
use super::{Provider, MAX_ROUTING_QUERIES_COUNT, PROVIDERS_PER_LOOKUP_COUNT};

impl Task {
    /// A fresh job id.
    pub(super) fn job_id(&mut self) -> JobId {
        let id = self.next_job;
        self.next_job = self.next_job.wrapping_add(1);
        id
    }

    /// Starts `start` on each DHT that is on; returns the queries started (tagged)
    /// and the last error of those that did not start.
    pub(super) fn start_on_both(
        &mut self,
        job: JobId,
        mut start: impl FnMut(&mut Kad) -> Result<kad::QueryId, StartError>,
    ) -> (heapless::Vec<QueryKey, 2>, Option<StartError>) {
        let mut running = heapless::Vec::new();
        let mut error = None;
        for dht in DHTS {
            let Some(k) = self.kad_of(dht) else { continue };
            match start(k) {
                Ok(q) => {
                    // Two slots for two DHTs: the push cannot fail.
                    let _ = running.push((dht, q));
                    self.queries.insert((dht, q), job);
                }
                Err(e) => error = Some(e),
            }
        }
        (running, error)
    }

    /// Stops the given Kademlia queries and forgets them (their last event is then
    /// ignored).
    pub(super) fn finish_queries(&mut self, running: &[QueryKey]) {
        for key @ (dht, id) in running {
            self.queries.remove(key);
            if let Some(mut q) = self.kad_of(*dht).and_then(|k| k.query_mut(id)) {
                q.finish();
            }
        }
    }

    pub(super) fn has_dht(&self) -> bool {
        self.swarm.behaviour().kad.is_enabled()
    }

    /// Admits a routing query, or answers "too many" and returns `None`.
    pub(super) fn routing_slot<T>(
        &self,
        reply: oneshot::Sender<Result<T, RoutingError>>,
    ) -> Option<oneshot::Sender<Result<T, RoutingError>>> {
        if self.routing.len() >= MAX_ROUTING_QUERIES_COUNT {
            let _ = reply.send(Err(RoutingError::TooMany {
                limit: MAX_ROUTING_QUERIES_COUNT,
            }));
            return None;
        }
        Some(reply)
    }

    pub(super) async fn on_kad(&mut self, dht: Dht, ev: kad::Event) {
        let kad::Event::OutboundQueryProgressed {
            id,
            result,
            step,
            stats,
        } = ev
        else {
            return;
        };
        if step.last {
            record_query(&result, &stats);
        }
        let key = (dht, id);
        let Some(&job) = self.queries.get(&key) else {
            return;
        };
        if step.last {
            self.queries.remove(&key);
        }
        if self.routing.contains_key(&job) {
            self.on_routing(job, key, result, step.last);
        } else if self.lookups.contains_key(&job) {
            self.on_lookup(job, key, result, step.last).await;
        }
    }

    /// Progress of a provider lookup for bitswap on one DHT.
    async fn on_lookup(&mut self, job: JobId, key: QueryKey, result: kad::QueryResult, last: bool) {
        if let kad::QueryResult::GetProviders(Ok(kad::GetProvidersOk::FoundProviders {
            providers,
            ..
        })) = result
        {
            let list: Vec<PeerId> = providers.iter().copied().collect();
            self.dial_providers(&list);
            let mut new = Vec::new();
            if let Some(l) = self.lookups.get_mut(&job) {
                for p in providers {
                    if l.what.found.len() < PROVIDERS_PER_LOOKUP_COUNT && !l.what.found.contains(&p)
                    {
                        l.what.found.push(p);
                        new.push(p);
                    }
                }
            }
            // Providers go to the session as they are found (as Kubo's
            // FindProvidersAsync), not when the lookup ends: a query waits for its
            // slowest peers, longer than a fetch can.
            if let (false, Some(l)) = (new.is_empty(), self.lookups.get(&job)) {
                let _ = self.bitswap.add_providers(l.what.session, new).await;
            }
        }
        let Some(l) = self.lookups.get_mut(&job) else {
            return;
        };
        if last {
            l.running.retain(|k| *k != key);
        }
        let full = l.what.found.len() >= PROVIDERS_PER_LOOKUP_COUNT;
        if !(full || l.running.is_empty()) {
            return;
        }
        if let Some(l) = self.lookups.remove(&job) {
            self.finish_queries(&l.running);
        }
    }

    /// Progress of a `routing` query on one DHT; the answer goes out once it has
    /// enough or both DHTs' queries ended.
    fn on_routing(&mut self, job: JobId, key: QueryKey, result: kad::QueryResult, last: bool) {
        let Some(q) = self.routing.get_mut(&job) else {
            return;
        };
        if last {
            q.running.retain(|k| *k != key);
        }
        let mut done = q.running.is_empty();
        match (&mut q.what, result) {
            (
                RoutingQuery::FindProvs { found, max, .. },
                kad::QueryResult::GetProviders(Ok(kad::GetProvidersOk::FoundProviders {
                    providers,
                    ..
                })),
            ) => {
                for p in providers {
                    if found.len() < *max && !found.contains(&p) {
                        found.push(p);
                    }
                }
                done |= found.len() >= *max;
            }
            (RoutingQuery::FindPeer { peer, found, .. }, kad::QueryResult::GetClosestPeers(r)) => {
                let peers = match r {
                    Ok(ok) => ok.peers,
                    Err(kad::GetClosestPeersError::Timeout { peers, .. }) => peers,
                };
                if let Some(info) = peers.into_iter().find(|i| i.peer_id == *peer) {
                    *found = Some(info.addrs);
                    done = true;
                }
            }
            (RoutingQuery::Provide { stored, error, .. }, kad::QueryResult::StartProviding(r)) => {
                match r {
                    Ok(_) => *stored = true,
                    Err(e) => *error = Some(e),
                }
            }
            _ => {}
        }
        if !done {
            return;
        }
        let Some(q) = self.routing.remove(&job) else {
            return;
        };
        self.finish_queries(&q.running);
        match q.what {
            RoutingQuery::FindProvs { found, reply, .. } => {
                let list = found
                    .into_iter()
                    .map(|peer| Provider {
                        addrs: self.addrs_of(&peer),
                        peer,
                    })
                    .collect();
                let _ = reply.send(Ok(list));
            }
            RoutingQuery::FindPeer { peer, found, reply } => {
                let _ = reply.send(found.ok_or(RoutingError::PeerNotFound { peer }));
            }
            RoutingQuery::Provide {
                stored,
                error,
                reply,
            } => {
                let r = if stored {
                    Ok(())
                } else {
                    Err(error.map_or(RoutingError::NoResult, RoutingError::Provide))
                };
                match reply {
                    Some(reply) => drop(reply.send(r)),
                    None => {
                        if let Err(e) = r {
                            tracing::debug!("background provide: {e}");
                        }
                    }
                }
            }
        }
    }
}

/// Counts a finished Kademlia query (any: bitswap lookups, `routing` commands,
/// bootstrap, background provides) in the metrics, by kind and result.
fn record_query(result: &kad::QueryResult, stats: &kad::QueryStats) {
    use kad::QueryResult as Q;
    let (kind, ok) = match result {
        Q::GetProviders(r) => ("get_providers", r.is_ok()),
        Q::StartProviding(r) | Q::RepublishProvider(r) => ("start_providing", r.is_ok()),
        Q::GetClosestPeers(r) => ("get_closest_peers", r.is_ok()),
        Q::Bootstrap(r) => ("bootstrap", r.is_ok()),
        Q::GetRecord(r) => ("get_record", r.is_ok()),
        _ => ("other", true),
    };
    let took = stats.duration().unwrap_or_default();
    crate::metrics::dht_query(kind, ok, took);
}
