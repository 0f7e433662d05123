//! Parity of `acorn add -Q -n` with Kubo's CIDs, using a pinned Helia importer as oracle.
//!
//! What: generates files and directory trees with deterministic pseudo-random content in
//! a tempdir, computes each root CID with `tools/interop/unixfs-cid.mjs` (Helia's
//! `ipfs-unixfs-importer`, pinned by `tools/interop/package-lock.json` and configured as
//! Kubo's `ipfs add`) and with `acorn add -Q -n`, and asserts they are equal. A second
//! test checks recorded Kubo CIDs (DESIGN.md's well-known ones and vectors from Kubo's
//! own sharness tests) against both sides, so the oracle itself is held to Kubo.
//!
//! Spec: Kubo `ipfs add` defaults (CIDv0, dag-pb leaves, fixed 262144-byte chunks,
//! balanced layout with 174 links, trickle with layer repeat 4, HAMT fanout 256 once
//! boxo's "links" estimate of the plain directory, sum of UTF-8 name bytes + CID bytes,
//! is > 262144 bytes; hidden entries left out of `-r`).
//!
//! Flow: build fixtures → one `node unixfs-cid.mjs --batch` for all cases (one CID and
//! root UnixFS type per line) → check the oracle's shard/no-shard verdicts against the
//! estimate computed here → one `acorn add` per case → report every mismatch at once.
//!
//! Limits: needs Node >= 20 and `npm ci --prefix tools/interop`; without them the tests
//! FAIL with that instruction, they never skip. The files total ~120 MB in the tempdir.
//!
//! Departures: no symlinks (Helia's importer has none), no rabin/buzhash chunkers, no
//! `-w`; `--raw-leaves=false` is checked on the Helia side only (recorded Kubo vector).

use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Kubo's default chunk size.
const CHUNK_BYTES: u64 = 262_144;
/// Kubo's maximum links per file node (balanced and trickle).
const MAX_LINKS: u64 = 174;
/// Kubo's HAMT switch threshold for boxo's "links" estimate (switch when strictly above).
const HAMT_THRESHOLD_BYTES: usize = 262_144;
/// Bytes of a CIDv0 (sha2-256 multihash).
const CID_V0_BYTES: usize = 34;
/// Bytes of a CIDv1 with a sha2-256 multihash (dag-pb or raw).
const CID_V1_BYTES: usize = 36;
/// Largest file that also gets the slow option sets (1 KiB chunks, trickle).
const SMALL_FILE_MAX_BYTES: u64 = 1_000_000;
/// Length of the entry names in the threshold directories (long names: fewer files).
const FLAT_NAME_BYTES: usize = 120;
/// Write buffer for generated files.
const WRITE_BUF_BYTES: usize = 1 << 16;

/// `tools/interop` inside the repository.
fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/interop")
}

/// The oracle's directory, or a failure that says how to install it.
fn require_oracle() -> PathBuf {
    let dir = interop_dir();
    let marker = dir.join("node_modules/ipfs-unixfs-importer/package.json");
    assert!(
        marker.is_file(),
        "Helia reference is not installed ({} missing). Run `npm ci --prefix tools/interop` \
         (needs Node >= 20 and the npm registry), then re-run this test.",
        marker.display()
    );
    dir
}

/// splitmix64: small deterministic PRNG for file contents.
struct Prng(u64);

impl Prng {
    fn new(seed: &str) -> Self {
        // FNV-1a of the label, so every fixture has its own stream.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in seed.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        Prng(h)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// Write `len` pseudo-random bytes seeded by `seed` to `path`.
fn write_random_file(path: &Path, len: u64, seed: &str) {
    let mut rng = Prng::new(seed);
    let mut out = BufWriter::new(fs::File::create(path).expect("create fixture file"));
    let mut buf = vec![0u8; WRITE_BUF_BYTES];
    let mut left = len;
    while left > 0 {
        let n = usize::try_from(left.min(WRITE_BUF_BYTES as u64)).expect("buffer fits usize");
        rng.fill(&mut buf[..n]);
        out.write_all(&buf[..n]).expect("write fixture file");
        left -= n as u64;
    }
    out.flush().expect("flush fixture file");
}

fn write_text(path: &Path, text: &str) {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).expect("create fixture dir");
    }
    fs::write(path, text).expect("write fixture file");
}

