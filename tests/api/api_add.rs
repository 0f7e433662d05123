//! `add` over the RPC API: `nocopy` only under `Filestore.AllowedRoots` (by the
//! canonical `Abspath`, refused with a clear error otherwise, never copied),
//! `progress` lines, and the CLI through the daemon (`add --nocopy`, no progress
//! bar bytes when stderr is not a terminal, for `add` and `get`).

use crate::common;
use crate::rpc;

use std::path::Path;

use common::{err, init_repo, ok, pseudo_random, run, Daemon};
use rpc::Part;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn nocopy_part<'a>(name: &'a str, abspath: &Path, data: &'a [u8]) -> Part<'a> {
    let mut p = Part::file(name, data);
    p.headers.push(("Abspath", s(abspath).to_string()));
    p
}

#[test]
fn nocopy_over_the_api_is_held_to_the_allowed_roots() {
    let (d, root) = init_repo();
    let allowed = d.path().join("allowed");
    let outside = d.path().join("outside");
    std::fs::create_dir_all(&allowed).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    let data = pseudo_random(300_000, 8);
    let good = allowed.join("good.bin");
    std::fs::write(&good, &data).unwrap();
    let secret = outside.join("secret.bin");
    std::fs::write(&secret, b"private bytes\n").unwrap();
    std::os::unix::fs::symlink(&secret, allowed.join("link")).unwrap();
    let want = ok(&run(
        &root,
        &["add", "-n", "-Q", "--raw-leaves", s(&good)],
        None,
    ))
    .trim()
    .to_string();
    let offline_out = {
        // What the CLI prints offline for a nocopy add (then undone for the test).
        let (d2, root2) = init_repo();
        let out = ok(&run(&root2, &["add", "--nocopy", s(&good)], None));
        drop(d2);
        out
    };
    ok(&run(
        &root,
        &[
            "config",
            "--json",
            "Filestore.AllowedRoots",
            &format!("[\"{}\"]", s(&allowed)),
        ],
        None,
    ));
    let daemon = Daemon::start(&root);
    let port = daemon.port;

    // Allowed: referenced in place, Kubo's CID for raw leaves, no copy.
    let a = rpc::post_multipart(
        port,
        "/api/v0/add?nocopy=true",
        &[nocopy_part("good.bin", &good, &data)],
    );
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let lines = a.lines();
    assert_eq!(lines.last().unwrap()["Hash"], want.as_str());
    let ls = rpc::post(port, "/api/v0/filestore/ls?file-order=true").lines();
    assert_eq!(ls.len(), 2, "{ls:?}");
    for l in &ls {
        assert_eq!(l["FilePath"], s(&std::fs::canonicalize(&good).unwrap()));
    }
    assert!(rpc::post(port, "/api/v0/filestore/dups").lines().is_empty());
    let cat = rpc::post(port, &format!("/api/v0/cat?arg={want}"));
    assert_eq!(cat.body, data);

    // Refused: outside the roots, through `..`, through a symlink, no Abspath,
    // bytes that are not the file's, raw-leaves=false. Nothing is stored.
    let escape = allowed.join("../outside/secret.bin");
    let secret_bytes = b"private bytes\n";
    for (what, part) in [
        ("outside", nocopy_part("secret.bin", &secret, secret_bytes)),
        ("dot-dot", nocopy_part("secret.bin", &escape, secret_bytes)),
        (
            "symlink",
            nocopy_part("link", &allowed.join("link"), secret_bytes),
        ),
    ] {
        let a = rpc::post_multipart(port, "/api/v0/add?nocopy=true", &[part]);
        assert_eq!(a.status, 500, "{what}");
        let msg = a.json()["Message"].as_str().unwrap().to_string();
        assert!(msg.contains("Filestore.AllowedRoots"), "{what}: {msg}");
    }
    let a = rpc::post_multipart(
        port,
        "/api/v0/add?nocopy=true",
        &[Part::file("x", b"no path")],
    );
    assert_eq!(a.status, 500);
    assert!(a.json()["Message"].as_str().unwrap().contains("Abspath"));
    let a = rpc::post_multipart(
        port,
        "/api/v0/add?nocopy=true",
        &[nocopy_part("good.bin", &good, &data[..1000])],
    );
    assert_eq!(a.status, 500);
    assert!(a.json()["Message"]
        .as_str()
        .unwrap()
        .contains("bytes were sent"));
    let a = rpc::post_multipart(
        port,
        "/api/v0/add?nocopy=true&raw-leaves=false",
        // Small: refused before the body is read (the server then closes).
        &[nocopy_part("good.bin", &good, b"abc")],
    );
    assert_eq!((a.status, a.json()["Code"].as_u64()), (400, Some(1)));
    assert_eq!(rpc::post(port, "/api/v0/filestore/ls").lines().len(), 2);
    let secret_cid = ok(&run(
        &root,
        &["add", "-n", "-Q", "--raw-leaves", s(&secret)],
        None,
    ));
    let a = rpc::post(
        port,
        &format!("/api/v0/block/stat?arg={}", secret_cid.trim()),
    );
    assert_eq!(a.status, 500, "the secret's block must not be stored");

    // The CLI through the daemon: the offline output under an allowed root; a clear
    // error (and no copy) outside.
    assert_eq!(
        ok(&run(&root, &["add", "--nocopy", s(&good)], None)),
        offline_out
    );
    let e = err(&run(&root, &["add", "--nocopy", s(&secret)], None));
    assert!(e.contains("Filestore.AllowedRoots"), "{e}");
    let e = err(&run(
        &root,
        &["add", "--nocopy", "--raw-leaves=false", s(&good)],
        None,
    ));
    assert!(e.contains("raw leaves"), "{e}");
    assert_eq!(rpc::post(port, "/api/v0/filestore/ls").lines().len(), 2);
    assert!(daemon.stop().0);
}

