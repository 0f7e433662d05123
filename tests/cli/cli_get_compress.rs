//! `acorn get -a -C [-l N]`: a gzip'd tar that gunzips to `get -a`'s bytes.

use crate::common;

use std::io::Read;

use common::{err, init_repo, ok, pseudo_random, run};

#[test]
fn get_archive_compressed_gunzips_to_the_plain_archive() {
    let (d, root) = init_repo();
    let src = d.path().join("dir");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("a.txt"), b"hello\n".repeat(1000)).unwrap();
    std::fs::write(src.join("b.bin"), pseudo_random(300_000, 7)).unwrap();
    let cid = ok(&run(
        &root,
        &["add", "-r", "-Q", src.to_str().unwrap()],
        None,
    ));
    let cid = cid.trim();

    let plain = d.path().join("out");
    ok(&run(
        &root,
        &["get", "-a", "-o", plain.to_str().unwrap(), cid],
        None,
    ));
    let tar = std::fs::read(d.path().join("out.tar")).unwrap();

    for (flags, name) in [
        (&["-C"][..], "c1"),
        (&["-C", "-l", "9"][..], "c9"),
        (&["-l", "1"][..], "l1"),
    ] {
        let out = d.path().join(name);
        let mut args = vec!["get", "-a"];
        args.extend_from_slice(flags);
        args.extend(["-o", out.to_str().unwrap(), cid]);
        ok(&run(&root, &args, None));
        let gz = std::fs::read(d.path().join(format!("{name}.tar.gz"))).unwrap();
        assert!(gz.len() < tar.len(), "{flags:?} compressed");
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut back)
            .unwrap();
        assert!(back == tar, "{flags:?} gunzips to the plain archive");
    }

    let e = err(&run(&root, &["get", "-a", "-l", "10", cid], None));
    assert!(e.contains("between 1 and 9"), "{e}");
    let e = err(&run(&root, &["get", "-C", cid], None));
    assert!(e.contains("-a"), "{e}");
}
