//! `acorn get -a -C [-l N]`: a gzip'd tar that gunzips to `get -a`'s bytes;
//! `acorn get -C` of a file: the file gzip'd, as Kubo writes it.

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
    let gz_out = d.path().join("dir-gz");
    let e = err(&run(
        &root,
        &["get", "-C", "-o", gz_out.to_str().unwrap(), cid],
        None,
    ));
    assert!(e.contains("-a -C"), "a directory needs -a: {e}");
}

/// Kubo's `get -C` without `-a`: one file, gzip'd, as `<name>.gz`; a directory is
/// refused and leaves nothing behind.
#[test]
fn get_compressed_file_without_archive_is_the_gzipd_file() {
    let (d, root) = init_repo();
    let data = pseudo_random(700_000, 11);
    let src = d.path().join("f.bin");
    std::fs::write(&src, &data).unwrap();
    let cid = ok(&run(&root, &["add", "-Q", src.to_str().unwrap()], None));
    let cid = cid.trim();
    let wrapped = ok(&run(
        &root,
        &["add", "-Q", "-w", src.to_str().unwrap()],
        None,
    ));
    let wrapped = wrapped.trim();
    for (args, file) in [
        (vec!["get", "-C", "-o", "out", cid], "out.gz"),
        (vec!["get", "-C", "-l", "9", "-o", "x.gz", cid], "x.gz"),
        (vec!["get", "-l", "1", "-o", "named", cid], "named.gz"),
    ] {
        let mut args = args;
        let out = d.path().join(args[args.len() - 2]);
        let at = args.len() - 2;
        args[at] = out.to_str().unwrap();
        let said = ok(&run(&root, &args, None));
        let target = d.path().join(file);
        assert!(said.contains(target.to_str().unwrap()), "{said}");
        let gz = std::fs::read(&target).unwrap();
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut back)
            .unwrap();
        assert!(back == data, "{args:?}: gunzips to the file's bytes");
    }
    // A path into a directory names the file; the default name is its last segment.
    let cwd = d.path().join("cwd");
    std::fs::create_dir(&cwd).unwrap();
    let r = std::process::Command::new(env!("CARGO_BIN_EXE_acorn"))
        .args(["get", "-C", &format!("{wrapped}/f.bin")])
        .env("ACORN_PATH", &root)
        .current_dir(&cwd)
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert!(cwd.join("f.bin.gz").exists());

    let dir_out = d.path().join("dir");
    let e = err(&run(
        &root,
        &["get", "-C", "-o", dir_out.to_str().unwrap(), wrapped],
        None,
    ));
    assert!(e.contains("-a -C"), "{e}");
    assert!(
        !d.path().join("dir.gz").exists(),
        "nothing half-written is left"
    );
}
