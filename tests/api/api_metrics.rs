//! `/debug/metrics/prometheus` on the API address: two daemons exchange a file,
//! take RPC calls, gateway requests and a GC; each scrape parses as OpenMetrics
//! text (HELP and TYPE on every family, histograms consistent, `# EOF` last) and
//! the counters move by exactly what was done.

use crate::common;
use crate::rpc;

use std::collections::{BTreeMap, HashSet};

use common::{dial_addr, init_repo, ok, pseudo_random, run, Daemon};

/// One scrape: series (`name{labels}`) to values.
type Scrape = BTreeMap<String, f64>;

/// Parses OpenMetrics text strictly enough to catch a broken exposition: every
/// sample's family has `# HELP` and `# TYPE` lines before it, names and labels are
/// well formed, values are numbers, `# EOF` ends it, and each histogram's buckets
/// rise to its `+Inf` bucket, which equals its `_count`.
fn parse(text: &str) -> Scrape {
    let mut helped = HashSet::new();
    let mut typed: BTreeMap<String, String> = BTreeMap::new();
    let mut out = Scrape::new();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.last(), Some(&"# EOF"), "no # EOF at the end:\n{text}");
    let name_ok = |n: &str| {
        !n.is_empty()
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
            && !n.starts_with(|c: char| c.is_ascii_digit())
    };
    for l in &lines[..lines.len() - 1] {
        if let Some(rest) = l.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').expect("help text");
            assert!(name_ok(name) && !help.trim().is_empty(), "bad HELP: {l}");
            assert!(helped.insert(name.to_string()), "HELP twice: {l}");
            continue;
        }
        if let Some(rest) = l.strip_prefix("# TYPE ") {
            let (name, t) = rest.split_once(' ').expect("type");
            assert!(
                ["counter", "gauge", "histogram", "info", "unknown"].contains(&t),
                "{l}"
            );
            typed.insert(name.to_string(), t.to_string());
            continue;
        }
        if l.starts_with("# UNIT ") {
            continue;
        }
        assert!(!l.starts_with('#'), "unknown comment line: {l}");
        let (series, value) = l.rsplit_once(' ').expect("sample value");
        let value: f64 = value
            .parse()
            .unwrap_or_else(|e| panic!("{e}: bad value in {l}"));
        let name = series.split('{').next().unwrap();
        assert!(name_ok(name), "bad name: {l}");
        if let Some(labels) = series.strip_prefix(name) {
            if !labels.is_empty() {
                let inner = labels
                    .strip_prefix('{')
                    .and_then(|s| s.strip_suffix('}'))
                    .unwrap_or_else(|| panic!("bad labels: {l}"));
                for pair in inner.split("\",").filter(|p| !p.is_empty()) {
                    let (k, v) = pair.split_once('=').expect("label=value");
                    assert!(name_ok(k) && v.starts_with('"'), "bad label: {l}");
                }
            }
        }
        let family = typed
            .keys()
            .filter(|f| name.starts_with(f.as_str()))
            .max_by_key(|f| f.len())
            .unwrap_or_else(|| panic!("sample before its TYPE: {l}"));
        assert!(helped.contains(family), "no HELP for {family}");
        let suffix = &name[family.len()..];
        let allowed: &[&str] = match typed[family].as_str() {
            "counter" => &["_total", "_created"],
            "histogram" => &["_bucket", "_sum", "_count", "_created"],
            _ => &[""],
        };
        assert!(
            allowed.contains(&suffix),
            "{name} in a {} family",
            typed[family]
        );
        assert!(
            out.insert(series.to_string(), value).is_none(),
            "twice: {l}"
        );
    }
    // Histograms: cumulative buckets ending at +Inf == _count.
    for (family, t) in &typed {
        if t != "histogram" {
            continue;
        }
        let counts: Vec<(&String, &f64)> = out
            .iter()
            .filter(|(k, _)| k.starts_with(&format!("{family}_count")))
            .collect();
        for (count_key, count) in counts {
            let labels = &count_key[format!("{family}_count").len()..];
            let inner = labels.trim_start_matches('{').trim_end_matches('}');
            let buckets: Vec<f64> = out
                .iter()
                .filter(|(k, _)| k.starts_with(&format!("{family}_bucket{{")) && k.contains(inner))
                .map(|(_, v)| *v)
                .collect();
            assert!(!buckets.is_empty(), "no buckets for {count_key}");
            let inf = out
                .iter()
                .find(|(k, _)| {
                    k.starts_with(&format!("{family}_bucket{{"))
                        && k.contains(inner)
                        && k.contains("le=\"+Inf\"")
                })
                .map(|(_, v)| *v)
                .unwrap_or_else(|| panic!("no +Inf bucket for {count_key}"));
            assert_eq!(inf, *count, "{count_key}");
            assert!(buckets.iter().all(|b| *b <= inf), "{count_key}");
        }
    }
    out
}

