//! Chunk boundaries against boxo's: each row is what boxo v0.11.0's `chunker`
//! package (the code Kubo v0.22 runs) cut for the same input, printed by a small
//! Go program over that package: the number of chunks, a fold of all their
//! lengths (`fold = fold × 31 + len`, wrapping) and the first lengths.

use super::*;
use acorn_tools::rng::Rng;

/// `(chunker, input kind, seed, input bytes, chunks, fold, first lengths)`.
type Row = (
    &'static str,
    &'static str,
    u64,
    usize,
    usize,
    u64,
    &'static [usize],
);

const BOXO: &[Row] = &[
    ("buzhash", "random", 7, 0, 0, 0x0000000000000000, &[]),
    ("buzhash", "random", 7, 1, 1, 0x0000000000000001, &[1]),
    ("buzhash", "random", 7, 16, 1, 0x0000000000000010, &[16]),
    ("buzhash", "random", 7, 100, 1, 0x0000000000000064, &[100]),
    (
        "buzhash",
        "random",
        7,
        131071,
        1,
        0x000000000001ffff,
        &[131071],
    ),
    (
        "buzhash",
        "random",
        7,
        131072,
        1,
        0x0000000000020000,
        &[131072],
    ),
    (
        "buzhash",
        "random",
        7,
        131073,
        1,
        0x0000000000020001,
        &[131073],
    ),
    (
        "buzhash",
        "random",
        7,
        131104,
        1,
        0x0000000000020020,
        &[131104],
    ),
    (
        "buzhash",
        "random",
        7,
        262144,
        2,
        0x00000000005c331a,
        &[192675, 69469],
    ),
    (
        "buzhash",
        "random",
        7,
        524287,
        3,
        0x000000000b7b4829,
        &[192675, 237883, 93729],
    ),
    (
        "buzhash",
        "random",
        7,
        524288,
        3,
        0x000000000b7b482a,
        &[192675, 237883, 93730],
    ),
    (
        "buzhash",
        "random",
        7,
        524289,
        3,
        0x000000000b7b482b,
        &[192675, 237883, 93731],
    ),
    (
        "buzhash",
        "random",
        7,
        1048576,
        5,
        0x0000002b1e7a5470,
        &[192675, 237883, 170645, 143629, 303744],
    ),
    (
        "buzhash",
        "random",
        7,
        3158073,
        13,
        0x8cb89fa0163bb1b9,
        &[192675, 237883, 170645, 143629, 377541, 220155],
    ),
    (
        "buzhash",
        "zeros",
        0,
        2097152,
        16,
        0xfe699efa42000000,
        &[131072, 131072, 131072, 131072, 131072, 131072],
    ),
    (
        "buzhash",
        "pattern",
        0,
        2097155,
        5,
        0x000000747e000003,
        &[524288, 524288, 524288, 524288, 3],
    ),
    (
        "buzhash",
        "random",
        42,
        5242880,
        23,
        0xa16fd1ad2ee41e62,
        &[139872, 263682, 307792, 225463, 196148, 460968],
    ),
    ("rabin", "random", 7, 0, 0, 0x0000000000000000, &[]),
    ("rabin", "random", 7, 1, 1, 0x0000000000000001, &[1]),
    ("rabin", "random", 7, 16, 1, 0x0000000000000010, &[16]),
    ("rabin", "random", 7, 100, 1, 0x0000000000000064, &[100]),
    (
        "rabin",
        "random",
        7,
        131071,
        1,
        0x000000000001ffff,
        &[131071],
    ),
    (
        "rabin",
        "random",
        7,
        131072,
        1,
        0x0000000000020000,
        &[131072],
    ),
    (
        "rabin",
        "random",
        7,
        131073,
        1,
        0x0000000000020001,
        &[131073],
    ),
    (
        "rabin",
        "random",
        7,
        131104,
        1,
        0x0000000000020020,
        &[131104],
    ),
    (
        "rabin",
        "random",
        7,
        262144,
        2,
        0x00000000005dda44,
        &[196286, 65858],
    ),
    (
        "rabin",
        "random",
        7,
        524287,
        4,
        0x0000000167a337a5,
        &[196286, 190833, 87775, 49393],
    ),
    (
        "rabin",
        "random",
        7,
        524288,
        4,
        0x0000000167a337a6,
        &[196286, 190833, 87775, 49394],
    ),
    (
        "rabin",
        "random",
        7,
        524289,
        4,
        0x0000000167a337a7,
        &[196286, 190833, 87775, 49395],
    ),
    (
        "rabin",
        "random",
        7,
        1048576,
        5,
        0x0000002b8d16a2f8,
        &[196286, 190833, 87775, 213011, 360671],
    ),
    (
        "rabin",
        "random",
        7,
        3158073,
        12,
        0xfa9e496f2f38fb9f,
        &[196286, 190833, 87775, 213011, 393216, 158615],
    ),
    (
        "rabin",
        "zeros",
        0,
        2097152,
        25,
        0xd3e719bb56284088,
        &[87381, 87381, 87381, 87381, 87381, 87381],
    ),
    (
        "rabin",
        "pattern",
        0,
        2097155,
        6,
        0x00000a94723c0003,
        &[393216, 393216, 393216, 393216, 393216, 131075],
    ),
    (
        "rabin",
        "random",
        42,
        5242880,
        19,
        0x0ef76d38786fe9c2,
        &[393216, 393216, 393216, 177422, 393216, 393216],
    ),
    (
        "rabin-16-64-128",
        "random",
        7,
        0,
        0,
        0x0000000000000000,
        &[],
    ),
    (
        "rabin-16-64-128",
        "random",
        7,
        1,
        1,
        0x0000000000000001,
        &[1],
    ),
    (
        "rabin-16-64-128",
        "random",
        7,
        16,
        1,
        0x0000000000000010,
        &[16],
    ),
    (
        "rabin-16-64-128",
        "random",
        7,
        100,
        3,
        0x0000000000005230,
        &[20, 58, 22],
    ),
    (
        "rabin-16-64-128",
        "random",
        7,
        131071,
        1920,
        0x621c2aded356522b,
        &[20, 58, 128, 63, 69, 95],
    ),
    (
        "rabin-16-64-128",
        "random",
        7,
        131072,
        1920,
        0x621c2aded356522c,
        &[20, 58, 128, 63, 69, 95],
    ),
    (
        "rabin-16-64-128",
        "random",
        7,
        131073,
        1920,
        0x621c2aded356522d,
        &[20, 58, 128, 63, 69, 95],
    ),
    (
        "rabin-16-64-128",
        "zeros",
        0,
        2097152,
        131072,
        0xc6b36b5c42000000,
        &[16, 16, 16, 16, 16, 16],
    ),
    (
        "rabin-16-64-128",
        "pattern",
        0,
        2097155,
        25066,
        0xfbccdd5e9c37c5a7,
        &[101, 22, 126, 103, 22, 126],
    ),
    (
        "rabin-16-64-128",
        "random",
        42,
        5242880,
        77128,
        0xc51201fc0f7e8f1c,
        &[73, 27, 54, 67, 22, 107],
    ),
    (
        "rabin-4096-16384-65536",
        "random",
        7,
        0,
        0,
        0x0000000000000000,
        &[],
    ),
    (
        "rabin-4096-16384-65536",
        "random",
        7,
        1,
        1,
        0x0000000000000001,
        &[1],
    ),
    (
        "rabin-4096-16384-65536",
        "random",
        7,
        16,
        1,
        0x0000000000000010,
        &[16],
    ),
    (
        "rabin-4096-16384-65536",
        "random",
        7,
        100,
        1,
        0x0000000000000064,
        &[100],
    ),
    (
        "rabin-4096-16384-65536",
        "random",
        7,
        131071,
        7,
        0x000005a19a69f209,
        &[6378, 18280, 7648, 23163, 47659, 6152],
    ),
    (
        "rabin-4096-16384-65536",
        "random",
        7,
        131072,
        7,
        0x000005a19a69f20a,
        &[6378, 18280, 7648, 23163, 47659, 6152],
    ),
    (
        "rabin-4096-16384-65536",
        "random",
        7,
        131073,
        7,
        0x000005a19a69f20b,
        &[6378, 18280, 7648, 23163, 47659, 6152],
    ),
    (
        "rabin-4096-16384-65536",
        "random",
        7,
        131104,
        7,
        0x000005a19a69f22a,
        &[6378, 18280, 7648, 23163, 47659, 6152],
    ),
    (
        "rabin-4096-16384-65536",
        "random",
        7,
        262144,
        14,
        0x97a60a322e1c1bfc,
        &[6378, 18280, 7648, 23163, 47659, 6152],
    ),
    (
        "rabin-4096-16384-65536",
        "random",
        7,
        524287,
        30,
        0x24b88022e7936ed1,
        &[6378, 18280, 7648, 23163, 47659, 6152],
    ),
    (
        "rabin-4096-16384-65536",
        "random",
        7,
        524288,
        30,
        0x24b88022e7936ed2,
        &[6378, 18280, 7648, 23163, 47659, 6152],
    ),
    (
        "rabin-4096-16384-65536",
        "random",
        7,
        524289,
        30,
        0x24b88022e7936ed3,
        &[6378, 18280, 7648, 23163, 47659, 6152],
    ),
    (
        "rabin-4096-16384-65536",
        "random",
        7,
        1048576,
        55,
        0x55f918cc24914fd4,
        &[6378, 18280, 7648, 23163, 47659, 6152],
    ),
    (
        "rabin-4096-16384-65536",
        "random",
        7,
        3158073,
        155,
        0x0e30a1ea24a2ce8b,
        &[6378, 18280, 7648, 23163, 47659, 6152],
    ),
    (
        "rabin-4096-16384-65536",
        "zeros",
        0,
        2097152,
        512,
        0x79389f1c42000000,
        &[4096, 4096, 4096, 4096, 4096, 4096],
    ),
    (
        "rabin-4096-16384-65536",
        "pattern",
        0,
        2097155,
        33,
        0xba1a686ffe000003,
        &[65536, 65536, 65536, 65536, 65536, 65536],
    ),
    (
        "rabin-4096-16384-65536",
        "random",
        42,
        5242880,
        234,
        0xc3155232025b4ef0,
        &[13153, 17636, 18791, 28609, 4785, 15806],
    ),
    ("rabin-100000", "random", 7, 0, 0, 0x0000000000000000, &[]),
    ("rabin-100000", "random", 7, 1, 1, 0x0000000000000001, &[1]),
    (
        "rabin-100000",
        "random",
        7,
        16,
        1,
        0x0000000000000010,
        &[16],
    ),
    (
        "rabin-100000",
        "random",
        7,
        100,
        1,
        0x0000000000000064,
        &[100],
    ),
    (
        "rabin-100000",
        "random",
        7,
        131071,
        1,
        0x000000000001ffff,
        &[131071],
    ),
    (
        "rabin-100000",
        "random",
        7,
        131072,
        1,
        0x0000000000020000,
        &[131072],
    ),
    (
        "rabin-100000",
        "random",
        7,
        131073,
        1,
        0x0000000000020001,
        &[131073],
    ),
    (
        "rabin-100000",
        "random",
        7,
        131104,
        1,
        0x0000000000020020,
        &[131104],
    ),
    (
        "rabin-100000",
        "random",
        7,
        262144,
        3,
        0x0000000008ae7424,
        &[150000, 46286, 65858],
    ),
    (
        "rabin-100000",
        "random",
        7,
        524287,
        6,
        0x000003f2c0393fb9,
        &[150000, 46286, 133092, 57741, 87775, 49393],
    ),
    (
        "rabin-100000",
        "random",
        7,
        524288,
        6,
        0x000003f2c0393fba,
        &[150000, 46286, 133092, 57741, 87775, 49394],
    ),
    (
        "rabin-100000",
        "random",
        7,
        524289,
        6,
        0x000003f2c0393fbb,
        &[150000, 46286, 133092, 57741, 87775, 49395],
    ),
    (
        "rabin-100000",
        "random",
        7,
        1048576,
        12,
        0xdc0e786421bb5428,
        &[150000, 46286, 133092, 57741, 87775, 106604],
    ),
    (
        "rabin-100000",
        "random",
        7,
        3158073,
        34,
        0xebd81932614809f5,
        &[150000, 46286, 133092, 57741, 87775, 106604],
    ),
    (
        "rabin-100000",
        "zeros",
        0,
        2097152,
        63,
        0x146e52b436de3dca,
        &[33333, 33333, 33333, 33333, 33333, 33333],
    ),
    (
        "rabin-100000",
        "pattern",
        0,
        2097155,
        14,
        0x1093b853057326e3,
        &[150000, 150000, 150000, 150000, 150000, 150000],
    ),
    (
        "rabin-100000",
        "random",
        42,
        5242880,
        51,
        0xec37cac72fe964c2,
        &[125605, 53149, 36099, 84306, 126472, 150000],
    ),
    (
        "rabin-min:65536-avg:131072-max:262144",
        "random",
        7,
        0,
        0,
        0x0000000000000000,
        &[],
    ),
    (
        "rabin-min:65536-avg:131072-max:262144",
        "random",
        7,
        1,
        1,
        0x0000000000000001,
        &[1],
    ),
    (
        "rabin-min:65536-avg:131072-max:262144",
        "random",
        7,
        16,
        1,
        0x0000000000000010,
        &[16],
    ),
    (
        "rabin-min:65536-avg:131072-max:262144",
        "random",
        7,
        100,
        1,
        0x0000000000000064,
        &[100],
    ),
    (
        "rabin-min:65536-avg:131072-max:262144",
        "random",
        7,
        131071,
        1,
        0x000000000001ffff,
        &[131071],
    ),
    (
        "rabin-min:65536-avg:131072-max:262144",
        "random",
        7,
        131072,
        1,
        0x0000000000020000,
        &[131072],
    ),
    (
        "rabin-min:65536-avg:131072-max:262144",
        "random",
        7,
        131073,
        1,
        0x0000000000020001,
        &[131073],
    ),
    (
        "rabin-min:65536-avg:131072-max:262144",
        "random",
        7,
        131104,
        1,
        0x0000000000020020,
        &[131104],
    ),
    (
        "rabin-min:65536-avg:131072-max:262144",
        "random",
        7,
        262144,
        2,
        0x00000000005dda44,
        &[196286, 65858],
    ),
    (
        "rabin-min:65536-avg:131072-max:262144",
        "random",
        7,
        524287,
        4,
        0x0000000167a337a5,
        &[196286, 190833, 87775, 49393],
    ),
    (
        "rabin-min:65536-avg:131072-max:262144",
        "random",
        7,
        524288,
        4,
        0x0000000167a337a6,
        &[196286, 190833, 87775, 49394],
    ),
    (
        "rabin-min:65536-avg:131072-max:262144",
        "random",
        7,
        524289,
        4,
        0x0000000167a337a7,
        &[196286, 190833, 87775, 49395],
    ),
    (
        "rabin-min:65536-avg:131072-max:262144",
        "random",
        7,
        1048576,
        6,
        0x000005461590a1e6,
        &[196286, 190833, 87775, 213011, 262144, 98527],
    ),
    (
        "rabin-min:65536-avg:131072-max:262144",
        "random",
        7,
        3158073,
        20,
        0x790bc8f3864f82cd,
        &[196286, 190833, 87775, 213011, 262144, 188473],
    ),
    (
        "rabin-min:65536-avg:131072-max:262144",
        "zeros",
        0,
        2097152,
        32,
        0x0e42ea9842000000,
        &[65536, 65536, 65536, 65536, 65536, 65536],
    ),
    (
        "rabin-min:65536-avg:131072-max:262144",
        "pattern",
        0,
        2097155,
        9,
        0x0334cb3cfe000003,
        &[262144, 262144, 262144, 262144, 262144, 262144],
    ),
    (
        "rabin-min:65536-avg:131072-max:262144",
        "random",
        42,
        5242880,
        31,
        0x63afad070e427754,
        &[125605, 262144, 262144, 262144, 76311, 92678],
    ),
];

