//! The daemon's automatic GC (`Acorn.EnableGC` / `--enable-gc`): cached blocks go
//! as soon as the repo passes its watermark; pinned ones stay.

use crate::common::{init_repo, ok, pseudo_random, run, Daemon};
use std::path::Path;
use std::time::{Duration, Instant};

fn num_objects(root: &Path) -> u64 {
    let out = ok(&run(root, &["repo", "stat"], None));
    out.lines()
        .find_map(|l| l.strip_prefix("NumObjects:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no NumObjects in {out}"))
}

#[test]
fn cache_past_the_watermark_is_collected_pins_stay() {
    let (_d, root) = init_repo();
    for (k, v) in [
        ("Datastore.StorageMax", "1MB"),
        // Only the watermark may start a run in this test.
        ("Datastore.GCPeriod", "0"),
    ] {
        ok(&run(&root, &["config", k, v], None));
    }
    ok(&run(
        &root,
        &["config", "--json", "Datastore.StorageGCWatermark", "50"],
        None,
    ));
    ok(&run(
        &root,
        &["config", "--bool", "Acorn.EnableGC", "true"],
        None,
    ));
    let pinned = ok(&run(
        &root,
        &["add", "-Q"],
        Some(&pseudo_random(100_000, 7)),
    ));
    let pinned = pinned.trim().to_string();
    let base = num_objects(&root);
    let daemon = Daemon::start(&root);
    // Under the watermark: cached blocks stay.
    let small = ok(&run(
        &root,
        &["block", "put"],
        Some(&pseudo_random(1000, 1)),
    ));
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(
        num_objects(&root),
        base + 1,
        "collected under the watermark"
    );
    // Past it (500 kB): every unpinned block goes within a few polls.
    for seed in 2..5 {
        ok(&run(
            &root,
            &["block", "put"],
            Some(&pseudo_random(200_000, seed)),
        ));
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    while num_objects(&root) != base {
        assert!(Instant::now() < deadline, "the cache was not collected");
        std::thread::sleep(Duration::from_millis(200));
    }
    let local = ok(&run(&root, &["refs", "local"], None));
    assert!(!local.contains(small.trim()), "{local}");
    let back = run(&root, &["cat", &pinned], None);
    assert_eq!(back.stdout, pseudo_random(100_000, 7));
    assert!(ok(&run(&root, &["repo", "verify"], None)).contains("blocks ok"));
    let (clean, _, stderr) = daemon.stop();
    assert!(clean, "{stderr}");
}
