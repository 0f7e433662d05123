//! An `acorn` daemon inside a namespace: its own repo (the `test` profile, plus
//! any a scenario names, with the swarm listening on every address of its
//! namespace), started through `ip netns exec`, asked over its RPC API from a
//! thread that entered the namespace, and measured from `/proc`. Or, for a host
//! with `hostile = MODE`, a `hostile-peer` listening on the swarm port, whose peer
//! ID and counters are read from the lines it prints to its log.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::netns;

/// How long a daemon may take to write its `api` file.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a daemon may take to exit after SIGTERM before it is killed.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// The swarm's TCP port in every namespace (each has its own ports).
pub const SWARM_PORT: u16 = 4001;

/// A daemon's repo and, while it runs, its process.
pub struct Node {
    name: String,
    netns: String,
    repo: PathBuf,
    acorn: PathBuf,
    child: Option<Child>,
    /// A hostile peer's mode (then `acorn` is the `hostile-peer` binary).
    hostile: Option<String>,
}

impl Node {
    /// `acorn init --profile test[,profiles]` in `repo`, swarm on 0.0.0.0, then
    /// each `config` key set.
    pub fn init(
        name: &str,
        netns: &str,
        acorn: &Path,
        repo: &Path,
        profiles: &[String],
        config: &[(String, serde_json::Value)],
    ) -> anyhow::Result<Node> {
        let mut list = vec!["test".to_string()];
        list.extend(profiles.iter().cloned());
        let node = Node {
            name: name.into(),
            netns: netns.into(),
            repo: repo.into(),
            acorn: acorn.into(),
            child: None,
            hostile: None,
        };
        node.offline(&["init", "--profile", &list.join(",")])?;
        node.offline(&[
            "config",
            "--json",
            "Addresses.Swarm",
            &format!("[\"/ip4/0.0.0.0/tcp/{SWARM_PORT}\"]"),
        ])?;
        for (key, value) in config {
            node.offline(&["config", "--json", key, &value.to_string()])?;
        }
        Ok(node)
    }

    /// A hostile peer in `mode`, run from the `hostile-peer` binary `bin`, its log in
    /// `dir`.
    pub fn hostile(
        name: &str,
        netns: &str,
        bin: &Path,
        dir: &Path,
        mode: &str,
    ) -> anyhow::Result<Node> {
        anyhow::ensure!(
            bin.is_file(),
            "hostile-peer binary not found at {} (build it: cargo build -p acorn-tools --bin hostile-peer)",
            bin.display()
        );
        std::fs::create_dir_all(dir)?;
        Ok(Node {
            name: name.into(),
            netns: netns.into(),
            repo: dir.into(),
            acorn: bin.into(),
            child: None,
            hostile: Some(mode.into()),
        })
    }

    /// Whether this host is a hostile peer, not a daemon.
    pub fn is_hostile(&self) -> bool {
        self.hostile.is_some()
    }