/// The inputs the Go program made: xorshift64* bytes (`acorn_tools::rng`), all
/// zeros, or `i mod 251`.
fn input(kind: &str, seed: u64, len: usize) -> Vec<u8> {
    match kind {
        "random" => Rng::new(seed).bytes(len),
        "zeros" => vec![0; len],
        "pattern" => (0..len).map(|i| (i % 251) as u8).collect(),
        _ => unreachable!("unknown input kind {kind}"),
    }
}

/// Chunk lengths, reading through a reader that returns at most `piece` bytes
/// per call (so short reads are covered).
fn lengths(chunker: Chunker, data: &[u8], piece: usize) -> Vec<usize> {
    struct Trickle<'a>(&'a [u8], usize);
    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = buf.len().min(self.1).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }
    let mut s = Splitter::new(Trickle(data, piece), chunker);
    let mut out = Vec::new();
    let mut lens = Vec::new();
    let mut joined = Vec::with_capacity(data.len());
    while s.next_into(&mut out).unwrap() {
        lens.push(out.len());
        joined.extend_from_slice(&out);
    }
    assert_eq!(joined, data, "{chunker}: chunks do not join into the input");
    lens
}

#[test]
fn chunks_match_boxo() {
    for &(spec, kind, seed, len, count, fold, first) in BOXO {
        let chunker = Chunker::parse(spec, RABIN_MAX_BYTES).unwrap();
        let data = input(kind, seed, len);
        let lens = lengths(chunker, &data, usize::MAX);
        let what = format!("{spec} over {len} {kind} bytes (seed {seed})");
        assert_eq!(&lens[..lens.len().min(first.len())], first, "{what}");
        assert_eq!(lens.len(), count, "{what}");
        let f = lens
            .iter()
            .fold(0u64, |f, &l| f.wrapping_mul(31).wrapping_add(l as u64));
        assert_eq!(f, fold, "{what}");
    }
}

