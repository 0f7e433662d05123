//! One TXT lookup as a state machine with no I/O: the nameservers are asked in turn,
//! one UDP query each, until one answers.
//!
//! **Flow.** [`TxtQuery::new`] encodes the query. [`TxtQuery::poll_transmit`] names
//! the next nameserver and the datagram to send it (the driver sends it from a fresh
//! socket connected to that server); the answer is awaited until
//! [`TxtQuery::poll_timeout`]. Each datagram from that server goes to
//! [`TxtQuery::on_datagram`]: an answer with another id is ignored (a stray), any
//! other answer ends the wait. Records end the lookup; a malformed, truncated or
//! refused answer ([`wire::WireError`]), a socket error ([`TxtQuery::on_socket_error`])
//! or silence past the timeout ([`TxtQuery::on_timeout`]) moves on to the next
//! nameserver. Once all were asked, [`TxtQuery::poll_result`] gives the last error
//! (silence counts only when no nameserver said anything else).
//!
//! Time is an argument: the query never reads a clock or touches a socket, so a unit
//! test steps a fake clock through retries, timeouts and truncated answers.
//!
//! **Limits.** One query per nameserver (the resolver keeps at most
//! [`super::MAX_NAMESERVERS`]), each waiting `timeout`; a datagram is parsed in
//! place, at most [`wire::MAX_MESSAGE_BYTES`] are read by the driver.
//!
//! **Departures.** No TCP fallback for truncated answers (RFC 7766 asks for one):
//! a truncated answer counts as that nameserver's failure.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::{wire, Error};

/// A TXT lookup for one name; see the module doc.
#[derive(Debug)]
pub struct TxtQuery {
    name: String,
    query: Vec<u8>,
    servers: Vec<SocketAddr>,
    /// The next nameserver to ask (index into `servers`).
    next: usize,
    /// The nameserver asked now, and when its time is up.
    waiting: Option<(SocketAddr, Instant)>,
    timeout: Duration,
    /// What the lookup fails with if nobody answers with records.
    last: Error,
    /// The outcome, once known; taken by [`TxtQuery::poll_result`].
    done: Option<Result<Vec<Vec<u8>>, Error>>,
    /// The lookup has ended (its outcome may have been taken).
    ended: bool,
}

impl TxtQuery {
    /// A TXT query for `name` with message id `id`, for `servers` in order, each
    /// waited for `timeout`. Fails when `name` cannot be encoded.
    pub fn new(
        name: &str,
        id: u16,
        servers: &[SocketAddr],
        timeout: Duration,
    ) -> Result<TxtQuery, Error> {
        let query = wire::encode_txt_query(id, name).map_err(|source| Error::Wire {
            name: name.to_owned(),
            source,
        })?;
        let last = Error::Timeout {
            name: name.to_owned(),
            timeout,
        };
        let mut q = TxtQuery {
            name: name.to_owned(),
            query,
            servers: servers.to_vec(),
            next: 0,
            waiting: None,
            timeout,
            last,
            done: None,
            ended: false,
        };
        q.finish_if_exhausted();
        Ok(q)
    }

