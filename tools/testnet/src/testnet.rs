//! A network built from namespaces: the "internet" (a namespace that routes), home
//! networks behind NAT routers (a namespace each, with nftables masquerade), hosts
//! (a namespace each), and one emulated link between each member and the router of
//! its network.
//!
//! Addresses: in the internet the router is 198.18.0.1 and its k-th member
//! 198.18.0.(k+1) (198.18.0.0/15 is reserved for network benchmarks); in the n-th
//! home network the router's LAN side is 10.n.0.1 and its k-th member 10.n.0.(k+1).
//! Each link is point to point (a TUN device at each end): `m<k>` at the router,
//! `uplink` at a host, `wan` at a member router. Nothing routes to the machine's own
//! namespace, so traffic cannot leave the namespaces made here.
//!
//! NAT kinds: [`Nat::Eim`] is plain `masquerade`, which keeps a connection's
//! source port when it can: one mapping per local address and port whatever the
//! destination (endpoint-independent mapping). [`Nat::Symmetric`] is
//! `masquerade random`: a fresh random source port per destination. Both let in
//! only replies (a forward rule drops new connections from the WAN side).
//!
//! Cleanup: a [`Testnet`] tears everything down on drop (links, then namespaces
//! with whatever runs in them). For a run that is killed, [`Testnet::build`] first
//! starts a guard process (the `testnet guard` command, in its own process group so
//! Ctrl-C does not reach it) that holds a pipe from this process: when the pipe
//! closes, however this process ended, the guard deletes every namespace of the run
//! and its scratch directory.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};

use crate::emulator::{End, LinkProcess};
use crate::link::Conditions;
use crate::netns::{self, Netns};

/// The name of the internet network.
pub const INTERNET: &str = "internet";
/// Members one network can have (addresses .2 to .254).
pub const MAX_MEMBERS: usize = 253;
/// Home networks one testnet can have (10.1.0.0 to 10.250.0.0).
pub const MAX_NETWORKS: usize = 250;

/// How a router translates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Nat {
    /// Endpoint-independent mapping (port-preserving masquerade).
    Eim,
    /// A new random port per destination.
    Symmetric,
}

/// Conditions of one link: `down` toward the member, `up` from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct LinkSpec {
    pub down: Conditions,
    pub up: Conditions,
}

/// A home network.
#[derive(Clone, Debug)]
pub struct NetworkSpec {
    pub name: String,
    /// The network its router sits in ([`INTERNET`] or another home network).
    pub parent: String,
    pub nat: Nat,
    pub link: LinkSpec,
}

/// A host.
#[derive(Clone, Debug)]
pub struct HostSpec {
    pub name: String,
    pub network: String,
    pub link: LinkSpec,
}

/// What to build; networks come parents first (the scenario check sorts them).
#[derive(Clone, Debug, Default)]
pub struct Topology {
    pub networks: Vec<NetworkSpec>,
    pub hosts: Vec<HostSpec>,
}

/// Where a host sits.
#[derive(Clone, Debug)]
pub struct Place {
    pub netns: String,
    pub network: String,
    /// Its address in its network.
    pub addr: String,
}

/// The programs a testnet runs.
#[derive(Clone, Debug)]
pub struct Bins {
    /// `testnet-link`.
    pub link: PathBuf,
    /// `testnet` (for its `guard` command).
    pub testnet: PathBuf,
}

/// One emulated link, named after its member (a host or a home network).
pub struct Link {
    pub process: LinkProcess,
    /// The conditions it was built with (what `heal` restores).
    pub spec: LinkSpec,
}

/// A built network. Fields drop in order: links, namespaces, then the guard pipe.
pub struct Testnet {
    links: BTreeMap<String, Link>,
    namespaces: Vec<Netns>,
    places: BTreeMap<String, Place>,
    prefix: String,
    _guard: Guard,
}

struct Guard {
    child: Child,
    pipe: Option<ChildStdin>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        // Closing the pipe tells the guard the run ended; it deletes what is left
        // (nothing, after a clean drop) and exits.
        self.pipe.take();
        let _ = self.child.wait();
    }
}