#[test]
fn short_reads_cut_the_same_chunks() {
    let data = input("random", 42, 3 << 20);
    for spec in ["buzhash", "rabin", "rabin-4096-16384-65536", "size-1000"] {
        let c = Chunker::parse(spec, RABIN_MAX_BYTES).unwrap();
        assert_eq!(
            lengths(c, &data, usize::MAX),
            lengths(c, &data, 4093),
            "{spec}"
        );
    }
}

#[test]
fn chunk_sizes_stay_in_bounds() {
    let data = input("random", 3, 4 << 20);
    for (spec, lo, hi) in [
        ("buzhash", BUZHASH_MIN_BYTES, BUZHASH_MAX_BYTES),
        ("rabin-1024-4096-8192", 1024, 8192),
        ("rabin", 262_144 / 3, 262_144 + 131_072),
    ] {
        let lens = lengths(
            Chunker::parse(spec, RABIN_MAX_BYTES).unwrap(),
            &data,
            usize::MAX,
        );
        let (last, rest) = lens.split_last().unwrap();
        assert!(
            rest.iter().all(|&l| (lo..=hi).contains(&l)),
            "{spec}: {lens:?}"
        );
        assert!(*last >= 1 && *last <= hi, "{spec}");
    }
}

#[test]
fn an_edit_moves_only_nearby_chunk_boundaries() {
    // Content-defined: inserting bytes near the start leaves later chunks alone.
    let data = input("random", 9, 4 << 20);
    let mut edited = b"a few new bytes".to_vec();
    edited.extend_from_slice(&data);
    for spec in ["buzhash", "rabin"] {
        let c = Chunker::parse(spec, RABIN_MAX_BYTES).unwrap();
        let (a, b) = (
            lengths(c, &data, usize::MAX),
            lengths(c, &edited, usize::MAX),
        );
        assert_eq!(a[2..], b[2..], "{spec}: later chunks moved");
    }
}