#[test]
fn progress_lines_and_no_bar_without_a_terminal() {
    let (d, root) = init_repo();
    let big = pseudo_random((1 << 20) + 5, 21);
    let file = d.path().join("big.bin");
    std::fs::write(&file, &big).unwrap();

    // Offline: add and get print no bar bytes on a non-terminal stderr.
    let r = run(&root, &["add", "-Q", s(&file)], None);
    assert!(r.ok && r.stderr.is_empty(), "{:?}", r.stderr);
    let cid = r.text().trim().to_string();
    let out = d.path().join("out-offline");
    let r = run(&root, &["get", "-o", s(&out), &cid], None);
    assert!(r.ok && r.stderr.is_empty(), "{:?}", r.stderr);
    assert_eq!(std::fs::read(&out).unwrap(), big);

    let daemon = Daemon::start(&root);
    let port = daemon.port;
    // progress=true: {"Name","Bytes"} lines, growing, at most one per 256 KiB plus
    // the last, before the file's {"Name","Hash","Size"}.
    let a = rpc::post_multipart(
        port,
        "/api/v0/add?progress=true",
        &[Part::file("big.bin", &big)],
    );
    assert_eq!(a.status, 200);
    let lines = a.lines();
    let (progress, rest): (Vec<_>, Vec<_>) = lines.iter().partition(|l| l.get("Hash").is_none());
    let bytes: Vec<u64> = progress
        .iter()
        .map(|l| {
            assert_eq!(l["Name"], "big.bin", "{l}");
            l["Bytes"].as_u64().unwrap()
        })
        .collect();
    assert!(bytes.windows(2).all(|w| w[0] < w[1]), "{bytes:?}");
    assert_eq!(*bytes.last().unwrap(), big.len() as u64);
    assert!(bytes.len() >= 4 && bytes.len() <= 6, "{bytes:?}");
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0]["Hash"], cid.as_str());
    assert!(lines.last().unwrap().get("Hash").is_some());
    // Without it: no progress lines.
    let a = rpc::post_multipart(port, "/api/v0/add", &[Part::file("big.bin", &big)]);
    assert!(a.lines().iter().all(|l| l.get("Bytes").is_none()));

    // Through the daemon: same output, no bar bytes; --progress=false parses.
    for args in [
        &["add", "-Q", s(&file)][..],
        &["add", "-Q", "--progress=false", s(&file)],
        &["add", "-Q", "--progress", s(&file)],
    ] {
        let r = run(&root, args, None);
        assert!(r.ok, "{args:?}: {}", r.stderr);
        assert_eq!(r.text().trim(), cid);
        assert!(r.stderr.is_empty(), "{args:?}: {:?}", r.stderr);
    }
    let out = d.path().join("out-daemon");
    let r = run(
        &root,
        &["get", "--progress=false", "-o", s(&out), &cid],
        None,
    );
    assert!(r.ok && r.stderr.is_empty(), "{:?}", r.stderr);
    assert_eq!(std::fs::read(&out).unwrap(), big);
    let out = d.path().join("out-daemon2");
    let r = run(&root, &["get", "-o", s(&out), &cid], None);
    assert!(r.ok && r.stderr.is_empty(), "{:?}", r.stderr);
    assert!(daemon.stop().0);
}