    /// A hostile peer's counter, from the last counters line it printed.
    pub fn counter(&self, name: &str) -> Option<u64> {
        let log = std::fs::read_to_string(self.log_path()).ok()?;
        let line = log.lines().rev().find(|l| l.starts_with("connections="))?;
        line.split(' ')
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('=')?.parse().ok())
    }

    fn offline(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = Command::new(&self.acorn)
            .args(args)
            .env("ACORN_PATH", &self.repo)
            .stdin(Stdio::null())
            .output()?;
        anyhow::ensure!(
            out.status.success(),
            "{}: acorn {}: {}",
            self.name,
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn log_path(&self) -> PathBuf {
        self.repo.join("daemon.log")
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    pub fn running(&self) -> bool {
        self.child.is_some()
    }

    /// `acorn daemon` in the namespace; waits for its `api` file.
    pub fn start(&mut self) -> anyhow::Result<()> {
        anyhow::ensure!(self.child.is_none(), "{} is already running", self.name);
        // A kill -9 leaves the old file: its presence must not count as started.
        let _ = std::fs::remove_file(self.repo.join("api"));
        if self.hostile.is_some() {
            // A new identity each start: only this start's lines count.
            let _ = std::fs::remove_file(self.log_path());
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())?;
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.netns]).arg(&self.acorn);
        match &self.hostile {
            Some(mode) => cmd
                .arg(mode)
                .args(["--listen", &format!("/ip4/0.0.0.0/tcp/{SWARM_PORT}")]),
            None => cmd.arg("daemon"),
        };
        let child = cmd
            .env("ACORN_PATH", &self.repo)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        while !self.started() {
            if let Some(st) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                anyhow::bail!(
                    "{} exited at start ({st}): {}",
                    self.name,
                    self.log_tail(10)
                );
            }
            if Instant::now() > deadline {
                self.kill();
                anyhow::bail!("{} did not start within {START_TIMEOUT:?}", self.name);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// A daemon wrote its `api` file; a hostile peer printed its peer ID.
    fn started(&self) -> bool {
        match self.hostile {
            Some(_) => self.hostile_id().is_some(),
            None => self.repo.join("api").exists(),
        }
    }

    fn hostile_id(&self) -> Option<String> {
        let log = std::fs::read_to_string(self.log_path()).ok()?;
        log.lines()
            .rev()
            .find_map(|l| l.strip_prefix("peer="))
            .map(str::to_string)
    }

    /// SIGTERM, then SIGKILL after [`STOP_TIMEOUT`].
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// SIGKILL, as a power cut would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// `acorn args…` inside the namespace, against the running daemon.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.netns])
            .arg(&self.acorn)
            .args(args)
            .env("ACORN_PATH", &self.repo)
            .stdin(Stdio::null());
        c
    }

    /// Runs `acorn args…` against the daemon; its stdout.
    pub fn cli(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = self.command(args).output()?;
        anyhow::ensure!(
            out.status.success(),
            "{}: acorn {}: {}",
            self.name,
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// An RPC call (`stats/bw`, `swarm/peers`), from a thread in the namespace.
    pub fn rpc(&self, cmd_and_query: &str) -> anyhow::Result<serde_json::Value> {
        let api = std::fs::read_to_string(self.repo.join("api"))?;
        let port: u16 = api
            .trim()
            .rsplit('/')
            .next()
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| anyhow::anyhow!("bad api file: {api}"))?;
        let q = cmd_and_query.to_string();
        netns::enter_and_run(&self.netns, move || acorn_tools::rpc_post(port, &q))
    }

    /// The daemon's peer ID.
    pub fn peer_id(&self) -> anyhow::Result<String> {
        if self.hostile.is_some() {
            return self
                .hostile_id()
                .ok_or_else(|| anyhow::anyhow!("{} printed no peer ID", self.name));
        }
        let id = self.rpc("id")?;
        id["ID"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| anyhow::anyhow!("no ID in `id`: {id}"))
    }

    /// Connected peers.
    pub fn peer_count(&self) -> anyhow::Result<usize> {
        let v = self.rpc("swarm/peers")?;
        Ok(v["Peers"].as_array().map_or(0, |a| a.len()))
    }

    /// The node's figures now: RSS, threads, bytes in and out (all, and bitswap
    /// and Kademlia by protocol, from its own counters), connected peers.
    pub fn figures(&self) -> serde_json::Value {
        let mut f = serde_json::json!({ "node": self.name, "running": self.running() });
        let Some(pid) = self.pid() else {
            return f;
        };
        if let Ok((rss, hwm, threads)) = acorn_tools::proc_figures(pid) {
            f["rss_kib"] = rss.into();
            f["hwm_kib"] = hwm.into();
            f["threads"] = threads.into();
        }
        if let Some(mode) = &self.hostile {
            f["hostile"] = mode.clone().into();
            for c in [
                "connections",
                "disconnections",
                "want_blocks_received",
                "lies_sent",
            ] {
                if let Some(v) = self.counter(c) {
                    f[c] = v.into();
                }
            }
            return f;
        }
        let bw = |q: &str| self.rpc(q).ok();
        if let Some(b) = bw("stats/bw") {
            f["bytes_in"] = b["TotalIn"].clone();
            f["bytes_out"] = b["TotalOut"].clone();
        }
        for (key, proto) in [
            ("bitswap", "/ipfs/bitswap/1.2.0"),
            ("kad", "/ipfs/kad/1.0.0"),
        ] {
            if let Some(b) = bw(&format!("stats/bw?proto={proto}")) {
                f[format!("{key}_in")] = b["TotalIn"].clone();
                f[format!("{key}_out")] = b["TotalOut"].clone();
            }
        }
        if let Ok(n) = self.peer_count() {
            f["peers"] = n.into();
        }
        f
    }

    /// The last `n` lines of the daemon's log.
    pub fn log_tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}
