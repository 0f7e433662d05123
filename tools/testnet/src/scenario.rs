//! Scenario files: a TOML description of hosts, networks, links and a seeded
//! script of steps, checked whole before anything is built.
//!
//! ```toml
//! seed = 7                 # links' loss/jitter streams and generated content
//! timeout = "120s"         # the whole run
//!
//! [[network]]              # a home network behind a NAT router
//! name = "home"
//! nat = "eim"              # or "symmetric"
//! parent = "internet"      # default; another network nests it (double NAT)
//! link = "dsl"             # the router's uplink: a ladder row, "delay=…,loss=…",
//!                          # a table { delay = "50ms", loss = "1%", rate = "10mbit" },
//!                          # or { down = …, up = … } with either form in each
//! [[host]]
//! name = "a"
//! network = "home"         # default "internet"
//! link = "lan"             # default "lan"
//! profiles = ["pi-zero"]   # firmware profiles after `test`
//! config = { "Routing.Type" = "dhtserver" }   # config keys set before it starts
//! rss_ceiling = "24MiB"    # fail the run when its RSS passes this (default: the
//!                          # memory_ceiling_mib of its firmware profile, if any)
//!
//! [[host]]
//! name = "liar"
//! hostile = "liar"         # not a daemon: a `hostile-peer` in this mode (any of
//!                          # `acorn_tools::hostile::MODES`), listening on the swarm
//!                          # port; others `connect` to it; no profiles or config
//!
//! [[step]]
//! do = "start"             # start stop kill: host
//! host = "a"
//! ```
//!
//! Steps (`do = …`): `start`/`stop`/`kill` (`host`); `add` (`host`, `as` a name,
//! and `size` of seeded pseudo-random bytes or `file`, relative to the scenario);
//! an `add` naming content added before, without `size` or `file`, adds the same
//! bytes on one more host; `connect` (`host` dials `to`); `fetch` (`host`, `content` = an earlier `as`,
//! `sha256` expected, `deadline`; with `background = true` the script goes on and
//! a later `await` step with the same `host` and `content` collects it); `partition` and `heal` (`link` = the host or
//! network it belongs to); `link` (`link`, `conditions`); `wait` (`for`);
//! `wait-until` (`host`, `peers` at least, `deadline`);
//! `expect-dropped` (`host`, a daemon, dropped `peer`, a host, for misbehaviour
//! within `deadline`: its log names the peer as misbehaving and `swarm peers` no
//! longer lists it); `expect-counter` (`host`, a hostile peer, its `counter` at
//! least `min` and at most `max`, polled until `deadline`). A hostile host may only
//! be started, stopped, killed, connected to and counted.
//!
//! Every error names the file and line: an unknown host, network or link, a router
//! cycle, a missing file, a bad link value, a step for a host that is not running.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::ladder;
use crate::link::{parse_bytes, parse_duration, Conditions};
use crate::testnet::{HostSpec, LinkSpec, Nat, NetworkSpec, Topology, INTERNET};

/// Largest generated content of one `add`.
pub const MAX_GENERATED_BYTES: u64 = 1 << 30;
/// Longest whole run a scenario may ask for.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// A checked scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub path: PathBuf,
    pub seed: u64,
    pub timeout: Duration,
    pub topology: Topology,
    /// Extra profiles per host.
    pub profiles: BTreeMap<String, Vec<String>>,
    /// Config keys set in each host's repo before it starts (`Routing.Type` →
    /// `"dhtserver"`), after its profiles.
    pub config: BTreeMap<String, Vec<(String, serde_json::Value)>>,
    /// RSS ceilings set in the file, in KiB, per host.
    pub rss_ceiling_kib: BTreeMap<String, u64>,
    /// Hosts that run a hostile peer instead of a daemon, and its mode.
    pub hostile: BTreeMap<String, String>,
    pub steps: Vec<Step>,
}

/// One step and the line it starts on.
#[derive(Debug, Clone)]
pub struct Step {
    pub line: usize,
    pub action: Action,
}

/// Where `add` takes its bytes.
#[derive(Debug, Clone)]
pub enum Source {
    Generated {
        len: u64,
        seed: u64,
    },
    File(PathBuf),
    /// The bytes of an earlier `add` with the same name (the same content on one
    /// more host).
    Again,
}

