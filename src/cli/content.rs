//! UnixFS and DAG-walk commands: `add`, `cat`, `get`, `ls`, `refs`.
//!
//! Flags are Kubo's (`ipfs add --help` etc.). The handlers are wired to
//! `acorn-storage` by the lead; until then they return "not implemented yet".
//! Defaults that Kubo documents are noted on each flag; `None` means "not given",
//! so the handler can apply Kubo's rules (e.g. `--cid-version 1` implies
//! `--raw-leaves` unless `--raw-leaves=false` was written).

use argh::{ArgsInfo, FromArgs};

use anyhow::Context as _;
use std::io::Write as _;

use super::progress::Bar;
use super::{parse_bool, Context};
use crate::core::Node;
use acorn_storage::unixfs::importer;

/// Add a file or directory to acorn.
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(
    subcommand,
    name = "add",
    example = "acorn add hello.txt",
    example = "acorn add -r -Q --cid-version=1 photos/",
    example = "echo hi | acorn add --pin=false"
)]
pub struct AddCmd {
    /// add directory paths recursively
    #[argh(switch, short = 'r')]
    pub recursive: bool,
    /// write only the final CID
    #[argh(switch, short = 'Q')]
    pub quieter: bool,
    /// write only CIDs, not names
    #[argh(switch, short = 'q')]
    pub quiet: bool,
    /// only chunk and hash, do not write to the repo
    #[argh(switch, short = 'n')]
    pub only_hash: bool,
    /// pin the added content (default: true)
    #[argh(option, arg_name = "bool", from_str_fn(parse_bool))]
    pub pin: Option<bool>,
    /// wrap the added files in a directory
    #[argh(switch, short = 'w')]
    pub wrap_with_directory: bool,
    /// CID version: 0 (default) or 1 (implies --raw-leaves)
    #[argh(option)]
    pub cid_version: Option<u64>,
    /// store leaves as raw blocks (default: false; true with --cid-version 1)
    #[argh(option, arg_name = "bool", from_str_fn(parse_bool))]
    pub raw_leaves: Option<bool>,
    /// chunker: size-N (default: size-262144)
    #[argh(option)]
    pub chunker: Option<String>,
    /// use the trickle DAG layout instead of balanced
    #[argh(switch, short = 't')]
    pub trickle: bool,
    /// include files whose names start with a dot
    #[argh(switch, short = 'H')]
    pub hidden: bool,
    /// do not copy file data into the repo: reference it in place (filestore;
    /// implies --raw-leaves)
    #[argh(switch)]
    pub nocopy: bool,
    /// show a progress bar on stderr (default: true when stderr is a terminal)
    #[argh(option, arg_name = "bool", from_str_fn(parse_bool))]
    pub progress: Option<bool>,
    /// files or directories to add (stdin when none)
    #[argh(positional)]
    pub paths: Vec<String>,
}

impl AddCmd {
    /// Kubo's option rules: `--cid-version 1` implies raw leaves unless
    /// `--raw-leaves=false`.
    fn import_options(&self) -> anyhow::Result<importer::Options> {
        let version = match self.cid_version.unwrap_or(0) {
            v @ (0 | 1) => v as u8,
            v => anyhow::bail!("unknown CID version {v} (use 0 or 1)"),
        };
        if self.nocopy && self.raw_leaves == Some(false) {
            anyhow::bail!("--nocopy needs raw leaves: drop --raw-leaves=false");
        }
        let raw_leaves = if self.nocopy {
            Some(true)
        } else {
            self.raw_leaves
        };
        let mut opts = importer::Options::default().with_cid_version(version, raw_leaves);
        opts.nocopy = self.nocopy;
        if let Some(c) = &self.chunker {
            opts.chunk_size = importer::parse_chunker(c)?;
        }
        if self.trickle {
            opts.layout = importer::Layout::Trickle;
        }
        opts.wrap_with_directory = self.wrap_with_directory;
        opts.hidden = self.hidden;
        Ok(opts)
    }