/// One add to compare: options shared by both sides, the path, and whether it is a dir.
struct Case {
    label: String,
    opts: Vec<String>,
    path: PathBuf,
    dir: bool,
    /// Options that only the oracle gets (e.g. `--shard-threshold`); acorn is not run.
    helia_only: Vec<String>,
    /// A CID recorded from Kubo, if there is one.
    kubo: Option<&'static str>,
}

impl Case {
    fn new(label: impl Into<String>, opts: &[&str], path: &Path, dir: bool) -> Self {
        Case {
            label: label.into(),
            opts: opts.iter().map(|s| s.to_string()).collect(),
            path: path.to_path_buf(),
            dir,
            helia_only: Vec::new(),
            kubo: None,
        }
    }
}

/// Root CID and root UnixFS type from the oracle, one per case, from a single node run.
fn helia_batch(oracle: &Path, cases: &[Case]) -> Vec<(String, String)> {
    let mut input = String::new();
    for c in cases {
        let mut argv: Vec<String> = vec!["--show-type".into()];
        argv.extend(c.opts.iter().cloned());
        argv.extend(c.helia_only.iter().cloned());
        argv.push(
            c.path
                .to_str()
                .expect("fixture paths are UTF-8")
                .to_string(),
        );
        input.push_str(&serde_json::to_string(&argv).expect("encode job"));
        input.push('\n');
    }
    let mut child = Command::new("node")
        .arg("unixfs-cid.mjs")
        .arg("--batch")
        .current_dir(oracle)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run `node` (need Node >= 20 on PATH): {e}"));
    let mut stdin = child.stdin.take().expect("piped stdin");
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().expect("wait for node");
    writer
        .join()
        .expect("stdin writer")
        .expect("write jobs to node");
    assert!(
        out.status.success(),
        "unixfs-cid.mjs failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("node output is UTF-8");
    let lines: Vec<(String, String)> = text
        .lines()
        .map(|l| {
            let (cid, ty) = l.split_once(' ').unwrap_or((l, ""));
            (cid.to_string(), ty.to_string())
        })
        .collect();
    assert_eq!(
        lines.len(),
        cases.len(),
        "one oracle line per case; got:\n{text}"
    );
    lines
}

/// `acorn add -Q -n [-r] <opts> <path>`: the printed root CID, or why there is none.
fn acorn_cid(case: &Case, home: &Path) -> Result<String, String> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_acorn"));
    cmd.args(["add", "-Q", "-n"]);
    if case.dir {
        cmd.arg("-r");
    }
    cmd.args(&case.opts).arg(&case.path);
    // Keep any repository lookups away from the real home.
    cmd.env("HOME", home)
        .env("ACORN_PATH", home.join("acorn"))
        .env("IPFS_PATH", home.join("ipfs"));
    let out = cmd.output().map_err(|e| format!("cannot run acorn: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "acorn exited {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let cid = stdout.trim();
    if cid.is_empty() || cid.contains(char::is_whitespace) {
        return Err(format!("acorn printed {stdout:?}, wanted just one CID"));
    }
    Ok(cid.to_string())
}

/// The acorn command line of a case, for messages.
fn acorn_cmdline(case: &Case) -> String {
    let r = if case.dir { " -r" } else { "" };
    let opts = if case.opts.is_empty() {
        String::new()
    } else {
        format!(" {}", case.opts.join(" "))
    };
    format!("acorn add -Q -n{r}{opts} {}", case.path.display())
}

/// Compare acorn with Kubo's recorded CID where there is one, else with the oracle;
/// panic listing all mismatches.
fn assert_acorn_matches(cases: &[Case], helia: &[(String, String)], home: &Path) {
    let mut failures = Vec::new();
    let mut run = 0;
    for (i, case) in cases.iter().enumerate() {
        if !case.helia_only.is_empty() {
            continue;
        }
        run += 1;
        let want = case.kubo.unwrap_or(&helia[i].0);
        match acorn_cid(case, home) {
            Ok(got) if got == want => {}
            Ok(got) => failures.push(format!(
                "{}: `{}` gave {got}, Kubo/Helia give {want}",
                case.label,
                acorn_cmdline(case)
            )),
            Err(e) => failures.push(format!("{}: `{}`: {e}", case.label, acorn_cmdline(case))),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {run} acorn adds differ from Kubo's CIDs:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Option sets every file gets.
const FILE_OPTS_ALL: &[&[&str]] = &[&[], &["--cid-version", "1"], &["--raw-leaves"]];
/// Extra option sets for files up to `SMALL_FILE_MAX_BYTES`.
const FILE_OPTS_SMALL: &[&[&str]] = &[
    &["--chunker", "size-1024"],
    &["--cid-version", "1", "--chunker", "size-1024"],
    &["--raw-leaves", "--chunker", "size-1024"],
    &["--trickle"],
    &["--trickle", "--chunker", "size-1024"],
    &["--trickle", "--raw-leaves", "--chunker", "size-1024"],
    &["--trickle", "--cid-version", "1", "--chunker", "size-1024"],
];

#[test]
fn files_match_helia() {
    let oracle = require_oracle();
    let tmp = tempfile::tempdir().expect("tempdir");
    let files: &[(&str, u64)] = &[
        ("empty", 0),
        ("one_byte", 1),
        ("chunk_minus_1", CHUNK_BYTES - 1),
        ("chunk", CHUNK_BYTES),
        ("chunk_plus_1", CHUNK_BYTES + 1),
        ("medium", SMALL_FILE_MAX_BYTES),
        ("leaves_174", MAX_LINKS * CHUNK_BYTES),
        ("leaves_175", MAX_LINKS * CHUNK_BYTES + 1),
        ("big_24mib", 24 * 1024 * 1024 + 4321),
    ];
    let mut cases = Vec::new();
    for &(name, len) in files {
        let path = tmp.path().join(name);
        write_random_file(&path, len, name);
        let mut sets: Vec<&[&str]> = FILE_OPTS_ALL.to_vec();
        if len <= SMALL_FILE_MAX_BYTES {
            sets.extend_from_slice(FILE_OPTS_SMALL);
        }
        if name == "leaves_175" {
            // Trickle past the first 174 direct leaves, at the default chunk size.
            sets.push(&["--trickle"]);
        }
        for opts in sets {
            cases.push(Case::new(
                format!("{name} ({len} B) {opts:?}"),
                opts,
                &path,
                false,
            ));
        }
    }
    let helia = helia_batch(&oracle, &cases);
    for (case, (cid, ty)) in cases.iter().zip(&helia) {
        eprintln!("helia {cid} {ty:<8} {}", case.label);
        assert!(
            ty == "file" || ty == "raw",
            "{}: oracle root type {ty}",
            case.label
        );
    }
    let home = tmp.path().join("home");
    fs::create_dir_all(&home).expect("home dir");
    assert_acorn_matches(&cases, &helia, &home);
}

/// A nested tree: non-ASCII names, empty and nested-empty dirs, multi-chunk files,
/// a hidden file (left out by Kubo), names that sort differently by byte and by case.
fn build_tree(root: &Path) {
    fs::create_dir_all(root).expect("tree root");
    write_text(&root.join("café/crème brûlée.txt"), "sucre\n");
    fs::create_dir_all(root.join("café/日本語")).expect("create fixture dir");
    write_random_file(&root.join("café/日本語/ファイル.bin"), 300_000, "jp");
    write_text(&root.join("😀 emoji.txt"), "🙂\n");
    write_text(&root.join("a/b/c/d/deep.txt"), "deep\n");
    write_text(&root.join("with space.txt"), "space\n");
    write_text(&root.join("UPPER.txt"), "upper\n");
    write_text(&root.join("lower.txt"), "lower\n");
    write_text(&root.join("Ünïcödé/ß.txt"), "sharp s\n");
    write_text(&root.join(".hidden"), "kubo skips me\n");
    write_random_file(&root.join("big_in_tree.bin"), 600_000, "big_in_tree");
    fs::create_dir_all(root.join("empty")).expect("empty dir");
    fs::create_dir_all(root.join("z_nested_empty/inner/innermost")).expect("nested empty");
}

/// A flat directory of small files named `names`; returns the names.
fn build_flat_dir(dir: &Path, names: &[String]) {
    fs::create_dir_all(dir).expect("flat dir");
    for (i, name) in names.iter().enumerate() {
        fs::write(dir.join(name), format!("{i}\n")).expect("write entry");
    }
}

/// `n` distinct ASCII names of `len` bytes.
fn long_names(n: usize, len: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let mut s = format!("{i:05}_");
            s.push_str(&"x".repeat(len - s.len()));
            s
        })
        .collect()
}

/// Most entries of `per_entry` estimate bytes that keep a directory at or under the
/// threshold.
fn max_entries_under(per_entry: usize) -> usize {
    HAMT_THRESHOLD_BYTES / per_entry
}

/// boxo's "links" estimate of a flat directory of single-chunk files.
fn links_estimate(names: &[String], cid_len: usize) -> usize {
    names.iter().map(|n| n.len() + cid_len).sum()
}

const DEFAULTS: &[&str] = &[];
const CID_V1: &[&str] = &["--cid-version", "1"];
/// A single-chunk file with raw leaves is a CIDv1 raw block even under CIDv0.
const RAW_LEAVES: &[&str] = &["--raw-leaves"];

/// CID length of the (single-chunk) file entries of a flat directory under `opts`.
fn entry_cid_len(opts: &[&str]) -> usize {
    if opts.is_empty() {
        CID_V0_BYTES
    } else {
        CID_V1_BYTES
    }
}

#[test]
fn directories_match_helia() {
    let oracle = require_oracle();
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut cases = Vec::new();
    // Some(true) = must be a HAMT shard, Some(false) = must be a plain directory.
    let mut want_shard: Vec<Option<bool>> = Vec::new();

    let tree = tmp.path().join("tree");
    build_tree(&tree);
    let tree_opts: &[&[&str]] = &[
        &[],
        &["--cid-version", "1"],
        &["--raw-leaves"],
        &["--chunker", "size-1024"],
        &["--trickle"],
    ];
    for opts in tree_opts {
        cases.push(Case::new(
            format!("nested tree {opts:?}"),
            opts,
            &tree,
            true,
        ));
        want_shard.push(Some(false));
    }
    let empty = tmp.path().join("only_empty");
    fs::create_dir_all(&empty).expect("empty dir");
    for opts in [&[][..], &["--cid-version", "1"][..]] {
        cases.push(Case::new(format!("empty dir {opts:?}"), opts, &empty, true));
        want_shard.push(Some(false));
    }

    // Flat directories around the HAMT threshold, with long names so that few files are
    // needed: a 120-byte name costs 154 estimate bytes under CIDv0 and 156 under CIDv1
    // or raw leaves. `v0_exact` sums to exactly the threshold under CIDv0 (stays plain:
    // boxo switches only when strictly above); `utf8_over_v0` has 120-byte names of only
    // 63 UTF-16 units ("é"), over only when name length is counted in bytes, as boxo does.
    let under_v0 = max_entries_under(FLAT_NAME_BYTES + CID_V0_BYTES);
    let under_v1 = max_entries_under(FLAT_NAME_BYTES + CID_V1_BYTES);
    let mut exact = long_names(under_v0, FLAT_NAME_BYTES);
    let missing = HAMT_THRESHOLD_BYTES - links_estimate(&exact, CID_V0_BYTES);
    for name in exact.iter_mut().take(missing) {
        name.push('y');
    }
    assert_eq!(links_estimate(&exact, CID_V0_BYTES), HAMT_THRESHOLD_BYTES);
    let utf8: Vec<String> = (0..=under_v0)
        .map(|i| format!("{i:05}{}x", "é".repeat((FLAT_NAME_BYTES - 6) / 2)))
        .collect();
    assert!(utf8.iter().all(|n| n.len() == FLAT_NAME_BYTES));
    // Each directory gets only the option sets that put it next to the threshold.
    type Flat<'a> = (&'a str, Vec<String>, &'a [&'a [&'a str]]);
    let flat: Vec<Flat> = vec![
        (
            "v1_under",
            long_names(under_v1, FLAT_NAME_BYTES),
            &[CID_V1, RAW_LEAVES],
        ),
        (
            "v1_over",
            long_names(under_v1 + 1, FLAT_NAME_BYTES),
            &[CID_V1, DEFAULTS],
        ),
        (
            "v0_under",
            long_names(under_v0, FLAT_NAME_BYTES),
            &[DEFAULTS],
        ),
        ("v0_exact", exact, &[DEFAULTS]),
        (
            "v0_over",
            long_names(under_v0 + 1, FLAT_NAME_BYTES),
            &[DEFAULTS, RAW_LEAVES],
        ),
        ("utf8_over_v0", utf8, &[DEFAULTS]),
    ];
    for (name, names, option_sets) in &flat {
        let dir = tmp.path().join(name);
        build_flat_dir(&dir, names);
        for &opts in option_sets.iter() {
            let estimate = links_estimate(names, entry_cid_len(opts));
            cases.push(Case::new(
                format!(
                    "{name} ({} entries, estimate {estimate} B) {opts:?}",
                    names.len()
                ),
                opts,
                &dir,
                true,
            ));
            want_shard.push(Some(estimate > HAMT_THRESHOLD_BYTES));
        }
    }

    let helia = helia_batch(&oracle, &cases);
    let mut verdicts = Vec::new();
    for ((case, (cid, ty)), want) in cases.iter().zip(&helia).zip(&want_shard) {
        eprintln!("helia {cid} {ty:<22} {}", case.label);
        let want_ty = match want {
            Some(true) => "hamt-sharded-directory",
            Some(false) => "directory",
            None => continue,
        };
        if ty != want_ty {
            verdicts.push(format!(
                "{}: oracle gave {ty}, estimate says {want_ty}",
                case.label
            ));
        }
    }
    assert!(
        verdicts.is_empty(),
        "oracle disagrees with boxo's estimate:\n{}",
        verdicts.join("\n")
    );
    // Both sides of the threshold must really be exercised.
    assert!(want_shard.contains(&Some(true)) && want_shard.contains(&Some(false)));

    let home = tmp.path().join("home");
    fs::create_dir_all(&home).expect("home dir");
    assert_acorn_matches(&cases, &helia, &home);
}

/// CIDs recorded from Kubo itself: DESIGN.md's well-known ones and vectors from Kubo's
/// sharness tests (t0040-add-and-cat.sh, t0260-sharding.sh). Both the oracle and acorn
/// must give them.
#[test]
fn kubo_recorded_vectors() {
    let oracle = require_oracle();
    let tmp = tempfile::tempdir().expect("tempdir");
    let t = tmp.path();
    write_text(&t.join("hello_world"), "hello world\n");
    write_text(&t.join("empty_file"), "");
    fs::create_dir_all(t.join("empty_dir")).expect("empty dir");
    write_text(&t.join("hello.txt"), "Hello Worlds!\n");
    write_text(&t.join("hello2.txt"), "Helloo Worlds!\n");
    write_text(&t.join("ipfs.txt"), "IPFS\n");
    write_text(&t.join("venus.txt"), "Hello Venus!\n");
    write_text(&t.join("mars.txt"), "Hello Mars!\n");
    write_text(&t.join("test_current_dir/hey"), "Hey\n");
    write_text(&t.join("test_current_dir/hello/world"), "World\n");
    write_text(&t.join("planets/mars.txt"), "Hello Mars!\n");
    write_text(&t.join("planets/venus.txt"), "Hello Venus!\n");
    write_text(&t.join("moons/jupiter/europa.txt"), "Hello Europa!\n");
    write_text(&t.join("moons/saturn/titan.txt"), "Hello Titan!\n");
    write_text(&t.join("moons/mercury.txt"), "hey youre no moon!\n");
    for i in 1..=2000 {
        write_text(&t.join(format!("testdata/file{i}")), &format!("{i}\n"));
    }

    let mut cases = Vec::new();
    let mut add = |label: &str, opts: &[&str], rel: &str, dir: bool, cid: &'static str| {
        let mut c = Case::new(label, opts, &t.join(rel), dir);
        c.kubo = Some(cid);
        cases.push(c);
    };
    // DESIGN.md
    add(
        "hello world\\n",
        &[],
        "hello_world",
        false,
        "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o",
    );
    add(
        "empty file",
        &[],
        "empty_file",
        false,
        "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH",
    );
    add(
        "empty dir",
        &[],
        "empty_dir",
        true,
        "QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn",
    );
    // t0040-add-and-cat.sh
    add(
        "hello.txt",
        &[],
        "hello.txt",
        false,
        "QmVr26fY1tKyspEJBniVhqxQeEjhF78XerGiqWAwraVLQH",
    );
    add(
        "hello.txt -t",
        &["--trickle"],
        "hello.txt",
        false,
        "QmUkUQgxXeggyaD5Ckv8ZqfW8wHBX6cYyeiyqvVZYzq5Bi",
    );
    add(
        "hello2.txt",
        &[],
        "hello2.txt",
        false,
        "Qmf35k66MZNW2GijohUmXQEWKZU4cCGTCwK6idfnt152wJ",
    );
    add(
        "IPFS\\n",
        &[],
        "ipfs.txt",
        false,
        "QmdFyxZXsFiP4csgfM5uPu99AvFiKH62CSPDw5TP92nr7w",
    );
    add(
        "venus.txt",
        &[],
        "venus.txt",
        false,
        "QmU5kp3BH3B8tnWUU2Pikdb2maksBNkb92FHRr56hyghh4",
    );
    add(
        "mars.txt --raw-leaves",
        &["--raw-leaves"],
        "mars.txt",
        false,
        "bafkreibmlvvgdyihetgocpof6xk64kjjzdeq2e4c7hqs3krdheosk4tgj4",
    );
    add(
        "empty file --raw-leaves",
        &["--raw-leaves"],
        "empty_file",
        false,
        "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku",
    );
    add(
        "add -r .",
        &[],
        "test_current_dir",
        true,
        "QmZQWnfcqJ6hNkkPvrY9Q5X39GP3jUnUbAV4AbmbbR3Cb1",
    );
    add(
        "planets",
        &[],
        "planets",
        true,
        "QmWSgS32xQEcXMeqd3YPJLrNBLSdsfYCep2U7CFkyrjXwY",
    );
    add(
        "planets --raw-leaves",
        &["--raw-leaves"],
        "planets",
        true,
        "QmfWfQfKCY5Ukv9peBbxM5vqWM9BzmqUSXvdCgjT2wsiBT",
    );
    add(
        "planets --cid-version=1",
        &["--cid-version", "1"],
        "planets",
        true,
        "bafybeih7e5dmkyk25up5vxug4q3hrg2fxbzf23dfrac2fns5h7z4aa7ioi",
    );
    add(
        "moons",
        &[],
        "moons",
        true,
        "QmVKvomp91nMih5j6hYBA8KjbiaYvEetU2Q7KvtZkLe9nQ",
    );
    add(
        "moons/jupiter",
        &[],
        "moons/jupiter",
        true,
        "QmS5mZddhFPLWFX3w6FzAy9QxyYkaxvUpsWCtZ3r7jub9J",
    );
    add(
        "moons/saturn",
        &[],
        "moons/saturn",
        true,
        "QmaMagZT4rTE7Nonw8KGSK4oe1bh533yhZrCo1HihSG8FK",
    );
    // t0260-sharding.sh: 2000 entries stay a plain directory at the default threshold.
    add(
        "testdata (2000 files)",
        &[],
        "testdata",
        true,
        "QmavrTrQG4VhoJmantURAYuw3bowq3E2WcvP36NRQDAC1N",
    );
    add(
        "testdata/file100",
        &[],
        "testdata/file100",
        false,
        "QmZ3RfWk1u5LEGYLHA633B5TNJy3Du27K6Fny9wcxpowGS",
    );

    // Oracle-only vectors: options acorn's CLI does not take.
    let mut helia_only =
        |label: &str, opts: &[&str], extra: &[&str], rel: &str, cid: &'static str| {
            let mut c = Case::new(label, opts, &t.join(rel), true);
            c.helia_only = extra.iter().map(|s| s.to_string()).collect();
            c.kubo = Some(cid);
            cases.push(c);
        };
    helia_only(
        "planets --cid-version=1 --raw-leaves=false",
        &["--cid-version", "1"],
        &["--raw-leaves", "false"],
        "planets",
        "bafybeif5tuep5ap2d7zyhbktucey75aoacxufgt6i3v4gebmixyipnyp7y",
    );
    helia_only(
        "testdata sharded (threshold 1 B)",
        &[],
        &["--shard-threshold", "1"],
        "testdata",
        "QmSCJD1KYLhVVHqBK3YyXuoEqHt7vggyJhzoFYbT8v1XYL",
    );
    helia_only(
        "testdata sharded CIDv1 (threshold 1 B)",
        &["--cid-version", "1"],
        &["--shard-threshold", "1"],
        "testdata",
        "bafybeibiemewfzzdyhq2l74wrd6qj2oz42usjlktgnlqv4yfawgouaqn4u",
    );

    let helia = helia_batch(&oracle, &cases);
    let mut oracle_wrong = Vec::new();
    for (case, (cid, _)) in cases.iter().zip(&helia) {
        let want = case.kubo.expect("every vector has a recorded CID");
        eprintln!("helia {cid} {}", case.label);
        if cid != want {
            oracle_wrong.push(format!("{}: oracle {cid}, Kubo {want}", case.label));
        }
    }
    assert!(
        oracle_wrong.is_empty(),
        "the pinned Helia oracle no longer gives Kubo's recorded CIDs:\n{}",
        oracle_wrong.join("\n")
    );

    let home = t.join("home");
    fs::create_dir_all(&home).expect("home dir");
    assert_acorn_matches(&cases, &helia, &home);
}