#[derive(Debug, Clone)]
pub enum Action {
    Start {
        host: String,
    },
    Stop {
        host: String,
    },
    Kill {
        host: String,
    },
    Add {
        host: String,
        name: String,
        source: Source,
    },
    Connect {
        host: String,
        to: String,
    },
    Fetch {
        host: String,
        content: String,
        sha256: Option<String>,
        deadline: Duration,
        /// Started and left running; an `await` step collects it.
        background: bool,
    },
    Await {
        host: String,
        content: String,
    },
    /// `routing provide` of the content's CID on `host`.
    Provide {
        host: String,
        content: String,
    },
    /// `routing findprovs` on `host` until every host of `expect` is among the
    /// providers found, or the deadline.
    FindProviders {
        host: String,
        content: String,
        expect: Vec<String>,
        deadline: Duration,
    },
    Partition {
        link: String,
    },
    Heal {
        link: String,
    },
    Link {
        link: String,
        spec: LinkSpec,
    },
    Wait {
        time: Duration,
    },
    WaitUntil {
        host: String,
        peers: usize,
        deadline: Duration,
    },
    /// `host` dropped `peer` for misbehaviour within `deadline`.
    ExpectDropped {
        host: String,
        peer: String,
        deadline: Duration,
    },
    /// A hostile `host`'s `counter` is within `min..=max` within `deadline`.
    ExpectCounter {
        host: String,
        counter: String,
        min: Option<u64>,
        max: Option<u64>,
        deadline: Duration,
    },
}

impl Action {
    /// The `do` word.
    pub fn verb(&self) -> &'static str {
        match self {
            Action::Start { .. } => "start",
            Action::Stop { .. } => "stop",
            Action::Kill { .. } => "kill",
            Action::Add { .. } => "add",
            Action::Connect { .. } => "connect",
            Action::Fetch { .. } => "fetch",
            Action::Await { .. } => "await",
            Action::Provide { .. } => "provide",
            Action::FindProviders { .. } => "find-providers",
            Action::Partition { .. } => "partition",
            Action::Heal { .. } => "heal",
            Action::Link { .. } => "link",
            Action::Wait { .. } => "wait",
            Action::WaitUntil { .. } => "wait-until",
            Action::ExpectDropped { .. } => "expect-dropped",
            Action::ExpectCounter { .. } => "expect-counter",
        }
    }
}

type S<T> = Spanned<T>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    seed: Option<u64>,
    timeout: Option<S<String>>,
    #[serde(default)]
    network: Vec<RawNetwork>,
    #[serde(default)]
    host: Vec<RawHost>,
    #[serde(default)]
    step: Vec<S<RawStep>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNetwork {
    name: S<String>,
    nat: Option<S<String>>,
    parent: Option<S<String>>,
    link: Option<S<toml::Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHost {
    name: S<String>,
    network: Option<S<String>>,
    link: Option<S<toml::Value>>,
    #[serde(default)]
    profiles: Vec<String>,
    rss_ceiling: Option<S<String>>,
    #[serde(default)]
    config: toml::Table,
    hostile: Option<S<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    #[serde(rename = "do")]
    verb: S<String>,
    host: Option<S<String>>,
    to: Option<S<String>>,
    #[serde(rename = "as")]
    name: Option<S<String>>,
    size: Option<S<String>>,
    file: Option<S<String>>,
    content: Option<S<String>>,
    sha256: Option<S<String>>,
    deadline: Option<S<String>>,
    link: Option<S<String>>,
    conditions: Option<S<toml::Value>>,
    #[serde(rename = "for")]
    time: Option<S<String>>,
    peers: Option<usize>,
    background: Option<bool>,
    expect: Option<S<Vec<String>>>,
    peer: Option<S<String>>,
    counter: Option<S<String>>,
    min: Option<u64>,
    max: Option<u64>,
}

/// Reads and checks a scenario file.
pub fn load(path: &Path) -> anyhow::Result<Scenario> {
    let text =
        std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    parse(&text, path)
}

struct Ctx<'a> {
    text: &'a str,
    path: &'a Path,
}

impl Ctx<'_> {
    fn line(&self, offset: usize) -> usize {
        self.text[..offset.min(self.text.len())]
            .matches('\n')
            .count()
            + 1
    }
    fn err<T>(&self, offset: usize, msg: impl std::fmt::Display) -> anyhow::Result<T> {
        Err(anyhow::anyhow!(
            "{}:{}: {msg}",
            self.path.display(),
            self.line(offset)
        ))
    }
}

