//! Kubo's chunkers (`ipfs add --chunker`): fixed size, rabin and buzhash, cutting
//! the same chunks as Kubo so that the CIDs match.
//!
//! Spec: there is no written spec; the reference is boxo's `chunker` package as
//! Kubo v0.22 ships it (boxo v0.11): `size-N`, `rabin` (the restic-style Rabin
//! fingerprint of `whyrusleeping/chunker` over boxo's polynomial), `buzhash`.
//! Written here from those algorithms, checked against chunk boundaries that
//! boxo's own code printed for the same inputs (the tests below) and against
//! Kubo's CIDs (`tests/interop`).
//!
//! Flow: [`Splitter`] keeps a lookahead buffer of at most the chunker's largest
//! chunk, refilled from the reader before each cut; the cut is decided on the
//! buffered bytes alone (a chunk never depends on bytes past its largest size),
//! and the chunk is handed to the caller's buffer.
//!
//! - **size-N**: every chunk `N` bytes, the last one shorter.
//! - **rabin-MIN-AVG-MAX** (`rabin` = `rabin-262144`, `rabin-AVG` = min AVG/3,
//!   max AVG×1.5): a Rabin fingerprint over a 16-byte window, polynomial
//!   [`RABIN_POLYNOMIAL`] (degree 53). The first `MIN − 16` bytes of a chunk are
//!   not hashed; a chunk ends after byte `k ≥ MIN` when the fingerprint's low
//!   `⌊log2 AVG⌋` bits are zero, or at `MAX`.
//! - **buzhash**: a cyclic-polynomial hash over a 32-byte window with boxo's
//!   table of 256 words ([`BUZHASH_TABLE`]); chunks are 128 KiB to 512 KiB, cut
//!   where the low 17 bits of the hash of the 32 bytes before the cut are zero.
//!   The hash of the window ending at the largest size is never tested (boxo's
//!   loop stops one short): the chunk then simply ends at 512 KiB.
//!
//! **Limits**: the lookahead is one largest chunk: `N` for size-N,
//! [`BUZHASH_MAX_BYTES`] for buzhash, `MAX` ≤ [`RABIN_MAX_BYTES`] for rabin;
//! plus the chunk handed out, so a file import holds at most two largest chunks.
//!
//! Departures: Kubo accepts `rabin-AVG` with `AVG < 48`, whose minimum under 16
//! makes its chunker skip the whole input into one unbounded chunk; Acorn
//! refuses it, as Kubo refuses `rabin-MIN-AVG-MAX` with `MIN < 16`.

use std::fmt;
use std::io::{self, Read};

/// Kubo's `size-N` default chunk, in bytes.
pub const DEFAULT_SIZE_BYTES: usize = 262_144;
/// Kubo's largest rabin chunk (boxo `ChunkSizeLimit`).
pub const RABIN_MAX_BYTES: usize = 1 << 20;
/// Smallest rabin minimum: the fingerprint's window.
pub const RABIN_MIN_BYTES: usize = RABIN_WINDOW_BYTES;
/// The average `rabin` alone means (boxo `DefaultBlockSize`).
pub const RABIN_DEFAULT_AVG_BYTES: usize = 262_144;
/// boxo's rabin polynomial (`IpfsRabinPoly`), irreducible, degree 53.
pub const RABIN_POLYNOMIAL: u64 = 17_437_180_132_763_653;
/// The rabin window.
const RABIN_WINDOW_BYTES: usize = 16;
/// Smallest buzhash chunk (except the last).
pub const BUZHASH_MIN_BYTES: usize = 128 << 10;
/// Largest buzhash chunk.
pub const BUZHASH_MAX_BYTES: usize = 512 << 10;
/// The buzhash window.
const BUZHASH_WINDOW_BYTES: usize = 32;
/// A buzhash cut needs these low bits of the hash to be zero (about 128 KiB apart).
const BUZHASH_MASK: u32 = (1 << 17) - 1;

