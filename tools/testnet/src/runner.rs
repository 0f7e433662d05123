//! Runs a checked [`Scenario`]: builds its network, makes a repo per host, plays
//! the steps in order and writes figures as JSON lines, one per step and one per
//! node after each step.
//!
//! Figures: `{"run":…}` first (run prefix, scratch directory, seed); per step
//! `{"step":N,"line":L,"do":…,"ok":…,"ms":…}` plus, for a fetch, `bytes`,
//! `ttfb_ms`, `ttlb_ms` and `sha256`; per node `{"step":N,"node":…,"pid",
//! "rss_kib","hwm_kib","threads","bytes_in","bytes_out","bitswap_in",
//! "bitswap_out","kad_in","kad_out","peers"}` (bytes from the node's own
//! `stats/bw`); per link `{"step":N,"link":…,"a2b":…,"b2a":…}` (the link's packet
//! counters; `a2b` is toward the member). The same seed gives the same links, the
//! same content and the same schedule of steps.
//!
//! At the end a summary table goes to stderr: each fetch (bytes, time to first and
//! last byte, MiB/s), then each node's last figures.
//!
//! Failure: a step that fails (a fetch past its deadline or with the wrong sha256,
//! a node that will not start, a node above its firmware profile's RSS ceiling)
//! or a run past its `timeout` prints each node's last log lines and figures,
//! tears everything down and returns the error.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::link::Conditions;
use crate::node::{Node, SWARM_PORT};
use crate::scenario::{Action, Scenario, Source};
use crate::testnet::{Bins, Testnet};

/// Log lines of each node printed when a run fails.
pub const FAIL_LOG_LINES: usize = 20;
/// The line a daemon logs when bitswap drops a misbehaving peer.
pub const MISBEHAVING_LINE: &str = "bitswap: disconnecting a misbehaving peer";
/// How often `wait-until` looks.
pub const POLL_EVERY: Duration = Duration::from_millis(100);

/// How to run.
pub struct Options {
    pub acorn: PathBuf,
    pub bins: Bins,
}

/// What a fetch measured.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub bytes: u64,
    pub sha256: String,
    pub ttfb: Option<Duration>,
    pub ttlb: Duration,
}

/// A fetch under way on its own thread.
struct Pending {
    job: std::thread::JoinHandle<anyhow::Result<Fetched>>,
    want: String,
    cid: String,
    deadline: Duration,
}

impl Pending {
    /// Waits for it (it stops itself at its deadline) and checks its bytes.
    fn finish(self, host: &str, content: &str) -> anyhow::Result<Value> {
        let f = self
            .job
            .join()
            .map_err(|_| anyhow::anyhow!("fetch thread panicked"))??;
        let v = json!({
            "host": host, "content": content, "cid": self.cid, "bytes": f.bytes,
            "ttfb_ms": f.ttfb.map(|d| d.as_millis() as u64),
            "ttlb_ms": f.ttlb.as_millis() as u64, "sha256": f.sha256,
            "deadline_ms": self.deadline.as_millis() as u64,
        });
        anyhow::ensure!(
            f.sha256 == self.want,
            "fetch of {content} on {host}: sha256 {} is not the expected {} ({v})",
            f.sha256,
            self.want
        );
        Ok(v)
    }
}

struct Content {
    cid: String,
    sha256: String,
    path: PathBuf,
}

struct Run<'a> {
    sc: &'a Scenario,
    // Nodes drop before the network.
    nodes: BTreeMap<String, Node>,
    net: Testnet,
    contents: BTreeMap<String, Content>,
    /// Background fetches by (host, content).
    background: BTreeMap<(String, String), Pending>,
    scratch: PathBuf,
    out: &'a mut dyn Write,
    /// RSS ceilings in KiB.
    ceilings: BTreeMap<String, u64>,
}