#[test]
fn buzhash_table_is_bit_balanced() {
    for bit in 0..32 {
        let ones = BUZHASH_TABLE.iter().filter(|&&w| w >> bit & 1 == 1).count();
        assert_eq!(ones, 128, "bit {bit}");
    }
}

#[test]
fn parsing_follows_kubo() {
    fn p(s: &str) -> Result<Chunker, ChunkerError> {
        Chunker::parse(s, 2 << 20)
    }
    assert_eq!(p("size-1024"), Ok(Chunker::Size(1024)));
    assert_eq!(p("buzhash"), Ok(Chunker::Buzhash));
    let rabin = |min, avg, max| Ok(Chunker::Rabin { min, avg, max });
    assert_eq!(p("rabin"), rabin(87_381, 262_144, 393_216));
    assert_eq!(p("rabin-3000"), rabin(1000, 3000, 4500));
    assert_eq!(p("rabin-16-64-128"), rabin(16, 64, 128));
    assert_eq!(p("rabin-min:16-avg:64-max:128"), rabin(16, 64, 128));
    for (bad, why) in [
        ("size-0", "1 ≤ N"),
        ("size-x", "not a number"),
        ("size-2097153", "1 ≤ N"),
        ("rabin-15-64-128", "minimum 15"),
        ("rabin-47", "minimum 15"),
        ("rabin-64-64-128", "MIN < AVG < MAX"),
        ("rabin-16-128-128", "MIN < AVG < MAX"),
        ("rabin-16-64-1048577", "maximum"),
        ("rabin-1000000", "maximum"),
        ("rabin-avg:16-64-128", "label \"min\""),
        ("rabin-1-2", "rabin-AVG"),
        ("buzhash-1", "use size-N"),
        ("fastcdc", "use size-N"),
        ("", "use size-N"),
    ] {
        let e = p(bad).unwrap_err();
        assert!(e.to_string().contains(why), "{bad}: {e}");
        assert_eq!(e.spec, bad);
    }
    // The Kubo spelling round-trips (the RPC client sends it).
    for c in [
        Chunker::Size(7),
        Chunker::Buzhash,
        Chunker::Rabin {
            min: 16,
            avg: 64,
            max: 128,
        },
    ] {
        assert_eq!(p(&c.to_string()), Ok(c));
    }
}
