//! The `Blocks` and `Dag` groups of the core API from the CLI: every `block` and
//! `dag` command, with its options and one bad input or more each, run offline on
//! a repo and then through a daemon holding the same repo. Each run is checked
//! against the right answer (CIDs computed here, hand-encoded DAG-CBOR, CAR
//! contents), and the daemon's run must match the offline one byte for byte:
//! stdout, stderr and the exit status.
//!
//! The scenario leaves the repo as it found it for the next run (what it removes,
//! it put earlier in the same run), so both runs start from equal states.

use crate::common;

use std::path::Path;

use acorn_storage::block::NullSink;
use acorn_storage::car::{self, CarWriter};
use acorn_storage::cids::{self, cid_of};
use common::{init_repo, pseudo_random, run, Daemon, Run};

/// What a step must give.
enum Want {
    /// Success with this stdout and nothing on stderr.
    Out(Vec<u8>),
    /// Failure with this stdout, and stderr starting with this text (the rest is
    /// an OS message or a codec's detail: the daemon run must match it exactly).
    Fail(Vec<u8>, String),
}

struct Step {
    args: Vec<String>,
    stdin: Option<Vec<u8>>,
    want: Want,
}

fn step(args: &[&str], stdin: Option<&[u8]>, want: Want) -> Step {
    Step {
        args: args.iter().map(|s| s.to_string()).collect(),
        stdin: stdin.map(<[u8]>::to_vec),
        want,
    }
}

fn out(s: impl AsRef<[u8]>) -> Want {
    Want::Out(s.as_ref().to_vec())
}

fn fail(stdout: &str, stderr: impl Into<String>) -> Want {
    Want::Fail(stdout.as_bytes().to_vec(), stderr.into())
}

/// Runs every step, checks it against its `Want`, returns the runs.
fn play(root: &Path, steps: &[Step], how: &str) -> Vec<Run> {
    steps
        .iter()
        .map(|s| {
            let args: Vec<&str> = s.args.iter().map(String::as_str).collect();
            let r = run(root, &args, s.stdin.as_deref());
            let show = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
            match &s.want {
                Want::Out(o) => {
                    assert!(r.ok, "{how} {args:?} failed: {}", r.stderr);
                    assert!(
                        &r.stdout == o,
                        "{how} {args:?}: stdout\n{}\nwanted\n{}",
                        show(&r.stdout),
                        show(o)
                    );
                    assert_eq!(r.stderr, "", "{how} {args:?}");
                }
                Want::Fail(o, e) => {
                    assert!(!r.ok, "{how} {args:?} succeeded: {}", show(&r.stdout));
                    assert_eq!(show(&r.stdout), show(o), "{how} {args:?}");
                    assert!(
                        r.stderr.starts_with(e.as_str()) && r.stderr.ends_with('\n'),
                        "{how} {args:?}: stderr {:?}, wanted {e:?}…",
                        r.stderr
                    );
                }
            }
            r
        })
        .collect()
}

/// The dag-stat table as Kubo's CLI prints it.
fn dag_stat_text(rows: &[(String, u64, u64)], total: u64, unique: u64, redundant: u64) -> String {
    let width = rows[0].0.len();
    let mut s = format!("\n{:<width$}\tBlocks         \tSize\n", "CID");
    for (cid, blocks, size) in rows {
        s.push_str(&format!("{cid}\t{:<15}\t{size}\n", blocks.to_string()));
    }
    s.push_str(&format!(
        "\nSummary\nTotal Size: {total}\nUnique Blocks: {unique}\nShared Size: {}\n\
         Ratio: {:.6}\n\n\n",
        redundant - total,
        redundant as f64 / total as f64
    ));
    s
}