/// Runs `acorn args…` under a pseudo-terminal (util-linux `script`), so stderr is a
/// TTY; returns everything the terminal got.
fn run_on_tty(root: &Path, args: &[&str]) -> String {
    let cmd = std::iter::once(env!("CARGO_BIN_EXE_acorn"))
        .chain(args.iter().copied())
        .map(|a| format!("'{a}'"))
        .collect::<Vec<_>>()
        .join(" ");
    let out = std::process::Command::new("script")
        .args(["-q", "-e", "-c", &cmd, "/dev/null"])
        .env("ACORN_PATH", root)
        .env_remove("ACORN_LOG")
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("util-linux `script` runs the command on a pty");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn progress_bar_on_a_terminal() {
    let (d, root) = init_repo();
    let big = pseudo_random(3 << 20, 22);
    let file = d.path().join("big.bin");
    std::fs::write(&file, &big).unwrap();
    let full = "3.00 MiB / 3.00 MiB [==============================] 100.00%";

    // Offline: add and get draw a bar that ends full; --progress=false draws none.
    let t = run_on_tty(&root, &["add", "-Q", s(&file)]);
    assert!(t.contains(full), "{t:?}");
    let cid = t.lines().last().unwrap().trim().to_string();
    assert!(cid.starts_with("Qm"), "{t:?}");
    let t = run_on_tty(&root, &["add", "-Q", "--progress=false", s(&file)]);
    assert!(!t.contains("MiB"), "{t:?}");
    let t = run_on_tty(&root, &["get", "-o", s(&d.path().join("o1")), &cid]);
    assert!(t.contains("100.00%"), "{t:?}");

    // Through the daemon: the add's bar follows the daemon's progress lines.
    let daemon = Daemon::start(&root);
    let t = run_on_tty(&root, &["add", "-Q", s(&file)]);
    assert!(t.contains(full), "{t:?}");
    assert!(t.contains(&cid), "{t:?}");
    let t = run_on_tty(&root, &["get", "-o", s(&d.path().join("o2")), &cid]);
    assert!(t.contains("\r3.00 MiB"), "{t:?}");
    assert_eq!(std::fs::read(d.path().join("o2")).unwrap(), big);
    let t = run_on_tty(
        &root,
        &[
            "get",
            "--progress=false",
            "-o",
            s(&d.path().join("o3")),
            &cid,
        ],
    );
    assert!(!t.contains("MiB"), "{t:?}");
    assert!(daemon.stop().0);
}