/// Checks scenario `text` (read from `path`, which names it in errors and anchors
/// relative file names).
pub fn parse(text: &str, path: &Path) -> anyhow::Result<Scenario> {
    let cx = Ctx { text, path };
    let raw: RawScenario = toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| cx.line(s.start)).unwrap_or(0);
        anyhow::anyhow!("{}:{line}: {}", path.display(), e.message())
    })?;
    let timeout = match &raw.timeout {
        Some(t) => duration(&cx, t)?,
        None => Duration::from_secs(600),
    };
    if timeout > MAX_TIMEOUT {
        return cx.err(
            raw.timeout.as_ref().map_or(0, |t| t.span().start),
            "timeout over 24 h",
        );
    }
    let seed = raw.seed.unwrap_or(1);

    // Networks: unique names, known parents, no cycle; then sorted parents first.
    let mut nets: BTreeMap<String, (NetworkSpec, usize)> = BTreeMap::new();
    for n in &raw.network {
        let name = n.name.get_ref();
        let at = n.name.span().start;
        if name == INTERNET || !valid_name(name) {
            return cx.err(
                at,
                format!("network name {name:?}: {NAME_RULE}, not \"internet\""),
            );
        }
        let nat = match n.nat.as_ref().map(|s| s.get_ref().as_str()) {
            None | Some("eim") => Nat::Eim,
            Some("symmetric") => Nat::Symmetric,
            Some(other) => {
                return cx.err(
                    n.nat.as_ref().unwrap().span().start,
                    format!("nat {other:?}: use \"eim\" or \"symmetric\""),
                )
            }
        };
        let spec = NetworkSpec {
            name: name.clone(),
            parent: n
                .parent
                .as_ref()
                .map_or(INTERNET.to_string(), |p| p.get_ref().clone()),
            nat,
            link: link_value(&cx, n.link.as_ref())?,
        };
        if nets.insert(name.clone(), (spec, at)).is_some() {
            return cx.err(at, format!("network {name:?} is defined twice"));
        }
    }
    for n in &raw.network {
        if let Some(p) = &n.parent {
            if p.get_ref() != INTERNET && !nets.contains_key(p.get_ref()) {
                return cx.err(
                    p.span().start,
                    format!(
                        "unknown network {:?} (networks: {})",
                        p.get_ref(),
                        known(nets.keys())
                    ),
                );
            }
        }
    }
    let mut order: Vec<NetworkSpec> = Vec::new();
    let mut placed: BTreeSet<String> = BTreeSet::new();
    while placed.len() < nets.len() {
        let before = placed.len();
        for (name, (spec, _)) in &nets {
            if !placed.contains(name) && (spec.parent == INTERNET || placed.contains(&spec.parent))
            {
                placed.insert(name.clone());
                order.push(spec.clone());
            }
        }
        if placed.len() == before {
            let (name, (_, at)) = nets
                .iter()
                .find(|(n, _)| !placed.contains(*n))
                .expect("some unplaced");
            let mut cycle = vec![name.clone()];
            let mut cur = nets[name].0.parent.clone();
            while !cycle.contains(&cur) {
                cycle.push(cur.clone());
                cur = nets[&cur].0.parent.clone();
            }
            cycle.push(cur);
            return cx.err(*at, format!("router cycle: {}", cycle.join(" → ")));
        }
    }

    // Hosts.
    let mut hosts: BTreeMap<String, HostSpec> = BTreeMap::new();
    let mut profiles = BTreeMap::new();
    let mut ceilings = BTreeMap::new();
    let mut config = BTreeMap::new();
    let mut hostile = BTreeMap::new();
    for h in &raw.host {
        let name = h.name.get_ref();
        let at = h.name.span().start;
        if !valid_name(name) || nets.contains_key(name) {
            return cx.err(
                at,
                format!("host name {name:?}: {NAME_RULE}, not a network's name"),
            );
        }
        let network = h
            .network
            .as_ref()
            .map_or(INTERNET.to_string(), |n| n.get_ref().clone());
        if network != INTERNET && !nets.contains_key(&network) {
            return cx.err(
                h.network.as_ref().unwrap().span().start,
                format!(
                    "unknown network {network:?} (networks: internet{})",
                    nets.keys().map(|k| format!(", {k}")).collect::<String>()
                ),
            );
        }
        let spec = HostSpec {
            name: name.clone(),
            network,
            link: link_value(&cx, h.link.as_ref())?,
        };
        if hosts.insert(name.clone(), spec).is_some() {
            return cx.err(at, format!("host {name:?} is defined twice"));
        }
        if let Some(m) = &h.hostile {
            if let Err(e) = m.get_ref().parse::<acorn_tools::hostile::Mode>() {
                return cx.err(m.span().start, e);
            }
            if !h.profiles.is_empty() || !h.config.is_empty() || h.rss_ceiling.is_some() {
                return cx.err(
                    at,
                    format!("host {name:?} is a hostile peer: no profiles, config or rss_ceiling"),
                );
            }
            hostile.insert(name.clone(), m.get_ref().clone());
        }
        profiles.insert(name.clone(), h.profiles.clone());
        let mut keys = Vec::new();
        for (k, v) in &h.config {
            keys.push((k.clone(), serde_json::to_value(v)?));
        }
        config.insert(name.clone(), keys);
        if let Some(c) = &h.rss_ceiling {
            let bytes = parse_bytes(c.get_ref()).or_else(|e| cx.err(c.span().start, e))?;
            if bytes < 1024 {
                return cx.err(c.span().start, "rss_ceiling must be at least 1KiB");
            }
            ceilings.insert(name.clone(), bytes / 1024);
        }
    }

    // Steps, checked in order against what runs and what was added.
    let base = path.parent().unwrap_or(Path::new("."));
    let mut running: BTreeSet<String> = BTreeSet::new();
    let mut contents: BTreeSet<String> = BTreeSet::new();
    let mut pending: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut steps = Vec::new();
    for (i, s) in raw.step.iter().enumerate() {
        let at = s.span().start;
        let r = s.get_ref();
        let host = |need_running: bool| -> anyhow::Result<String> {
            let h = r.host.as_ref().map_or_else(
                || cx.err(at, format!("step {:?} needs `host`", r.verb.get_ref())),
                Ok,
            )?;
            let name = h.get_ref();
            if !hosts.contains_key(name) {
                return cx.err(
                    h.span().start,
                    format!("unknown host {name:?} (hosts: {})", known(hosts.keys())),
                );
            }
            if need_running && !running.contains(name) {
                return cx.err(
                    h.span().start,
                    format!("host {name:?} is not running at this step (start it first)"),
                );
            }
            Ok(name.clone())
        };
        // A step that talks to a daemon (everything but start/stop/kill, the `to` of a
        // connect and expect-counter) cannot name a hostile peer as its host.
        let daemon = |h: String| -> anyhow::Result<String> {
            if hostile.contains_key(&h) {
                return cx.err(
                    at,
                    format!(
                        "host {h:?} is a hostile peer: step {:?} needs a daemon",
                        r.verb.get_ref()
                    ),
                );
            }
            Ok(h)
        };
        let need = |f: &Option<S<String>>, what: &str| -> anyhow::Result<(String, usize)> {
            f.as_ref()
                .map(|v| (v.get_ref().clone(), v.span().start))
                .map_or_else(
                    || cx.err(at, format!("step {:?} needs `{what}`", r.verb.get_ref())),
                    Ok,
                )
        };
        let link_name = || -> anyhow::Result<String> {
            let (l, lat) = need(&r.link, "link")?;
            if !hosts.contains_key(&l) && !nets.contains_key(&l) {
                return cx.err(
                    lat,
                    format!(
                        "unknown link {l:?}: a link is named after its host or network (links: {})",
                        known(hosts.keys().chain(nets.keys()))
                    ),
                );
            }
            Ok(l)
        };
        let action = match r.verb.get_ref().as_str() {
            "start" => {
                let h = host(false)?;
                if !running.insert(h.clone()) {
                    return cx.err(at, format!("host {h:?} is already running"));
                }
                Action::Start { host: h }
            }
            "stop" | "kill" => {
                let h = host(true)?;
                running.remove(&h);
                if r.verb.get_ref() == "stop" {
                    Action::Stop { host: h }
                } else {
                    Action::Kill { host: h }
                }
            }
            "add" => {
                let h = daemon(host(true)?)?;
                let (name, _) = need(&r.name, "as")?;
                let again = !contents.insert(name.clone());
                let source =
                    match (&r.size, &r.file) {
                        (None, None) if again => Source::Again,
                        _ if again => {
                            return cx.err(
                                at,
                                format!(
                                    "content {name:?} is already added: to add it on another \
                                 host, name it without `size` or `file`"
                                ),
                            )
                        }
                        (Some(size), None) => {
                            let len = parse_bytes(size.get_ref())
                                .or_else(|e| cx.err(size.span().start, e))?;
                            if len == 0 || len > MAX_GENERATED_BYTES {
                                return cx.err(size.span().start, "size must be 1 byte to 1 GiB");
                            }
                            Source::Generated {
                                len,
                                seed: seed.wrapping_add(i as u64 + 1),
                            }
                        }
                        (None, Some(f)) => {
                            let p = base.join(f.get_ref());
                            if !p.is_file() {
                                return cx.err(
                                    f.span().start,
                                    format!("file {} does not exist", p.display()),
                                );
                            }
                            Source::File(p)
                        }
                        _ => return cx.err(
                            at,
                            "step \"add\" of new content needs exactly one of `size` and `file`",
                        ),
                    };
                Action::Add {
                    host: h,
                    name,
                    source,
                }
            }
            "connect" => {
                let h = daemon(host(true)?)?;
                let (to, tat) = need(&r.to, "to")?;
                if !running.contains(&to) {
                    return cx.err(tat, format!("host {to:?} is not running at this step"));
                }
                Action::Connect { host: h, to }
            }
            "fetch" => {
                let h = daemon(host(true)?)?;
                let (content, cat) = need(&r.content, "content")?;
                if !contents.contains(&content) {
                    return cx.err(
                        cat,
                        format!("content {content:?} is not added by an earlier step"),
                    );
                }
                let sha256 = match &r.sha256 {
                    Some(s) if is_sha256_hex(s.get_ref()) => Some(s.get_ref().to_ascii_lowercase()),
                    Some(s) => return cx.err(s.span().start, "sha256 must be 64 hex digits"),
                    None => None,
                };
                let deadline = duration(&cx, required(&cx, at, "fetch", &r.deadline, "deadline")?)?;
                let background = r.background.unwrap_or(false);
                if background
                    && pending
                        .insert((h.clone(), content.clone()), cx.line(at))
                        .is_some()
                {
                    return cx.err(
                        at,
                        format!("{h} already has a background fetch of {content:?}"),
                    );
                }
                Action::Fetch {
                    host: h,
                    content,
                    sha256,
                    deadline,
                    background,
                }
            }
            "await" => {
                let h = host(false)?;
                let (content, cat) = need(&r.content, "content")?;
                if pending.remove(&(h.clone(), content.clone())).is_none() {
                    return cx.err(
                        cat,
                        format!("no background fetch of {content:?} on {h} to await"),
                    );
                }
                Action::Await { host: h, content }
            }
            "partition" => Action::Partition { link: link_name()? },
            "heal" => Action::Heal { link: link_name()? },
            "link" => {
                let link = link_name()?;
                let c = required(&cx, at, "link", &r.conditions, "conditions")?;
                Action::Link {
                    link,
                    spec: link_value(&cx, Some(c))?,
                }
            }
            "wait" => Action::Wait {
                time: duration(&cx, required(&cx, at, "wait", &r.time, "for")?)?,
            },
            "provide" | "find-providers" => {
                let h = daemon(host(true)?)?;
                let (content, cat) = need(&r.content, "content")?;
                if !contents.contains(&content) {
                    return cx.err(
                        cat,
                        format!("content {content:?} is not added by an earlier step"),
                    );
                }
                if r.verb.get_ref() == "provide" {
                    Action::Provide { host: h, content }
                } else {
                    let e = required(&cx, at, "find-providers", &r.expect, "expect")?;
                    for x in e.get_ref() {
                        if !hosts.contains_key(x) {
                            return cx
                                .err(e.span().start, format!("unknown host {x:?} in `expect`"));
                        }
                    }
                    let deadline = duration(
                        &cx,
                        required(&cx, at, "find-providers", &r.deadline, "deadline")?,
                    )?;
                    Action::FindProviders {
                        host: h,
                        content,
                        expect: e.get_ref().clone(),
                        deadline,
                    }
                }
            }
            "wait-until" => {
                let h = daemon(host(true)?)?;
                let peers = r
                    .peers
                    .map_or_else(|| cx.err(at, "step \"wait-until\" needs `peers`"), Ok)?;
                let deadline = duration(
                    &cx,
                    required(&cx, at, "wait-until", &r.deadline, "deadline")?,
                )?;
                Action::WaitUntil {
                    host: h,
                    peers,
                    deadline,
                }
            }
            "expect-dropped" => {
                let h = daemon(host(true)?)?;
                let (peer, pat) = need(&r.peer, "peer")?;
                if !hosts.contains_key(&peer) {
                    return cx.err(pat, format!("unknown host {peer:?} in `peer`"));
                }
                let deadline = duration(
                    &cx,
                    required(&cx, at, "expect-dropped", &r.deadline, "deadline")?,
                )?;
                Action::ExpectDropped {
                    host: h,
                    peer,
                    deadline,
                }
            }
            "expect-counter" => {
                let h = host(true)?;
                if !hostile.contains_key(&h) {
                    return cx.err(
                        at,
                        format!("host {h:?} is not a hostile peer: it has no counters"),
                    );
                }
                let (counter, _) = need(&r.counter, "counter")?;
                if r.min.is_none() && r.max.is_none() {
                    return cx.err(at, "step \"expect-counter\" needs `min` or `max`");
                }
                let deadline = match &r.deadline {
                    Some(d) => duration(&cx, d)?,
                    None => Duration::from_secs(3),
                };
                Action::ExpectCounter {
                    host: h,
                    counter,
                    min: r.min,
                    max: r.max,
                    deadline,
                }
            }
            other => {
                return cx.err(
                    r.verb.span().start,
                    format!("unknown step {other:?} ({})", VERBS.join(", ")),
                )
            }
        };
        steps.push(Step {
            line: cx.line(at),
            action,
        });
    }
    if let Some(((h, c), line)) = pending.into_iter().next() {
        anyhow::bail!(
            "{}:{line}: the background fetch of {c:?} on {h} is never awaited",
            path.display()
        );
    }
    Ok(Scenario {
        path: path.to_path_buf(),
        seed,
        timeout,
        topology: Topology {
            networks: order,
            hosts: hosts.into_values().collect(),
        },
        profiles,
        rss_ceiling_kib: ceilings,
        config,
        hostile,
        steps,
    })
}

