//! The `acorn` command line: Kubo's verbs, flags and output shapes.
//!
//! **What.** [`Acorn`] is the argh definition of every command; [`run`] dispatches
//! a parsed command. Each subcommand lives in its own file with its argh struct and
//! a `run(self, &Context)` handler.
//!
//! **Spec.** Kubo's `ipfs` CLI (`ipfs <cmd> --help`): same subcommand names, flag
//! spellings and output lines. `ACORN_PATH` plays `IPFS_PATH`'s part.
//!
//! **Flow.** `main` normalises argv ([`argv::normalize`]: `--key=value`, boolean
//! options), argh parses it into [`Acorn`], [`run`] calls the handler, and `main`
//! prints any error as one `Error: ...` line and exits 1.
//!
//! **Departures.** argh does not group short flags: write `-r -Q`, not `-rQ`.
//! Boolean options that take a value (`--pin`, `--raw-leaves`, `pin add
//! --recursive`) also accept it as the next word (`--pin false`), which Kubo does
//! not.

pub mod argv;
pub mod bitswap;
pub mod block;
pub mod config_cmd;
pub mod content;
pub mod daemon_cmd;
pub mod dag;
pub mod filestore;
pub mod help;
pub mod init;
pub mod net;
pub mod pin;
pub mod progress;
pub mod repo;
pub mod resolve;
pub mod tools;
pub mod version;

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use argh::{ArgsInfo, FromArgs};

/// Name of the environment variable that sets the repo path.
pub const ACORN_PATH_ENV: &str = "ACORN_PATH";
/// Repo directory under `$HOME` when `ACORN_PATH` is unset.
pub const DEFAULT_REPO_DIR: &str = ".acorn";

/// Acorn: an IPFS node for small machines.
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(
    note = "The repo is at $ACORN_PATH (default ~/.acorn).",
    note = "Logging goes to stderr; set ACORN_LOG or RUST_LOG (default: warn)."
)]
pub struct Acorn {
    #[argh(subcommand)]
    pub command: Command,
}

/// Every top-level command.
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(subcommand)]
pub enum Command {
    Init(init::InitCmd),
    Config(config_cmd::ConfigCmd),
    Version(version::VersionCmd),
    Add(content::AddCmd),
    Cat(content::CatCmd),
    Get(content::GetCmd),
    Ls(content::LsCmd),
    Refs(content::RefsCmd),
    Block(block::BlockCmd),
    Dag(dag::DagCmd),
    Pin(pin::PinCmd),
    Repo(repo::RepoCmd),
    Filestore(filestore::FilestoreCmd),
    Daemon(daemon_cmd::DaemonCmd),
    Id(daemon_cmd::IdCmd),
    Swarm(net::SwarmCmd),
    Stats(net::StatsCmd),
    Bitswap(bitswap::BitswapCmd),
    Routing(net::RoutingCmd),
    Dht(net::DhtCmd),
    Resolve(resolve::ResolveCmd),
    Shutdown(tools::ShutdownCmd),
    Bootstrap(tools::BootstrapCmd),
    Commands(tools::CommandsCmd),
    Cid(tools::CidCmd),
    Diag(tools::DiagCmd),
    Ping(net::PingCmd),
    Log(tools::LogCmd),
}

/// What handlers need from the process environment.
#[derive(Clone, Debug, Default)]
pub struct Context {
    /// Value of `ACORN_PATH`, if set.
    pub acorn_path: Option<OsString>,
    /// Value of `HOME`, if set.
    pub home: Option<OsString>,
    /// The global options (`--offline`, `--api`, `--enc`, `--timeout`).
    pub globals: argv::Globals,
    /// What `acorn daemon` runs on the repo root: the daemon, which sits above the
    /// front ends and is handed in by `main` (none: `acorn daemon` fails).
    pub daemon: Option<DaemonFn>,
}

/// The daemon's entry point, as `main` hands it to the CLI.
pub type DaemonFn = fn(&Path, &daemon_cmd::DaemonOptions) -> anyhow::Result<()>;

impl Context {
    /// Read `ACORN_PATH` and `HOME` from the environment.
    pub fn from_env() -> Context {
        Context {
            acorn_path: std::env::var_os(ACORN_PATH_ENV),
            home: std::env::var_os("HOME"),
            globals: argv::Globals::default(),
            daemon: None,
        }
    }

