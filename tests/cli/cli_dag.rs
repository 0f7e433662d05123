//! End-to-end tests of `dag put|get|export|import`, `cat`, `ls` and `get` through
//! the binary, including a hand-made malicious directory for `get`.

use crate::common;

use common::{err, init_repo, ok, run};

#[test]
fn dag_put_get_round_trip_and_paths() {
    let (_d, root) = init_repo();
    let leaf = ok(&run(&root, &["add", "-Q"], Some(b"hello world\n")))
        .trim()
        .to_string();
    let doc = format!(r#"{{ "b": "x", "a": [1, 2, {{"/": "{leaf}"}}] }}"#);
    let cid = ok(&run(&root, &["dag", "put"], Some(doc.as_bytes())))
        .trim()
        .to_string();
    assert!(cid.starts_with("bafyrei"), "dag-cbor CIDv1: {cid}");
    // Canonical dag-json back: keys sorted, no whitespace.
    assert_eq!(
        ok(&run(&root, &["dag", "get", &cid], None)),
        format!(r#"{{"a":[1,2,{{"/":"{leaf}"}}],"b":"x"}}"#)
    );
    assert_eq!(
        ok(&run(&root, &["dag", "get", &format!("{cid}/a/1")], None)),
        "2"
    );
    // Through the link into the dag-pb leaf.
    let through = ok(&run(
        &root,
        &["dag", "get", &format!("{cid}/a/2/Links")],
        None,
    ));
    assert_eq!(through, "[]");
    // Same content as dag-json store codec: a different CID, same value.
    let j = ok(&run(
        &root,
        &["dag", "put", "--store-codec=dag-json"],
        Some(doc.as_bytes()),
    ))
    .trim()
    .to_string();
    assert!(j.starts_with("baguqeera"), "{j}");
    assert_eq!(
        ok(&run(&root, &["dag", "get", &j], None)),
        ok(&run(&root, &["dag", "get", &cid], None))
    );
    assert!(err(&run(&root, &["dag", "put"], Some(b"{not json"))).contains("dag-json"));
    assert!(err(&run(
        &root,
        &["dag", "put", "--input-codec=dag-cbor"],
        Some(b"\xa1\x61a")
    ))
    .contains("dag-cbor"));
    assert!(err(&run(&root, &["dag", "get", &format!("{cid}/nope")], None)).contains("nope"));
}

#[test]
fn car_export_import_between_repos() {
    let (d, a) = init_repo();
    let (_d2, b) = init_repo();
    let file = d.path().join("f");
    let data = common::pseudo_random(1_500_000, 9);
    std::fs::write(&file, &data).unwrap();
    let cid = ok(&run(&a, &["add", "-Q", file.to_str().unwrap()], None))
        .trim()
        .to_string();
    let car = run(&a, &["dag", "export", &cid], None);
    assert!(car.ok, "{}", car.stderr);
    let car_path = d.path().join("x.car");
    std::fs::write(&car_path, &car.stdout).unwrap();

    // A truncated or corrupted CAR stores nothing.
    let cut = d.path().join("cut.car");
    std::fs::write(&cut, &car.stdout[..car.stdout.len() / 2]).unwrap();
    assert!(err(&run(&b, &["dag", "import", cut.to_str().unwrap()], None)).contains("truncated"));
    let mut bad = car.stdout.clone();
    let n = bad.len();
    bad[n - 10] ^= 0xff;
    assert!(err(&run(&b, &["dag", "import"], Some(&bad))).contains("not match"));
    assert_eq!(ok(&run(&b, &["refs", "local"], None)), "");

    assert_eq!(
        ok(&run(
            &b,
            &["dag", "import", car_path.to_str().unwrap()],
            None
        )),
        format!("Pinned root\t{cid}\tsuccess\n")
    );
    let cat = run(&b, &["cat", &cid], None);
    assert!(cat.ok, "{}", cat.stderr);
    assert_eq!(cat.stdout, data);
    let part = run(
        &b,
        &["cat", "--offset=300000", "--length=70000", &cid],
        None,
    );
    assert_eq!(part.stdout, &data[300_000..370_000]);
    assert_eq!(
        ok(&run(&b, &["pin", "ls", "--type=recursive", "-q"], None)),
        format!("{cid}\n")
    );
    ok(&run(&b, &["pin", "verify"], None));
}

#[test]
fn get_refuses_a_malicious_directory() {
    let (d, root) = init_repo();
    let leaf = ok(&run(&root, &["add", "-Q"], Some(b"evil\n")))
        .trim()
        .to_string();
    for bad in ["../evil", "..", "a/b"] {
        // A dag-pb directory node (Data = UnixFS Directory, 0x08 0x01) with one link.
        let node = format!(
            r#"{{"Data":{{"/":{{"bytes":"CAE"}}}},"Links":[{{"Hash":{{"/":"{leaf}"}},"Name":"{bad}","Tsize":13}}]}}"#
        );
        let cid = ok(&run(
            &root,
            &["dag", "put", "--store-codec=dag-pb"],
            Some(node.as_bytes()),
        ))
        .trim()
        .to_string();
        let work = d.path().join("work");
        std::fs::create_dir_all(&work).unwrap();
        let out = work.join("out");
        let e = err(&run(
            &root,
            &["get", &cid, "-o", out.to_str().unwrap()],
            None,
        ));
        assert!(e.contains("unsafe entry name"), "{bad}: {e}");
        assert_eq!(
            std::fs::read_dir(&work).unwrap().count(),
            0,
            "nothing written for {bad}"
        );
        assert!(!d.path().join("evil").exists());
    }
}

#[test]
fn ls_and_get_a_tree() {
    let (d, root) = init_repo();
    let src = d.path().join("tree");
    std::fs::create_dir_all(src.join("dir")).unwrap();
    std::fs::write(src.join("dir/inner"), "inner").unwrap();
    std::fs::write(src.join("café.txt"), "au lait").unwrap();
    let cid = ok(&run(
        &root,
        &["add", "-r", "-Q", src.to_str().unwrap()],
        None,
    ))
    .trim()
    .to_string();
    let ls = ok(&run(&root, &["ls", &cid], None));
    let lines: Vec<Vec<&str>> = ls.lines().map(|l| l.split(' ').collect()).collect();
    assert_eq!(lines.len(), 2, "{ls}");
    assert_eq!(&lines[0][1..], ["7", "café.txt"]);
    assert_eq!(&lines[1][1..], ["-", "dir/"]);
    let out = d.path().join("out");
    ok(&run(
        &root,
        &["get", &cid, "-o", out.to_str().unwrap()],
        None,
    ));
    assert_eq!(
        std::fs::read_to_string(out.join("dir/inner")).unwrap(),
        "inner"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("café.txt")).unwrap(),
        "au lait"
    );
    assert_eq!(
        ok(&run(
            &root,
            &["cat", &format!("/ipfs/{cid}/dir/inner")],
            None
        )),
        "inner"
    );
    assert!(err(&run(&root, &["cat", &cid], None)).contains("directory"));
    assert!(err(&run(
        &root,
        &["get", &cid, "-o", out.to_str().unwrap()],
        None
    ))
    .contains("exists"));
}