    pub fn run(self, ctx: &Context) -> anyhow::Result<()> {
        let opts = self.import_options()?;
        if let Some(c) = super::daemon_client(ctx)? {
            // `--nocopy` goes as `nocopy=true` with each file's Abspath; the daemon
            // refuses paths outside Filestore.AllowedRoots (never a silent copy).
            return self.run_api(&c);
        }
        let mut bar = Bar::stderr(self.progress, self.total_size());
        let pin = self.pin.unwrap_or(true) && !self.only_hash;
        // `--only-hash` needs no repo: nothing is written.
        let node = if self.only_hash {
            None
        } else {
            Some(Node::open(&ctx.repo_root()?)?)
        };
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        let (quiet, quieter) = (self.quiet, self.quieter);
        let root = crate::core::add_paths(
            node.as_ref(),
            &opts,
            &self.paths,
            self.recursive,
            pin,
            &mut |name, cid| {
                if quieter {
                    Ok(())
                } else if quiet {
                    writeln!(out, "{cid}")
                } else {
                    writeln!(out, "added {cid} {name}")
                }
            },
            &mut |n| bar.add(n),
        )?;
        bar.finish();
        if quieter {
            writeln!(out, "{root}")?;
        }
        out.flush()?;
        Ok(())
    }

    /// Bytes of the files to add (for the progress bar), when the bar is on and
    /// the input is files; `None` for stdin or when a walk fails (the add reports
    /// that itself).
    fn total_size(&self) -> Option<u64> {
        fn walk(p: &std::path::Path, recursive: bool, hidden: bool, depth: usize) -> Option<u64> {
            let m = std::fs::symlink_metadata(p).ok()?;
            if m.is_file() {
                return Some(m.len());
            }
            if !m.is_dir() || !recursive || depth > importer::MAX_DIR_DEPTH {
                return Some(0);
            }
            let mut sum = 0u64;
            for e in std::fs::read_dir(p).ok()? {
                let e = e.ok()?;
                if !hidden && e.file_name().to_string_lossy().starts_with('.') {
                    continue;
                }
                sum = sum.saturating_add(walk(&e.path(), recursive, hidden, depth + 1)?);
            }
            Some(sum)
        }
        if self.progress == Some(false) || self.paths.is_empty() {
            return None;
        }
        if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            return None;
        }
        self.paths.iter().try_fold(0u64, |acc, p| {
            Some(acc.saturating_add(walk(
                std::path::Path::new(p),
                self.recursive,
                self.hidden,
                0,
            )?))
        })
    }
}

impl AddCmd {
    /// `add` through the daemon: the same walk and output, the import done there.
    fn run_api(self, c: &super::client::Client) -> anyhow::Result<()> {
        let body = super::client::MultipartBody::for_add(&self.paths, self.recursive, self.hidden)?;
        let mut q: Vec<(&str, String)> = vec![
            ("pin", self.pin.unwrap_or(true).to_string()),
            ("quieter", self.quieter.to_string()),
        ];
        if let Some(v) = self.cid_version {
            q.push(("cid-version", v.to_string()));
        }
        if let Some(r) = self.raw_leaves {
            q.push(("raw-leaves", r.to_string()));
        }
        if let Some(ch) = &self.chunker {
            q.push(("chunker", ch.clone()));
        }
        let mut bar = Bar::stderr(self.progress, self.total_size());
        if self.nocopy {
            // As offline: nocopy implies raw leaves (refused with --raw-leaves=false
            // by `import_options`).
            q.retain(|(k, _)| *k != "raw-leaves");
            q.push(("raw-leaves", "true".into()));
        }
        for (name, on) in [
            ("trickle", self.trickle),
            ("wrap-with-directory", self.wrap_with_directory),
            ("only-hash", self.only_hash),
            ("nocopy", self.nocopy),
            ("progress", bar.is_on()),
        ] {
            if on {
                q.push((name, "true".into()));
            }
        }
        let resp = c.post(
            "add",
            &q,
            Some(super::client::RequestBody {
                content_type: body.content_type(),
                reader: Box::new(body),
            }),
        )?;
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        let (quiet, quieter) = (self.quiet, self.quieter);
        // Progress lines carry a file's bytes so far: earlier files add up in `base`.
        let (mut base, mut cur_name, mut cur) = (0u64, String::new(), 0u64);
        resp.ndjson(&mut |v| {
            if v.get("Hash").is_none() {
                if let Some(b) = v["Bytes"].as_u64() {
                    let name = v["Name"].as_str().unwrap_or_default();
                    if name != cur_name {
                        base += cur;
                        cur_name = name.to_string();
                    }
                    cur = b;
                    bar.set(base + cur);
                }
                return Ok(());
            }
            let hash = v["Hash"].as_str().unwrap_or_default();
            let name = v["Name"].as_str().unwrap_or_default();
            if quieter || quiet {
                writeln!(out, "{hash}")?;
            } else {
                writeln!(out, "added {hash} {name}")?;
            }
            Ok(())
        })?;
        bar.finish();
        out.flush()?;
        Ok(())
    }
}