/// A chunker, as Kubo's `--chunker` spells it ([`std::str::FromStr`] and
/// [`fmt::Display`] use that spelling).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chunker {
    /// `size-N`: fixed-size chunks of `N` bytes.
    Size(usize),
    /// `rabin-MIN-AVG-MAX`: content-defined chunks, `MIN ≤ len ≤ MAX` (but the last).
    Rabin {
        /// Smallest chunk.
        min: usize,
        /// Aimed-at average (its power of two below sets the cut mask).
        avg: usize,
        /// Largest chunk.
        max: usize,
    },
    /// `buzhash`: content-defined chunks of 128 KiB to 512 KiB.
    Buzhash,
}

impl Default for Chunker {
    fn default() -> Self {
        Chunker::Size(DEFAULT_SIZE_BYTES)
    }
}

impl fmt::Display for Chunker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Chunker::Size(n) => write!(f, "size-{n}"),
            Chunker::Rabin { min, avg, max } => write!(f, "rabin-{min}-{avg}-{max}"),
            Chunker::Buzhash => f.write_str("buzhash"),
        }
    }
}

/// A `--chunker` that Kubo's spelling or limits refuse: the text given and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid chunker {spec:?}: {reason}")]
pub struct ChunkerError {
    /// The text given.
    pub spec: String,
    /// What is wrong with it.
    pub reason: String,
}

impl Chunker {
    /// Parses Kubo's spellings: `size-N`, `rabin`, `rabin-AVG`,
    /// `rabin-MIN-AVG-MAX` (each number may carry its label: `min:N`, `avg:N`,
    /// `max:N`) and `buzhash`; `max_size` bounds `N` of `size-N`.
    pub fn parse(spec: &str, max_size: usize) -> Result<Chunker, ChunkerError> {
        let bad = |reason: String| ChunkerError {
            spec: spec.to_string(),
            reason,
        };
        let num = |s: &str, label: &str| -> Result<usize, ChunkerError> {
            let s = match s.split_once(':') {
                Some((l, n)) if l == label => n,
                Some(_) => return Err(bad(format!("expected the label {label:?}"))),
                None => s,
            };
            s.parse()
                .map_err(|_| bad(format!("{s:?} is not a number of bytes")))
        };
        let c = if spec == "buzhash" {
            Chunker::Buzhash
        } else if let Some(n) = spec.strip_prefix("size-") {
            let n = num(n, "size")?;
            if n == 0 || n > max_size {
                return Err(bad(format!("use size-N with 1 ≤ N ≤ {max_size}")));
            }
            Chunker::Size(n)
        } else if spec == "rabin" || spec.starts_with("rabin-") {
            let parts: Vec<&str> = spec.split('-').skip(1).collect();
            let (min, avg, max) = match parts[..] {
                [] => rabin_around(RABIN_DEFAULT_AVG_BYTES),
                [avg] => rabin_around(num(avg, "avg")?),
                [min, avg, max] => (num(min, "min")?, num(avg, "avg")?, num(max, "max")?),
                _ => {
                    return Err(bad(
                        "expected rabin, rabin-AVG or rabin-MIN-AVG-MAX".to_string()
                    ))
                }
            };
            if min < RABIN_MIN_BYTES {
                return Err(bad(format!(
                    "the rabin minimum {min} is under {RABIN_MIN_BYTES} bytes"
                )));
            }
            if !(min < avg && avg < max) {
                return Err(bad("rabin needs MIN < AVG < MAX".to_string()));
            }
            if max > RABIN_MAX_BYTES {
                return Err(bad(format!(
                    "the rabin maximum {max} is over {RABIN_MAX_BYTES} bytes"
                )));
            }
            Chunker::Rabin { min, avg, max }
        } else {
            return Err(bad(
                "use size-N, rabin, rabin-AVG, rabin-MIN-AVG-MAX or buzhash".to_string(),
            ));
        };
        Ok(c)
    }

    /// The largest chunk this chunker cuts.
    pub fn max_chunk_bytes(&self) -> usize {
        match *self {
            Chunker::Size(n) => n,
            Chunker::Rabin { max, .. } => max,
            Chunker::Buzhash => BUZHASH_MAX_BYTES,
        }
    }
}

/// boxo's `NewRabin(avg)`: min avg/3, max avg×1.5.
fn rabin_around(avg: usize) -> (usize, usize, usize) {
    (avg / 3, avg, avg + avg / 2)
}

