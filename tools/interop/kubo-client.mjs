// Drives an Acorn daemon with the published npm `kubo-rpc-client` (pinned in
// package-lock.json), as an application would: every call goes through the
// library's own request encoding and response parsing, so a field name or shape
// that differs from Kubo's fails here.
//
//   node tools/interop/kubo-client.mjs http://127.0.0.1:5001 <seed>
//
// Runs the steps below in order, checks each result, and prints one JSON object
// on stdout with the values the Rust side cross-checks against the CLI
// (tests/interop/kubo_rpc_client.rs). Exits 1 with the failing step on stderr.
import { create } from 'kubo-rpc-client'
import { CID } from 'multiformats/cid'

const [url, seedArg] = process.argv.slice(2)
if (url === undefined) {
  console.error('usage: kubo-client.mjs <api-url> [seed]')
  process.exit(2)
}
const seed = Number(seedArg ?? '1')
const ipfs = create({ url })
const out = {}

function check (cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`)
}

/** Deterministic bytes, so the Rust side can recompute the CID offline. */
function payload (len, s) {
  const b = new Uint8Array(len)
  // 32-bit LCG in exact integer arithmetic (Math.imul), mirrored in the Rust test.
  let x = Math.imul(s, 2654435761 | 0) >>> 0
  for (let i = 0; i < len; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0
    b[i] = x >>> 24
  }
  return b
}

async function collect (iter) {
  const parts = []
  for await (const p of iter) parts.push(p)
  return parts
}

function concat (chunks) {
  const len = chunks.reduce((n, c) => n + c.length, 0)
  const all = new Uint8Array(len)
  let off = 0
  for (const c of chunks) {
    all.set(c, off)
    off += c.length
  }
  return all
}

function equal (a, b) {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

const steps = {
  async id () {
    const id = await ipfs.id()
    check(typeof id.id?.toString() === 'string' && id.id.toString().length > 40, 'id.id is a peer id')
    check(typeof id.agentVersion === 'string' && id.agentVersion.startsWith('acorn/'), `agentVersion ${id.agentVersion}`)
    check(Array.isArray(id.protocols), 'protocols is a list')
    out.id = id.id.toString()
  },
  async version () {
    const v = await ipfs.version()
    check(typeof v.version === 'string' && v.version.length > 0, 'version.version')
    out.version = v.version
  },
  async add () {
    const data = payload(600 * 1024, seed)
    const r = await ipfs.add(data, { pin: false })
    check(r.size > data.length, `add size ${r.size} counts the DAG`)
    out.add = r.cid.toString()
    const v1 = await ipfs.add(payload(1000, seed + 1), { cidVersion: 1, rawLeaves: true, pin: false })
    check(v1.cid.version === 1, 'cidVersion 1')
    out.addV1 = v1.cid.toString()
  },
  async cat () {
    const got = concat(await collect(ipfs.cat(out.add)))
    check(equal(got, payload(600 * 1024, seed)), `cat returns the added ${got.length} bytes`)
    const part = concat(await collect(ipfs.cat(out.add, { offset: 1000, length: 10 })))
    check(equal(part, payload(600 * 1024, seed).subarray(1000, 1010)), 'cat offset/length')
  },
  async ls () {
    const dir = await collect(ipfs.addAll([
      { path: 'd/a.txt', content: new TextEncoder().encode('alpha\n') },
      { path: 'd/b.bin', content: payload(300 * 1024, seed + 2) }
    ], { pin: false }))
    const root = dir.find(e => e.path === 'd')
    check(root !== undefined, 'addAll returns the directory')
    out.dir = root.cid.toString()
    const entries = await collect(ipfs.ls(root.cid))
    const names = entries.map(e => e.name).sort()
    check(JSON.stringify(names) === JSON.stringify(['a.txt', 'b.bin']), `ls names ${names}`)
    const b = entries.find(e => e.name === 'b.bin')
    check(b.type === 'file' && b.size === 300 * 1024, `ls b.bin type/size ${b.type} ${b.size}`)
  },
  async pins () {
    const pinned = await ipfs.pin.add(CID.parse(out.add))
    check(pinned.toString() === out.add, 'pin.add returns the cid')
    const ls = await collect(ipfs.pin.ls({ paths: [CID.parse(out.add)] }))
    check(ls.length === 1 && ls[0].type === 'recursive', `pin.ls type ${ls[0]?.type}`)
    const all = await collect(ipfs.pin.ls({ type: 'recursive' }))
    check(all.some(p => p.cid.toString() === out.add), 'pin.ls lists the pin')
    const removed = await ipfs.pin.rm(CID.parse(out.add))
    check(removed.toString() === out.add, 'pin.rm returns the cid')
    const after = await collect(ipfs.pin.ls({ type: 'recursive' }))
    check(!after.some(p => p.cid.toString() === out.add), 'pin gone after rm')
  },
  async block () {
    const bytes = new TextEncoder().encode(`acorn block ${seed}\n`)
    const cid = await ipfs.block.put(bytes, { pin: true })
    out.block = cid.toString()
    const got = await ipfs.block.get(cid)
    check(equal(got, bytes), 'block.get returns the bytes')
    const st = await ipfs.block.stat(cid)
    check(st.size === bytes.length && st.cid.toString() === out.block, 'block.stat')
    const cbor = await ipfs.block.put(new Uint8Array([0xa1, 0x61, 0x61, 0x01]), { format: 'dag-cbor' })
    check(cbor.code === 0x71, `block.put dag-cbor codec ${cbor.code}`)
  },
  async dag () {
    const link = CID.parse(out.block)
    const cid = await ipfs.dag.put({ hello: 'world', n: seed, link }, { storeCodec: 'dag-cbor', hashAlg: 'sha2-256', pin: true })
    check(cid.code === 0x71, 'dag.put stores dag-cbor')
    out.dag = cid.toString()
    const got = await ipfs.dag.get(cid)
    check(got.value.hello === 'world' && got.value.n === seed, 'dag.get value')
    check(got.value.link.toString() === out.block, 'dag.get keeps the link')
    const path = await ipfs.dag.get(cid, { path: '/hello' })
    check(path.value === 'world', `dag.get path ${JSON.stringify(path.value)}`)
  },
  async repo () {
    const st = await ipfs.repo.stat()
    check(Number(st.numObjects) > 0 && Number(st.repoSize) > 0, 'repo.stat counts')
    const garbage = await ipfs.add(payload(5000, seed + 3), { pin: false })
    const gc = await collect(ipfs.repo.gc())
    check(gc.every(r => r.err === undefined || r.err === null), 'gc without errors')
    // The blockstore is keyed by multihash: like Kubo, GC names removed blocks as
    // CIDv1 raw, so compare multihashes.
    const mh = garbage.cid.multihash.bytes.join(',')
    check(gc.some(r => r.cid?.multihash.bytes.join(',') === mh), 'gc removed the unpinned add')
    out.gcRemoved = gc.length
  },
  async swarm () {
    const peers = await ipfs.swarm.peers()
    check(Array.isArray(peers), 'swarm.peers is a list')
    out.peers = peers.length
  },
  async stats () {
    const bw = await collect(ipfs.stats.bw())
    check(bw.length >= 1 && typeof bw[0].totalIn === 'bigint', 'stats.bw totals')
  },
  async config () {
    const api = await ipfs.config.get('Addresses.API')
    check(typeof api === 'string' && api.startsWith('/ip4/127.0.0.1/tcp/'), `config.get ${api}`)
    await ipfs.config.set('Reprovider.Interval', '13h')
    const iv = await ipfs.config.get('Reprovider.Interval')
    check(iv === '13h', `config.set then get: ${iv}`)
    const all = await ipfs.config.getAll()
    check(all.Addresses?.API === api, 'config.getAll')
  }
}

for (const [name, step] of Object.entries(steps)) {
  try {
    await step()
  } catch (e) {
    console.error(`step ${name}: ${e?.stack ?? e}`)
    process.exit(1)
  }
}
console.log(JSON.stringify(out))
