//! The link emulator's logic, without I/O: what one direction of an emulated link
//! does to each packet (loss, rate, delay, jitter, reordering), on a clock the
//! caller passes in.
//!
//! Flow, one packet at a time: [`Pipe::on_packet`] decides its fate at arrival —
//! lost (Bernoulli, seeded), dropped because the bottleneck queue is full (tail
//! drop), or scheduled: it waits for the packets before it to be serialised at
//! `rate`, then for its own serialisation time, then travels `delay ± jitter`.
//! Without reordering a packet never overtakes the one before it (jitter stretches
//! the gaps, as on a real path); a packet picked for reordering skips that rule and
//! travels half the delay, so it overtakes what was sent in the last `delay / 2`.
//! [`Pipe::poll_transmit`] hands out each packet when its time has come and
//! [`Pipe::poll_timeout`] says when the next one is due. The I/O loop around it
//! (the `testnet-link` binary) only reads TUN devices, sleeps and writes.
//!
//! Same seed, same conditions, same arrival times: same fates, same schedule.
//!
//! **Limits**: [`Conditions::queue_bytes`] of backlog waiting for the rate limit
//! (default [`DEFAULT_QUEUE_BYTES`]), and at most [`MAX_PACKETS_IN_FLIGHT`]
//! packets held in all (queue and delay line); past either, the newest packet is
//! dropped and counted in [`Counters::dropped_full`].

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt;
use std::time::{Duration, Instant};

use acorn_tools::rng::Rng;

/// Packets one direction holds at most (queued for the rate limit or in the delay
/// line). At 1500 bytes each, 6 MiB: enough for 1 Gbit/s × 50 ms.
pub const MAX_PACKETS_IN_FLIGHT: usize = 4096;

/// Default backlog in front of the rate limit: 96 KiB, a little over one
/// bandwidth-delay product of 10 Mbit/s × 75 ms, so one TCP flow can fill such a
/// link without the queue adding more than ~80 ms.
pub const DEFAULT_QUEUE_BYTES: u32 = 96 << 10;

/// One million: probabilities are in parts per million.
const PPM: u32 = 1_000_000;

/// What one direction of a link does to packets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conditions {
    /// One-way delay.
    pub delay: Duration,
    /// Each packet's delay is `delay` plus a uniform draw in `-jitter..=jitter`
    /// (never below zero).
    pub jitter: Duration,
    /// Packets lost, in parts per million (`1%` = 10 000).
    pub loss_ppm: u32,
    /// Bits per second on the wire (IP packets, headers included); 0 = no limit.
    pub rate_bps: u64,
    /// Packets picked to overtake earlier ones, in parts per million.
    pub reorder_ppm: u32,
    /// Backlog waiting for the rate limit before the newest packet is dropped.
    pub queue_bytes: u32,
}

impl Default for Conditions {
    /// A perfect link: no delay, loss or rate limit.
    fn default() -> Self {
        Conditions {
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            loss_ppm: 0,
            rate_bps: 0,
            reorder_ppm: 0,
            queue_bytes: DEFAULT_QUEUE_BYTES,
        }
    }
}

/// A bad link value, with the text that was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadValue(pub String);

impl fmt::Display for BadValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadValue {}

/// `25ms`, `1.5s`, `300us`, `0`.
pub fn parse_duration(s: &str) -> Result<Duration, BadValue> {
    let s = s.trim();
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let (num, scale_us) = if let Some(n) = s.strip_suffix("us") {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix("ms") {
        (n, 1e3)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1e6)
    } else {
        return Err(BadValue(format!(
            "duration {s:?} needs a unit: us, ms or s (e.g. \"25ms\")"
        )));
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| BadValue(format!("duration {s:?} is not a number with a unit")))?;
    if !v.is_finite() || !(0.0..=3600.0 * 1e6).contains(&(v * scale_us)) {
        return Err(BadValue(format!(
            "duration {s:?} is out of range (0 to 1 hour)"
        )));
    }
    Ok(Duration::from_micros((v * scale_us).round() as u64))
}