/// Cuts a stream into chunks with one [`Chunker`].
pub struct Splitter<R: Read> {
    reader: R,
    chunker: Chunker,
    /// Bytes read but not yet handed out (at most one largest chunk).
    ahead: Vec<u8>,
    /// The reader has ended.
    eof: bool,
    rabin: Option<Box<RabinTables>>,
}

impl<R: Read> Splitter<R> {
    /// A splitter over `reader`.
    pub fn new(reader: R, chunker: Chunker) -> Self {
        let rabin = matches!(chunker, Chunker::Rabin { .. })
            .then(|| Box::new(RabinTables::new(RABIN_POLYNOMIAL)));
        Splitter {
            reader,
            chunker,
            ahead: Vec::new(),
            eof: false,
            rabin,
        }
    }

    /// Replaces `out` with the next chunk; `Ok(false)` (and `out` empty) at the
    /// end of the input. An empty input has no chunk.
    pub fn next_into(&mut self, out: &mut Vec<u8>) -> io::Result<bool> {
        out.clear();
        let max = self.chunker.max_chunk_bytes();
        if let Chunker::Size(_) = self.chunker {
            // No lookahead needed: read one chunk straight into `out`.
            if !self.eof {
                let n = (&mut self.reader).take(max as u64).read_to_end(out)?;
                self.eof = n < max;
            }
            return Ok(!out.is_empty());
        }
        if !self.eof && self.ahead.len() < max {
            let want = (max - self.ahead.len()) as u64;
            let n = (&mut self.reader).take(want).read_to_end(&mut self.ahead)?;
            self.eof = (n as u64) < want;
        }
        if self.ahead.is_empty() {
            return Ok(false);
        }
        let cut = match self.chunker {
            Chunker::Rabin { min, avg, max } => {
                // Only built for rabin, in `new`.
                let t = self.rabin.as_deref().expect("rabin tables");
                t.cut(&self.ahead, min, avg, max)
            }
            _ => buzhash_cut(&self.ahead),
        };
        out.extend_from_slice(&self.ahead[..cut]);
        self.ahead.drain(..cut);
        Ok(true)
    }
}

/// The rabin fingerprint's lookup tables for one polynomial.
struct RabinTables {
    /// `out[b]`: the fingerprint of `b` followed by 15 zero bytes, XORed in to
    /// drop `b` from the window.
    out: [u64; 256],
    /// `reduce[t]`: for the 8 bits `t` that overflow past the degree, the XOR
    /// that clears them and reduces modulo the polynomial.
    reduce: [u64; 256],
    /// Degree − 8: where the overflowing byte sits after a shift by 8.
    shift: u32,
}

/// Degree of a polynomial over GF(2) (`x != 0`).
fn degree(x: u64) -> u32 {
    63 - x.leading_zeros()
}

/// `x mod p` over GF(2).
fn pol_mod(mut x: u64, p: u64) -> u64 {
    let dp = degree(p);
    while x != 0 && degree(x) >= dp {
        x ^= p << (degree(x) - dp);
    }
    x
}

impl RabinTables {
    fn new(pol: u64) -> Self {
        let k = degree(pol);
        let mut out = [0u64; 256];
        let mut reduce = [0u64; 256];
        for b in 0..256u64 {
            let mut h = pol_mod(b, pol);
            for _ in 1..RABIN_WINDOW_BYTES {
                h = pol_mod(h << 8, pol);
            }
            out[b as usize] = h;
            reduce[b as usize] = pol_mod(b << k, pol) | (b << k);
        }
        RabinTables {
            out,
            reduce,
            shift: k - 8,
        }
    }

