//! Pins: `pin add|rm|ls|update|verify`.
//!
//! **What.** The [`Pins`] group of the [core API](super): its trait, its result
//! types, and its two implementations, [`Local`] (this process's node) and
//! [`Remote`] (a daemon over the RPC API).
//!
//! **Spec.** Kubo's `core/commands/pin/pin.go`. Paths are Kubo's `ipfs-path`
//! arguments (`<cid>[/path]`, `/ipfs/<cid>[/path]`): they are resolved by the node
//! (through the DAG, fetching while the daemon runs), so they stay text here.
//!
//! **Flow.** [`Local`] calls [`crate::core::Node`] (and `acorn_storage::pins`
//! for the streamed listing). [`Remote`] calls `pin/add` (with `progress=true`
//! when progress is asked for), `pin/rm`, `pin/ls?stream=true`, `pin/update` and
//! `pin/verify`, and reads back the JSON the RPC handlers (`src/api/pins.rs`)
//! write from [`Local`]'s results.
//!
//! **Limits.** `pin add --progress` events come at most once per
//! [`PIN_PROGRESS_INTERVAL`] (plus a last one). A listing of all pins is streamed
//! (never held whole); a listing of named CIDs and `pin verify`'s statuses are
//! held by the node first (bounded by the arguments and by the number of pins).
//!
//! **Departures.** `pin verify` checks direct pins too (Kubo: recursive only).
//! Progress follows the DAG walk, not a timer: a stalled fetch sends none.
//! Through the daemon, `pin add`/`pin rm` report their pins once all are done
//! (the RPC answer is one JSON value); offline each as it is done.

use std::time::{Duration, Instant};

pub use acorn_storage::pins::PinFilter;
use acorn_storage::pins::PinType;
use cid::Cid;
use serde_json::Value;

use super::answer::{args, cid_value};
use super::error::{bail, Result};
use super::{Local, Remote};

/// Least time between two [`PinAddEvent::Progress`] events of `pin add` (Kubo's
/// ticker).
pub const PIN_PROGRESS_INTERVAL: Duration = Duration::from_millis(500);

/// `pin add` options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PinAddOptions {
    /// Pin the whole DAG (Kubo's default) rather than the block only.
    pub recursive: bool,
    /// Report [`PinAddEvent::Progress`] (Kubo's `--progress`).
    pub progress: bool,
}

/// What `pin add` reports as it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinAddEvent {
    /// Blocks of the DAGs checked (and fetched) so far, over all paths.
    Progress(u64),
    /// A path's CID is now pinned.
    Pinned(Cid),
}

/// One pin of `pin ls`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PinEntry {
    pub cid: Cid,
    pub pin_type: PinType,
}

/// `pin verify` options.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PinVerifyOptions {
    /// Report the pins that are fine too.
    pub verbose: bool,
    /// Leave out the bad blocks of a broken pin (its CID only).
    pub quiet: bool,
}

/// One block of a broken pin and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadNode {
    pub cid: Cid,
    pub err: String,
}

/// `pin verify`'s verdict on one pin (Kubo's `PinVerifyRes`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinVerifyItem {
    pub cid: Cid,
    pub ok: bool,
    /// The missing, corrupt or undecodable blocks (empty when ok or quiet).
    pub bad_nodes: Vec<BadNode>,
}

/// Pins: `pin add|rm|ls|update|verify`.
pub trait Pins {
    /// `pin add`: pins each path's CID, in order, calling `each` as it goes.
    /// Stops at the first path that fails (the ones before stay pinned).
    fn pin_add(
        &self,
        paths: &[String],
        opts: PinAddOptions,
        each: &mut dyn FnMut(PinAddEvent) -> Result<()>,
    ) -> Result<()>;

    /// `pin rm`: unpins each path's CID (recursive pins when `recursive`, else
    /// direct ones), calling `each` with it.
    fn pin_rm(
        &self,
        paths: &[String],
        recursive: bool,
        each: &mut dyn FnMut(Cid) -> Result<()>,
    ) -> Result<()>;