/// `1%`, `0.25%`, `0` → parts per million (at most 100 %).
pub fn parse_percent(s: &str) -> Result<u32, BadValue> {
    let s = s.trim();
    if s == "0" {
        return Ok(0);
    }
    let n = s
        .strip_suffix('%')
        .ok_or_else(|| BadValue(format!("{s:?} needs a % sign (e.g. \"1%\")")))?;
    let v: f64 = n
        .trim()
        .parse()
        .map_err(|_| BadValue(format!("{s:?} is not a percentage")))?;
    if !(0.0..=100.0).contains(&v) {
        return Err(BadValue(format!("{s:?} is not between 0% and 100%")));
    }
    Ok((v * 1e4).round() as u32)
}

/// `10mbit`, `512kbit`, `1gbit`, `9600bit`, `unlimited` → bits per second (0 = no limit).
pub fn parse_rate(s: &str) -> Result<u64, BadValue> {
    let s = s.trim();
    if s == "unlimited" || s == "0" {
        return Ok(0);
    }
    let lower = s.to_ascii_lowercase();
    let (num, scale) = [("gbit", 1e9), ("mbit", 1e6), ("kbit", 1e3), ("bit", 1.0)]
        .iter()
        .find_map(|(unit, scale)| lower.strip_suffix(unit).map(|n| (n.to_string(), *scale)))
        .ok_or_else(|| {
            BadValue(format!(
                "rate {s:?} needs a unit: bit, kbit, mbit or gbit (e.g. \"10mbit\")"
            ))
        })?;
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| BadValue(format!("rate {s:?} is not a number with a unit")))?;
    let bps = v * scale;
    if !bps.is_finite() || !(1000.0..=10e9).contains(&bps) {
        return Err(BadValue(format!(
            "rate {s:?} is out of range (1kbit to 10gbit, or \"unlimited\")"
        )));
    }
    Ok(bps.round() as u64)
}

/// `96KiB`, `1MiB`, `1500` → bytes.
pub fn parse_bytes(s: &str) -> Result<u64, BadValue> {
    let s = s.trim();
    let (num, scale) = [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)]
        .iter()
        .find_map(|(unit, scale)| s.strip_suffix(unit).map(|n| (n, *scale)))
        .unwrap_or((s, 1));
    let v: u64 = num.trim().parse().map_err(|_| {
        BadValue(format!(
            "size {s:?} is not a whole number of bytes, KiB, MiB or GiB"
        ))
    })?;
    v.checked_mul(scale)
        .ok_or_else(|| BadValue(format!("size {s:?} is too large")))
}

impl Conditions {
    /// Sets one `key=value` (`delay`, `jitter`, `loss`, `rate`, `reorder`, `queue`).
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), BadValue> {
        match key.trim() {
            "delay" => self.delay = parse_duration(value)?,
            "jitter" => self.jitter = parse_duration(value)?,
            "loss" => self.loss_ppm = parse_percent(value)?,
            "rate" => self.rate_bps = parse_rate(value)?,
            "reorder" => self.reorder_ppm = parse_percent(value)?,
            "queue" => {
                let b = parse_bytes(value)?;
                self.queue_bytes =
                    u32::try_from(b)
                        .ok()
                        .filter(|b| *b >= 1500)
                        .ok_or_else(|| {
                            BadValue(format!("queue {value:?} must be 1500 bytes to 4 GiB"))
                        })?;
            }
            other => {
                return Err(BadValue(format!(
                    "unknown link setting {other:?} (known: delay, jitter, loss, rate, \
                     reorder, queue)"
                )))
            }
        }
        Ok(())
    }

    /// `delay=25ms,jitter=2ms,loss=1%,rate=10mbit,reorder=0.5%,queue=96KiB`
    /// (any subset; the rest as in [`Conditions::default`]). `perfect` or an empty
    /// string is the default.
    pub fn parse(s: &str) -> Result<Conditions, BadValue> {
        let mut c = Conditions::default();
        let s = s.trim();
        if s.is_empty() || s == "perfect" {
            return Ok(c);
        }
        for part in s.split(',') {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| BadValue(format!("{part:?} is not key=value")))?;
            c.set(k, v)?;
        }
        Ok(c)
    }

    /// Time to put `len` bytes on the wire at `rate_bps`.
    fn serialisation(&self, len: usize) -> Duration {
        if self.rate_bps == 0 {
            return Duration::ZERO;
        }
        Duration::from_nanos((len as u64 * 8).saturating_mul(1_000_000_000) / self.rate_bps)
    }
}

