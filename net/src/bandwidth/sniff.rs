//! Which protocol did multistream-select agree on a substream? Read off the bytes.
//!
//! **What.** A sans-IO watcher of the *listener's* half of a multistream-select 1.0
//! negotiation (`/multistream/1.0.0`, the libp2p spec `connections/README.md`). Every
//! message is an unsigned-varint length and that many bytes ending in `\n`. The
//! listener sends the header `/multistream/1.0.0\n`, then answers each protocol the
//! dialer proposes with `na\n` or by echoing it: the first echo is the agreed
//! protocol. The listener's half is our writes on inbound substreams and our reads on
//! outbound ones, so one watcher per substream sees it, whichever side we are.
//!
//! **Flow.** [`Sniffer::feed`] takes the bytes as they pass, split anywhere, and
//! returns a [`Verdict`] once it knows: [`Verdict::Known`] with the index of the echoed
//! protocol in the table it was given, or [`Verdict::Other`] for an echoed protocol not
//! in the table, or bytes that are not a listener's negotiation. After a verdict the
//! caller stops feeding.
//!
//! **Limits.** No allocation: a message is kept in a [`MAX_LINE_BYTES`] buffer; a
//! longer one cannot name a tracked protocol and is only counted through. A length
//! takes at most [`MAX_LEN_BYTES`] varint bytes (rust-libp2p's frame limit, lengths <
//! 16384); a longer or zero length is garbage. After [`MAX_SNIFF_BYTES`] without a
//! verdict (e.g. a listener answering `na` forever) the answer is [`Verdict::Other`].
//!
//! **Departures.** `ls` answers and the simultaneous-open extension are not followed
//! (they end as `Other`; rust-libp2p never sends them on substreams).

use acorn_storage::proto::VarintDecoder;

/// The multistream-select 1.0 header message.
pub const HEADER: &[u8] = b"/multistream/1.0.0\n";

/// The listener's "not available" answer.
pub const NA: &[u8] = b"na\n";

/// Longest message kept for matching, in bytes (with its `\n`). Must hold
/// [`HEADER`] and every tracked protocol name plus `\n`.
pub const MAX_LINE_BYTES: usize = 64;

/// Most bytes looked at on one substream before giving up with [`Verdict::Other`].
pub const MAX_SNIFF_BYTES: usize = 1024;

/// Most bytes of a message's varint length (rust-libp2p's `MAX_LEN_BYTES`).
pub const MAX_LEN_BYTES: usize = 2;

/// What the negotiation agreed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The listener echoed `table[i]`.
    Known(usize),
    /// Some other protocol, or not a negotiation we can follow.
    Other,
}

#[derive(Debug)]
enum State {
    Len(VarintDecoder),
    Body { remaining: usize, oversized: bool },
}

/// Watches one direction of one substream; see the module docs.
#[derive(Debug)]
pub struct Sniffer {
    table: &'static [&'static str],
    state: State,
    line: heapless::Vec<u8, MAX_LINE_BYTES>,
    header_seen: bool,
    seen_bytes: usize,
}

