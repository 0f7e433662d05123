//! `acorn daemon`: the node as a long-running process, serving the HTTP RPC API.
//!
//! **What.** [`run`] opens the repo (holding its lock until the end), binds
//! `Addresses.API`, writes `$ACORN_PATH/api` with the real API multiaddr (as Kubo),
//! serves until SIGTERM/SIGINT or `POST /api/v0/shutdown`, then shuts down cleanly:
//! stop accepting, let running requests finish for [`SHUTDOWN_GRACE`], drop the
//! rest, wait for blocking-pool jobs to let go of the node (up to
//! [`SHUTDOWN_DRAIN`]), remove the api file, close the repo.
//!
//! **Threads.** One executor thread: a `smol::Executor` run by the main thread
//! inside `async_io::block_on`, which also drives the reactor while idle. The
//! async-io crate keeps its fallback reactor thread ("async-io"), parked while the
//! main thread drives the reactor. Repo work runs on our bounded pool
//! ([`crate::pool`]), at most `Acorn.BlockingThreads` threads, which exit when idle.
//! `BLOCKING_MAX_THREADS` is also set (before any use) so that a dependency using
//! the `blocking` crate (`/dns*` lookups) stays within the same cap. Bitswap's
//! blockstore calls run on a second pool of
//! [`net::BITSWAP_BLOCKING_THREADS`] (1) thread, whose threads also exit when idle
//! (a separate pool because API jobs wait for bitswap). So an idle daemon has 2 OS
//! threads, with its swarm listening, also after serving or fetching, and at most
//! 2 + `Acorn.BlockingThreads` + 1 while busy (a daemon only serving blocks: 3),
//! plus [`crate::api::NET_WAIT_THREADS`] while an API network command waits on the
//! swarm task, plus one `acorn-writer` per import while it commits a batch unless
//! `Acorn.BackgroundWriter` is off. Each firmware profile states its budget
//! (`idle_threads`, `max_threads`), which `bench-ceiling` checks.
//!
//! **Signals.** `async-signal` registers SIGTERM/SIGINT with `signal-hook-registry`
//! and wakes the executor through a self-pipe registered with the async-io reactor:
//! no signal thread. A second signal during the grace period cuts it short.
//!
//! **Network.** [`net::start`] builds the swarm after the repo is open, with its
//! connection tasks, its event loop and bitswap on the same executor, and prints the
//! "Swarm listening on" lines before "Daemon is ready". The API gets its
//! [`net::NetHandle`] (a bounded command channel into the swarm task) for
//! `id`/`swarm`/`stats bw`, and the core gets a fetcher so content commands fetch
//! missing blocks over bitswap. Shutdown stops bitswap and the swarm (every
//! connection closes) before the repo is dropped.
//!
//! **Gateway.** Each `Addresses.Gateway` address serves [`crate::gateway`] on the
//! same executor and blocking pool; the first one's URL (`http://127.0.0.1:PORT`)
//! is written to `$ACORN_PATH/gateway` as Kubo does, and removed at shutdown.
//!
//! **Automatic GC.** With `--enable-gc` (or `Acorn.EnableGC`) a task collects
//! unpinned blocks every `Datastore.GCPeriod` and when the repo passes its
//! watermark (`gc.rs`).
//!
//! **Limits.** [`SHUTDOWN_GRACE`], [`SHUTDOWN_DRAIN`], [`gc::GC_WATERMARK_POLL`]; the
//! API's own limits are in [`crate::api`].

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use async_signal::{Signal, Signals};
use futures_lite::{future, StreamExt};
use smol::Executor;

use crate::api::Api;
use crate::core::Node;
use crate::endpoints::{api_file, gateway_file, parse_tcp_multiaddr, tcp_multiaddr};
use crate::gateway::Gateway;
use crate::http;
use crate::pool::Pool;
use crate::swarm as net;

mod gc;

/// How long running requests may go on after shutdown begins.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// How long shutdown waits for blocking-pool jobs to release the repo.
pub const SHUTDOWN_DRAIN: Duration = Duration::from_secs(30);
/// Wait after start before the first reprovide (Kubo waits a minute too).
pub const REPROVIDE_FIRST_DELAY: Duration = Duration::from_secs(60);