impl fmt::Display for Conditions {
    /// The [`Conditions::parse`] form, every field.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "delay={}us,jitter={}us,loss={}%,rate={},reorder={}%,queue={}",
            self.delay.as_micros(),
            self.jitter.as_micros(),
            self.loss_ppm as f64 / 1e4,
            if self.rate_bps == 0 {
                "unlimited".to_string()
            } else {
                format!("{}bit", self.rate_bps)
            },
            self.reorder_ppm as f64 / 1e4,
            self.queue_bytes
        )
    }
}

/// What happened to the packets of one direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Counters {
    pub packets_in: u64,
    pub packets_out: u64,
    pub bytes_out: u64,
    /// Lost on purpose (the loss rate).
    pub lost: u64,
    /// Dropped because the queue or the in-flight bound was full.
    pub dropped_full: u64,
    /// Sent ahead of earlier packets (the reorder rate).
    pub reordered: u64,
}

/// What [`Pipe::on_packet`] did with a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// It will come out at this time.
    Scheduled(Instant),
    Lost,
    DroppedFull,
}

struct Held {
    at: Instant,
    seq: u64,
    packet: Vec<u8>,
}

impl PartialEq for Held {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Held {}
impl PartialOrd for Held {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Held {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(o.at, o.seq))
    }
}

/// One direction of an emulated link.
pub struct Pipe {
    cond: Conditions,
    rng: Rng,
    /// When the wire finishes the last accepted packet.
    wire_free: Option<Instant>,
    /// Delivery time of the last packet that was not reordered (FIFO floor).
    last_at: Option<Instant>,
    held: BinaryHeap<Reverse<Held>>,
    seq: u64,
    counters: Counters,
}

impl Pipe {
    pub fn new(cond: Conditions, seed: u64) -> Pipe {
        Pipe {
            cond,
            rng: Rng::new(seed),
            wire_free: None,
            last_at: None,
            held: BinaryHeap::new(),
            seq: 0,
            counters: Counters::default(),
        }
    }

    pub fn conditions(&self) -> Conditions {
        self.cond
    }

    /// New conditions from now on; packets already held keep their times.
    pub fn set_conditions(&mut self, cond: Conditions) {
        self.cond = cond;
    }

    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Bytes waiting for the rate limit at `now`.
    fn backlog_bytes(&self, now: Instant) -> u64 {
        match self.wire_free {
            Some(t) if t > now && self.cond.rate_bps > 0 => {
                ((t - now).as_nanos() * self.cond.rate_bps as u128 / 8 / 1_000_000_000) as u64
            }
            _ => 0,
        }
    }

    fn chance(&mut self, ppm: u32) -> bool {
        ppm > 0 && (ppm >= PPM || (self.rng.below(PPM as u64) as u32) < ppm)
    }

    /// A packet arrives at `now`.
    pub fn on_packet(&mut self, now: Instant, packet: Vec<u8>) -> Fate {
        self.counters.packets_in += 1;
        if self.chance(self.cond.loss_ppm) {
            self.counters.lost += 1;
            return Fate::Lost;
        }
        if self.held.len() >= MAX_PACKETS_IN_FLIGHT
            || self.backlog_bytes(now) + packet.len() as u64 > self.cond.queue_bytes as u64
        {
            self.counters.dropped_full += 1;
            return Fate::DroppedFull;
        }
        let start = self.wire_free.filter(|t| *t > now).unwrap_or(now);
        let sent = start + self.cond.serialisation(packet.len());
        self.wire_free = Some(sent);
        let jitter_us = self.cond.jitter.as_micros() as i64;
        let offset_us = if jitter_us > 0 {
            self.rng.below(2 * jitter_us as u64 + 1) as i64 - jitter_us
        } else {
            0
        };
        let delay_us = (self.cond.delay.as_micros() as i64 + offset_us).max(0) as u64;
        let mut at = sent + Duration::from_micros(delay_us);
        if self.chance(self.cond.reorder_ppm) {
            self.counters.reordered += 1;
            at = sent + self.cond.delay / 2;
        } else {
            if let Some(floor) = self.last_at {
                at = at.max(floor);
            }
            self.last_at = Some(at);
        }
        self.seq += 1;
        self.held.push(Reverse(Held {
            at,
            seq: self.seq,
            packet,
        }));
        Fate::Scheduled(at)
    }