/// Show the contents of files.
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(
    subcommand,
    name = "cat",
    example = "acorn cat QmHash/dir/file --offset 10 --length 5"
)]
pub struct CatCmd {
    /// byte offset to start reading at
    #[argh(option, short = 'o')]
    pub offset: Option<u64>,
    /// maximum number of bytes to read
    #[argh(option, short = 'l')]
    pub length: Option<u64>,
    /// CIDs or paths (<cid>[/path])
    #[argh(positional)]
    pub paths: Vec<String>,
}

impl CatCmd {
    pub fn run(self, ctx: &Context) -> anyhow::Result<()> {
        anyhow::ensure!(!self.paths.is_empty(), "argument \"ipfs-path\" is required");
        if let Some(c) = super::daemon_client(ctx)? {
            let mut q: Vec<(&str, String)> =
                self.paths.iter().map(|p| ("arg", p.clone())).collect();
            if let Some(o) = self.offset {
                q.push(("offset", o.to_string()));
            }
            if let Some(l) = self.length {
                q.push(("length", l.to_string()));
            }
            let mut resp = c.post("cat", &q, None)?;
            let mut out = std::io::stdout().lock();
            std::io::copy(&mut resp, &mut out)?;
            out.flush()?;
            return resp.finish();
        }
        let node = Node::open(&ctx.repo_root()?)?;
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        node.cat_many(&self.paths, self.offset.unwrap_or(0), self.length, &mut out)?;
        out.flush()?;
        Ok(())
    }
}

/// Write files or directories from acorn to the filesystem.
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(subcommand, name = "get", example = "acorn get QmHash -o out")]
pub struct GetCmd {
    /// where to write (default: ./<cid>)
    #[argh(option, short = 'o')]
    pub output: Option<String>,
    /// show a progress bar on stderr (default: true when stderr is a terminal)
    #[argh(option, arg_name = "bool", from_str_fn(parse_bool))]
    pub progress: Option<bool>,
    /// CID or path (<cid>[/path])
    #[argh(positional)]
    pub path: String,
}

impl GetCmd {
    pub fn run(self, ctx: &Context) -> anyhow::Result<()> {
        let client = super::daemon_client(ctx)?;
        let node = match client {
            Some(_) => None,
            None => Some(Node::open(&ctx.repo_root()?)?),
        };
        let target = match &self.output {
            Some(o) => std::path::PathBuf::from(o),
            None => {
                let (cid, rest) = acorn_storage::unixfs::exporter::parse_ipfs_path(&self.path)?;
                let last = rest.rsplit('/').next().filter(|s| !s.is_empty());
                std::path::PathBuf::from(last.map_or_else(|| cid.to_string(), str::to_string))
            }
        };
        anyhow::ensure!(
            !target.exists() && target.symlink_metadata().is_err(),
            "{} already exists",
            target.display()
        );
        super::print(&format!("Saving file(s) to {}\n", target.display()))?;
        match (node, client) {
            (Some(node), _) => {
                let total = if self.progress != Some(false)
                    && std::io::IsTerminal::is_terminal(&std::io::stderr())
                {
                    node.file_size(&self.path).ok()
                } else {
                    None
                };
                let mut bar = Bar::stderr(self.progress, total);
                node.get_with_progress(&self.path, &target, &mut |n| bar.add(n))?;
                bar.finish();
                Ok(())
            }
            (None, Some(c)) => {
                let mut bar = Bar::stderr(self.progress, None);
                let resp = c.post("get", &[("arg", self.path.clone())], None)?;
                let mut counted = BarReader {
                    inner: resp,
                    bar: &mut bar,
                };
                unpack_tar(&mut counted, &target)?;
                counted.bar.finish();
                counted.inner.finish()
            }
            (None, None) => unreachable!("one of the two is set above"),
        }
    }
}