/// Re-announces pinned roots to the DHT every `Reprovider.Interval` (Kubo's "roots"
/// strategy: recursive and direct pin roots, one query at a time; the pin list is
/// held in memory, about 50 bytes per pin). `"0"` turns it off.
fn spawn_reprovider(
    ex: &Arc<Executor<'static>>,
    node: &Arc<Node>,
    pool: &Pool,
    net: &net::NetHandle,
) {
    let interval = node.config().reprovider.interval.get();
    if interval.is_zero() {
        return;
    }
    let (node, pool, net) = (node.clone(), pool.clone(), net.clone());
    ex.spawn(async move {
        async_io::Timer::after(REPROVIDE_FIRST_DELAY).await;
        loop {
            let n = node.clone();
            let pins = pool
                .run(move || {
                    let mut v = n.pin_ls(acorn_storage::pins::PinFilter::Recursive, &[])?;
                    v.extend(n.pin_ls(acorn_storage::pins::PinFilter::Direct, &[])?);
                    anyhow::Ok(v)
                })
                .await;
            if let Some(Ok(pins)) = pins {
                let mut ok = 0;
                for (cid, _) in &pins {
                    if net.provide(cid).await.is_ok() {
                        ok += 1;
                    }
                }
                tracing::info!("reprovided {ok} of {} pinned roots", pins.len());
            }
            async_io::Timer::after(interval).await;
        }
    })
    .detach();
}

/// Environment variable the `blocking` crate reads for its thread cap.
const BLOCKING_ENV: &str = "BLOCKING_MAX_THREADS";

/// Removes the api file when dropped (also on error paths).
struct ApiFile(PathBuf);

impl Drop for ApiFile {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_file(&self.0) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!("removing {}: {e}", self.0.display());
            }
        }
    }
}

/// How often the daemon retries writing the api/gateway file when the disk was
/// full at start.
pub const ADDR_FILE_RETRY: Duration = Duration::from_secs(2);

/// Whether an I/O error means "no space left" (ENOSPC, or EDQUOT: over quota).
fn is_disk_full(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(nix::libc::ENOSPC) | Some(nix::libc::EDQUOT)
    )
}

/// Writes `text` to the address file `path`. On a full disk the daemon starts
/// anyway: it says so and retries every [`ADDR_FILE_RETRY`] on the executor until
/// the write succeeds (until then CLI commands do not find the daemon, but the API
/// answers on its address). Any other error stops the start.
fn write_addr_file_or_retry(
    ex: &Arc<Executor<'static>>,
    path: PathBuf,
    text: String,
    api: &str,
) -> anyhow::Result<()> {
    match std::fs::write(&path, &text) {
        Ok(()) => return Ok(()),
        Err(e) if is_disk_full(&e) => {
            // A file created empty would read as "daemon starting" forever.
            let _ = std::fs::remove_file(&path);
            eprintln!(
                "WARNING: disk full: cannot write {} ({e}); serving anyway, and writing it \
                 once there is space (`repo/gc` and `pin/rm` through the RPC API at {api} \
                 free some)",
                path.display()
            );
        }
        Err(e) => return Err(e).with_context(|| format!("writing {}", path.display())),
    }
    // Dropped with the executor at shutdown, before the file guards remove the files.
    ex.spawn(async move {
        loop {
            async_io::Timer::after(ADDR_FILE_RETRY).await;
            match std::fs::write(&path, &text) {
                Ok(()) => {
                    tracing::info!("wrote {} now that there is space", path.display());
                    return;
                }
                Err(e) => {
                    let _ = std::fs::remove_file(&path);
                    if !is_disk_full(&e) {
                        tracing::warn!("writing {}: {e}", path.display());
                        return;
                    }
                }
            }
        }
    })
    .detach();
    Ok(())
}

