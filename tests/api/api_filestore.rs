//! `filestore/ls|verify|dups` over the RPC API (Kubo's `ListRes` lines and status
//! codes, file order) and `acorn filestore` through the daemon printing exactly
//! what it prints offline.

use crate::common;
use crate::rpc;

use common::{init_repo, ok, pseudo_random, run, Daemon};

#[test]
fn filestore_over_the_api_matches_offline() {
    let (d, root) = init_repo();
    let data = d.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    // Two chunks and one chunk; names so that key order differs from file order.
    std::fs::write(data.join("b.bin"), pseudo_random(300_000, 3)).unwrap();
    std::fs::write(data.join("a.txt"), b"small nocopy file\n").unwrap();
    let dir = data.to_str().unwrap();
    ok(&run(&root, &["add", "--nocopy", "-r", "-Q", dir], None));
    // A copy of a.txt's block too, for dups.
    ok(&run(
        &root,
        &[
            "add",
            "--raw-leaves",
            "-Q",
            data.join("a.txt").to_str().unwrap(),
        ],
        None,
    ));
    let offline: Vec<_> = [
        &["filestore", "ls"][..],
        &["filestore", "ls", "--file-order"],
        &["filestore", "verify"],
        &["filestore", "verify", "--file-order"],
        &["filestore", "dups"],
    ]
    .iter()
    .map(|args| (args.to_vec(), ok(&run(&root, args, None))))
    .collect();
    assert_eq!(offline[0].1.lines().count(), 3, "{}", offline[0].1);
    assert_eq!(offline[4].1.lines().count(), 1, "{}", offline[4].1);

    let daemon = Daemon::start(&root);
    let port = daemon.port;
    for (args, want) in &offline {
        assert_eq!(
            &ok(&run(&root, args, None)),
            want,
            "acorn {args:?} via the daemon"
        );
    }

    // The raw lines: Kubo's fields, file order sorts by path then offset.
    let a = rpc::post(port, "/api/v0/filestore/ls?file-order=true");
    assert_eq!(a.status, 200);
    assert_eq!(a.header("X-Chunked-Output").as_deref(), Some("1"));
    let lines = a.lines();
    let got: Vec<(String, u64, u64, u64)> = lines
        .iter()
        .map(|l| {
            assert_eq!(l["ErrorMsg"], "");
            assert!(
                l["Key"]["/"].as_str().unwrap().starts_with("bafkrei"),
                "{l}"
            );
            (
                l["FilePath"]
                    .as_str()
                    .unwrap()
                    .rsplit('/')
                    .next()
                    .unwrap()
                    .to_string(),
                l["Offset"].as_u64().unwrap(),
                l["Size"].as_u64().unwrap(),
                l["Status"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("a.txt".to_string(), 0, 18, 0),
            ("b.bin".to_string(), 0, 262_144, 0),
            ("b.bin".to_string(), 262_144, 300_000 - 262_144, 0),
        ]
    );
    let dups = rpc::post(port, "/api/v0/filestore/dups").lines();
    assert_eq!(dups.len(), 1);
    assert_eq!(dups[0]["Err"], "");
    assert_eq!(
        format!("{}\n", dups[0]["Ref"].as_str().unwrap()),
        offline[4].1
    );

    // A changed file: verify says 12 (changed) for its blocks; the CLI prints the
    // same as offline and fails.
    std::fs::write(data.join("b.bin"), pseudo_random(300_000, 4)).unwrap();
    let lines = rpc::post(port, "/api/v0/filestore/verify?file-order=true").lines();
    let codes: Vec<u64> = lines
        .iter()
        .map(|l| l["Status"].as_u64().unwrap())
        .collect();
    assert_eq!(codes, [0, 12, 12]);
    assert!(!lines[1]["ErrorMsg"].as_str().unwrap().is_empty());
    let online = run(&root, &["filestore", "verify", "--file-order"], None);
    assert!(!online.ok);
    assert_eq!(
        online
            .text()
            .lines()
            .filter(|l| l.starts_with("changed"))
            .count(),
        2
    );

    // A named CID that is not in the filestore: status 30; the CLI says so.
    let hello = "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e";
    let lines = rpc::post(port, &format!("/api/v0/filestore/ls?arg={hello}")).lines();
    assert_eq!(lines[0]["Status"], 30);
    let r = run(&root, &["filestore", "ls", hello], None);
    assert!(!r.ok);
    assert!(r.stderr.contains("not in the filestore"), "{}", r.stderr);

    // Bad input: Kubo-style 400, and the daemon keeps serving.
    let a = rpc::post(port, "/api/v0/filestore/ls?arg=notacid");
    assert_eq!((a.status, a.json()["Code"].as_u64()), (400, Some(1)));
    let a = rpc::post(port, "/api/v0/filestore/verify?file-order=maybe");
    assert_eq!(a.status, 400);
    assert_eq!(rpc::post(port, "/api/v0/filestore/dups").status, 200);
    let (stopped, _, _) = daemon.stop();
    assert!(stopped);
}