/// Every `do` word.
const VERBS: &[&str] = &[
    "start",
    "stop",
    "kill",
    "add",
    "connect",
    "fetch",
    "await",
    "partition",
    "heal",
    "link",
    "wait",
    "wait-until",
    "expect-dropped",
    "expect-counter",
];

/// What [`valid_name`] takes (the names become parts of namespace names).
const NAME_RULE: &str = "use letters, digits and '-', at most 12";

fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Field `what` of step `verb` (starting at `at`), or an error naming it.
fn required<'a, T>(
    cx: &Ctx,
    at: usize,
    verb: &str,
    f: &'a Option<S<T>>,
    what: &str,
) -> anyhow::Result<&'a S<T>> {
    f.as_ref()
        .map_or_else(|| cx.err(at, format!("step {verb:?} needs `{what}`")), Ok)
}

fn valid_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 12 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

fn known<'a>(names: impl Iterator<Item = &'a String>) -> String {
    let v: Vec<&str> = names.map(String::as_str).collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

fn duration(cx: &Ctx, s: &S<String>) -> anyhow::Result<Duration> {
    parse_duration(s.get_ref()).or_else(|e| cx.err(s.span().start, e))
}

/// A link value: absent (the `lan` row), a ladder row, `key=value,…`, a table of
/// settings, or `{ down = …, up = … }`.
fn link_value(cx: &Ctx, v: Option<&S<toml::Value>>) -> anyhow::Result<LinkSpec> {
    let Some(v) = v else {
        return Ok(ladder::row("lan").expect("lan row"));
    };
    let at = v.span().start;
    let one = |v: &toml::Value| -> Result<Conditions, String> {
        match v {
            toml::Value::String(s) if !s.contains('=') => {
                ladder::row(s).map(|r| r.down).ok_or_else(|| {
                    format!(
                        "unknown link row {s:?} (rows: {})",
                        ladder::names().join(", ")
                    )
                })
            }
            toml::Value::String(s) => Conditions::parse(s).map_err(|e| e.0),
            toml::Value::Table(t) => {
                let mut c = Conditions::default();
                for (k, v) in t {
                    let v = v.as_str().ok_or_else(|| {
                        format!("link setting {k} must be a string like \"50ms\"")
                    })?;
                    c.set(k, v).map_err(|e| e.0)?;
                }
                Ok(c)
            }
            other => Err(format!(
                "bad link value {other}: a row name, \"key=value,…\" or a table"
            )),
        }
    };
    let spec = match v.get_ref() {
        toml::Value::String(s) if !s.contains('=') => ladder::row(s).ok_or_else(|| {
            format!(
                "unknown link row {s:?} (rows: {})",
                ladder::names().join(", ")
            )
        }),
        toml::Value::Table(t) if t.contains_key("down") || t.contains_key("up") => {
            let get = |k: &str| t.get(k).map_or(Ok(Conditions::default()), one);
            match t.keys().find(|k| *k != "down" && *k != "up") {
                Some(k) => Err(format!("link table with down/up cannot also have {k:?}")),
                None => get("down").and_then(|down| {
                    Ok(LinkSpec {
                        down,
                        up: get("up")?,
                    })
                }),
            }
        }
        other => one(other).map(|c| LinkSpec { down: c, up: c }),
    };
    spec.or_else(|e| cx.err(at, format!("bad link value: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> Result<Scenario, String> {
        parse(text, Path::new("s.toml")).map_err(|e| e.to_string())
    }

    const GOOD: &str = r#"
seed = 3
timeout = "60s"
[[network]]
name = "home"
nat = "symmetric"
link = { down = "dsl", up = { delay = "20ms", rate = "1mbit" } }
[[host]]
name = "a"
network = "home"
[[host]]
name = "b"
link = "delay=50ms,loss=1%,rate=10mbit"
[[step]]
do = "start"
host = "a"
[[step]]
do = "start"
host = "b"
[[step]]
do = "add"
host = "b"
as = "f"
size = "5MiB"
[[step]]
do = "connect"
host = "a"
to = "b"
[[step]]
do = "fetch"
host = "a"
content = "f"
deadline = "40s"
[[step]]
do = "link"
link = "home"
conditions = "satellite"
"#;

    #[test]
    fn a_good_scenario_reads_whole() {
        let s = check(GOOD).unwrap();
        assert_eq!(s.seed, 3);
        assert_eq!(s.timeout, Duration::from_secs(60));
        assert_eq!(s.topology.networks[0].nat, Nat::Symmetric);
        assert_eq!(
            s.topology.networks[0].link.down,
            ladder::row("dsl").unwrap().down
        );
        assert_eq!(s.topology.networks[0].link.up.rate_bps, 1_000_000);
        let b = s.topology.hosts.iter().find(|h| h.name == "b").unwrap();
        assert_eq!(b.network, INTERNET);
        assert_eq!(b.link.up.loss_ppm, 10_000);
        assert_eq!(s.steps.len(), 6);
        assert_eq!(s.steps[4].line, 29, "the step's [[step]] line");
        assert!(
            matches!(s.steps[2].action, Action::Add { source: Source::Generated { len, .. }, .. } if len == 5 << 20)
        );
    }

    #[test]
    fn errors_name_the_line() {
        // (replace, with, the error says, the line it names holds)
        let cases: &[(&str, &str, &str, &str)] = &[
            (
                "host = \"a\"\nto",
                "host = \"c\"\nto",
                "unknown host \"c\"",
                "host = \"c\"",
            ),
            (
                "to = \"b\"",
                "to = \"zz\"",
                "\"zz\" is not running",
                "to = \"zz\"",
            ),
            (
                "content = \"f\"",
                "content = \"g\"",
                "not added by an earlier step",
                "content = \"g\"",
            ),
            (
                "rate=10mbit\"",
                "rate=10mb\"",
                "bad link value: rate",
                "rate=10mb\"",
            ),
            (
                "link = \"delay=50ms",
                "link = \"dialup\" #",
                "unknown link row \"dialup\"",
                "dialup",
            ),
            (
                "size = \"5MiB\"",
                "file = \"no-such-file.bin\"",
                "does not exist",
                "no-such-file",
            ),
            (
                "conditions = \"satellite\"",
                "conditions = { delay = 5 }",
                "must be a string",
                "delay = 5",
            ),
            (
                "nat = \"symmetric\"",
                "nat = \"full-cone\"",
                "use \"eim\" or \"symmetric\"",
                "full-cone",
            ),
            (
                "deadline = \"40s\"",
                "deadline = \"40\"",
                "needs a unit",
                "deadline",
            ),
            (
                "do = \"connect\"",
                "do = \"teleport\"",
                "unknown step \"teleport\"",
                "teleport",
            ),
            (
                "seed = 3",
                "seed = 3\nspeed = 4",
                "unknown field `speed`",
                "speed",
            ),
            (
                "do = \"start\"\nhost = \"b\"",
                "do = \"start\"\nhost = \"a\"",
                "already running",
                "[[step]]",
            ),
        ];
        for (from, to, says, held) in cases {
            let text = GOOD.replacen(from, to, 1);
            assert_ne!(text, GOOD, "{from}");
            let e = check(&text).unwrap_err();
            assert!(e.contains(says), "{to}: {e}");
            let line: usize = e
                .split(':')
                .nth(1)
                .unwrap()
                .parse()
                .unwrap_or_else(|_| panic!("{e}"));
            let named = text.lines().nth(line - 1).unwrap();
            assert!(named.contains(held), "{e}: line {line} is {named:?}");
        }
    }

    #[test]
    fn background_fetches_are_awaited_once() {
        let bg = GOOD.replacen(
            "deadline = \"40s\"",
            "deadline = \"40s\"\nbackground = true",
            1,
        );
        let e = check(&bg).unwrap_err();
        assert!(
            e.contains("s.toml:29: the background fetch of \"f\" on a is never awaited"),
            "{e}"
        );
        let ok = format!("{bg}[[step]]\ndo = \"await\"\nhost = \"a\"\ncontent = \"f\"\n");
        let s = check(&ok).unwrap();
        assert!(matches!(
            s.steps[4].action,
            Action::Fetch {
                background: true,
                ..
            }
        ));
        assert!(matches!(s.steps[6].action, Action::Await { .. }));
        let twice = format!("{ok}[[step]]\ndo = \"await\"\nhost = \"a\"\ncontent = \"f\"\n");
        let e = check(&twice).unwrap_err();
        assert!(
            e.contains("no background fetch of \"f\" on a to await"),
            "{e}"
        );
    }

    #[test]
    fn dht_steps_and_host_config_are_checked() {
        let dht = GOOD.replacen(
            "[[host]]\nname = \"b\"\n",
            "[[host]]\nname = \"b\"\nconfig = { \"Routing.Type\" = \"dhtserver\", \"Swarm.ConnMgr.HighWater\" = 50 }\n",
            1,
        ) + "[[step]]\ndo = \"provide\"\nhost = \"b\"\ncontent = \"f\"\n\
             [[step]]\ndo = \"find-providers\"\nhost = \"a\"\ncontent = \"f\"\nexpect = [\"b\"]\ndeadline = \"9s\"\n";
        let s = check(&dht).unwrap();
        assert_eq!(
            s.config["b"],
            vec![
                ("Routing.Type".to_string(), serde_json::json!("dhtserver")),
                ("Swarm.ConnMgr.HighWater".to_string(), serde_json::json!(50)),
            ]
        );
        assert!(s.config["a"].is_empty());
        assert!(
            matches!(&s.steps[7].action, Action::FindProviders { expect, .. } if expect == &["b"])
        );
        let e = check(&dht.replace("expect = [\"b\"]", "expect = [\"q\"]")).unwrap_err();
        assert!(e.contains("unknown host \"q\" in `expect`"), "{e}");
        let e = check(&dht.replace("expect = [\"b\"]\n", "")).unwrap_err();
        assert!(e.contains("step \"find-providers\" needs `expect`"), "{e}");
    }

    #[test]
    fn hostile_hosts_and_expect_steps_are_checked() {
        let h = GOOD.replacen(
            "[[step]]\n",
            "[[host]]\nname = \"liar\"\nhostile = \"liar\"\n[[step]]\ndo = \"start\"\nhost = \"liar\"\n[[step]]\n",
            1,
        ) + "[[step]]\ndo = \"connect\"\nhost = \"a\"\nto = \"liar\"\n\
             [[step]]\ndo = \"expect-dropped\"\nhost = \"a\"\npeer = \"liar\"\ndeadline = \"5s\"\n\
             [[step]]\ndo = \"expect-counter\"\nhost = \"liar\"\ncounter = \"lies_sent\"\nmin = 1\n";
        let s = check(&h).unwrap();
        assert_eq!(s.hostile["liar"], "liar");
        assert!(!s.hostile.contains_key("a"));
        let n = s.steps.len();
        assert!(
            matches!(&s.steps[n - 2].action, Action::ExpectDropped { host, peer, .. } if host == "a" && peer == "liar")
        );
        assert!(matches!(
            &s.steps[n - 1].action,
            Action::ExpectCounter {
                min: Some(1),
                max: None,
                ..
            }
        ));
        let cases = [
            (
                "hostile = \"liar\"",
                "hostile = \"rude\"",
                "unknown mode \"rude\"",
            ),
            (
                "hostile = \"liar\"\n",
                "hostile = \"liar\"\nprofiles = [\"pi-zero\"]\n",
                "is a hostile peer: no profiles",
            ),
            (
                "to = \"liar\"\n",
                "to = \"liar\"\n[[step]]\ndo = \"connect\"\nhost = \"liar\"\nto = \"a\"\n",
                "host \"liar\" is a hostile peer: step \"connect\" needs a daemon",
            ),
            (
                "host = \"liar\"\ncounter",
                "host = \"a\"\ncounter",
                "host \"a\" is not a hostile peer",
            ),
            ("min = 1\n", "\n", "needs `min` or `max`"),
            (
                "peer = \"liar\"\n",
                "",
                "step \"expect-dropped\" needs `peer`",
            ),
        ];
        for (from, to, says) in cases {
            assert!(h.contains(from), "{from}");
            let e = check(&h.replacen(from, to, 1)).unwrap_err();
            assert!(e.contains(says), "{from:?} → {to:?}: {e}");
        }
    }

    #[test]
    fn a_router_cycle_is_refused_with_its_path() {
        let text = r#"
[[network]]
name = "x"
parent = "y"
[[network]]
name = "y"
parent = "x"
"#;
        let e = check(text).unwrap_err();
        assert!(e.contains("s.toml:3: router cycle: x → y → x"), "{e}");
        let e = check("[[network]]\nname = \"x\"\nparent = \"nowhere\"\n").unwrap_err();
        assert!(e.contains("s.toml:3: unknown network \"nowhere\""), "{e}");
    }
}