/// The `testnet guard PREFIX DIR` command: waits for stdin to close, then deletes
/// every namespace named `PREFIX…` and the directory `DIR`.
pub fn guard_main(prefix: &str, dir: Option<&Path>) -> anyhow::Result<()> {
    anyhow::ensure!(
        prefix.starts_with(netns::PREFIX) && prefix.len() > netns::PREFIX.len(),
        "guard: {prefix:?} is not a run prefix"
    );
    let mut sink = [0u8; 64];
    let mut stdin = std::io::stdin();
    while !matches!(stdin.read(&mut sink), Ok(0) | Err(_)) {}
    netns::destroy_prefix(prefix);
    if let Some(d) = dir {
        let _ = std::fs::remove_dir_all(d);
    }
    Ok(())
}

fn addr(network_index: usize, member: usize) -> String {
    if network_index == 0 {
        format!("198.18.0.{}", member + 1)
    } else {
        format!("10.{network_index}.0.{}", member + 1)
    }
}

impl Testnet {
    /// Builds `topo` under a fresh run prefix, after removing what killed runs
    /// left. `scratch` is removed by the guard if this process dies.
    pub fn build(
        topo: &Topology,
        bins: &Bins,
        seed: u64,
        scratch: Option<&Path>,
    ) -> anyhow::Result<Testnet> {
        netns::require(!topo.networks.is_empty())?;
        netns::remove_stale();
        anyhow::ensure!(
            topo.networks.len() <= MAX_NETWORKS,
            "at most {MAX_NETWORKS} networks"
        );
        let prefix = netns::run_prefix();
        let mut guard_cmd = Command::new(&bins.testnet);
        guard_cmd.arg("guard").arg(&prefix);
        if let Some(d) = scratch {
            guard_cmd.arg(d);
        }
        let mut child = guard_cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(|e| anyhow::anyhow!("{}: {e}", bins.testnet.display()))?;
        let pipe = child.stdin.take();
        let mut net = Testnet {
            links: BTreeMap::new(),
            namespaces: Vec::new(),
            places: BTreeMap::new(),
            prefix: prefix.clone(),
            _guard: Guard { child, pipe },
        };
        // network name → (index, namespace name, members so far)
        let mut nets: BTreeMap<String, (usize, String, usize)> = BTreeMap::new();
        let inet = net.namespace(&format!("{prefix}-{INTERNET}"))?;
        inet.sysctl("net.ipv4.ip_forward", "1")?;
        nets.insert(INTERNET.into(), (0, inet.name().to_string(), 0));
        net.namespaces.push(inet);
        let mut link_seed = seed;
        for (i, n) in topo.networks.iter().enumerate() {
            let ns = net.namespace(&format!("{prefix}-r-{}", n.name))?;
            ns.sysctl("net.ipv4.ip_forward", "1")?;
            let name = ns.name().to_string();
            net.namespaces.push(ns);
            link_seed = link_seed.wrapping_add(1);
            net.attach(
                bins, &mut nets, &n.parent, &n.name, &name, "wan", n.link, link_seed,
            )?;
            nat(&name, n.nat)?;
            nets.insert(n.name.clone(), (i + 1, name, 0));
        }
        for h in &topo.hosts {
            let ns = net.namespace(&format!("{prefix}-h-{}", h.name))?;
            let name = ns.name().to_string();
            net.namespaces.push(ns);
            link_seed = link_seed.wrapping_add(1);
            let a = net.attach(
                bins, &mut nets, &h.network, &h.name, &name, "uplink", h.link, link_seed,
            )?;
            net.places.insert(
                h.name.clone(),
                Place {
                    netns: name,
                    network: h.network.clone(),
                    addr: a,
                },
            );
        }
        Ok(net)
    }

    fn namespace(&self, name: &str) -> anyhow::Result<Netns> {
        Netns::create(name)
    }

