#!/usr/bin/env node
// helia-peer.mjs — a long-running Helia 5 node (js-libp2p 2, bitswap) driven over
// stdin/stdout with newline-delimited JSON, so Acorn's tests can use it as a real peer.
//
// Stack: TCP + noise + yamux + identify (js-libp2p 2.10), bitswap 1.2.0 (@helia/block-brokers
// 4.2), UnixFS cat (@helia/unixfs 5.1), in-memory blockstore and datastore. The node listens
// on 127.0.0.1 only and never reaches out by itself: no bootstrap list, no DHT, no mDNS, no
// routers (so no provider lookups), no autodial. It talks to the peers the test dials, and
// to peers that dial it.
//
// Usage: node helia-peer.mjs [--listen MULTIADDR] [--key-type TYPE]
//   --listen    default /ip4/127.0.0.1/tcp/0
//   --key-type  the node's identity key: Ed25519 (default) or secp256k1, made fresh by
//               @libp2p/crypto (RSA and ECDSA keys fail in this pinned tree:
//               @libp2p/peer-id refuses them with "Unsupported key type")
//
// Protocol: one JSON object per line on stdin; one JSON object per line on stdout.
//   on start  → {"event":"ready","peerId":"12D3…","addrs":["/ip4/127.0.0.1/tcp/PORT/p2p/12D3…"]}
//   {"cmd":"dial","addr":"<multiaddr with /p2p/ID>","timeoutMs"?:N}
//             → {"ok":true,"peer":ID,"identified":bool,"agentVersion":S|null,"protocols":[…]}
//             (waits for identify up to IDENTIFY_WAIT_MS so bitswap knows the peer speaks it)
//   {"cmd":"addFile","path":P,"cidVersion"?:0|1,"rawLeaves"?:bool}
//             → {"cid":…,"bytes":N}
//             Kubo's `ipfs add` options, the same as unixfs-cid.mjs: fixed 262144-byte chunks,
//             balanced layout with 174 links; rawLeaves defaults to cidVersion === 1.
//   {"cmd":"cat","cid":C,"out":P,"timeoutMs"?:N}
//             → {"ok":true,"bytes":N,"sha256":HEX}   (fetches missing blocks over bitswap from
//             connected peers; writes the file's bytes to P; default timeout CAT_TIMEOUT_MS)
//   {"cmd":"peers"} → {"peers":[{"peer":ID,"addr":MULTIADDR}, …]}  (one entry per connection)
//   {"cmd":"stop"}  → {"ok":true}, then the node stops and the process exits 0.
// Every reply carries the command's "id" when one was given. A failing command replies
// {"error":"…"} and the process goes on. Commands run concurrently; match replies by id.
// Closing stdin stops the node too (the driving test died or finished).
// Diagnostics go to stderr (set DEBUG=libp2p:*,helia:* for js-libp2p's own logs).
//
// Limits: the blockstore is in memory (whole DAGs stay in RAM until exit); input lines
// longer than MAX_LINE_BYTES are refused.

import './polyfill.mjs'

import { createHash } from 'node:crypto'
import { createReadStream, createWriteStream } from 'node:fs'
import { once, setMaxListeners } from 'node:events'
import { createInterface } from 'node:readline'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { bitswap } from '@helia/block-brokers'
import { unixfs } from '@helia/unixfs'
import { Helia } from '@helia/utils'
import { identify } from '@libp2p/identify'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { MemoryBlockstore } from 'blockstore-core'
import { MemoryDatastore } from 'datastore-core'
import { importer } from 'ipfs-unixfs-importer'
import { fixedSize } from 'ipfs-unixfs-importer/chunker'
import { balanced } from 'ipfs-unixfs-importer/layout'
import { createLibp2p } from 'libp2p'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { CID } from 'multiformats/cid'

/** Kubo's default chunk size. */
const KUBO_CHUNK_BYTES = 262144
/** Kubo's maximum links per file node (balanced layout). */
const KUBO_MAX_LINKS = 174
/** Default time a `cat` may take before it fails (overridden per command by timeoutMs). */
const CAT_TIMEOUT_MS = 60_000
/** Default time a `dial` may take (overridden per command by timeoutMs). */
const DIAL_TIMEOUT_MS = 10_000
/** How long `dial` waits for the peer's identify after connecting. */
const IDENTIFY_WAIT_MS = 5_000
/** Longest command line accepted on stdin. */
const MAX_LINE_BYTES = 64 * 1024