    /// `pin ls`: every pin of `filter` (recursive, then direct, then indirect), or
    /// with `paths` how each is pinned (an error naming one that is not, or not
    /// as `filter` asks).
    fn pin_ls(
        &self,
        filter: PinFilter,
        paths: &[String],
        each: &mut dyn FnMut(PinEntry) -> Result<()>,
    ) -> Result<()>;

    /// `pin update`: moves the recursive pin of `from` to `to` (keeping `from`'s
    /// pin unless `unpin`); the two resolved CIDs.
    fn pin_update(&self, from: &str, to: &str, unpin: bool) -> Result<(Cid, Cid)>;

    /// `pin verify`: the broken pins (and with `verbose` the sound ones).
    fn pin_verify(
        &self,
        opts: PinVerifyOptions,
        each: &mut dyn FnMut(PinVerifyItem) -> Result<()>,
    ) -> Result<()>;
}

impl Pins for Local {
    fn pin_add(
        &self,
        paths: &[String],
        opts: PinAddOptions,
        each: &mut dyn FnMut(PinAddEvent) -> Result<()>,
    ) -> Result<()> {
        let node = self.node();
        if !opts.progress {
            for p in paths {
                let cid = node.resolve_arg(p)?;
                node.pin_add(&cid, opts.recursive)?;
                each(PinAddEvent::Pinned(cid))?;
            }
            return Ok(());
        }
        let mut count = 0u64;
        let mut last = Instant::now();
        for p in paths {
            let cid = node.resolve_arg(p)?;
            let mut failed = None;
            node.pin_add_progress(&cid, opts.recursive, &mut || {
                count += 1;
                if failed.is_none() && last.elapsed() >= PIN_PROGRESS_INTERVAL {
                    last = Instant::now();
                    failed = each(PinAddEvent::Progress(count)).err();
                }
            })?;
            if let Some(e) = failed {
                return Err(e);
            }
            each(PinAddEvent::Pinned(cid))?;
        }
        if count != 0 {
            each(PinAddEvent::Progress(count))?;
        }
        Ok(())
    }

    fn pin_rm(
        &self,
        paths: &[String],
        recursive: bool,
        each: &mut dyn FnMut(Cid) -> Result<()>,
    ) -> Result<()> {
        let node = self.node();
        for p in paths {
            let cid = node.resolve_arg(p)?;
            node.pin_rm(&cid, recursive)?;
            each(cid)?;
        }
        Ok(())
    }

    fn pin_ls(
        &self,
        filter: PinFilter,
        paths: &[String],
        each: &mut dyn FnMut(PinEntry) -> Result<()>,
    ) -> Result<()> {
        let node = self.node();
        if !paths.is_empty() {
            let cids = paths
                .iter()
                .map(|p| node.resolve_arg(p))
                .collect::<anyhow::Result<Vec<_>>>()?;
            for (cid, pin_type) in node.pin_ls(filter, &cids)? {
                each(PinEntry { cid, pin_type })?;
            }
            return Ok(());
        }
        // Streamed from the pin table and the DAG walk. The walk cannot be
        // stopped from here: after `each` fails the rest is walked unreported.
        let mut failed = None;
        acorn_storage::pins::pin_ls(node.store(), filter, &mut |c, t| {
            if failed.is_none() {
                failed = each(PinEntry {
                    cid: *c,
                    pin_type: t,
                })
                .err();
            }
        })?;
        failed.map_or(Ok(()), Err)
    }

    fn pin_update(&self, from: &str, to: &str, unpin: bool) -> Result<(Cid, Cid)> {
        let node = self.node();
        let from = node.resolve_arg(from)?;
        let to = node.resolve_arg(to)?;
        node.pin_update(&from, &to, unpin)?;
        Ok((from, to))
    }

