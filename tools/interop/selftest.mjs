#!/usr/bin/env node
// selftest.mjs — proves helia-peer.mjs works Helia↔Helia before Acorn is involved.
//
// Two helia-peer processes on loopback: A adds a 3 MiB random file as CIDv0 (dag-pb leaves)
// and as CIDv1 (raw leaves); B dials A and cats both over bitswap; the sha256 of what B
// wrote equals the file's. A's CIDs are also checked against unixfs-cid.mjs (the importer
// oracle held to Kubo by tests/interop/helia_parity.rs), and the error paths answer without killing
// the process. Run: `node tools/interop/selftest.mjs` (after `npm ci --prefix tools/interop`).

import { spawn, execFileSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { fileURLToPath } from 'node:url'

const HERE = dirname(fileURLToPath(import.meta.url))
const FILE_BYTES = 3 * 1024 * 1024
const READY_TIMEOUT_MS = 30_000
const REPLY_TIMEOUT_MS = 60_000

/** One helia-peer.mjs child, driven by JSON lines. */
class Peer {
  static async start (name) {
    const p = new Peer(name)
    p.ready = await p.next(READY_TIMEOUT_MS)
    assert.equal(p.ready.event, 'ready', `${name}: first line is the ready event`)
    return p
  }

  constructor (name) {
    this.name = name
    this.nextId = 1
    this.waiting = new Map()
    this.lines = []
    this.lineWaiter = null
    this.child = spawn(process.execPath, [join(HERE, 'helia-peer.mjs')], { stdio: ['pipe', 'pipe', 'inherit'] })
    createInterface({ input: this.child.stdout }).on('line', (line) => {
      const msg = JSON.parse(line)
      const w = msg.id !== undefined ? this.waiting.get(msg.id) : undefined
      if (w != null) {
        this.waiting.delete(msg.id)
        w(msg)
      } else if (this.lineWaiter != null) {
        const lw = this.lineWaiter
        this.lineWaiter = null
        lw(msg)
      } else {
        this.lines.push(msg)
      }
    })
  }

  /** Next line that is no reply to an id'd command. */
  next (ms) {
    if (this.lines.length > 0) return Promise.resolve(this.lines.shift())
    return withTimeout(new Promise((resolve) => { this.lineWaiter = resolve }), ms, `${this.name}: no line`)
  }

  request (cmd, ms = REPLY_TIMEOUT_MS) {
    const id = this.nextId++
    const reply = new Promise((resolve) => this.waiting.set(id, resolve))
    this.child.stdin.write(JSON.stringify({ ...cmd, id }) + '\n')
    return withTimeout(reply, ms, `${this.name}: no reply to ${cmd.cmd}`)
  }

  async ok (cmd) {
    const r = await this.request(cmd)
    assert.equal(r.error, undefined, `${this.name} ${cmd.cmd}: ${r.error}`)
    return r
  }

  async stop () {
    if (this.child.exitCode != null) return
    const exited = new Promise((resolve) => this.child.once('exit', resolve))
    this.child.stdin.write('{"cmd":"stop"}\n')
    this.child.stdin.end()
    await withTimeout(exited, 10_000, `${this.name}: did not exit`).catch(() => this.child.kill('SIGKILL'))
  }
}

function withTimeout (promise, ms, what) {
  let timer
  return Promise.race([
    promise,
    new Promise((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms) })
  ]).finally(() => clearTimeout(timer))
}

const sha256 = (buf) => createHash('sha256').update(buf).digest('hex')

let dir, file, a, b
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'helia-selftest-'))
  file = join(dir, 'random.bin')
  writeFileSync(file, randomBytes(FILE_BYTES))
  ;[a, b] = await Promise.all([Peer.start('A'), Peer.start('B')])
})

after(async () => {
  await Promise.all([a?.stop(), b?.stop()])
  if (dir != null) rmSync(dir, { recursive: true, force: true })
})

test('ready line names a loopback TCP address with the peer id', () => {
  for (const p of [a, b]) {
    assert.match(p.ready.peerId, /^12D3Koo/)
    assert.equal(p.ready.addrs.length, 1, JSON.stringify(p.ready.addrs))
    assert.match(p.ready.addrs[0], new RegExp(`^/ip4/127\\.0\\.0\\.1/tcp/\\d+/p2p/${p.ready.peerId}$`))
  }
})

test('B fetches A\'s CIDv0 and CIDv1 files over bitswap, bytes equal', async () => {
  const want = sha256(readFileSync(file))
  const v0 = await a.ok({ cmd: 'addFile', path: file, cidVersion: 0, rawLeaves: false })
  const v1 = await a.ok({ cmd: 'addFile', path: file, cidVersion: 1, rawLeaves: true })
  assert.equal(v0.bytes, FILE_BYTES)
  assert.match(v0.cid, /^Qm/)
  assert.match(v1.cid, /^bafy/)
  const oracle = (args) => execFileSync(process.execPath, [join(HERE, 'unixfs-cid.mjs'), ...args, file]).toString().trim()
  assert.equal(v0.cid, oracle([]), 'CIDv0 equals the Kubo-parity oracle')
  assert.equal(v1.cid, oracle(['--cid-version', '1']), 'CIDv1 equals the Kubo-parity oracle')

  // Before dialing, B has no peers and cannot find the content: cat times out cleanly.
  const miss = await b.request({ cmd: 'cat', cid: v0.cid, out: join(dir, 'miss'), timeoutMs: 500 })
  assert.ok(miss.error, 'cat without peers fails')

  const dialed = await b.ok({ cmd: 'dial', addr: a.ready.addrs[0] })
  assert.equal(dialed.peer, a.ready.peerId)
  assert.ok(dialed.protocols.includes('/ipfs/bitswap/1.2.0'), JSON.stringify(dialed.protocols))
  const peers = await b.ok({ cmd: 'peers' })
  assert.deepEqual(peers.peers.map((p) => p.peer), [a.ready.peerId])

  for (const cid of [v0.cid, v1.cid]) {
    const out = join(dir, `out-${cid}`)
    const got = await b.ok({ cmd: 'cat', cid, out, timeoutMs: 30_000 })
    assert.equal(got.bytes, FILE_BYTES)
    assert.equal(got.sha256, want)
    assert.equal(sha256(readFileSync(out)), want, `bytes written for ${cid}`)
  }
})

test('bad commands get error replies and the peer stays up', async () => {
  for (const cmd of [
    { cmd: 'nope' },
    { cmd: 'cat', cid: 'not-a-cid', out: join(dir, 'x') },
    { cmd: 'addFile', path: join(dir, 'missing') },
    { cmd: 'addFile', path: file, cidVersion: 0, rawLeaves: true },
    { cmd: 'dial', addr: '/ip4/127.0.0.1/tcp/1' },
    { cmd: 'dial', addr: 'garbage' }
  ]) {
    const r = await a.request(cmd)
    assert.equal(typeof r.error, 'string', `${JSON.stringify(cmd)} → ${JSON.stringify(r)}`)
  }
  a.child.stdin.write('not json\n')
  assert.match((await a.next(5_000)).error, /bad command/)
  assert.ok(Array.isArray((await a.ok({ cmd: 'peers' })).peers))
})
