//! The `acorn` binary: an IPFS node for small machines.
//!
//! The modules are layers, lowest first; each uses only its own layer and those
//! listed before it
//! (`tools/check_layers.py` checks it in CI, with no import circle between files):
//! - Shared leaves: [`config`] (the Kubo-shaped config file), [`profiles`] (named
//!   config changes), [`identity`] (Ed25519 by default; RSA, secp256k1, ECDSA),
//!   [`endpoints`] (the `api`/`gateway` files a running daemon writes), [`pool`],
//!   [`logs`], [`notify`] (systemd `sd_notify`); and [`http`], the HTTP/1.1 room
//!   both servers share, which knows neither API.
//! - The node's logic: [`core`], [`repo_glue`] (the repo through `acorn-storage`),
//!   [`fetch`] (blocks fetched between runs of a call), [`kubo_import`], [`swarm`]
//!   (the libp2p swarm task and bitswap).
//! - [`core_api`]: the core API (`Local`, `Remote`), the only door the front ends use.
//! - Front ends: [`cli`] (the command line), [`api`] (the HTTP RPC API, Kubo's
//!   `/api/v0`), [`gateway`]; none uses another.
//! - [`daemon`]: `acorn daemon`, which wires the core API, the swarm and both
//!   servers; `main` hands it to the CLI.
//!
//! Errors reach `main` as `anyhow` errors (the core API's [`core_api::Error`] in
//! the CLI's context) and are printed as one `Error: ...` line on stderr, with the
//! exit status of the error's kind (the core API's table: 1). Logs go to stderr, filtered by `ACORN_LOG` (or
//! `RUST_LOG`; default `warn`).
#![deny(unsafe_code)]

mod api;
mod budget;
mod cli;
mod config;
mod core;
mod core_api;
mod daemon;
mod diag;
mod endpoints;
mod fetch;
mod gateway;
mod http;
mod identity;
mod kubo_import;
mod logs;
mod metrics;
mod notify;
mod pool;
mod profiles;
mod repo_glue;
mod swarm;

use std::io::{self, IsTerminal};
use std::process::ExitCode;

use argh::{ArgsInfo, FromArgs};
use tracing_subscriber::EnvFilter;

use cli::Acorn;

/// Environment variable with the log filter (tracing `EnvFilter` syntax).
const LOG_ENV: &str = "ACORN_LOG";
/// Filter used when neither `ACORN_LOG` nor `RUST_LOG` is set.
/// libp2p-kad warns on every automatic bootstrap round while the routing table is
/// empty (a node with no `Bootstrap` peers, as in tests): quiet by default.
const DEFAULT_LOG_FILTER: &str = "warn,libp2p_kad::behaviour=error";

fn init_logging() {
    let spec = std::env::var(LOG_ENV)
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_default();
    let (filter, bad) = if spec.trim().is_empty() {
        (EnvFilter::new(DEFAULT_LOG_FILTER), None)
    } else {
        match EnvFilter::try_new(&spec) {
            Ok(f) => (f, None),
            Err(e) => (EnvFilter::new(DEFAULT_LOG_FILTER), Some(e)),
        }
    };
    let base = if bad.is_none() && !spec.trim().is_empty() {
        spec.clone()
    } else {
        DEFAULT_LOG_FILTER.to_string()
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(logs::TeeStderr)
        .with_ansi(io::stderr().is_terminal())
        .with_filter_reloading();
    let handle = builder.reload_handle();
    builder.init();
    logs::install(
        base,
        Box::new(move |f| {
            handle
                .reload(f)
                .map_err(|e| logs::LogError::Reload(e.to_string()))
        }),
    );
    if let Some(e) = bad {
        tracing::warn!("ignoring log filter {spec:?}: {e}");
    }
}

fn main() -> ExitCode {
    init_logging();
    let mut args = Vec::new();
    for arg in std::env::args_os() {
        match arg.into_string() {
            Ok(s) => args.push(s),
            Err(bad) => {
                eprintln!("Error: argument {bad:?} is not valid UTF-8");
                return ExitCode::FAILURE;
            }
        }
    }
    let info = Acorn::get_args_info();
    let norm = match cli::argv::normalize(&args, &info) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("Error: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Bare `acorn` (global options aside) and `acorn --help`: Kubo's grouped help.
    if norm.path.is_empty() && (norm.help || norm.args.len() == 1) {
        return print_help(&cli::help::grouped(&info));
    }
    let strs: Vec<&str> = norm.args.iter().skip(1).map(String::as_str).collect();
    let parsed = match Acorn::from_args(&["acorn"], &strs) {
        Ok(p) => p,
        Err(exit) => {
            return match exit.status {
                Ok(()) => print_help(&exit.output),
                // `acorn pin`: a command that only groups others prints its help,
                // as Kubo's does.
                Err(()) if norm.wants_subcommand && norm.args.len() == norm.path.len() + 1 => {
                    let mut help: Vec<&str> = norm.path.iter().map(String::as_str).collect();
                    help.push("--help");
                    match Acorn::from_args(&["acorn"], &help) {
                        Err(e) if e.status.is_ok() => print_help(&e.output),
                        _ => {
                            eprintln!("Error: {}", one_line(&exit.output));
                            ExitCode::FAILURE
                        }
                    }
                }
                Err(()) => {
                    eprintln!("Error: {}", one_line(&exit.output));
                    ExitCode::FAILURE
                }
            };
        }
    };
    if let Some(d) = norm.globals.timeout {
        // Sent as Kubo's `timeout=` with every call to the daemon.
        core_api::client::set_timeout(format!("{}ms", d.as_millis()));
    }
    let mut ctx = cli::Context::from_env();
    ctx.globals = norm.globals;
    ctx.daemon = Some(daemon::run);
    match cli::run(parsed, &ctx) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => match core_api::Error::exit_code_of(&e) {
            // A reader of our stdout went away (`acorn cat x | head`): not an
            // error to report.
            0 => ExitCode::SUCCESS,
            code => {
                eprintln!("Error: {}", error_line(&e));
                ExitCode::from(code)
            }
        },
    }
}

/// The error and its causes on one line, as `{:#}` writes it, but without a cause
/// whose text the line already holds (an error that prints its source, like
/// `reading f: No such file or directory`, would otherwise say it twice).
fn error_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

/// Help text on stdout, exit 0. Help into a closed pipe (`acorn add --help | head
/// -1`) is not an error: println! would panic on EPIPE.
fn print_help(text: &str) -> ExitCode {
    use std::io::Write as _;
    let _ = writeln!(io::stdout().lock(), "{}", text.trim_end());
    ExitCode::SUCCESS
}

/// argh's parse error as one line, without its own leading "Error ".
fn one_line(msg: &str) -> String {
    let msg = msg.trim();
    let msg = msg.strip_prefix("Error ").unwrap_or(msg);
    msg.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}