    fn pin_verify(
        &self,
        opts: PinVerifyOptions,
        each: &mut dyn FnMut(PinVerifyItem) -> Result<()>,
    ) -> Result<()> {
        for st in self.node().pin_verify()? {
            let ok = st.ok();
            if ok && !opts.verbose {
                continue;
            }
            let bad_nodes = if opts.quiet {
                Vec::new()
            } else {
                st.bad_nodes
                    .into_iter()
                    .map(|b| BadNode {
                        cid: b.cid,
                        err: b.error,
                    })
                    .collect()
            };
            each(PinVerifyItem {
                cid: st.cid,
                ok,
                bad_nodes,
            })?;
        }
        Ok(())
    }
}

/// The CIDs of a `{"Pins":[..]}` answer.
fn pins_of(v: &Value) -> Result<Vec<Cid>> {
    v["Pins"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(cid_value)
        .collect()
}

/// A pin type by Kubo's name.
fn pin_type_named(name: &str) -> Result<PinType> {
    Ok(match name {
        "direct" => PinType::Direct,
        "recursive" => PinType::Recursive,
        "indirect" => PinType::Indirect,
        _ => bail!("unknown pin type {name:?} from the daemon"),
    })
}

/// Kubo's name of a `pin ls --type` filter.
pub fn filter_name(f: PinFilter) -> &'static str {
    match f {
        PinFilter::All => "all",
        PinFilter::Direct => "direct",
        PinFilter::Recursive => "recursive",
        PinFilter::Indirect => "indirect",
    }
}

impl Pins for Remote {
    fn pin_add(
        &self,
        paths: &[String],
        opts: PinAddOptions,
        each: &mut dyn FnMut(PinAddEvent) -> Result<()>,
    ) -> Result<()> {
        let mut q = args(paths);
        q.push(("recursive", opts.recursive.to_string()));
        if !opts.progress {
            for cid in pins_of(&self.client().json("pin/add", &q)?)? {
                each(PinAddEvent::Pinned(cid))?;
            }
            return Ok(());
        }
        q.push(("progress", "true".into()));
        self.client().post("pin/add", &q, None)?.ndjson(&mut |v| {
            if let Some(n) = v["Progress"].as_u64() {
                return each(PinAddEvent::Progress(n));
            }
            for cid in pins_of(&v)? {
                each(PinAddEvent::Pinned(cid))?;
            }
            Ok(())
        })
    }

    fn pin_rm(
        &self,
        paths: &[String],
        recursive: bool,
        each: &mut dyn FnMut(Cid) -> Result<()>,
    ) -> Result<()> {
        let mut q = args(paths);
        q.push(("recursive", recursive.to_string()));
        for cid in pins_of(&self.client().json("pin/rm", &q)?)? {
            each(cid)?;
        }
        Ok(())
    }

    fn pin_ls(
        &self,
        filter: PinFilter,
        paths: &[String],
        each: &mut dyn FnMut(PinEntry) -> Result<()>,
    ) -> Result<()> {
        let mut q = args(paths);
        q.push(("type", filter_name(filter).into()));
        q.push(("stream", "true".into()));
        self.client().post("pin/ls", &q, None)?.ndjson(&mut |v| {
            each(PinEntry {
                cid: cid_value(&v["Cid"])?,
                pin_type: pin_type_named(v["Type"].as_str().unwrap_or_default())?,
            })
        })
    }

    fn pin_update(&self, from: &str, to: &str, unpin: bool) -> Result<(Cid, Cid)> {
        let q = vec![
            ("arg", from.to_string()),
            ("arg", to.to_string()),
            ("unpin", unpin.to_string()),
        ];
        match pins_of(&self.client().json("pin/update", &q)?)?[..] {
            [from, to] => Ok((from, to)),
            _ => bail!("pin/update: the daemon did not answer two CIDs"),
        }
    }