impl Sniffer {
    /// A watcher that reports echoes of the names in `table` by index.
    pub fn new(table: &'static [&'static str]) -> Self {
        Self {
            table,
            state: State::Len(VarintDecoder::default()),
            line: heapless::Vec::new(),
            header_seen: false,
            seen_bytes: 0,
        }
    }

    /// Looks at the next bytes of the listener's half; `Some` once decided (the
    /// caller then stops feeding).
    pub fn feed(&mut self, data: &[u8]) -> Option<Verdict> {
        for &byte in data {
            self.seen_bytes += 1;
            if self.seen_bytes > MAX_SNIFF_BYTES {
                return Some(Verdict::Other);
            }
            match &mut self.state {
                State::Len(varint) => match varint.push(byte) {
                    // At most MAX_LEN_BYTES groups: the length fits usize.
                    Ok(Some(len)) if len > 0 => {
                        self.state = State::Body {
                            remaining: len as usize,
                            oversized: false,
                        };
                        self.line.clear();
                    }
                    Ok(None) if varint.len() < MAX_LEN_BYTES => {}
                    _ => return Some(Verdict::Other),
                },
                State::Body {
                    remaining,
                    oversized,
                } => {
                    if self.line.push(byte).is_err() {
                        *oversized = true;
                    }
                    *remaining -= 1;
                    if *remaining == 0 {
                        let oversized = *oversized;
                        self.state = State::Len(VarintDecoder::default());
                        if let Some(verdict) = self.on_message(oversized) {
                            return Some(verdict);
                        }
                    }
                }
            }
        }
        None
    }

    fn on_message(&mut self, oversized: bool) -> Option<Verdict> {
        let line: &[u8] = &self.line;
        if !self.header_seen {
            if !oversized && line == HEADER {
                self.header_seen = true;
                return None;
            }
            return Some(Verdict::Other);
        }
        if !oversized && line == NA {
            return None;
        }
        let name = match line.split_last() {
            Some((b'\n', name)) if !oversized => name,
            _ => return Some(Verdict::Other),
        };
        Some(
            self.table
                .iter()
                .position(|p| p.as_bytes() == name)
                .map_or(Verdict::Other, Verdict::Known),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &[&str] = &[
        "/ipfs/bitswap/1.2.0",
        "/ipfs/bitswap/1.1.0",
        "/ipfs/id/1.0.0",
    ];

    fn msg(s: &[u8]) -> Vec<u8> {
        assert!(s.len() < 128);
        let mut v = vec![s.len() as u8];
        v.extend_from_slice(s);
        v
    }

    fn listener(answers: &[&[u8]]) -> Vec<u8> {
        let mut v = msg(HEADER);
        for a in answers {
            v.extend(msg(a));
        }
        v
    }

    fn feed_all(bytes: &[u8]) -> Option<Verdict> {
        Sniffer::new(TABLE).feed(bytes)
    }

    #[test]
    fn echoed_protocol_is_known() {
        let bytes = listener(&[b"/ipfs/bitswap/1.2.0\n"]);
        assert_eq!(feed_all(&bytes), Some(Verdict::Known(0)));
    }

    #[test]
    fn na_answers_are_skipped_until_the_echo() {
        let bytes = listener(&[NA, NA, b"/ipfs/bitswap/1.1.0\n"]);
        assert_eq!(feed_all(&bytes), Some(Verdict::Known(1)));
    }

    #[test]
    fn any_split_gives_the_same_verdict() {
        let bytes = listener(&[NA, b"/ipfs/id/1.0.0\n"]);
        for cut in 0..=bytes.len() {
            let mut s = Sniffer::new(TABLE);
            let first = s.feed(&bytes[..cut]);
            let verdict = first.or_else(|| s.feed(&bytes[cut..]));
            assert_eq!(verdict, Some(Verdict::Known(2)), "cut at {cut}");
        }
        // One byte at a time, and no verdict before the last byte.
        let mut s = Sniffer::new(TABLE);
        for (i, b) in bytes.iter().enumerate() {
            let v = s.feed(std::slice::from_ref(b));
            if i + 1 < bytes.len() {
                assert_eq!(v, None, "byte {i}");
            } else {
                assert_eq!(v, Some(Verdict::Known(2)));
            }
        }
    }

    #[test]
    fn bytes_after_the_echo_do_not_matter() {
        let mut bytes = listener(&[b"/ipfs/bitswap/1.2.0\n"]);
        bytes.extend_from_slice(&[0xff; 100]);
        assert_eq!(feed_all(&bytes), Some(Verdict::Known(0)));
    }

    #[test]
    fn untracked_protocol_is_other() {
        let bytes = listener(&[b"/meshsub/1.1.0\n"]);
        assert_eq!(feed_all(&bytes), Some(Verdict::Other));
        // A prefix or extension of a tracked name is not that name.
        assert_eq!(
            feed_all(&listener(&[b"/ipfs/bitswap/1.2\n"])),
            Some(Verdict::Other)
        );
        assert_eq!(
            feed_all(&listener(&[b"/ipfs/bitswap/1.2.0/x\n"])),
            Some(Verdict::Other)
        );
        // No trailing newline.
        assert_eq!(
            feed_all(&listener(&[b"/ipfs/bitswap/1.2.0"])),
            Some(Verdict::Other)
        );
    }

    #[test]
    fn garbage_is_other() {
        // Not a header first.
        assert_eq!(
            feed_all(&msg(b"/ipfs/bitswap/1.2.0\n")),
            Some(Verdict::Other)
        );
        // Zero length.
        assert_eq!(feed_all(&[0]), Some(Verdict::Other));
        // Length varint longer than MAX_LEN_BYTES.
        assert_eq!(feed_all(&[0x80, 0x80, 0x01]), Some(Verdict::Other));
        // Random bytes decide at once or keep waiting, never panic.
        let mut x: u32 = 12345;
        for _ in 0..200 {
            let mut s = Sniffer::new(TABLE);
            let bytes: Vec<u8> = (0..300)
                .map(|_| {
                    x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    (x >> 16) as u8
                })
                .collect();
            let _ = s.feed(&bytes);
        }
    }

    #[test]
    fn oversized_lines_are_skipped_and_never_match() {
        // A header padded past MAX_LINE_BYTES is not the header.
        let mut long = vec![b'a'; 200];
        long.push(b'\n');
        let mut bytes = vec![0xc9, 0x01]; // varint 201
        bytes.extend_from_slice(&long);
        assert_eq!(feed_all(&bytes), Some(Verdict::Other));
        // After the header, a long protocol name ends as Other, not as a truncated
        // match of its first MAX_LINE_BYTES bytes.
        let mut name = b"/ipfs/bitswap/1.2.0\n".to_vec();
        name.resize(MAX_LINE_BYTES + 1, b'x');
        let mut bytes = msg(HEADER);
        bytes.push(name.len() as u8);
        bytes.extend_from_slice(&name);
        assert_eq!(feed_all(&bytes), Some(Verdict::Other));
        // A name of exactly MAX_LINE_BYTES (with its newline) fits the buffer.
        const LONG: &[&str] = &["/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"];
        assert_eq!(LONG[0].len() + 1, MAX_LINE_BYTES);
        let line = format!("{}\n", LONG[0]);
        let bytes = listener(&[line.as_bytes()]);
        assert_eq!(Sniffer::new(LONG).feed(&bytes), Some(Verdict::Known(0)));
    }

    #[test]
    fn endless_na_gives_up_after_max_sniff_bytes() {
        let mut s = Sniffer::new(TABLE);
        assert_eq!(s.feed(&msg(HEADER)), None);
        let na = msg(NA);
        let mut fed = HEADER.len() + 1;
        loop {
            let v = s.feed(&na);
            fed += na.len();
            if fed <= MAX_SNIFF_BYTES {
                assert_eq!(v, None);
            } else {
                assert_eq!(v, Some(Verdict::Other));
                break;
            }
        }
    }

    #[test]
    fn tracked_names_fit_the_line_buffer() {
        assert!(HEADER.len() <= MAX_LINE_BYTES);
        for p in crate::bandwidth::TRACKED_PROTOCOLS {
            assert!(p.len() < MAX_LINE_BYTES, "{p}");
        }
    }
}