    /// The repo directory: `$ACORN_PATH` (a leading `~/` means `$HOME/`), else
    /// `$HOME/.acorn`. An empty `ACORN_PATH` counts as unset (as Kubo).
    pub fn repo_root(&self) -> anyhow::Result<PathBuf> {
        let home = || -> anyhow::Result<PathBuf> {
            match &self.home {
                Some(h) if !h.is_empty() => Ok(PathBuf::from(h)),
                _ => bail!("HOME is not set: set {ACORN_PATH_ENV} to the repo directory"),
            }
        };
        match &self.acorn_path {
            Some(p) if !p.is_empty() => {
                let p = PathBuf::from(p);
                if let Ok(rest) = p.strip_prefix("~") {
                    Ok(home()?.join(rest))
                } else {
                    Ok(p)
                }
            }
            _ => Ok(home()?.join(DEFAULT_REPO_DIR)),
        }
    }
}

/// Run a parsed command.
pub fn run(args: Acorn, ctx: &Context) -> anyhow::Result<()> {
    // The commands that write JSON for `--enc=json`; the others refuse it rather
    // than print text the caller would fail to parse.
    let json_ok = matches!(
        &args.command,
        Command::Id(_)
            | Command::Version(_)
            | Command::Bootstrap(_)
            | Command::Cid(_)
            | Command::Diag(_)
            | Command::Log(_)
            | Command::Repo(repo::RepoCmd {
                command: repo::RepoSub::Version(_)
            })
    );
    if !json_ok {
        text_only(ctx)?;
    }
    if ctx.globals.offline && matches!(args.command, Command::Daemon(_)) {
        bail!("acorn daemon has no offline mode (Kubo's `daemon --offline`): drop --offline");
    }
    match args.command {
        Command::Init(c) => c.run(ctx),
        Command::Config(c) => c.run(ctx),
        Command::Version(c) => c.run(ctx),
        Command::Add(c) => c.run(ctx),
        Command::Cat(c) => c.run(ctx),
        Command::Get(c) => c.run(ctx),
        Command::Ls(c) => c.run(ctx),
        Command::Refs(c) => c.run(ctx),
        Command::Block(c) => c.run(ctx),
        Command::Dag(c) => c.run(ctx),
        Command::Pin(c) => c.run(ctx),
        Command::Repo(c) => c.run(ctx),
        Command::Filestore(c) => c.run(ctx),
        Command::Daemon(c) => c.run(ctx),
        Command::Id(c) => c.run(ctx),
        Command::Swarm(c) => c.run(ctx),
        Command::Stats(c) => c.run(ctx),
        Command::Bitswap(c) => c.run(ctx),
        Command::Routing(c) => c.run(ctx),
        Command::Dht(c) => c.run(ctx),
        Command::Resolve(c) => c.run(ctx),
        Command::Shutdown(c) => c.run(ctx),
        Command::Bootstrap(c) => c.run(ctx),
        Command::Commands(c) => c.run(ctx),
        Command::Cid(c) => c.run(ctx),
        Command::Diag(c) => c.run(ctx),
        Command::Ping(c) => c.run(ctx),
        Command::Log(c) => c.run(ctx),
    }
}

/// The core API for the repo: its daemon's when one runs (as Kubo's CLI), else the
/// repo opened offline. Commands format what it returns, once for both cases.
/// `--offline` opens the repo here (failing on the daemon's lock, as Kubo); `--api`
/// names the daemon to use.
pub(crate) fn core(ctx: &Context) -> anyhow::Result<Box<dyn crate::core_api::Core>> {
    if let Some(c) = api_client(ctx)? {
        return Ok(Box::new(crate::core_api::Remote::new(c)));
    }
    if ctx.globals.offline {
        return Ok(Box::new(crate::core_api::Local::open(&ctx.repo_root()?)?));
    }
    Ok(crate::core_api::open(&ctx.repo_root()?)?)
}

/// The running daemon's core API, for network commands; the "needs a running
/// daemon" error when none runs (or with `--offline`).
pub(crate) fn online(ctx: &Context) -> anyhow::Result<Box<dyn crate::core_api::Core>> {
    if let Some(c) = api_client(ctx)? {
        return Ok(Box::new(crate::core_api::Remote::new(c)));
    }
    if ctx.globals.offline {
        bail!(crate::core_api::NEEDS_DAEMON);
    }
    Ok(crate::core_api::online(&ctx.repo_root()?)?)
}

