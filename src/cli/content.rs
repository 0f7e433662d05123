//! UnixFS and DAG-walk commands: `add`, `cat`, `get`, `ls`, `refs`.
//!
//! **What.** Each command parses its flags, calls the core API's
//! [`Content`](crate::core_api::Content) group once (offline on the repo, or
//! through the daemon that holds it: [`super::core`]) and prints the typed result,
//! so the output is the same either way.
//!
//! **Spec.** Flags are Kubo's (`ipfs add --help` etc.). Defaults that Kubo
//! documents are noted on each flag; `None` means "not given", so Kubo's rules
//! apply (e.g. `--cid-version 1` implies `--raw-leaves` unless
//! `--raw-leaves=false` was written).
//!
//! **Departures.** `add --only-hash` hashes in this process even while a daemon
//! runs (nothing is written, so no repo is needed; see
//! [`add_unstored`](crate::core_api::content::add_unstored)).

use argh::{ArgsInfo, FromArgs};

use std::io::Write as _;

use super::progress::Bar;
use super::{flag, Context, Flag};
use crate::core_api;
use crate::core_api::content::{self, importer, AddEvent, AddInput, AddOptions, GetProgress};

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
    #[argh(option, arg_name = "bool")]
    pub pin: Option<Flag>,
    /// wrap the added files in a directory
    #[argh(switch, short = 'w')]
    pub wrap_with_directory: bool,
    /// CID version: 0 (default) or 1 (implies --raw-leaves)
    #[argh(option)]
    pub cid_version: Option<u64>,
    /// store leaves as raw blocks (default: false; true with --cid-version 1)
    #[argh(option, arg_name = "bool")]
    pub raw_leaves: Option<Flag>,
    /// chunker: size-N, rabin, rabin-AVG, rabin-MIN-AVG-MAX or buzhash (default: size-262144)
    #[argh(option, short = 's')]
    pub chunker: Option<String>,
    /// hash function (only sha2-256, the default)
    #[argh(option)]
    pub hash: Option<String>,
    /// multibase for CIDv1 in the output (e.g. base32, base36; CIDv0 stays base58btc)
    #[argh(option)]
    pub cid_base: Option<String>,
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
    /// give blocks of at most --inline-limit bytes identity CIDs: the CID holds
    /// the block, nothing is stored for it
    #[argh(switch)]
    pub inline: bool,
    /// largest block --inline inlines, in bytes (default: 32, at most 64)
    #[argh(option)]
    pub inline_limit: Option<usize>,
    /// show a progress bar on stderr (default: true when stderr is a terminal)
    #[argh(option, short = 'p', arg_name = "bool")]
    pub progress: Option<Flag>,
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
        if self.nocopy && flag(self.raw_leaves) == Some(false) {
            anyhow::bail!("--nocopy needs raw leaves: drop --raw-leaves=false");
        }
        let raw_leaves = if self.nocopy {
            Some(true)
        } else {
            flag(self.raw_leaves)
        };
        let mut opts = importer::Options::default().with_cid_version(version, raw_leaves);
        opts.nocopy = self.nocopy;
        if let Some(c) = &self.chunker {
            opts.chunker = importer::parse_chunker(c)?;
        }
        if self.trickle {
            opts.layout = importer::Layout::Trickle;
        }
        opts.wrap_with_directory = self.wrap_with_directory;
        opts.hidden = self.hidden;
        // As Kubo: --inline-limit alone does nothing.
        if self.inline {
            let limit = self
                .inline_limit
                .unwrap_or(importer::DEFAULT_INLINE_LIMIT_BYTES);
            anyhow::ensure!(
                limit <= importer::MAX_INLINE_LIMIT_BYTES,
                "--inline-limit {limit} is over the maximum of {} bytes",
                importer::MAX_INLINE_LIMIT_BYTES
            );
            opts.inline_limit = Some(limit);
        }
        Ok(opts)
    }

    pub fn run(self, ctx: &Context) -> anyhow::Result<()> {
        let import = self.import_options()?;
        if let Some(h) = &self.hash {
            anyhow::ensure!(
                h == "sha2-256",
                "unsupported hash function {h:?}: acorn add hashes with sha2-256 only"
            );
        }
        let base = self
            .cid_base
            .as_deref()
            .map(super::tools::base_from_arg)
            .transpose()?;
        let show = |cid: &cid::Cid| -> String {
            match base {
                Some(b) if cid.version() == cid::Version::V1 => {
                    cid.to_string_of_base(b).unwrap_or_else(|_| cid.to_string())
                }
                _ => cid.to_string(),
            }
        };
        let mut bar = Bar::stderr(flag(self.progress), self.total_size());
        let opts = AddOptions {
            import,
            pin: flag(self.pin).unwrap_or(true),
            only_hash: self.only_hash,
            progress: bar.is_on(),
        };
        let input = AddInput::Paths {
            paths: &self.paths,
            recursive: self.recursive,
        };
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        let (quiet, quieter) = (self.quiet, self.quieter);
        // Progress comes per entry: earlier entries add up in `base`.
        let (mut base, mut cur_name, mut cur) = (0u64, String::new(), 0u64);
        let mut emit = |e: AddEvent| -> core_api::error::Result<()> {
            match e {
                AddEvent::Progress { name, bytes } => {
                    if name != cur_name {
                        base += cur;
                        cur_name = name;
                    }
                    cur = bytes;
                    bar.set(base + cur);
                }
                AddEvent::Added { .. } if quieter => {}
                AddEvent::Added { cid, .. } if quiet => writeln!(out, "{}", show(&cid))?,
                AddEvent::Added { name, cid, .. } => writeln!(out, "added {} {name}", show(&cid))?,
            }
            Ok(())
        };
        let root = if self.only_hash {
            content::add_unstored(input, &opts, &mut emit)?
        } else {
            super::core(ctx)?.add(input, &opts, &mut emit)?
        };
        bar.finish();
        if quieter {
            writeln!(out, "{}", show(&root))?;
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
        if flag(self.progress) == Some(false) || self.paths.is_empty() {
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
        let core = super::core(ctx)?;
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        core.cat(&self.paths, self.offset.unwrap_or(0), self.length, &mut out)?;
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
    #[argh(option, arg_name = "bool")]
    pub progress: Option<Flag>,
    /// write a tar archive (<name>.tar) instead of files
    #[argh(switch, short = 'a')]
    pub archive: bool,
    /// gzip the output: a file as <name>.gz, with -a the archive as <name>.tar.gz
    #[argh(switch, short = 'C')]
    pub compress: bool,
    /// the gzip level, 1 (fastest) to 9 (smallest); implies -C (default: 6)
    #[argh(option, short = 'l')]
    pub compression_level: Option<u32>,
    /// CID or path (<cid>[/path])
    #[argh(positional)]
    pub path: String,
}

impl GetCmd {
    pub fn run(self, ctx: &Context) -> anyhow::Result<()> {
        let level = match self.compression_level {
            Some(l @ 1..=9) => Some(l),
            Some(l) => anyhow::bail!("compression level {l} is not between 1 and 9"),
            None if self.compress => Some(6),
            None => None,
        };
        let core = super::core(ctx)?;
        if self.archive || level.is_some() {
            // Kubo: the output name gets `.tar` with -a (unless it ends in `.tar` or
            // `.tar.gz`), then `.gz` with -C (unless it ends in `.gz`). Without -a,
            // -C writes the file's bytes gzip'd (a directory is refused).
            let mut name = match &self.output {
                Some(o) => o.clone(),
                None => content::default_name(&self.path)?,
            };
            if self.archive && !name.ends_with(".tar") && !name.ends_with(".tar.gz") {
                name.push_str(".tar");
            }
            if level.is_some() && !name.ends_with(".gz") {
                name.push_str(".gz");
            }
            let target = std::path::PathBuf::from(name);
            super::print(&format!("Saving archive to {}\n", target.display()))?;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&target)
                .map_err(|e| anyhow::anyhow!("creating {}: {e}", target.display()))?;
            let written = match level {
                None => core
                    .get_tar(&self.path, &mut f)
                    .map_err(anyhow::Error::from),
                Some(l) => {
                    let mut gz = flate2::write::GzEncoder::new(&mut f, flate2::Compression::new(l));
                    if self.archive {
                        core.get_tar(&self.path, &mut gz)
                            .map_err(anyhow::Error::from)
                    } else {
                        core.cat(std::slice::from_ref(&self.path), 0, None, &mut gz)
                            .map_err(|e| {
                                anyhow::Error::from(e).context(format!(
                                    "get -C without -a gzips one file: {} (use -a -C for a \
                                     directory's .tar.gz)",
                                    self.path
                                ))
                            })
                    }
                    .and_then(|()| Ok(gz.finish().map(|_| ())?))
                }
            }
            .and_then(|()| Ok(f.sync_all()?));
            if written.is_err() {
                // Nothing half-written is left behind.
                let _ = std::fs::remove_file(&target);
            }
            return written;
        }
        let target = match &self.output {
            Some(o) => std::path::PathBuf::from(o),
            None => std::path::PathBuf::from(content::default_name(&self.path)?),
        };
        anyhow::ensure!(
            !target.exists() && target.symlink_metadata().is_err(),
            "{} already exists",
            target.display()
        );
        super::print(&format!("Saving file(s) to {}\n", target.display()))?;
        let mut bar = Bar::stderr(flag(self.progress), None);
        let on = bar.is_on();
        let mut report = |p: GetProgress| match p {
            GetProgress::Total(t) => bar.set_total(t),
            GetProgress::Bytes(n) => bar.add(n),
        };
        core.get(
            &self.path,
            &target,
            if on { Some(&mut report) } else { None },
        )?;
        bar.finish();
        Ok(())
    }
}

/// List the links of a directory or file.
#[derive(FromArgs, ArgsInfo, Debug, PartialEq)]
#[argh(subcommand, name = "ls")]
pub struct LsCmd {
    /// print a header line (Hash Size Name)
    #[argh(switch, short = 'v')]
    pub headers: bool,
    /// print sizes (default: true)
    #[argh(option, arg_name = "bool")]
    pub size: Option<Flag>,
    /// resolve the type of each link (default: true)
    #[argh(option, arg_name = "bool")]
    pub resolve_type: Option<Flag>,
    /// CIDs or paths
    #[argh(positional)]
    pub paths: Vec<String>,
}

impl LsCmd {
    pub fn run(self, ctx: &Context) -> anyhow::Result<()> {
        use crate::core_api::content::EntryKind;
        anyhow::ensure!(!self.paths.is_empty(), "argument \"ipfs-path\" is required");
        let show_size = flag(self.size).unwrap_or(true);
        let core = super::core(ctx)?;
        // Every path is listed before anything is printed (an error prints nothing).
        let listed = self
            .paths
            .iter()
            .map(|p| core.ls(p))
            .collect::<core_api::error::Result<Vec<_>>>()?;
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
            for e in entries {
                let is_dir = e.kind == EntryKind::Directory;
                let (name, cid, size) = (e.name, e.cid, e.size);
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
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        let mut print =
            |cid: cid::Cid| -> core_api::error::Result<()> { Ok(writeln!(out, "{cid}")?) };
        match self.command {
            Some(RefsSub::Local(_)) => {
                super::core(ctx)?.refs_local(&mut print)?;
            }
            None => {
                anyhow::ensure!(!self.paths.is_empty(), "argument \"ipfs-path\" is required");
                let opts = content::RefsOptions::new(
                    self.recursive,
                    self.unique,
                    self.edges,
                    self.format.clone(),
                    self.max_depth,
                )?;
                super::core(ctx)?
                    .refs_formatted(&self.paths, &opts, &mut |line| Ok(writeln!(out, "{line}")?))?;
            }
        }
        out.flush()?;
        Ok(())
    }
}