#[test]
fn block_and_dag_commands_give_the_same_right_answers_offline_and_through_the_daemon() {
    let (dir, root) = init_repo();
    let path = |name: &str| dir.path().join(name).display().to_string();
    let a = pseudo_random(3000, 1);
    std::fs::write(path("a.bin"), &a).unwrap();
    std::fs::write(path("b.txt"), b"bee\n").unwrap();
    // {"a": 1} in DAG-CBOR.
    let obj = [0xa1, 0x61, b'a', 0x01];
    std::fs::write(path("obj.cbor"), obj).unwrap();

    let big = pseudo_random(1_500_000, 2);
    std::fs::write(path("big.bin"), &big).unwrap();
    let (big_p, big_cid) = (path("big.bin"), cid_of(1, cids::RAW, &big).to_string());
    let a_cid = cid_of(1, cids::RAW, &a).to_string();
    let in_cid = cid_of(1, cids::RAW, b"from stdin").to_string();
    let b_cid = cid_of(1, cids::RAW, b"bee\n").to_string();
    let obj_cid = cid_of(1, cids::DAG_CBOR, &obj).to_string();
    let missing = cid_of(1, cids::RAW, b"never stored").to_string();
    let bad_cid = cids::parse("notacid").unwrap_err().to_string();

    // A DAG: a dag-cbor node linking to a raw leaf; its bytes encoded by hand
    // (keys "l" < "n"; the link is tag 42 over 0x00 + the CID's 36 bytes).
    let leaf = cid_of(1, cids::RAW, b"leaf data");
    let doc = format!(r#"{{ "n": [1, 2], "l": {{"/": "{leaf}"}} }}"#);
    let mut node_bytes = vec![0xa2, 0x61, b'l', 0xd8, 0x2a, 0x58, 0x25, 0x00];
    node_bytes.extend_from_slice(&leaf.to_bytes());
    node_bytes.extend_from_slice(&[0x61, b'n', 0x82, 0x01, 0x02]);
    let node = cid_of(1, cids::DAG_CBOR, &node_bytes).to_string();
    let leaf = leaf.to_string();
    std::fs::write(path("leaf.txt"), b"leaf data").unwrap();
    std::fs::write(path("doc.json"), &doc).unwrap();
    std::fs::write(path("list.json"), b" [1, 2]\n").unwrap();
    let list = cid_of(1, cids::DAG_CBOR, &[0x82, 0x01, 0x02]).to_string();
    let list_p = path("list.json");
    let node_json = format!(r#"{{"l":{{"/":"{leaf}"}},"n":[1,2]}}"#);
    let dag_bytes = node_bytes.len() as u64 + 9;

    // CARs: the DAG (made by hand here, as `dag export` must write it), the DAG
    // cut short, and one whose root it does not hold.
    let mut w = CarWriter::new(Vec::new(), &[cids::parse(&node).unwrap()]).unwrap();
    w.write_block(&cids::parse(&node).unwrap(), &node_bytes)
        .unwrap();
    w.write_block(&cids::parse(&leaf).unwrap(), b"leaf data")
        .unwrap();
    let dag_car = w.finish().unwrap();
    std::fs::write(path("dag.car"), &dag_car).unwrap();
    std::fs::write(path("cut.car"), &dag_car[..dag_car.len() - 4]).unwrap();
    let absent = cid_of(1, cids::DAG_CBOR, b"\xa0");
    let lone = cid_of(1, cids::RAW, b"lone block");
    let mut w = CarWriter::new(Vec::new(), &[absent]).unwrap();
    w.write_block(&lone, b"lone block").unwrap();
    std::fs::write(path("partial.car"), w.finish().unwrap()).unwrap();

    let (a_p, b_p, obj_p) = (path("a.bin"), path("b.txt"), path("obj.cbor"));
    let (leaf_p, doc_p) = (path("leaf.txt"), path("doc.json"));
    let (car_p, cut_p, partial_p, nope_p) = (
        path("dag.car"),
        path("cut.car"),
        path("partial.car"),
        path("nope.car"),
    );
    let node_n = format!("{node}/n");
    let node_n1 = format!("{node}/n/1");
    let node_nope = format!("{node}/nope");
    let ipfs_node = format!("/ipfs/{node}");

    let steps = vec![
        // block put: several inputs (files and stdin), codec, hash options, pin.
        step(
            &["block", "put", &a_p, &b_p],
            None,
            out(format!("{a_cid}\n{b_cid}\n")),
        ),
        // Over Kubo's 1 MiB soft limit, under the 2 MiB one: stored both ways.
        step(&["block", "put", &big_p], None, out(format!("{big_cid}\n"))),
        step(
            &["block", "put"],
            Some(b"from stdin"),
            out(format!("{in_cid}\n")),
        ),
        step(
            &[
                "block",
                "put",
                "--cid-codec=dag-cbor",
                "--mhtype=sha2-256",
                "--mhlen=32",
                "--pin=true",
                &obj_p,
            ],
            None,
            out(format!("{obj_cid}\n")),
        ),
        step(
            &["block", "put", "--mhtype=blake3"],
            Some(b"x"),
            fail(
                "",
                "Error: unsupported multihash type \"blake3\" (only sha2-256)\n",
            ),
        ),
        step(
            &["block", "put", "--mhlen=20"],
            Some(b"x"),
            fail("", "Error: unsupported multihash length 20 (only 32)\n"),
        ),
        step(
            &["block", "put", "--cid-codec=dag-cbor", &a_p],
            None,
            fail("", "Error: block is not valid dag-cbor: "),
        ),
        // block get / stat
        step(&["block", "get", &a_cid], None, out(&a)),
        step(
            &["block", "get", &missing],
            None,
            fail("", format!("Error: block {missing} not found\n")),
        ),
        step(
            &["block", "stat", &obj_cid],
            None,
            out(format!("Key: {obj_cid}\nSize: 4\n")),
        ),
        step(
            &["block", "stat", "notacid"],
            None,
            fail("", format!("Error: {bad_cid}\n")),
        ),
        // block rm: per-CID results, the command going on after each failure.
        step(
            &["block", "rm", &in_cid],
            None,
            out(format!("removed {in_cid}\n")),
        ),
        step(&["block", "rm", "-q", &b_cid], None, out("")),
        step(
            &["block", "rm", &a_cid, &obj_cid, &missing, "notacid"],
            None,
            fail(
                &format!("removed {a_cid}\n"),
                format!(
                    "cannot remove {obj_cid}: pinned: recursive\n\
                     cannot remove {missing}: block not found\n\
                     {bad_cid}\n\
                     Error: 3 of 4 blocks not removed\n"
                ),
            ),
        ),
        step(&["block", "rm", "-f", &missing], None, out("")),
        step(
            &["block", "rm", &obj_cid],
            None,
            fail(
                "",
                format!("Error: cannot remove {obj_cid}: pinned: recursive\n"),
            ),
        ),
        // dag put: codecs, several inputs, pin.
        step(
            &[
                "dag",
                "put",
                "--input-codec=raw",
                "--store-codec=raw",
                &leaf_p,
            ],
            None,
            out(format!("{leaf}\n")),
        ),
        step(
            &[
                "dag",
                "put",
                "--pin=true",
                "--hash=sha2-256",
                &doc_p,
                &list_p,
            ],
            None,
            out(format!("{node}\n{list}\n")),
        ),
        step(
            &["dag", "put"],
            Some(doc.as_bytes()),
            out(format!("{node}\n")),
        ),
        step(
            &["dag", "put"],
            Some(b"{not json"),
            fail("", "Error: input is not valid dag-json: "),
        ),
        step(
            &["dag", "put", "--hash=md5"],
            Some(b"1"),
            fail("", "Error: unsupported hash \"md5\" (only sha2-256)\n"),
        ),
        // dag get: paths, output codecs.
        step(&["dag", "get", &node], None, out(&node_json)),
        step(&["dag", "get", &node_n1], None, out("2")),
        step(
            &["dag", "get", "--output-codec=dag-cbor", &node_n],
            None,
            out([0x82, 0x01, 0x02]),
        ),
        // Across the link into the raw leaf: its bytes, as dag-json writes bytes.
        step(
            &["dag", "get", &format!("{node}/l")],
            None,
            out(r#"{"/":{"bytes":"bGVhZiBkYXRh"}}"#),
        ),
        step(
            &["dag", "get", &node_nope],
            None,
            fail("", format!("Error: no link named \"nope\" under {node}\n")),
        ),
        // dag stat: several roots, a shared block.
        step(
            &["dag", "stat", "--progress=false", &node, &leaf],
            None,
            out(dag_stat_text(
                &[(node.clone(), 2, dag_bytes), (leaf.clone(), 1, 9)],
                dag_bytes,
                2,
                dag_bytes + 9,
            )),
        ),
        step(
            &["dag", "stat", "notacid"],
            None,
            fail("", format!("Error: invalid path \"notacid\": {bad_cid}\n")),
        ),
        // dag export: the CAR made above, byte for byte.
        step(&["dag", "export", &ipfs_node], None, out(&dag_car)),
        step(
            &["dag", "export", "notacid"],
            None,
            fail("", format!("Error: invalid path \"notacid\": {bad_cid}\n")),
        ),
        // dag import: files and stdin, per-root pin results, stats.
        step(
            &["dag", "import", "--stats", &car_p],
            None,
            out(format!(
                "Pinned root\t{node}\tsuccess\nImported 2 blocks ({dag_bytes} bytes)\n"
            )),
        ),
        step(
            &["dag", "import", "--pin-roots=false", "--stats"],
            Some(&dag_car),
            out(format!("Imported 2 blocks ({dag_bytes} bytes)\n")),
        ),
        step(
            &["dag", "import", &partial_p],
            None,
            fail(
                "",
                format!("Error: pinning root \"{absent}\" FAILED: cannot pin {absent}: "),
            ),
        ),
        step(
            &["dag", "import", &car_p, &cut_p],
            None,
            fail("", format!("Error: {cut_p}: CAR truncated")),
        ),
        step(
            &["dag", "import", &nope_p],
            None,
            fail("", format!("Error: opening {nope_p}: ")),
        ),
    ];

    let offline = play(&root, &steps, "offline");
    // What dag export wrote is a CAR of the DAG (checked by reading it back).
    let exported = &offline[steps
        .iter()
        .position(|s| s.args[..2] == ["dag", "export"])
        .unwrap()];
    let summary = car::import(exported.stdout.as_slice(), &mut NullSink).unwrap();
    assert_eq!(
        (summary.roots, summary.blocks, summary.bytes),
        (vec![cids::parse(&node).unwrap()], 2, dag_bytes)
    );

    let d = Daemon::start(&root);
    // The daemon holds the repo's lock: these can only go through its API.
    let online = play(&root, &steps, "through the daemon");
    for ((s, off), on) in steps.iter().zip(&offline).zip(&online) {
        assert_eq!(on.ok, off.ok, "{:?}", s.args);
        assert!(on.stdout == off.stdout, "{:?}: stdout differs", s.args);
        assert_eq!(on.stderr, off.stderr, "{:?}", s.args);
    }
    let (stopped, _, stderr) = d.stop();
    assert!(stopped, "{stderr}");
}