    /// The next packet due at `now`, if any.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Vec<u8>> {
        if self.held.peek()?.0.at > now {
            return None;
        }
        let h = self.held.pop()?.0;
        self.counters.packets_out += 1;
        self.counters.bytes_out += h.packet.len() as u64;
        Some(h.packet)
    }

    /// When the next packet is due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.held.peek().map(|h| h.0.at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Drains every packet due by `until`, stepping the fake clock to each due time;
    /// returns (time since `t0`, first byte) of each.
    fn drain(p: &mut Pipe, t0: Instant, until: Instant) -> Vec<(Duration, u8)> {
        let mut out = Vec::new();
        while let Some(t) = p.poll_timeout().filter(|t| *t <= until) {
            if t > t0 {
                assert!(p.poll_transmit(t - Duration::from_nanos(1)).is_none());
            }
            let pkt = p.poll_transmit(t).unwrap();
            out.push((t - t0, pkt[0]));
        }
        out
    }

    #[test]
    fn parses_values_and_names_the_bad_ones() {
        let c =
            Conditions::parse("delay=25ms,jitter=2ms,loss=1%,rate=10mbit,reorder=0.5%,queue=64KiB")
                .unwrap();
        assert_eq!(c.delay, ms(25));
        assert_eq!(c.jitter, ms(2));
        assert_eq!(c.loss_ppm, 10_000);
        assert_eq!(c.rate_bps, 10_000_000);
        assert_eq!(c.reorder_ppm, 5_000);
        assert_eq!(c.queue_bytes, 64 << 10);
        assert_eq!(Conditions::parse(&c.to_string()).unwrap(), c);
        assert_eq!(Conditions::parse("perfect").unwrap(), Conditions::default());
        assert_eq!(parse_duration("1.5s").unwrap(), ms(1500));
        assert_eq!(parse_rate("unlimited").unwrap(), 0);
        for (bad, says) in [
            ("delay=25", "needs a unit"),
            ("loss=150%", "between 0% and 100%"),
            ("loss=1", "% sign"),
            ("rate=10mb", "needs a unit"),
            ("rate=1bit", "out of range"),
            ("speed=1mbit", "unknown link setting \"speed\""),
            ("delay", "not key=value"),
            ("queue=10", "1500 bytes"),
        ] {
            let e = Conditions::parse(bad).unwrap_err().0;
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn delay_and_rate_schedule_back_to_back_packets() {
        // 8 Mbit/s: a 1000-byte packet takes 1 ms on the wire; 20 ms delay.
        let cond = Conditions::parse("delay=20ms,rate=8mbit").unwrap();
        let mut p = Pipe::new(cond, 1);
        let t0 = Instant::now();
        for i in 0..5u8 {
            assert!(matches!(p.on_packet(t0, vec![i; 1000]), Fate::Scheduled(_)));
        }
        let out = drain(&mut p, t0, t0 + ms(100));
        let want: Vec<_> = (0..5u8).map(|i| (ms(21 + i as u64), i)).collect();
        assert_eq!(out, want);
        // An idle wire: the next packet only pays its own serialisation.
        p.on_packet(t0 + ms(50), vec![9; 1000]);
        assert_eq!(p.poll_timeout(), Some(t0 + ms(71)));
    }

    #[test]
    fn full_queue_drops_the_newest_and_counts_it() {
        // 3000 bytes of queue at 8 Mbit/s: a burst of ten 1000-byte packets keeps
        // three and drops the rest.
        let cond = Conditions::parse("rate=8mbit,queue=3000").unwrap();
        let mut p = Pipe::new(cond, 1);
        let t0 = Instant::now();
        let fates: Vec<_> = (0..10).map(|_| p.on_packet(t0, vec![0; 1000])).collect();
        let kept = fates
            .iter()
            .filter(|f| matches!(f, Fate::Scheduled(_)))
            .count();
        assert_eq!(kept, 3);
        assert!(fates[3..].iter().all(|f| *f == Fate::DroppedFull));
        assert_eq!(p.counters().dropped_full, 7);
        // Once the wire has drained, packets are taken again.
        assert!(matches!(
            p.on_packet(t0 + ms(3), vec![0; 1000]),
            Fate::Scheduled(_)
        ));
    }

    #[test]
    fn loss_is_seeded_and_near_the_rate() {
        let cond = Conditions::parse("loss=5%").unwrap();
        let fates = |seed| {
            let mut p = Pipe::new(cond, seed);
            let t0 = Instant::now();
            (0..20_000)
                .map(|_| p.on_packet(t0, vec![0]) == Fate::Lost)
                .collect::<Vec<_>>()
        };
        let a = fates(7);
        assert_eq!(a, fates(7), "same seed, same losses");
        assert_ne!(a, fates(8));
        let lost = a.iter().filter(|l| **l).count();
        // 5 % of 20 000 = 1000; the standard deviation is ~31.
        assert!((900..1100).contains(&lost), "{lost}");
        let all = Conditions::parse("loss=100%").unwrap();
        let mut p = Pipe::new(all, 1);
        assert!((0..100).all(|_| p.on_packet(Instant::now(), vec![0]) == Fate::Lost));
    }

    #[test]
    fn jitter_spreads_delays_but_keeps_order_without_reordering() {
        let cond = Conditions::parse("delay=50ms,jitter=10ms").unwrap();
        let mut p = Pipe::new(cond, 3);
        let t0 = Instant::now();
        let mut ats = Vec::new();
        for i in 0..200u64 {
            match p.on_packet(t0 + ms(i), vec![i as u8]) {
                Fate::Scheduled(at) => ats.push(at - (t0 + ms(i))),
                f => panic!("{f:?}"),
            }
        }
        let min = *ats.iter().min().unwrap();
        let max = *ats.iter().max().unwrap();
        assert!(min >= ms(40) && max <= ms(61), "{min:?}..{max:?}");
        assert!(max - min > ms(10), "jitter spread only {:?}", max - min);
        let out = drain(&mut p, t0, t0 + ms(1000));
        let order: Vec<u8> = out.iter().map(|(_, b)| *b).collect();
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(order, sorted, "packets overtook each other");
        assert_eq!(out.len(), 200);
    }

    #[test]
    fn reordered_packets_overtake_and_are_counted() {
        let cond = Conditions::parse("delay=40ms,reorder=10%").unwrap();
        let mut p = Pipe::new(cond, 5);
        let t0 = Instant::now();
        for i in 0..100u8 {
            p.on_packet(t0 + ms(i as u64), vec![i]);
        }
        let order: Vec<u8> = drain(&mut p, t0, t0 + ms(1000))
            .into_iter()
            .map(|(_, b)| b)
            .collect();
        assert_eq!(order.len(), 100);
        let overtakes = order.windows(2).filter(|w| w[0] > w[1]).count();
        let reordered = p.counters().reordered;
        assert!((3..=20).contains(&reordered), "{reordered}");
        assert!(
            overtakes as u64 >= reordered / 2,
            "{overtakes} vs {reordered}"
        );
        assert_eq!(p.counters().packets_out, 100);
    }

    #[test]
    fn changed_conditions_apply_to_new_packets_only() {
        let mut p = Pipe::new(Conditions::parse("delay=100ms").unwrap(), 1);
        let t0 = Instant::now();
        p.on_packet(t0, vec![1]);
        p.set_conditions(Conditions::parse("delay=10ms").unwrap());
        p.on_packet(t0, vec![2]);
        // FIFO: the second waits for the first.
        assert_eq!(
            drain(&mut p, t0, t0 + ms(200)),
            vec![(ms(100), 1), (ms(100), 2)]
        );
        p.on_packet(t0 + ms(200), vec![3]);
        assert_eq!(p.poll_timeout(), Some(t0 + ms(210)));
    }
}