    /// Length of the chunk at the start of `data` (which holds `max` bytes, or
    /// all that is left of the input).
    fn cut(&self, data: &[u8], min: usize, avg: usize, max: usize) -> usize {
        if data.len() < min {
            return data.len();
        }
        let mask = (1u64 << (usize::BITS - 1 - avg.leading_zeros())) - 1;
        let mut window = [0u8; RABIN_WINDOW_BYTES];
        let mut pos = 0;
        let mut digest = 0u64;
        let mut slide = |digest: &mut u64, b: u8| {
            let gone = std::mem::replace(&mut window[pos], b);
            pos = (pos + 1) % RABIN_WINDOW_BYTES;
            *digest ^= self.out[gone as usize];
            let top = (*digest >> self.shift) as usize;
            *digest = ((*digest << 8) | u64::from(b)) ^ self.reduce[top];
        };
        // The chunker starts each chunk from a window holding a single 1 byte;
        // it is slid out before any cut can be tested, but kept for fidelity.
        slide(&mut digest, 1);
        let end = data.len().min(max);
        for (i, &b) in data
            .iter()
            .enumerate()
            .take(end)
            .skip(min - RABIN_WINDOW_BYTES)
        {
            slide(&mut digest, b);
            let len = i + 1;
            if len >= min && (digest & mask == 0 || len >= max) {
                return len;
            }
        }
        end
    }
}

/// Length of the buzhash chunk at the start of `data` (which holds
/// [`BUZHASH_MAX_BYTES`], or all that is left of the input).
fn buzhash_cut(data: &[u8]) -> usize {
    if data.len() < BUZHASH_MIN_BYTES {
        return data.len();
    }
    let w = BUZHASH_WINDOW_BYTES;
    let mut state = data[BUZHASH_MIN_BYTES - w..BUZHASH_MIN_BYTES]
        .iter()
        .fold(0u32, |s, &b| s.rotate_left(1) ^ BUZHASH_TABLE[b as usize]);
    // A window of 32 bytes with a 1-bit rotation per byte: the byte leaving has
    // been rotated a full turn, so it is XORed out unrotated.
    let mut end = BUZHASH_MIN_BYTES;
    while end < data.len() {
        if state & BUZHASH_MASK == 0 {
            return end;
        }
        state = state.rotate_left(1)
            ^ BUZHASH_TABLE[data[end - w] as usize]
            ^ BUZHASH_TABLE[data[end] as usize];
        end += 1;
    }
    data.len()
}