/// Runs `sc`, writing figures to `out`; the scratch directory is removed after.
pub fn run(sc: &Scenario, opts: &Options, out: &mut dyn Write) -> anyhow::Result<()> {
    anyhow::ensure!(
        opts.acorn.is_file(),
        "acorn binary not found at {} (build it: cargo build --bin acorn)",
        opts.acorn.display()
    );
    let scratch = tempfile::Builder::new()
        .prefix("acorn-testnet-")
        .tempdir()?
        .keep();
    let result = run_in(sc, opts, out, &scratch);
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

fn run_in(
    sc: &Scenario,
    opts: &Options,
    out: &mut dyn Write,
    scratch: &Path,
) -> anyhow::Result<()> {
    let net = Testnet::build(&sc.topology, &opts.bins, sc.seed, Some(scratch))?;
    writeln!(
        out,
        "{}",
        json!({"run": net.prefix(), "scenario": sc.path, "scratch": scratch, "seed": sc.seed, "pid": std::process::id()})
    )?;
    let mut nodes = BTreeMap::new();
    let mut ceilings = BTreeMap::new();
    for h in &sc.topology.hosts {
        let place = net.place(&h.name)?;
        let profiles = sc.profiles.get(&h.name).cloned().unwrap_or_default();
        for p in &profiles {
            if let Ok(mib) = acorn_tools::profile_ceiling_mib(p) {
                ceilings.insert(h.name.clone(), mib * 1024);
            }
        }
        if let Some(kib) = sc.rss_ceiling_kib.get(&h.name) {
            ceilings.insert(h.name.clone(), *kib);
        }
        if let Some(mode) = sc.hostile.get(&h.name) {
            let bin = opts.acorn.with_file_name("hostile-peer");
            let node = Node::hostile(&h.name, &place.netns, &bin, &scratch.join(&h.name), mode)?;
            nodes.insert(h.name.clone(), node);
            continue;
        }
        let node = Node::init(
            &h.name,
            &place.netns,
            &opts.acorn,
            &scratch.join(&h.name),
            &profiles,
            sc.config.get(&h.name).map_or(&[][..], |v| &v[..]),
        )?;
        nodes.insert(h.name.clone(), node);
    }
    let mut run = Run {
        sc,
        nodes,
        net,
        contents: BTreeMap::new(),
        background: BTreeMap::new(),
        scratch: scratch.to_path_buf(),
        out,
        ceilings,
    };
    let deadline = Instant::now() + sc.timeout;
    let mut fetches = Vec::new();
    for (i, step) in sc.steps.iter().enumerate() {
        let n = i + 1;
        let t0 = Instant::now();
        let result = if t0 > deadline {
            Err(anyhow::anyhow!(
                "the run passed its timeout of {:?}",
                sc.timeout
            ))
        } else {
            run.step(&step.action, deadline)
        };
        let ms = t0.elapsed().as_millis() as u64;
        let mut fig = json!({"step": n, "line": step.line, "do": step.action.verb(), "ok": result.is_ok(), "ms": ms});
        match &result {
            Ok(extra) => {
                if let Value::Object(m) = extra {
                    for (k, v) in m {
                        fig[k] = v.clone();
                    }
                }
            }
            Err(e) => fig["error"] = e.to_string().into(),
        }
        writeln!(run.out, "{fig}")?;
        if (fig["do"] == "fetch" || fig["do"] == "await") && fig["bytes"].is_u64() {
            fetches.push(fig);
        }
        let checked = run.figures(n);
        if let Err(e) = result.map(|_| ()).and(checked) {
            run.dump();
            anyhow::bail!(
                "{}:{}: step {n} ({}) failed: {e:#}",
                sc.path.display(),
                step.line,
                step.action.verb()
            );
        }
        run.out.flush()?;
    }
    run.summary(&fetches);
    Ok(())
}

impl Run<'_> {
    fn node(&mut self, host: &str) -> anyhow::Result<&mut Node> {
        self.nodes
            .get_mut(host)
            .ok_or_else(|| anyhow::anyhow!("no host {host:?}"))
    }

    fn step(&mut self, action: &Action, run_deadline: Instant) -> anyhow::Result<Value> {
        let left = run_deadline.saturating_duration_since(Instant::now());
        match action {
            Action::Start { host } => {
                self.node(host)?.start()?;
                Ok(json!({"host": host}))
            }
            Action::Stop { host } => {
                self.node(host)?.stop();
                Ok(json!({"host": host}))
            }
            Action::Kill { host } => {
                self.node(host)?.kill();
                Ok(json!({"host": host}))
            }
            Action::Add { host, name, source } => {
                let path = match source {
                    Source::Generated { len, seed } => {
                        let p = self.scratch.join(format!("content-{name}"));
                        acorn_tools::write_pseudo_random_file(&p, *len, *seed)?;
                        p
                    }
                    Source::File(p) => p.clone(),
                    Source::Again => self
                        .contents
                        .get(name)
                        .ok_or_else(|| anyhow::anyhow!("no content {name:?}"))?
                        .path
                        .clone(),
                };
                let sha256 = hex(&Sha256::digest(std::fs::read(&path)?));
                let p = path.to_string_lossy().into_owned();
                let cid = self.node(host)?.cli(&["add", "-Q", &p])?.trim().to_string();
                let v = json!({"host": host, "as": name, "cid": cid, "sha256": sha256});
                if let Some(before) = self.contents.get(name) {
                    anyhow::ensure!(
                        before.cid == cid,
                        "{name} added on {host} as {cid}, before as {}",
                        before.cid
                    );
                }
                self.contents
                    .insert(name.clone(), Content { cid, sha256, path });
                Ok(v)
            }
            Action::Connect { host, to } => {
                let addr = self.net.dial_addr(host, to)?;
                let id = self.node(to)?.peer_id()?;
                let target = format!("/ip4/{addr}/tcp/{SWARM_PORT}/p2p/{id}");
                self.node(host)?.cli(&["swarm", "connect", &target])?;
                Ok(json!({"host": host, "to": to, "addr": target}))
            }
            Action::Fetch {
                host,
                content,
                sha256,
                deadline,
                background,
            } => {
                let c = self
                    .contents
                    .get(content)
                    .ok_or_else(|| anyhow::anyhow!("no content {content:?}"))?;
                let want = sha256.clone().unwrap_or_else(|| c.sha256.clone());
                let cid = c.cid.clone();
                let limit = (*deadline).min(left);
                let node = self.node(host)?;
                let (cmd, who) = (node.command(&["cat", &cid]), node.name().to_string());
                let job = {
                    let cid = cid.clone();
                    std::thread::spawn(move || fetch(cmd, &who, &cid, limit))
                };
                let pending = Pending {
                    job,
                    want,
                    cid,
                    deadline: *deadline,
                };
                if *background {
                    self.background
                        .insert((host.clone(), content.clone()), pending);
                    return Ok(json!({"host": host, "content": content, "background": true}));
                }
                pending.finish(host, content)
            }
            Action::Await { host, content } => self
                .background
                .remove(&(host.clone(), content.clone()))
                .ok_or_else(|| anyhow::anyhow!("no background fetch of {content} on {host}"))?
                .finish(host, content),
            Action::Provide { host, content } => {
                let cid = self.cid(content)?;
                self.node(host)?.cli(&["routing", "provide", &cid])?;
                Ok(json!({"host": host, "content": content, "cid": cid}))
            }
            Action::FindProviders {
                host,
                content,
                expect,
                deadline,
            } => {
                let cid = self.cid(content)?;
                let mut want = BTreeMap::new();
                for h in expect {
                    want.insert(self.node(h)?.peer_id()?, h.clone());
                }
                let t0 = Instant::now();
                let limit = (*deadline).min(left);
                loop {
                    // One query at a time; an error (no route yet) counts as none found.
                    let found = self
                        .node(host)?
                        .cli(&["routing", "findprovs", &cid])
                        .unwrap_or_default();
                    let missing: Vec<&String> = want
                        .iter()
                        .filter(|(id, _)| !found.lines().any(|l| l.trim() == id.as_str()))
                        .map(|(_, h)| h)
                        .collect();
                    if missing.is_empty() {
                        return Ok(json!({
                            "host": host, "content": content, "found": found.lines().count(),
                            "find_ms": t0.elapsed().as_millis() as u64,
                        }));
                    }
                    anyhow::ensure!(
                        t0.elapsed() < limit,
                        "{host} did not find {missing:?} providing {content} within {limit:?}"
                    );
                    std::thread::sleep(POLL_EVERY);
                }
            }
            Action::Partition { link } => {
                let all_lost = Conditions::parse("loss=100%").expect("constant");
                self.net.link(link)?.process.set("both", all_lost)?;
                Ok(json!({"link": link}))
            }
            Action::Heal { link } => {
                let l = self.net.link(link)?;
                let spec = l.spec;
                l.process.set("a2b", spec.down)?;
                l.process.set("b2a", spec.up)?;
                Ok(json!({"link": link}))
            }
            Action::Link { link, spec } => {
                let l = self.net.link(link)?;
                l.process.set("a2b", spec.down)?;
                l.process.set("b2a", spec.up)?;
                l.spec = *spec;
                Ok(json!({"link": link, "down": spec.down.to_string(), "up": spec.up.to_string()}))
            }
            Action::Wait { time } => {
                std::thread::sleep((*time).min(left));
                anyhow::ensure!(*time <= left, "the run passed its timeout during a wait");
                Ok(json!({}))
            }
            Action::ExpectDropped {
                host,
                peer,
                deadline,
            } => self.expect_dropped(host, peer, (*deadline).min(left)),
            Action::ExpectCounter {
                host,
                counter,
                min,
                max,
                deadline,
            } => self.expect_counter(host, counter, *min, *max, (*deadline).min(left)),
            Action::WaitUntil {
                host,
                peers,
                deadline,
            } => {
                let t0 = Instant::now();
                let limit = (*deadline).min(left);
                loop {
                    let n = self.node(host)?.peer_count().unwrap_or(0);
                    if n >= *peers {
                        return Ok(json!({"host": host, "peers": n}));
                    }
                    anyhow::ensure!(
                        t0.elapsed() < limit,
                        "{host} had {n} peers, not {peers}, after {limit:?}"
                    );
                    std::thread::sleep(POLL_EVERY);
                }
            }
        }
    }

    /// `expect-dropped`: `host`'s log names `peer` as a misbehaving peer it
    /// disconnected, and its `swarm peers` does not list it, within `limit`.
    fn expect_dropped(&mut self, host: &str, peer: &str, limit: Duration) -> anyhow::Result<Value> {
        let id = self.node(peer)?.peer_id()?;
        let t0 = Instant::now();
        loop {
            let node = self.node(host)?;
            let log = std::fs::read_to_string(node.log_path()).unwrap_or_default();
            let named = log
                .lines()
                .any(|l| l.contains(MISBEHAVING_LINE) && l.contains(&id));
            let peers = node.rpc("swarm/peers")?;
            let listed = peers["Peers"]
                .as_array()
                .is_some_and(|a| a.iter().any(|p| p["Peer"].as_str() == Some(id.as_str())));
            if named && !listed {
                return Ok(
                    json!({"host": host, "peer": peer, "dropped_ms": t0.elapsed().as_millis() as u64}),
                );
            }
            anyhow::ensure!(
                t0.elapsed() < limit,
                "{host} did not drop {peer} ({id}) within {limit:?}: misbehaviour logged {named}, still connected {listed}"
            );
            std::thread::sleep(POLL_EVERY);
        }
    }

    /// `expect-counter`: a hostile peer's counter within `min..=max`, polled (the
    /// peer prints its counters once a second) until `limit`.
    fn expect_counter(
        &mut self,
        host: &str,
        counter: &str,
        min: Option<u64>,
        max: Option<u64>,
        limit: Duration,
    ) -> anyhow::Result<Value> {
        // A line printed after this step began, so the counter is current.
        std::thread::sleep(Duration::from_millis(1100));
        let t0 = Instant::now();
        loop {
            let v = self
                .node(host)?
                .counter(counter)
                .ok_or_else(|| anyhow::anyhow!("{host} printed no counter {counter:?}"))?;
            if min.is_none_or(|m| v >= m) && max.is_none_or(|m| v <= m) {
                return Ok(json!({"host": host, "counter": counter, "value": v}));
            }
            anyhow::ensure!(
                t0.elapsed() < limit,
                "{host}: {counter} = {v}, expected {}..={}",
                min.map_or(String::new(), |m| m.to_string()),
                max.map_or(String::new(), |m| m.to_string())
            );
            std::thread::sleep(POLL_EVERY);
        }
    }

    fn cid(&self, content: &str) -> anyhow::Result<String> {
        self.contents
            .get(content)
            .map(|c| c.cid.clone())
            .ok_or_else(|| anyhow::anyhow!("no content {content:?}"))
    }

    /// Writes every node's and link's figures for step `n`; fails on a node above
    /// its profile's RSS ceiling.
    fn figures(&mut self, n: usize) -> anyhow::Result<()> {
        let mut over = None;
        for (name, node) in &self.nodes {
            let mut f = node.figures();
            f["step"] = n.into();
            f["pid"] = node.pid().into();
            if let (Some(rss), Some(ceiling)) = (f["rss_kib"].as_u64(), self.ceilings.get(name)) {
                if rss > *ceiling {
                    over = Some(format!(
                        "{name}: RSS {rss} KiB is above its ceiling of {ceiling} KiB"
                    ));
                }
            }
            writeln!(self.out, "{f}")?;
        }
        for name in self.net.link_names() {
            if let Ok(s) = self.net.link(&name)?.process.stats() {
                writeln!(
                    self.out,
                    "{}",
                    json!({"step": n, "link": name, "a2b": s.a2b, "b2a": s.b2a})
                )?;
            }
        }
        over.map_or(Ok(()), |m| Err(anyhow::anyhow!(m)))
    }

    /// The summary table on stderr: each fetch, then each node's last figures.
    fn summary(&self, fetches: &[Value]) {
        let n = |v: &Value| v.as_u64().map_or("-".to_string(), |x| x.to_string());
        eprintln!(
            "{:<10} {:<10} {:>10} {:>8} {:>8} {:>7}",
            "fetch on", "content", "bytes", "ttfb ms", "ttlb ms", "MiB/s"
        );
        for f in fetches {
            let mibs = match (f["bytes"].as_u64(), f["ttlb_ms"].as_u64()) {
                (Some(b), Some(ms)) if ms > 0 => {
                    format!("{:.2}", b as f64 / 1048576.0 / (ms as f64 / 1e3))
                }
                _ => "-".into(),
            };
            eprintln!(
                "{:<10} {:<10} {:>10} {:>8} {:>8} {:>7}",
                f["host"].as_str().unwrap_or("-"),
                f["content"].as_str().unwrap_or("-"),
                n(&f["bytes"]),
                n(&f["ttfb_ms"]),
                n(&f["ttlb_ms"]),
                mibs
            );
        }
        eprintln!(
            "{:<10} {:>8} {:>8} {:>7} {:>12} {:>12} {:>5}",
            "node", "rss KiB", "hwm KiB", "threads", "bytes in", "bytes out", "peers"
        );
        for (name, node) in &self.nodes {
            let f = node.figures();
            eprintln!(
                "{:<10} {:>8} {:>8} {:>7} {:>12} {:>12} {:>5}",
                name,
                n(&f["rss_kib"]),
                n(&f["hwm_kib"]),
                n(&f["threads"]),
                n(&f["bytes_in"]),
                n(&f["bytes_out"]),
                n(&f["peers"])
            );
        }
    }

    /// Each node's last log lines and figures, on stderr.
    fn dump(&self) {
        for (name, node) in &self.nodes {
            eprintln!("--- {name}: {}", node.figures());
            eprintln!("{}", node.log_tail(FAIL_LOG_LINES));
        }
        let _ = self.sc;
    }
}

