#!/usr/bin/env node
// unixfs-cid.mjs — print the UnixFS root CID that Kubo's `ipfs add -Q -n` would give,
// computed with Helia's importer (ipfs-unixfs-importer, pinned in package-lock.json).
//
// Usage:
//   node unixfs-cid.mjs [--cid-version 0|1] [--raw-leaves true|false] [--chunker size-N]
//                       [--trickle] [--wrap] [--hidden] <path> [<path>...]
//     prints one root CID per path, in order.
//   extra: --show-type  prints "<cid> <unixfs type of the root>" (e.g. directory,
//          hamt-sharded-directory, file, raw);
//          --shard-threshold BYTES  overrides the HAMT threshold (Kubo's
//          Internal.UnixFSShardingSizeThreshold), for Kubo's own test vectors.
//   node unixfs-cid.mjs --batch
//     reads stdin: one job per non-empty line, each a JSON array of the arguments above
//     (options + exactly one path); prints one CID per line, in order. One node start
//     for many jobs.
//
// Defaults are Kubo's: CIDv0, dag-pb leaves (`--cid-version 1` implies raw leaves unless
// `--raw-leaves false`), fixed 262144-byte chunks, balanced layout with 174 links per
// node (trickle: 174 links, layer repeat 4), HAMT shards of fanout 256 once the plain
// directory's estimate (sum of UTF-8 name bytes + CID bytes over its links, boxo's
// "links" estimation) is > 262144 bytes.
//
// A directory is imported recursively and its own CID printed (Kubo's `ipfs add -r DIR`
// root), empty directories included, hidden entries (names starting with '.') left out
// unless --hidden, as Kubo does. Symlinks and other non-regular files are skipped:
// Helia's importer has no symlink entries (Kubo would add a UnixFS Symlink node).
// Files are streamed from disk.
//
// Known Helia != Kubo: the importer leaves non-empty subdirectories out of a directory's
// shard estimate (they have no CID yet when it checks), while boxo counts every link.
// A directory that is over the threshold only when its subdirectory links are counted is
// a HAMT shard in Kubo but a plain directory here. Do not use this oracle for that case.

import { createReadStream } from 'node:fs'
import { lstat, readdir } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { createInterface } from 'node:readline'
import { importer } from 'ipfs-unixfs-importer'
import { fixedSize } from 'ipfs-unixfs-importer/chunker'
import { balanced, trickle } from 'ipfs-unixfs-importer/layout'

const KUBO_CHUNK_BYTES = 262144
const KUBO_MAX_LINKS = 174
const KUBO_TRICKLE_LAYER_REPEAT = 4
const KUBO_HAMT_THRESHOLD_BYTES = 262144
const KUBO_HAMT_FANOUT_BITS = 8

const USAGE = 'usage: node unixfs-cid.mjs [--cid-version 0|1] [--raw-leaves true|false] ' +
  '[--chunker size-N] [--trickle] [--wrap] [--hidden] [--show-type] [--shard-threshold N] <path>...  |  node unixfs-cid.mjs --batch < jobs'

class UsageError extends Error {}

/** Parse argv into { opts, paths }. */
function parseArgs (argv) {
  const opts = {
    cidVersion: 0,
    rawLeaves: undefined,
    chunkSize: KUBO_CHUNK_BYTES,
    trickle: false,
    wrap: false,
    shardThreshold: KUBO_HAMT_THRESHOLD_BYTES,
    showType: false,
    hidden: false
  }
  const paths = []
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const value = () => {
      if (i + 1 >= argv.length) throw new UsageError(`${a} needs a value`)
      return argv[++i]
    }
    if (a === '--cid-version') {
      const v = value()
      if (v !== '0' && v !== '1') throw new UsageError(`bad --cid-version ${v}`)
      opts.cidVersion = Number(v)
    } else if (a === '--raw-leaves') {
      // Accept both `--raw-leaves true|false` and a bare `--raw-leaves` (Kubo style).
      const next = argv[i + 1]
      if (next === 'true' || next === 'false') {
        opts.rawLeaves = next === 'true'
        i++
      } else {
        opts.rawLeaves = true
      }
    } else if (a.startsWith('--raw-leaves=')) {
      const v = a.slice('--raw-leaves='.length)
      if (v !== 'true' && v !== 'false') throw new UsageError(`bad ${a}`)
      opts.rawLeaves = v === 'true'
    } else if (a === '--chunker') {
      const v = value()
      const m = /^size-([0-9]+)$/.exec(v)
      if (m == null || Number(m[1]) < 1) throw new UsageError(`bad --chunker ${v} (only size-N)`)
      opts.chunkSize = Number(m[1])
    } else if (a === '--shard-threshold') {
      // Kubo's Internal.UnixFSShardingSizeThreshold, in bytes (for Kubo's own test vectors).
      const v = value()
      if (!/^[0-9]+$/.test(v)) throw new UsageError(`bad --shard-threshold ${v}`)
      opts.shardThreshold = Number(v)
    } else if (a === '--hidden' || a === '-H') {
      opts.hidden = true
    } else if (a === '--show-type') {
      opts.showType = true
    } else if (a === '--trickle') {
      opts.trickle = true
    } else if (a === '--wrap' || a === '-w') {
      opts.wrap = true
    } else if (a.startsWith('-') && a !== '-') {
      throw new UsageError(`unknown option ${a}`)
    } else {
      paths.push(a)
    }
  }
  // Kubo: CIDv1 implies raw leaves unless explicitly disabled.
  if (opts.rawLeaves === undefined) opts.rawLeaves = opts.cidVersion === 1
  return { opts, paths }
}