/// The daemon named by `--api` (an error when it does not answer, as Kubo).
fn api_client(ctx: &Context) -> anyhow::Result<Option<crate::core_api::client::Client>> {
    let Some(api) = &ctx.globals.api else {
        return Ok(None);
    };
    anyhow::ensure!(
        !ctx.globals.offline,
        "--offline and --api exclude each other"
    );
    Ok(Some(crate::core_api::client::Client::connect(api)?))
}

/// Fails when `--enc=json` was asked of a command that only writes text.
fn text_only(ctx: &Context) -> anyhow::Result<()> {
    if json_out(ctx) {
        bail!("this command has no JSON output: drop --enc=json");
    }
    Ok(())
}

/// The daemon (named by `--api`, else the repo's), for commands that only make
/// sense on it (`shutdown`).
pub(crate) fn daemon_client(ctx: &Context) -> anyhow::Result<crate::core_api::client::Client> {
    if let Some(c) = api_client(ctx)? {
        return Ok(c);
    }
    anyhow::ensure!(!ctx.globals.offline, crate::core_api::NEEDS_DAEMON);
    crate::core_api::client::discover(&ctx.repo_root()?)?
        .ok_or_else(|| anyhow::anyhow!(crate::core_api::NEEDS_DAEMON))
}

/// Whether `--enc=json` was given.
pub(crate) fn json_out(ctx: &Context) -> bool {
    ctx.globals.enc == Some(argv::Encoding::Json)
}

/// A `true` / `false` option value (Kubo spelling), which argh reads through
/// [`FromStr`](std::str::FromStr).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Flag(pub bool);

/// An option value that is neither `true` nor `false`.
#[derive(Debug, thiserror::Error)]
#[error("expected true or false, got {0:?}")]
pub(crate) struct BadBool(String);

impl std::str::FromStr for Flag {
    type Err = BadBool;
    fn from_str(value: &str) -> Result<Flag, BadBool> {
        match value {
            "true" => Ok(Flag(true)),
            "false" => Ok(Flag(false)),
            _ => Err(BadBool(value.to_string())),
        }
    }
}

/// The value of a `true` / `false` option, if given.
pub(crate) fn flag(option: Option<Flag>) -> Option<bool> {
    option.map(|f| f.0)
}

/// Reads a whole input (a file path, or stdin for `None`) of at most `limit` bytes;
/// a larger input is an error before more than `limit + 1` bytes are held.
pub(crate) fn read_input_limited(path: Option<&str>, limit: usize) -> anyhow::Result<Vec<u8>> {
    use std::io::Read;
    let (name, reader): (String, Box<dyn Read>) = match path {
        None | Some("-") => ("stdin".into(), Box::new(std::io::stdin().lock())),
        Some(p) => (
            p.to_string(),
            Box::new(std::fs::File::open(p).with_context(|| format!("opening {p}"))?),
        ),
    };
    let mut data = Vec::new();
    reader
        .take(limit as u64 + 1)
        .read_to_end(&mut data)
        .with_context(|| format!("reading {name}"))?;
    if data.len() > limit {
        bail!("{name} is over the {limit}-byte block limit");
    }
    Ok(data)
}

/// Write `text` to stdout (used by handlers for small outputs).
pub(crate) fn print(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .context("writing to stdout")
}