/// boxo's buzhash table (`bytehash`): 256 words, each bit position set in exactly
/// half of them. The values are the format: a different table cuts other chunks.
#[rustfmt::skip]
pub const BUZHASH_TABLE: [u32; 256] = [
    0x6236e7d5, 0x10279b0b, 0x72818182, 0xdc526514, 0x2fd41e3d, 0x777ef8c8, 0x83ee5285, 0x2c8f3637,
    0x2f049c1a, 0x57df9791, 0x9207151f, 0x9b544818, 0x74eef658, 0x2028ca60, 0x0271d91a, 0x27ae587e,
    0xecf9fa5f, 0x236e71cd, 0xf43a8a2e, 0x0bb13380, 0x9e57912c, 0x89a26cdb, 0x9fcf3d71, 0xa86da6f1,
    0x9c49f376, 0x346aecc7, 0xf094a9ee, 0xea99e9cb, 0xb01713c6, 0x088acffb, 0x2960a0fb, 0x344a626c,
    0x7ff22a46, 0x6d7a1aa5, 0x6a714916, 0x41d454ca, 0x8325b830, 0x0b65f563, 0x447fecca, 0xf9d0ea5e,
    0xc1d9d3d4, 0xcb5ec574, 0x55aae902, 0x86edc0e7, 0x0d3a9e33, 0xe70dc1e1, 0xe3c5f639, 0x9b43140a,
    0xc6490ac5, 0x5e4030fb, 0x8e976dd5, 0xa87468ea, 0xf830ef6f, 0xcc1ed5a5, 0x611f4e78, 0xddd11905,
    0xf2613904, 0x566c67b9, 0x905a5ccc, 0x7b37b3a4, 0x4b53898a, 0x6b8fd29d, 0xaad81575, 0x511be414,
    0x3cfac1e7, 0x8029a179, 0xd40efeda, 0x07380e02, 0xdc9beffd, 0x2d049082, 0x99bc7831, 0xff5002a8,
    0x21ce7646, 0x01cd049b, 0x0f43994f, 0xc3c6c5a5, 0xbbda5f50, 0x0ec15ec7, 0x9adb19b6, 0x0c1e80b9,
    0xb9b52968, 0xae162419, 0x2542b405, 0x91a42e9d, 0x6be0f668, 0x6ed7a6b9, 0xbc2777b4, 0xe162ce56,
    0x4266aad5, 0x60fdb704, 0x66f832a5, 0x9595f6ca, 0xfee83ced, 0x55228d99, 0x12bf0e28, 0x66896459,
    0x0789afda, 0x0282baa8, 0x2367a343, 0x591491b0, 0x2ff1a4b1, 0x410739b6, 0x9b7055a0, 0x2e0eb229,
    0x24fc8252, 0x3327d3df, 0xb0782669, 0x1c62e069, 0x7f503101, 0xf50593ae, 0xd9eb275d, 0xe00eb678,
    0x5917ccde, 0x97b9660a, 0xdd06202d, 0xed229e22, 0xa9c735bf, 0xd6316fe6, 0x6fc72e4c, 0x0206dfa2,
    0xd6b15c5a, 0x69d87b49, 0x09c97745, 0x13445d61, 0x35a975aa, 0x859aa9b9, 0x65380013, 0xd1fb6391,
    0xc29255fd, 0x784a3b91, 0xb9e74c26, 0x63ce4d40, 0xc07cbe9e, 0xe6e4529e, 0x0fb3632f, 0x9438d9c9,
    0x682f94a8, 0xf8fd4611, 0x257ec1ed, 0x475ce3d6, 0x60ee2db1, 0x2afab002, 0x2b9e4878, 0x86b340de,
    0x1482fdca, 0xfe41b3bf, 0xd4a412b0, 0xe09db98c, 0xc1af5d53, 0x7e55e25f, 0xd3346b38, 0xb7a12cbd,
    0x9c6827ba, 0x71f78bee, 0x8c3a0f52, 0x150491b0, 0xf26de912, 0x233e3a4e, 0xd309ebba, 0xa0a9e0ff,
    0xca2b5921, 0xeeb9893c, 0x33829e88, 0x9870cc2a, 0x23c4b9d0, 0xeba32ea3, 0xbdac4d22, 0x3bc8c44c,
    0x1e8d0397, 0xf9327735, 0x783b009f, 0x0eb83742, 0x2621dc71, 0xed017d03, 0x5c760aa1, 0x5a69814b,
    0x96e3047f, 0xa93c9cde, 0x615c86f5, 0xb4322aa5, 0x4225534d, 0x0d2e2de3, 0xccfccc4b, 0x0bac2a57,
    0xf0a06d04, 0xbc78d737, 0xf2d1f766, 0xf5a7953c, 0xbcdfda85, 0x5213b7d5, 0xbce8a328, 0xd38f5f18,
    0xdb094244, 0xfe571253, 0x317fa7ee, 0x4a324f43, 0x3ffc39d9, 0x51b3fa8e, 0x7a4bee9f, 0x78bbc682,
    0x9f5c0350, 0x02fe286c, 0x245ab686, 0xed6bf7d7, 0x0ac4988a, 0x3fe010fa, 0xc65fe369, 0xa45749cb,
    0x2b84e537, 0xde9ff363, 0x20540f9a, 0xaa8c9b34, 0x5bc476b3, 0x1d574bd7, 0x929100ad, 0x4721de4d,
    0x27df1b05, 0x58b18546, 0xb7e76764, 0xdf904e58, 0x97af57a1, 0xbd4dc433, 0xa6256dfd, 0xf63998f3,
    0xf1e05833, 0xe20acf26, 0xf57fd9d6, 0x90300b4d, 0x89df4290, 0x68d01cbc, 0xcf893ee3, 0xcc42a046,
    0x778e181b, 0x67265c76, 0xe981a4c4, 0x82991da1, 0x708f7294, 0xe6e2ae62, 0xfc441870, 0x95e1b0b6,
    0x0445f825, 0x5a93b47f, 0x5e9cf4be, 0x84da71e7, 0x9d9582b0, 0x9bf835ef, 0x591f61e2, 0x43325985,
    0x5d2de32e, 0x8d8fbf0f, 0x95b30f38, 0x07ad5b6e, 0x4e934edf, 0x3cd4990e, 0x9053e259, 0x5c41857d,
];

#[cfg(test)]
mod tests;