    fn pin_verify(
        &self,
        opts: PinVerifyOptions,
        each: &mut dyn FnMut(PinVerifyItem) -> Result<()>,
    ) -> Result<()> {
        let q = vec![
            ("verbose", opts.verbose.to_string()),
            ("quiet", opts.quiet.to_string()),
        ];
        self.client()
            .post("pin/verify", &q, None)?
            .ndjson(&mut |v| {
                let bad_nodes = v["BadNodes"]
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or_default()
                    .iter()
                    .map(|b| {
                        Ok(BadNode {
                            cid: cid_value(&b["Cid"])?,
                            err: b["Err"].as_str().unwrap_or_default().to_string(),
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                each(PinVerifyItem {
                    cid: cid_value(&v["Cid"])?,
                    ok: v["Ok"].as_bool() == Some(true),
                    bad_nodes,
                })
            })
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use serde_json::json;

    /// A node on a fresh repo in a temp dir, offline.
    pub(crate) fn local() -> (tempfile::TempDir, Local) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("repo");
        let repo =
            crate::repo_glue::open_or_init_datastore(&root, crate::repo_glue::Mode::Init).unwrap();
        let id = crate::identity::Identity::generate().to_config().unwrap();
        crate::config::Config::with_identity(id)
            .create_new(&repo.root)
            .unwrap();
        drop(repo);
        let l = Local::open(&root).unwrap();
        (dir, l)
    }

    #[test]
    fn pin_add_reports_each_pin_then_the_last_progress() {
        let (_d, l) = local();
        let a = l
            .node()
            .block_put_version(b"a".to_vec(), 1, 0x55, false)
            .unwrap();
        let b = l
            .node()
            .block_put_version(b"b".to_vec(), 1, 0x55, false)
            .unwrap();
        let paths = [a.to_string(), format!("/ipfs/{b}")];
        let mut seen = Vec::new();
        let opts = PinAddOptions {
            recursive: true,
            progress: true,
        };
        l.pin_add(&paths, opts, &mut |e| {
            seen.push(e);
            Ok(())
        })
        .unwrap();
        // Two one-block DAGs walked within the interval: no timed event.
        assert_eq!(
            seen,
            [
                PinAddEvent::Pinned(a),
                PinAddEvent::Pinned(b),
                PinAddEvent::Progress(2)
            ]
        );
        let mut listed = Vec::new();
        l.pin_ls(PinFilter::Recursive, &[], &mut |p| {
            listed.push(p.cid);
            Ok(())
        })
        .unwrap();
        listed.sort();
        let mut want = vec![a, b];
        want.sort();
        assert_eq!(listed, want);
        // A failing consumer stops the listing with its error.
        let e = l
            .pin_ls(PinFilter::All, &[], &mut |_| bail!("consumer gone"))
            .unwrap_err();
        assert_eq!(e.to_string(), "consumer gone");
        // Without progress: the pins only; a bad path stops at it.
        let c = l
            .node()
            .block_put_version(b"c".to_vec(), 1, 0x55, false)
            .unwrap();
        let mut seen = Vec::new();
        let paths = [c.to_string(), "QmNotACid".to_string(), b.to_string()];
        let opts = PinAddOptions {
            recursive: false,
            progress: false,
        };
        assert!(l
            .pin_add(&paths, opts, &mut |e| {
                seen.push(e);
                Ok(())
            })
            .is_err());
        assert_eq!(seen, [PinAddEvent::Pinned(c)]);
    }

    #[test]
    fn daemon_answers_parse() {
        let c = "bafkqaaa";
        let v = json!({"Pins": [c, "QmNotACid"]});
        assert!(pins_of(&v).is_err());
        let v = json!({ "Pins": [c] });
        assert_eq!(pins_of(&v).unwrap()[0].to_string(), c);
        assert_eq!(pins_of(&json!({})).unwrap(), vec![]);
        assert_eq!(pin_type_named("indirect").unwrap(), PinType::Indirect);
        assert!(pin_type_named("all").is_err());
        for f in [
            PinFilter::All,
            PinFilter::Direct,
            PinFilter::Recursive,
            PinFilter::Indirect,
        ] {
            assert!(f == PinFilter::All || pin_type_named(filter_name(f)).is_ok());
        }
    }
}