/// go-humanize's `Bytes`: SI units, one decimal below 10 (one copy, in storage).
pub use crate::core_api::bytes::si_units as humanize_bytes;

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Acorn, String> {
        let owned: Vec<String> = std::iter::once("acorn")
            .chain(args.iter().copied())
            .map(String::from)
            .collect();
        let norm = argv::normalize(&owned, &Acorn::get_args_info()).map_err(|e| e.to_string())?;
        let strs: Vec<&str> = norm.args.iter().map(String::as_str).collect();
        Acorn::from_args(&["acorn"], &strs[1..]).map_err(|e| e.output)
    }

    #[test]
    fn repo_root_resolution() {
        let ctx = |p: Option<&str>, h: Option<&str>| Context {
            acorn_path: p.map(OsString::from),
            home: h.map(OsString::from),
            globals: argv::Globals::default(),
            daemon: None,
        };
        assert_eq!(
            ctx(None, Some("/home/u")).repo_root().unwrap(),
            PathBuf::from("/home/u/.acorn")
        );
        assert_eq!(
            ctx(Some(""), Some("/home/u")).repo_root().unwrap(),
            PathBuf::from("/home/u/.acorn")
        );
        assert_eq!(
            ctx(Some("/srv/a"), None).repo_root().unwrap(),
            PathBuf::from("/srv/a")
        );
        assert_eq!(
            ctx(Some("~/x"), Some("/home/u")).repo_root().unwrap(),
            PathBuf::from("/home/u/x")
        );
        assert!(ctx(None, None).repo_root().is_err());
    }

    #[test]
    fn kubo_spellings_parse() {
        let a = parse(&["add", "-r", "-Q", "--pin=false", "--cid-version=1", "dir"]).unwrap();
        let Command::Add(add) = a.command else {
            panic!("not add")
        };
        assert!(add.recursive && add.quieter);
        assert_eq!(add.pin, Some(Flag(false)));
        assert_eq!(add.cid_version, Some(1));
        assert_eq!(add.paths, vec!["dir"]);

        let a = parse(&["add", "--pin", "--raw-leaves", "f"]).unwrap();
        let Command::Add(add) = a.command else {
            panic!("not add")
        };
        assert_eq!(add.pin, Some(Flag(true)));
        assert_eq!(add.raw_leaves, Some(Flag(true)));
        assert_eq!(add.paths, vec!["f"]);

        let a = parse(&["pin", "add", "--recursive=false", "Qm"]).unwrap();
        let Command::Pin(pin::PinCmd {
            command: pin::PinSub::Add(p),
        }) = a.command
        else {
            panic!("not pin add")
        };
        assert_eq!(p.recursive, Some(Flag(false)));
        assert_eq!(p.paths, vec!["Qm"]);

        let e = parse(&["add", "--pin=maybe", "f"]).unwrap_err();
        assert!(e.contains(r#"expected true or false, got "maybe""#), "{e}");
        assert!(parse(&["add", "--trickle=maybe", "f"]).is_err());
        let a = parse(&["add", "--trickle=false", "f"]).unwrap();
        let Command::Add(add) = a.command else {
            panic!("not add")
        };
        assert!(!add.trickle);
    }

    #[test]
    fn config_forms_parse() {
        use config_cmd::{ConfigCmd, ConfigSub, ProfileSub};
        let a = parse(&["config", "Addresses.API"]).unwrap();
        assert_eq!(
            a.command,
            Command::Config(ConfigCmd {
                json: false,
                bool: false,
                args: vec!["Addresses.API".into()],
                command: None,
            })
        );
        let a = parse(&["config", "--json", "Bootstrap", "[]"]).unwrap();
        let Command::Config(c) = a.command else {
            panic!()
        };
        assert!(c.json && c.args == ["Bootstrap", "[]"]);
        let a = parse(&["config", "show"]).unwrap();
        let Command::Config(c) = a.command else {
            panic!()
        };
        assert!(matches!(c.command, Some(ConfigSub::Show(_))));
        let a = parse(&["config", "profile", "apply", "test"]).unwrap();
        let Command::Config(c) = a.command else {
            panic!()
        };
        let Some(ConfigSub::Profile(p)) = c.command else {
            panic!()
        };
        let ProfileSub::Apply(apply) = p.command else {
            panic!()
        };
        assert_eq!(apply.name, "test");
    }

    #[test]
    fn every_command_parses() {
        for args in [
            &["init", "--profile", "test"][..],
            &["version", "--all"],
            &["cat", "--offset=3", "--length", "4", "Qm"],
            &["get", "-o", "out", "Qm"],
            &["ls", "Qm"],
            &["refs", "-r", "-u", "Qm"],
            &["refs", "local"],
            &[
                "block",
                "put",
                "--cid-codec=raw",
                "--mhtype",
                "sha2-256",
                "--pin=true",
                "f",
            ],
            &["block", "get", "Qm"],
            &["block", "stat", "Qm"],
            &["block", "rm", "Qm"],
            &[
                "dag",
                "put",
                "--input-codec",
                "dag-json",
                "--store-codec=dag-cbor",
                "--pin",
            ],
            &["dag", "get", "--output-codec=dag-json", "Qm"],
            &["dag", "export", "Qm"],
            &["dag", "import", "a.car"],
            &["dag", "stat", "--progress=false", "Qm"],
            &["resolve", "-r", "false", "/ipfs/Qm/a"],
            &["pin", "ls", "--type=recursive", "-q"],
            &["pin", "rm", "Qm"],
            &["pin", "update", "Qa", "Qb"],
            &["pin", "verify"],
            &["repo", "gc"],
            &["repo", "stat"],
            &["repo", "verify"],
            &["daemon"],
            &["id"],
        ] {
            parse(args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        }
        assert!(parse(&["pin", "ls", "--type", "weird"]).is_err());
    }
}