/// Runs `cat` (an `acorn cat <cid>` against node `who`), hashing its output as it
/// streams; killed past `limit`.
pub fn fetch(mut cat: Command, who: &str, cid: &str, limit: Duration) -> anyhow::Result<Fetched> {
    let t0 = Instant::now();
    let mut child = cat.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
    let mut stdout = child.stdout.take().expect("piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 64 << 10];
        let (mut bytes, mut ttfb) = (0u64, None);
        loop {
            match stdout.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    ttfb.get_or_insert_with(|| t0.elapsed());
                    bytes += n as u64;
                    h.update(&buf[..n]);
                    let _ = tx.send((bytes, None));
                }
            }
        }
        let _ = tx.send((bytes, Some((hex(&h.finalize()), ttfb, t0.elapsed()))));
    });
    let mut got = 0;
    loop {
        let left = limit.saturating_sub(t0.elapsed());
        match rx.recv_timeout(left) {
            Ok((b, None)) => got = b,
            Ok((bytes, Some((sha256, ttfb, ttlb)))) => {
                let status = child.wait()?;
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    let _ = e.read_to_string(&mut err);
                }
                anyhow::ensure!(
                    status.success(),
                    "acorn cat {cid} on {who}: {status}: {}",
                    err.trim()
                );
                return Ok(Fetched {
                    bytes,
                    sha256,
                    ttfb,
                    ttlb,
                });
            }
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                anyhow::bail!(
                    "fetch of {cid} on {who} did not finish within {limit:?} ({got} bytes so far)"
                );
            }
        }
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