    /// The next datagram to send and its nameserver, if one is due; the wait for its
    /// answer starts at `now`.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<(SocketAddr, &[u8])> {
        if self.ended || self.waiting.is_some() {
            return None;
        }
        let server = *self.servers.get(self.next)?;
        self.next += 1;
        self.waiting = Some((server, now + self.timeout));
        Some((server, &self.query))
    }

    /// When [`TxtQuery::on_timeout`] is due, while an answer is awaited.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.waiting.map(|(_, at)| at)
    }

    /// The time is `now`: a nameserver silent past its timeout is given up.
    pub fn on_timeout(&mut self, now: Instant) {
        if let Some((_, at)) = self.waiting {
            if at <= now {
                self.waiting = None;
                self.finish_if_exhausted();
            }
        }
    }

    /// A datagram from `from`. Only the awaited nameserver's answers with our id
    /// count; anything else is ignored.
    pub fn on_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        let Some((server, _)) = self.waiting else {
            return;
        };
        if from != server {
            return;
        }
        self.on_timeout(now);
        if self.waiting.is_none() {
            return;
        }
        match wire::parse_txt_response(&self.query, datagram) {
            Err(wire::WireError::Mismatch) => {}
            Ok(records) => {
                self.waiting = None;
                self.end(Ok(records));
            }
            Err(source) => {
                self.waiting = None;
                self.last = Error::Wire {
                    name: self.name.clone(),
                    source,
                };
                self.finish_if_exhausted();
            }
        }
    }

    /// Sending to, or receiving from, the awaited nameserver failed: it is given up.
    pub fn on_socket_error(&mut self, source: std::io::Error) {
        if self.waiting.take().is_some() {
            self.last = Error::Socket {
                name: self.name.clone(),
                source,
            };
            self.finish_if_exhausted();
        }
    }

    /// The outcome, once the lookup has ended (given once).
    pub fn poll_result(&mut self) -> Option<Result<Vec<Vec<u8>>, Error>> {
        self.done.take()
    }

    /// Nobody is awaited and nobody is left to ask: the lookup fails with the last
    /// error.
    fn finish_if_exhausted(&mut self) {
        if !self.ended && self.waiting.is_none() && self.next >= self.servers.len() {
            let last = std::mem::replace(
                &mut self.last,
                Error::Timeout {
                    name: self.name.clone(),
                    timeout: self.timeout,
                },
            );
            self.end(Err(last));
        }
    }

    fn end(&mut self, outcome: Result<Vec<Vec<u8>>, Error>) {
        self.ended = true;
        self.done = Some(outcome);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUT: Duration = Duration::from_secs(3);
    const NAME: &str = "_dnsaddr.boot.test";

    fn servers(n: u16) -> Vec<SocketAddr> {
        (1..=n)
            .map(|i| SocketAddr::from(([10, 0, 0, i as u8], 53)))
            .collect()
    }

    #[test]
    fn first_answer_with_records_ends_the_lookup() {
        let t0 = Instant::now();
        let ns = servers(2);
        let mut q = TxtQuery::new(NAME, 7, &ns, TIMEOUT).unwrap();
        let (to, datagram) = q.poll_transmit(t0).unwrap();
        assert_eq!(to, ns[0]);
        assert_eq!(datagram, wire::encode_txt_query(7, NAME).unwrap());
        // One query at a time: nothing more to send while waiting.
        assert!(q.poll_transmit(t0).is_none());
        assert_eq!(q.poll_timeout(), Some(t0 + TIMEOUT));
        q.on_datagram(
            t0,
            ns[0],
            &wire::response(7, NAME, &["dnsaddr=/ip4/1.2.3.4"]),
        );
        assert_eq!(
            q.poll_result().unwrap().unwrap(),
            vec![b"dnsaddr=/ip4/1.2.3.4".to_vec()]
        );
        assert!(
            q.poll_transmit(t0).is_none(),
            "the second server is never asked"
        );
        assert_eq!(q.poll_timeout(), None);
    }

    #[test]
    fn stray_datagrams_are_ignored() {
        let t0 = Instant::now();
        let ns = servers(1);
        let mut q = TxtQuery::new(NAME, 7, &ns, TIMEOUT).unwrap();
        q.poll_transmit(t0).unwrap();
        // Another id, or another sender: still waiting.
        q.on_datagram(t0, ns[0], &wire::response(8, NAME, &["x"]));
        q.on_datagram(t0, servers(2)[1], &wire::response(7, NAME, &["x"]));
        assert!(q.poll_result().is_none());
        assert_eq!(q.poll_timeout(), Some(t0 + TIMEOUT));
        q.on_datagram(t0, ns[0], &wire::response(7, NAME, &["y"]));
        assert_eq!(q.poll_result().unwrap().unwrap(), vec![b"y".to_vec()]);
    }

    #[test]
    fn silence_moves_to_the_next_server_then_times_out() {
        let t0 = Instant::now();
        let ns = servers(3);
        let mut q = TxtQuery::new(NAME, 7, &ns, TIMEOUT).unwrap();
        let mut now = t0;
        for server in &ns {
            let (to, _) = q.poll_transmit(now).unwrap();
            assert_eq!(to, *server);
            // Not yet due: nothing changes.
            q.on_timeout(now + TIMEOUT - Duration::from_millis(1));
            assert!(q.poll_transmit(now).is_none());
            now += TIMEOUT;
            assert_eq!(q.poll_timeout(), Some(now));
            q.on_timeout(now);
        }
        let err = q.poll_result().unwrap().unwrap_err();
        assert!(
            matches!(
                err,
                Error::Timeout {
                    timeout: TIMEOUT,
                    ..
                }
            ),
            "{err}"
        );
        // A late answer from the last server changes nothing.
        q.on_datagram(now, ns[2], &wire::response(7, NAME, &["late"]));
        assert!(q.poll_result().is_none());
    }

    #[test]
    fn a_late_answer_after_the_deadline_counts_as_silence() {
        let t0 = Instant::now();
        let ns = servers(2);
        let mut q = TxtQuery::new(NAME, 7, &ns, TIMEOUT).unwrap();
        q.poll_transmit(t0).unwrap();
        // The driver saw the datagram only after the deadline: the first server is
        // given up and the second one asked.
        q.on_datagram(t0 + TIMEOUT, ns[0], &wire::response(7, NAME, &["late"]));
        assert!(q.poll_result().is_none());
        assert_eq!(q.poll_transmit(t0 + TIMEOUT).unwrap().0, ns[1]);
    }

    #[test]
    fn truncated_answer_tries_the_next_server_and_is_the_error_if_all_fail() {
        let t0 = Instant::now();
        let ns = servers(2);
        let mut q = TxtQuery::new(NAME, 7, &ns, TIMEOUT).unwrap();
        q.poll_transmit(t0).unwrap();
        let mut truncated = wire::response(7, NAME, &["x"]);
        truncated[2] |= 0x02; // TC
        q.on_datagram(t0, ns[0], &truncated);
        assert!(q.poll_result().is_none());
        // The second server is asked at once, and stays silent.
        let (to, _) = q.poll_transmit(t0).unwrap();
        assert_eq!(to, ns[1]);
        q.on_timeout(t0 + TIMEOUT);
        // Silence does not hide what the first server said.
        let err = q.poll_result().unwrap().unwrap_err();
        assert!(
            matches!(
                err,
                Error::Wire {
                    source: wire::WireError::Truncated,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn a_socket_error_moves_on_and_a_later_answer_wins() {
        let t0 = Instant::now();
        let ns = servers(2);
        let mut q = TxtQuery::new(NAME, 7, &ns, TIMEOUT).unwrap();
        q.poll_transmit(t0).unwrap();
        q.on_socket_error(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert!(q.poll_result().is_none());
        let (to, _) = q.poll_transmit(t0).unwrap();
        assert_eq!(to, ns[1]);
        q.on_datagram(t0, ns[1], &wire::response(7, NAME, &[]));
        assert_eq!(q.poll_result().unwrap().unwrap(), Vec::<Vec<u8>>::new());
    }

    #[test]
    fn the_last_socket_error_is_reported() {
        let t0 = Instant::now();
        let mut q = TxtQuery::new(NAME, 7, &servers(1), TIMEOUT).unwrap();
        q.poll_transmit(t0).unwrap();
        q.on_socket_error(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        let err = q.poll_result().unwrap().unwrap_err();
        assert!(matches!(err, Error::Socket { .. }), "{err}");
    }

    #[test]
    fn no_servers_or_a_bad_name_fail_at_once() {
        let mut q = TxtQuery::new(NAME, 7, &[], TIMEOUT).unwrap();
        assert!(q.poll_transmit(Instant::now()).is_none());
        assert!(matches!(q.poll_result(), Some(Err(Error::Timeout { .. }))));
        let long = "a".repeat(300);
        assert!(matches!(
            TxtQuery::new(&long, 7, &servers(1), TIMEOUT),
            Err(Error::Wire { .. })
        ));
    }
}