/// Runs the daemon on the repo at `root` until a signal or `shutdown` request.
pub fn run(root: &Path, opts: &crate::cli::daemon_cmd::DaemonOptions) -> anyhow::Result<()> {
    println!("Initializing daemon...");
    let node = Node::open(root)?;
    let ignored = node.config().ignored_keys();
    if !ignored.is_empty() {
        tracing::warn!(
            "config keys Acorn keeps but does not use: {}",
            ignored.join(", ")
        );
    }
    let threads = node.config().acorn.blocking_threads;
    // Before the blocking pool's first use (it reads the variable once), and while
    // this process has one thread.
    std::env::set_var(BLOCKING_ENV, threads.to_string());
    println!("Acorn version: {}", env!("CARGO_PKG_VERSION"));
    println!("Repo version: {}", acorn_storage::repo::REPO_FORMAT_VERSION);
    println!(
        "System version: {}/{}",
        std::env::consts::ARCH,
        std::env::consts::OS
    );

    let mut listeners = Vec::new();
    for a in &node.config().addresses.api.0 {
        let want = parse_tcp_multiaddr(a).context("Addresses.API")?;
        let l = http::bind(want).with_context(|| format!("listening on {a}"))?;
        let got = l.get_ref().local_addr()?;
        if !got.ip().is_loopback() {
            eprintln!(
                "WARNING: the RPC API is listening on {} which is not a loopback address: \
                 anyone who can reach it controls this node",
                tcp_multiaddr(got)
            );
        }
        listeners.push((l, got));
    }
    let Some((_, first)) = listeners.first() else {
        bail!("Addresses.API is empty: nothing to serve the RPC API on");
    };
    let api_multiaddr = tcp_multiaddr(*first);
    let mut gw_listeners = Vec::new();
    for a in &node.config().addresses.gateway.0 {
        let want = parse_tcp_multiaddr(a).context("Addresses.Gateway")?;
        let l = http::bind(want).with_context(|| format!("listening on {a}"))?;
        let got = l.get_ref().local_addr()?;
        gw_listeners.push((l, got));
    }

    // What `acorn config profile show` would print as the total, for this config.
    let worst = crate::budget::worst_case_bytes(node.config())?;
    tracing::info!(
        worst_case_mib = worst >> 20,
        "worst-case memory of this config (acorn config profile show)"
    );
    let mut signals = Signals::new([Signal::Term, Signal::Int]).context("signal handlers")?;
    let (stop_tx, stop_rx) = smol::channel::bounded::<()>(1);
    let node = Arc::new(node);
    let pool = Pool::new(usize::from(threads));
    let ex = Arc::new(Executor::new());
    let network = smol::block_on(ex.run(net::start(&ex, root, &node)))?;
    spawn_reprovider(&ex, &node, &pool, &network);
    if opts.enable_gc || node.config().acorn.enable_gc {
        gc::spawn(&ex, &node, &pool, gc::Schedule::from_node(&node)?);
    }
    // One core API for both front ends: the node with its network.
    let core = Arc::new(crate::core_api::Local::new(
        node.clone(),
        Some(network.clone()),
    ));
    let spawner = crate::fetch::Spawner::new(&ex);
    let gateway = Gateway::new(core.clone(), pool.clone(), spawner.clone());
    let watchdog_pool = pool.clone();
    let api = Api::new(core, pool, stop_tx.clone(), spawner);
    let ports: Vec<u16> = listeners.iter().map(|(_, a)| a.port()).collect();
    api.set_listen_ports(&ports);
    let stats = Arc::new(http::Stats::default());

    for (l, addr) in listeners {
        let api = api.clone();
        let config = api.http_config();
        let handler = Arc::new(move |req| api.clone().handle(req));
        // Weak: the serve task lives inside the executor; a strong handle would keep
        // the executor (and every task) alive forever.
        let spawner = Arc::downgrade(&ex);
        ex.spawn(http::serve(
            l,
            handler,
            config,
            stats.clone(),
            stop_rx.clone(),
            move |f| {
                if let Some(ex) = spawner.upgrade() {
                    ex.spawn(f).detach();
                }
            },
        ))
        .detach();
        println!("RPC API server listening on {}", tcp_multiaddr(addr));
    }
    let gw_stats = Arc::new(http::Stats::default());
    let mut gw_url = None;
    for (l, addr) in gw_listeners {
        let gateway = gateway.clone();
        let config = gateway.http_config();
        let handler = Arc::new(move |req| gateway.clone().handle(req));
        let spawner = Arc::downgrade(&ex);
        ex.spawn(http::serve(
            l,
            handler,
            config,
            gw_stats.clone(),
            stop_rx.clone(),
            move |f| {
                if let Some(ex) = spawner.upgrade() {
                    ex.spawn(f).detach();
                }
            },
        ))
        .detach();
        println!("Gateway server listening on {}", tcp_multiaddr(addr));
        gw_url.get_or_insert(format!("http://{addr}"));
    }
    // Kubo writes the first gateway's URL to `$IPFS_PATH/gateway`. On a full disk
    // the daemon starts anyway (so `repo gc` and `pin rm` through the API can free
    // space) and writes the files once there is room.
    let gw_guard = match gw_url {
        Some(url) => {
            let p = gateway_file(root);
            write_addr_file_or_retry(&ex, p.clone(), url, &api_multiaddr)?;
            Some(ApiFile(p))
        }
        None => None,
    };
    let api_path = api_file(root);
    write_addr_file_or_retry(&ex, api_path.clone(), api_multiaddr.clone(), &api_multiaddr)?;
    let api_guard = ApiFile(api_path);
    println!("Daemon is ready");
    // systemd (Type=notify): ready now; keep the watchdog fed from the executor, so a
    // hung executor thread gets the service restarted.
    let sd = Arc::new(crate::notify::Notifier::from_env());
    sd.ready();
    if sd.is_enabled() {
        tracing::info!("told systemd we are ready ($NOTIFY_SOCKET)");
    }
    // Fed only while the repo works: after a database I/O error the store is not
    // usable until it has reopened the database, and if that keeps failing systemd
    // restarts the service.
    if let Some(every) = sd.watchdog_interval() {
        let (sd, node, pool) = (sd.clone(), node.clone(), watchdog_pool);
        ex.spawn(async move {
            loop {
                let usable = node.store().is_usable() || {
                    let n = node.clone();
                    match pool.run(move || n.store().check_health()).await {
                        Some(Ok(())) => true,
                        Some(Err(e)) => {
                            tracing::error!("repo unusable, not feeding the systemd watchdog: {e}");
                            false
                        }
                        None => false,
                    }
                };
                if usable {
                    sd.watchdog();
                }
                async_io::Timer::after(every / 2).await;
            }
        })
        .detach();
    }

    smol::block_on(ex.run(async {
        let signalled = future::or(async { signals.next().await.is_some() }, async {
            let _ = stop_rx.recv().await;
            false
        })
        .await;
        if signalled {
            println!("\nReceived interrupt signal, shutting down...");
            println!("(Hit ctrl-c again to force-shutdown the daemon.)");
        } else {
            println!("Received shutdown request, shutting down...");
        }
        sd.stopping();
        stop_tx.close();
        // Let running requests finish, unless time runs out or a second signal comes.
        let deadline = Instant::now() + SHUTDOWN_GRACE;
        let drained = async {
            while api.active_requests() + gateway.active_requests() > 0 && Instant::now() < deadline
            {
                async_io::Timer::after(Duration::from_millis(20)).await;
            }
        };
        future::or(drained, async {
            signals.next().await;
        })
        .await;
        network.shutdown().await;
        // Bitswap's tasks hold the executor and end only once polled after the stop:
        // run them out, or the executor (and every task holding the node) outlives
        // `drop(ex)` below and the drain times out.
        let deadline = Instant::now() + net::STOP_WAIT;
        while Arc::strong_count(&ex) > 1 && Instant::now() < deadline {
            async_io::Timer::after(Duration::from_millis(10)).await;
        }
    }));
    drop(network);
    // Dropping the executor drops the tasks still running (their connections close,
    // their blocking jobs see the closed channels and return).
    drop(ex);
    drop(api);
    drop(gateway);
    let deadline = Instant::now() + SHUTDOWN_DRAIN;
    let mut node = node;
    let node = loop {
        match Arc::try_unwrap(node) {
            Ok(n) => break Some(n),
            Err(n) if Instant::now() < deadline => {
                node = n;
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(_) => break None,
        }
    };
    drop(api_guard);
    drop(gw_guard);
    match node {
        Some(n) => drop(n),
        None => bail!(
            "a repo job did not finish within {}s; exiting without waiting for it",
            SHUTDOWN_DRAIN.as_secs()
        ),
    }
    Ok(())
}