/// Moves a progress bar with the bytes read through it.
struct BarReader<'a, R> {
    inner: R,
    bar: &'a mut Bar,
}

impl<R: std::io::Read> std::io::Read for BarReader<'_, R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(out)?;
        self.bar.add(n as u64);
        Ok(n)
    }
}

/// Unpacks the daemon's `get` tar under `target`: the archive's first path
/// component is replaced by `target`. Only plain relative paths are accepted, and
/// nothing is written through a symlink.
fn unpack_tar(r: &mut dyn std::io::Read, target: &std::path::Path) -> anyhow::Result<()> {
    use std::path::Component;
    let mut archive = tar::Archive::new(r);
    for entry in archive.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.into_owned();
        let mut parts = path.components();
        anyhow::ensure!(
            matches!(parts.next(), Some(Component::Normal(_))),
            "bad path {} in the daemon's archive",
            path.display()
        );
        let mut dest = target.to_path_buf();
        for c in parts {
            match c {
                Component::Normal(n) => {
                    anyhow::ensure!(
                        !dest
                            .symlink_metadata()
                            .is_ok_and(|m| m.file_type().is_symlink()),
                        "refusing to write through the symlink {}",
                        dest.display()
                    );
                    dest.push(n);
                }
                _ => anyhow::bail!("bad path {} in the daemon's archive", path.display()),
            }
        }
        entry.set_preserve_permissions(false);
        entry.set_preserve_mtime(false);
        entry
            .unpack(&dest)
            .with_context(|| format!("writing {}", dest.display()))?;
    }
    Ok(())
}

/// List the links of a directory or file.
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(subcommand, name = "ls")]
pub struct LsCmd {
    /// print a header line (Hash Size Name)
    #[argh(switch, short = 'v')]
    pub headers: bool,
    /// print sizes (default: true)
    #[argh(option, arg_name = "bool", from_str_fn(parse_bool))]
    pub size: Option<bool>,
    /// resolve the type of each link (default: true)
    #[argh(option, arg_name = "bool", from_str_fn(parse_bool))]
    pub resolve_type: Option<bool>,
    /// CIDs or paths
    #[argh(positional)]
    pub paths: Vec<String>,
}