    /// Joins namespace `member_ns` to network `network` by a link named `member`;
    /// returns the member's address.
    #[allow(clippy::too_many_arguments)]
    fn attach(
        &mut self,
        bins: &Bins,
        nets: &mut BTreeMap<String, (usize, String, usize)>,
        network: &str,
        member: &str,
        member_ns: &str,
        member_dev: &str,
        spec: LinkSpec,
        seed: u64,
    ) -> anyhow::Result<String> {
        let (index, router_ns, count) = nets
            .get_mut(network)
            .ok_or_else(|| anyhow::anyhow!("network {network:?} is not built yet"))?;
        *count += 1;
        anyhow::ensure!(
            *count <= MAX_MEMBERS,
            "network {network}: over {MAX_MEMBERS} members"
        );
        let k = *count;
        let router_dev = format!("m{k}");
        let (gw, me) = (addr(*index, 0), addr(*index, k));
        let router_ns = router_ns.clone();
        let process = LinkProcess::spawn(
            &bins.link,
            &End {
                netns: router_ns.clone(),
                dev: router_dev.clone(),
            },
            &End {
                netns: member_ns.into(),
                dev: member_dev.into(),
            },
            seed,
            spec.down,
            spec.up,
        )?;
        self.links.insert(member.into(), Link { process, spec });
        netns::ip(&[
            "-n",
            &router_ns,
            "addr",
            "add",
            &gw,
            "peer",
            &me,
            "dev",
            &router_dev,
        ])?;
        netns::ip(&["-n", &router_ns, "link", "set", "dev", &router_dev, "up"])?;
        netns::ip(&[
            "-n", member_ns, "addr", "add", &me, "peer", &gw, "dev", member_dev,
        ])?;
        netns::ip(&["-n", member_ns, "link", "set", "dev", member_dev, "up"])?;
        netns::ip(&[
            "-n", member_ns, "route", "add", "default", "via", &gw, "dev", member_dev,
        ])?;
        Ok(me)
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Where host `name` sits.
    pub fn place(&self, host: &str) -> anyhow::Result<&Place> {
        self.places
            .get(host)
            .ok_or_else(|| anyhow::anyhow!("no host {host:?}"))
    }

    /// The address host `to` is dialled at from host `from`: its own address when
    /// both share a network or `to` is in the internet; a host behind a NAT
    /// cannot be dialled from outside it.
    pub fn dial_addr(&self, from: &str, to: &str) -> anyhow::Result<String> {
        let (f, t) = (self.place(from)?, self.place(to)?);
        anyhow::ensure!(
            t.network == INTERNET || t.network == f.network,
            "{to} is behind the NAT of network {} and cannot be dialled from {from}",
            t.network
        );
        Ok(t.addr.clone())
    }

    /// Every link's name.
    pub fn link_names(&self) -> Vec<String> {
        self.links.keys().cloned().collect()
    }

    /// The link named after `member`.
    pub fn link(&mut self, member: &str) -> anyhow::Result<&mut Link> {
        self.links
            .get_mut(member)
            .ok_or_else(|| anyhow::anyhow!("no link {member:?}"))
    }

    /// Runs `f` in host `host`'s namespace (sockets it opens stay there).
    pub fn run_in<R: Send + 'static>(
        &self,
        host: &str,
        f: impl FnOnce() -> anyhow::Result<R> + Send + 'static,
    ) -> anyhow::Result<R> {
        netns::enter_and_run(&self.place(host)?.netns, f)
    }
}

/// nftables rules of a NAT router whose uplink is `wan`.
fn nat(router_ns: &str, kind: Nat) -> anyhow::Result<()> {
    let how = match kind {
        Nat::Eim => "masquerade",
        Nat::Symmetric => "masquerade random",
    };
    let rules = format!(
        "table ip nat {{\n\
         \x20 chain out_wan {{ type nat hook postrouting priority srcnat; policy accept; oifname \"wan\" {how}; }}\n\
         }}\n\
         table ip filter {{\n\
         \x20 chain from_wan {{ type filter hook forward priority filter; policy accept; iifname \"wan\" ct state new drop; }}\n\
         }}\n"
    );
    let mut child = Command::new("ip")
        .args(["netns", "exec", router_ns, "nft", "-f", "-"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    {
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("piped")
            .write_all(rules.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    anyhow::ensure!(
        out.status.success(),
        "nft in {router_ns}: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(())
}