/** Yield importer candidates for `path` (file or directory, recursively), named as `name`. */
async function * candidates (path, name, opts) {
  const st = await lstat(path)
  if (st.isFile()) {
    yield { path: name, content: createReadStream(path) }
  } else if (st.isDirectory()) {
    // Kubo's `ipfs add -r` leaves out hidden entries (names starting with '.') unless --hidden.
    const entries = (await readdir(path))
      .filter((e) => opts.hidden || !e.startsWith('.'))
      .sort(compareUtf8)
    let yielded = false
    for (const e of entries) {
      for await (const c of candidates(join(path, e), `${name}/${e}`, opts)) {
        yielded = true
        yield c
      }
    }
    // A directory with no importable content: emit it so it appears (empty) in its parent.
    if (!yielded) yield { path: name }
  } else {
    process.stderr.write(`unixfs-cid: skipping ${path}: not a regular file or directory (symlinks are not supported by Helia)\n`)
  }
}

function compareUtf8 (a, b) {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'))
}

/** A blockstore that keeps nothing: we only need CIDs. */
const nullBlockstore = {
  async put (cid) { return cid },
  async get () { throw new Error('null blockstore: get') },
  async has () { return false }
}

/** Root CID (string) of `path` under `opts`. */
async function rootCid (path, opts) {
  const name = basename(path.replace(/\/+$/, '')) || 'root'
  const options = {
    cidVersion: opts.cidVersion,
    rawLeaves: opts.rawLeaves,
    chunker: fixedSize({ chunkSize: opts.chunkSize }),
    layout: opts.trickle
      ? trickle({ maxChildrenPerNode: KUBO_MAX_LINKS, layerRepeat: KUBO_TRICKLE_LAYER_REPEAT })
      : balanced({ maxChildrenPerNode: KUBO_MAX_LINKS }),
    shardSplitThresholdBytes: opts.shardThreshold,
    shardSplitStrategy: 'links-bytes',
    shardFanoutBits: KUBO_HAMT_FANOUT_BITS,
    // Kubo's trickle layout always builds a root over its leaves (never reduces a
    // single chunk to the leaf itself) and writes dag-pb leaves as UnixFS `Raw`.
    reduceSingleLeafToSelf: !opts.trickle,
    leafType: opts.trickle ? 'raw' : 'file',
    wrapWithDirectory: opts.wrap,
    fieldOrder: 'links-first',
    fileImportConcurrency: 50
  }
  let last
  for await (const entry of importer(candidates(path, name, opts), nullBlockstore, options)) {
    last = entry
  }
  if (last == null) throw new Error(`nothing imported from ${path}`)
  if (!opts.wrap && last.path !== name) {
    throw new Error(`unexpected root entry ${last.path} (wanted ${name})`)
  }
  const cid = last.cid.toString()
  if (!opts.showType) return cid
  // UnixFS type of the root: file | raw | directory | hamt-sharded-directory | ...
  const type = last.unixfs?.type ?? (last.cid.code === 0x55 ? 'raw' : 'unknown')
  return `${cid} ${type}`
}

async function runBatch () {
  const rl = createInterface({ input: process.stdin, crlfDelay: Infinity })
  for await (const line of rl) {
    if (line.trim() === '') continue
    const argv = JSON.parse(line)
    if (!Array.isArray(argv)) throw new UsageError('batch line must be a JSON array of strings')
    const { opts, paths } = parseArgs(argv.map(String))
    if (paths.length !== 1) throw new UsageError(`batch job needs exactly one path: ${line}`)
    process.stdout.write(`${await rootCid(paths[0], opts)}\n`)
  }
}

async function main () {
  const argv = process.argv.slice(2)
  if (argv.length === 1 && argv[0] === '--batch') return runBatch()
  if (argv.includes('-h') || argv.includes('--help')) {
    process.stdout.write(USAGE + '\n')
    return
  }
  const { opts, paths } = parseArgs(argv)
  if (paths.length === 0) throw new UsageError('no path given')
  for (const p of paths) process.stdout.write(`${await rootCid(p, opts)}\n`)
}

main().catch((err) => {
  process.stderr.write(`unixfs-cid: ${err instanceof UsageError ? err.message + '\n' + USAGE : err.stack ?? err}\n`)
  process.exit(err instanceof UsageError ? 2 : 1)
})