impl LsCmd {
    pub fn run(self, ctx: &Context) -> anyhow::Result<()> {
        use acorn_storage::unixfs::exporter::EntryKind;
        anyhow::ensure!(!self.paths.is_empty(), "argument \"ipfs-path\" is required");
        let show_size = self.size.unwrap_or(true);
        // (name, cid, size, is_dir) per entry, per path.
        let mut listed: Vec<Vec<(String, String, u64, bool)>> = Vec::new();
        if let Some(c) = super::daemon_client(ctx)? {
            let q: Vec<(&str, String)> = self.paths.iter().map(|p| ("arg", p.clone())).collect();
            let v = c.json("ls", &q)?;
            for o in v["Objects"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
            {
                let links = o["Links"].as_array().map(Vec::as_slice).unwrap_or_default();
                listed.push(
                    links
                        .iter()
                        .map(|l| {
                            (
                                l["Name"].as_str().unwrap_or_default().to_string(),
                                l["Hash"].as_str().unwrap_or_default().to_string(),
                                l["Size"].as_u64().unwrap_or(0),
                                l["Type"].as_u64() == Some(1),
                            )
                        })
                        .collect(),
                );
            }
        } else {
            let node = Node::open(&ctx.repo_root()?)?;
            for p in &self.paths {
                listed.push(
                    node.ls(p)?
                        .into_iter()
                        .map(|e| {
                            let is_dir = e.kind == EntryKind::Directory;
                            (e.name, e.cid.to_string(), e.size, is_dir)
                        })
                        .collect(),
                );
            }
        }
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        for (i, (p, entries)) in self.paths.iter().zip(listed).enumerate() {
            if self.paths.len() > 1 {
                if i > 0 {
                    writeln!(out)?;
                }
                writeln!(out, "{p}:")?;
            }
            if self.headers {
                writeln!(
                    out,
                    "{}",
                    if show_size {
                        "Hash Size Name"
                    } else {
                        "Hash Name"
                    }
                )?;
            }
            for (name, cid, size, is_dir) in entries {
                let name = if is_dir { format!("{name}/") } else { name };
                if show_size {
                    let size = if is_dir {
                        "-".to_string()
                    } else {
                        size.to_string()
                    };
                    writeln!(out, "{cid} {size} {name}")?;
                } else {
                    writeln!(out, "{cid} {name}")?;
                }
            }
        }
        out.flush()?;
        Ok(())
    }
}

/// List the links (references) of an object.
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(
    subcommand,
    name = "refs",
    example = "acorn refs -r -u QmHash",
    example = "acorn refs local"
)]
pub struct RefsCmd {
    /// list all descendants, not only direct links
    #[argh(switch, short = 'r')]
    pub recursive: bool,
    /// list each reference once
    #[argh(switch, short = 'u')]
    pub unique: bool,
    /// print edges as "<src> -> <dst>"
    #[argh(switch, short = 'e')]
    pub edges: bool,
    /// output format with <src>, <dst>, <linkname> (default: <dst>)
    #[argh(option)]
    pub format: Option<String>,
    /// depth limit for -r (default: -1, no limit)
    #[argh(option)]
    pub max_depth: Option<i64>,
    /// CIDs or paths
    #[argh(positional)]
    pub paths: Vec<String>,
    #[argh(subcommand)]
    pub command: Option<RefsSub>,
}

/// `acorn refs` subcommands.
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(subcommand)]
pub enum RefsSub {
    Local(RefsLocalCmd),
}

/// List every CID in the local repo.
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(subcommand, name = "local")]
pub struct RefsLocalCmd {}

impl RefsCmd {
    pub fn run(self, ctx: &Context) -> anyhow::Result<()> {
        let client = super::daemon_client(ctx)?;
        if let (Some(RefsSub::Local(_)), Some(c)) = (&self.command, &client) {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            c.post("refs/local", &[], None)?
                .ndjson(&mut |v| Ok(writeln!(out, "{}", v["Ref"].as_str().unwrap_or_default())?))?;
            out.flush()?;
            return Ok(());
        }
        if let (None, Some(c)) = (&self.command, client) {
            anyhow::ensure!(!self.paths.is_empty(), "argument \"ipfs-path\" is required");
            anyhow::ensure!(
                !self.edges && self.format.is_none() && self.max_depth.is_none(),
                "refs: --edges, --format and --max-depth are not supported yet"
            );
            let mut q: Vec<(&str, String)> =
                self.paths.iter().map(|p| ("arg", p.clone())).collect();
            q.push(("recursive", self.recursive.to_string()));
            q.push(("unique", self.unique.to_string()));
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            c.post("refs", &q, None)?
                .ndjson(&mut |v| Ok(writeln!(out, "{}", v["Ref"].as_str().unwrap_or_default())?))?;
            out.flush()?;
            return Ok(());
        }
        let node = Node::open(&ctx.repo_root()?)?;
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        match self.command {
            Some(RefsSub::Local(_)) => {
                node.refs_local(&mut |cid| Ok(writeln!(out, "{cid}")?))?;
            }
            None => {
                anyhow::ensure!(!self.paths.is_empty(), "argument \"ipfs-path\" is required");
                anyhow::ensure!(
                    !self.edges && self.format.is_none() && self.max_depth.is_none(),
                    "refs: --edges, --format and --max-depth are not supported yet"
                );
                for p in &self.paths {
                    let root = node.resolve_arg(p)?;
                    node.refs(&root, self.recursive, self.unique, &mut |cid| {
                        Ok(writeln!(out, "{cid}")?)
                    })?;
                }
            }
        }
        out.flush()?;
        Ok(())
    }
}