function log (...args) {
  process.stderr.write(`helia-peer: ${args.join(' ')}\n`)
}

function send (obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

const KEY_TYPES = ['Ed25519', 'secp256k1']

function parseArgs (argv) {
  const opts = { listen: '/ip4/127.0.0.1/tcp/0', keyType: 'Ed25519' }
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--listen' && i + 1 < argv.length) {
      opts.listen = argv[++i]
    } else if (argv[i] === '--key-type' && i + 1 < argv.length && KEY_TYPES.includes(argv[i + 1])) {
      opts.keyType = argv[++i]
    } else {
      throw new Error(`unknown argument ${argv[i]} (usage: helia-peer.mjs [--listen MULTIADDR] [--key-type ${KEY_TYPES.join('|')}])`)
    }
  }
  return opts
}

async function startNode (opts) {
  const libp2p = await createLibp2p({
    start: false,
    privateKey: await generateKeyPair(opts.keyType),
    addresses: { listen: [opts.listen] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    peerDiscovery: [],
    services: { identify: identify() }
  })
  const helia = new Helia({
    libp2p,
    blockstore: new MemoryBlockstore(),
    datastore: new MemoryDatastore(),
    blockBrokers: [bitswap()],
    routers: []
  })
  await helia.start()
  return helia
}

function timeoutOf (cmd, fallback) {
  if (cmd.timeoutMs == null) return fallback
  const t = Number(cmd.timeoutMs)
  if (!Number.isFinite(t) || t <= 0) throw new Error(`bad timeoutMs ${cmd.timeoutMs}`)
  return t
}

/** An abort signal that fires after `ms`; one per command, shared by every block it fetches. */
function timeoutSignal (ms) {
  const signal = AbortSignal.timeout(ms)
  // A cat listens once per block in flight: not a leak, so no MaxListeners warning.
  setMaxListeners(Infinity, signal)
  return signal
}

function requireString (cmd, field) {
  const v = cmd[field]
  if (typeof v !== 'string' || v === '') throw new Error(`"${field}" must be a non-empty string`)
  return v
}

/** Wait until `peer` has been identified, at most `ms`; true when it was. */
async function waitIdentified (libp2p, peer, ms) {
  const known = async () => {
    try {
      const p = await libp2p.peerStore.get(peer)
      return p.protocols.length > 0
    } catch {
      return false
    }
  }
  if (await known()) return true
  return await new Promise((resolve) => {
    const onIdentify = (evt) => {
      if (evt.detail.peerId.equals(peer)) done(true)
    }
    const timer = setTimeout(() => done(false), ms)
    function done (v) {
      clearTimeout(timer)
      libp2p.removeEventListener('peer:identify', onIdentify)
      resolve(v)
    }
    libp2p.addEventListener('peer:identify', onIdentify)
    // Identify may have finished between the first check and the listener.
    known().then((k) => { if (k) done(true) }, () => {})
  })
}

/** The agent version identify reported for `peer` (js-libp2p keeps it in the peer
 * store's metadata as `AgentVersion`), or null when unknown. */
async function agentOf (libp2p, peer) {
  try {
    const raw = (await libp2p.peerStore.get(peer)).metadata.get('AgentVersion')
    return raw == null ? null : new TextDecoder().decode(raw)
  } catch {
    return null
  }
}

async function protocolsOf (libp2p, peer) {
  try {
    return (await libp2p.peerStore.get(peer)).protocols
  } catch {
    return []
  }
}

const commands = {
  async dial (helia, cmd) {
    const addr = multiaddr(requireString(cmd, 'addr'))
    if (addr.getPeerId() == null) throw new Error('dial address needs a /p2p/<peer id> part')
    const signal = timeoutSignal(timeoutOf(cmd, DIAL_TIMEOUT_MS))
    const conn = await helia.libp2p.dial(addr, { signal })
    const peer = conn.remotePeer
    const identified = await waitIdentified(helia.libp2p, peer, IDENTIFY_WAIT_MS)
    return {
      ok: true,
      peer: peer.toString(),
      identified,
      agentVersion: await agentOf(helia.libp2p, peer),
      protocols: await protocolsOf(helia.libp2p, peer)
    }
  },

  async addFile (helia, cmd) {
    const path = requireString(cmd, 'path')
    const cidVersion = cmd.cidVersion ?? 0
    if (cidVersion !== 0 && cidVersion !== 1) throw new Error(`bad cidVersion ${cmd.cidVersion}`)
    const rawLeaves = cmd.rawLeaves ?? cidVersion === 1
    if (typeof rawLeaves !== 'boolean') throw new Error(`bad rawLeaves ${cmd.rawLeaves}`)
    if (cidVersion === 0 && rawLeaves) throw new Error('CIDv0 cannot have raw leaves')
    let bytes = 0
    async function * content () {
      for await (const chunk of createReadStream(path)) {
        bytes += chunk.length
        yield chunk
      }
    }
    const options = {
      cidVersion,
      rawLeaves,
      chunker: fixedSize({ chunkSize: KUBO_CHUNK_BYTES }),
      layout: balanced({ maxChildrenPerNode: KUBO_MAX_LINKS }),
      reduceSingleLeafToSelf: true,
      leafType: 'file',
      fieldOrder: 'links-first'
    }
    let last
    for await (const entry of importer([{ content: content() }], helia.blockstore, options)) {
      last = entry
    }
    if (last == null) throw new Error(`nothing imported from ${path}`)
    return { cid: last.cid.toString(), bytes }
  },

  async cat (helia, cmd) {
    const cid = CID.parse(requireString(cmd, 'cid'))
    const out = requireString(cmd, 'out')
    const signal = timeoutSignal(timeoutOf(cmd, CAT_TIMEOUT_MS))
    const fs = unixfs(helia)
    const file = createWriteStream(out)
    const hash = createHash('sha256')
    let bytes = 0
    try {
      for await (const chunk of fs.cat(cid, { signal })) {
        bytes += chunk.length
        hash.update(chunk)
        if (!file.write(chunk)) await once(file, 'drain')
      }
    } finally {
      file.end()
      await once(file, 'close').catch(() => {})
    }
    return { ok: true, bytes, sha256: hash.digest('hex') }
  },

  async peers (helia) {
    const peers = helia.libp2p.getConnections().map((c) => ({
      peer: c.remotePeer.toString(),
      addr: c.remoteAddr.toString()
    }))
    return { peers }
  }
}

async function main () {
  const opts = parseArgs(process.argv.slice(2))

  // Never crash on a stray rejection from the network stack: log it and go on.
  process.on('unhandledRejection', (err) => log('unhandled rejection:', err?.stack ?? err))
  process.on('uncaughtException', (err) => log('uncaught exception:', err?.stack ?? err))

  const helia = await startNode(opts)
  const peerId = helia.libp2p.peerId.toString()
  send({
    event: 'ready',
    peerId,
    addrs: helia.libp2p.getMultiaddrs().map((a) => a.toString())
  })

  let stopping = false
  async function shutdown (code) {
    if (stopping) return
    stopping = true
    try {
      await helia.stop()
    } catch (err) {
      log('stop failed:', err?.stack ?? err)
    }
    process.exit(code)
  }

  const rl = createInterface({ input: process.stdin, crlfDelay: Infinity })
  rl.on('line', (line) => {
    if (line.trim() === '') return
    let cmd
    try {
      if (line.length > MAX_LINE_BYTES) throw new Error(`command line over ${MAX_LINE_BYTES} bytes`)
      cmd = JSON.parse(line)
      if (cmd == null || typeof cmd !== 'object' || Array.isArray(cmd)) throw new Error('command must be a JSON object')
    } catch (err) {
      send({ error: `bad command: ${err.message}` })
      return
    }
    const withId = (obj) => (cmd.id !== undefined ? { id: cmd.id, ...obj } : obj)
    if (cmd.cmd === 'stop') {
      send(withId({ ok: true }))
      shutdown(0)
      return
    }
    const handler = Object.hasOwn(commands, cmd.cmd) ? commands[cmd.cmd] : undefined
    if (handler == null) {
      send(withId({ error: `unknown cmd ${JSON.stringify(cmd.cmd)}` }))
      return
    }
    handler(helia, cmd).then(
      (reply) => send(withId(reply)),
      (err) => send(withId({ error: `${cmd.cmd}: ${err?.message ?? err}` }))
    )
  })
  rl.on('close', () => shutdown(0))
}

main().catch((err) => {
  log('failed to start:', err?.stack ?? err)
  process.exit(1)
})