fn scrape(port: u16) -> Scrape {
    let a = rpc::request(port, "GET", "/debug/metrics/prometheus", &[], b"");
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    assert!(
        a.header("content-type")
            .is_some_and(|c| c.starts_with("application/openmetrics-text")),
        "{}",
        a.head
    );
    parse(&String::from_utf8(a.body).expect("utf-8"))
}

/// A series' value, 0 when absent (a counter not yet moved).
fn v(s: &Scrape, series: &str) -> f64 {
    s.get(series).copied().unwrap_or(0.0)
}

/// What `series` moved by from `before` to `after`.
fn delta(before: &Scrape, after: &Scrape, series: &str) -> f64 {
    v(after, series) - v(before, series)
}

#[test]
fn metrics_count_what_happened() {
    let (_da, a) = init_repo();
    let (_db, b) = init_repo();
    let da = Daemon::start(&a);
    let db = Daemon::start(&b);
    let a0 = scrape(da.port);
    let b0 = scrape(db.port);
    for s in [&a0, &b0] {
        assert_eq!(v(s, "acorn_peers"), 0.0);
        assert!(v(s, "process_resident_memory_bytes") > 1e6, "{s:?}");
        assert!(v(s, "process_threads") >= 1.0);
        assert!(v(s, "process_open_fds") >= 3.0);
        assert!(v(s, "acorn_repo_size_bytes") > 0.0);
    }
    let stat = rpc::post(da.port, "/api/v0/repo/stat").json();
    assert_eq!(
        v(&a0, "acorn_repo_objects"),
        stat["NumObjects"].as_u64().unwrap() as f64
    );

    // A adds a 600 KiB file (3 chunks and a root: 4 blocks); B fetches it over bitswap.
    ok(&run(&b, &["swarm", "connect", &dial_addr(&a)], None));
    let data = pseudo_random(600 * 1024, 7);
    let cid = ok(&run(&a, &["add", "-Q"], Some(&data))).trim().to_string();
    let got = run(&b, &["cat", &cid], None);
    assert!(got.ok, "{}", got.stderr);
    assert_eq!(got.stdout, data);

    // Exact RPC counts: 3 × id, one unknown path, one bad wantlist peer.
    for _ in 0..3 {
        assert_eq!(rpc::post(da.port, "/api/v0/id").status, 200);
    }
    assert_eq!(rpc::post(da.port, "/api/v0/no/such/command").status, 404);
    assert_eq!(
        rpc::post(da.port, "/api/v0/bitswap/wantlist?peer=notapeer").status,
        400
    );
    // Two gateway GETs: one found, one bad CID.
    let url = std::fs::read_to_string(a.join("gateway")).expect("gateway file");
    let gw = url.trim().strip_prefix("http://").unwrap().to_string();
    let g = rpc::http::request(&gw, "GET", &format!("/ipfs/{cid}"), &[], b"");
    assert_eq!((g.status, g.body.len()), (200, data.len()));
    let g = rpc::http::request(&gw, "GET", "/ipfs/notacid", &[], b"");
    assert_eq!(g.status, 400);

    let a1 = scrape(da.port);
    let b1 = scrape(db.port);
    assert_eq!(v(&a1, "acorn_peers"), 1.0);
    assert_eq!(v(&b1, "acorn_peers"), 1.0);
    assert_eq!(
        delta(
            &a0,
            &a1,
            "acorn_rpc_requests_total{command=\"id\",code=\"200\"}"
        ),
        3.0
    );
    assert_eq!(
        delta(
            &a0,
            &a1,
            "acorn_rpc_requests_total{command=\"other\",code=\"404\"}"
        ),
        1.0
    );
    assert_eq!(
        delta(
            &a0,
            &a1,
            "acorn_rpc_requests_total{command=\"bitswap/wantlist\",code=\"400\"}"
        ),
        1.0
    );
    assert_eq!(
        delta(
            &a0,
            &a1,
            "acorn_rpc_requests_total{command=\"add\",code=\"200\"}"
        ),
        1.0
    );
    assert_eq!(
        delta(
            &a0,
            &a1,
            "acorn_rpc_request_duration_seconds_count{command=\"id\"}"
        ),
        3.0
    );
    // The first scrape of A counts as `other` 200 in the second.
    assert_eq!(
        delta(
            &a0,
            &a1,
            "acorn_rpc_requests_total{command=\"other\",code=\"200\"}"
        ),
        1.0
    );
    assert_eq!(
        delta(
            &a0,
            &a1,
            "acorn_gateway_requests_total{route=\"ipfs\",code=\"200\"}"
        ),
        1.0
    );
    assert_eq!(
        delta(
            &a0,
            &a1,
            "acorn_gateway_requests_total{route=\"ipfs\",code=\"400\"}"
        ),
        1.0
    );
    // Bitswap: A sent the 4 blocks, B received them, nothing twice.
    assert_eq!(delta(&a0, &a1, "acorn_bitswap_blocks_sent_total"), 4.0);
    assert_eq!(delta(&b0, &b1, "acorn_bitswap_blocks_received_total"), 4.0);
    let sent = delta(&a0, &a1, "acorn_bitswap_data_sent_bytes_total");
    assert!(
        sent >= data.len() as f64 && sent < data.len() as f64 + 4096.0,
        "{sent}"
    );
    assert_eq!(
        delta(&b0, &b1, "acorn_bitswap_data_received_bytes_total"),
        sent
    );
    assert_eq!(v(&b1, "acorn_bitswap_dup_blocks_received_total"), 0.0);
    assert_eq!(v(&b1, "acorn_bitswap_wantlist_entries"), 0.0);
    // Bytes by protocol: the blocks went out on bitswap 1.2.0; the TCP total is more.
    let proto_out = delta(
        &a0,
        &a1,
        "acorn_protocol_bytes_total{protocol=\"/ipfs/bitswap/1.2.0\",direction=\"out\"}",
    );
    assert!(proto_out >= sent, "{proto_out} < {sent}");
    assert!(delta(&a0, &a1, "acorn_transport_bytes_total{direction=\"out\"}") >= proto_out);
    // The repo: 4 more objects on each side, as repo stat says.
    assert_eq!(delta(&a0, &a1, "acorn_repo_objects"), 4.0);
    assert_eq!(delta(&b0, &b1, "acorn_repo_objects"), 4.0);
    let stat = rpc::post(db.port, "/api/v0/repo/stat").json();
    assert_eq!(
        v(&b1, "acorn_repo_objects"),
        stat["NumObjects"].as_u64().unwrap() as f64
    );

    // GC on B removes the fetched (unpinned) blocks: one run, its blocks counted.
    let gc = ok(&run(&b, &["repo", "gc"], None));
    let removed = gc.lines().filter(|l| l.starts_with("removed ")).count() as f64;
    assert!(removed >= 4.0, "{gc}");
    let b2 = scrape(db.port);
    assert_eq!(delta(&b1, &b2, "acorn_gc_runs_total"), 1.0);
    assert_eq!(delta(&b1, &b2, "acorn_gc_freed_blocks_total"), removed);
    assert!(delta(&b1, &b2, "acorn_gc_freed_bytes_total") >= data.len() as f64);
    assert_eq!(delta(&b1, &b2, "acorn_repo_objects"), -removed);

    // Bad method: 405; the daemon keeps serving.
    let r = rpc::request(da.port, "PUT", "/debug/metrics/prometheus", &[], b"");
    assert_eq!(r.status, 405);
    let a2 = scrape(da.port);
    assert_eq!(
        delta(
            &a1,
            &a2,
            "acorn_rpc_requests_total{command=\"other\",code=\"405\"}"
        ),
        1.0
    );

    let (ok_a, _, err_a) = da.stop();
    assert!(ok_a, "{err_a}");
    let (ok_b, _, err_b) = db.stop();
    assert!(ok_b, "{err_b}");
}

#[test]
fn parser_rejects_broken_expositions() {
    let good = "# HELP x things.\n# TYPE x counter\nx_total 1\n# EOF\n";
    assert_eq!(parse(good)["x_total"], 1.0);
    for bad in [
        "# TYPE x counter\nx_total 1\n# EOF\n",            // no HELP
        "# HELP x things.\n# TYPE x counter\nx_total 1\n", // no EOF
        "# HELP x things.\n# TYPE x counter\nx_total one\n# EOF\n", // value
        "# HELP x things.\n# TYPE x counter\ny_total 1\n# EOF\n", // no TYPE
        "# HELP x things.\n# TYPE x gauge\nx{a=1} 1\n# EOF\n", // label
        "# HELP h t.\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_count 3\nh_sum 1\n# EOF\n",
    ] {
        let r = std::panic::catch_unwind(|| parse(bad));
        assert!(r.is_err(), "accepted:\n{bad}");
    }
}
