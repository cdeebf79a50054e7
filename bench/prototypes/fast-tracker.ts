// A PROTOTYPE, not product code: what the HTTP announce path of server/src/tracker could look like to
// meet issue 8's goal of 3x bittorrent-tracker's announces per second. It runs inside Fastify like the
// companion, keeps the gate (free / paid pairs already spent), and replaces bittorrent-tracker's
// per-announce work: no second query-string parse, no `filter` callback and promise per announce, no
// LRU whose `keys` getter copies the whole swarm into an array on every announce, no bencode encoder.
// Usage: fast-tracker.ts PORT (prints {"ready":…}); `node bench/prototypes/run.ts` measures it.
import Fastify from 'fastify'

const INTERVAL_S = 600
const MAX_PEERS = 1000
const DEFAULT_NUMWANT = 50

interface Peer { key: string, compact: Buffer, complete: boolean, seen: number, index: number }
interface Swarm { peers: Map<string, Peer>, list: Peer[], complete: number }

const swarms = new Map<string, Swarm>()
/** `${balance}\n${infoHash}` pairs that paid (the product keeps them in memory after the spend). */
export const paid = new Set<string>()
export const paidTorrents = new Set<string>()

const HEX = Array.from({ length: 256 }, (_v, i) => i.toString(16).padStart(2, '0'))

/** Percent-decoded bytes of a binary query value, as hex (info_hash, peer_id). */
function binaryHex (value: string): string | undefined {
  let out = ''
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i)
    if (c === 37 /* % */) {
      const b = parseInt(value.slice(i + 1, i + 3), 16)
      if (Number.isNaN(b)) return undefined
      out += HEX[b]
      i += 2
    } else {
      out += HEX[c === 43 /* + */ ? 32 : c]
    }
  }
  return out
}

function failure (reason: string): Buffer {
  const r = Buffer.from(reason)
  return Buffer.concat([Buffer.from(`d14:failure reason${r.length}:`), r, Buffer.from('e')])
}

function remove (swarm: Swarm, peer: Peer) {
  const last = swarm.list.pop()!
  if (last !== peer) { swarm.list[peer.index] = last; last.index = peer.index }
  swarm.peers.delete(peer.key)
  if (peer.complete) swarm.complete--
}

export function announce (url: string, ip: string): Buffer {
  const q = url.indexOf('?')
  let infoHash: string | undefined
  let port = 0
  let left = -1
  let event = ''
  let numwant = DEFAULT_NUMWANT
  let balance = ''
  for (const pair of url.slice(q + 1).split('&')) {
    const eq = pair.indexOf('=')
    const k = pair.slice(0, eq)
    const v = pair.slice(eq + 1)
    if (k === 'info_hash') infoHash = binaryHex(v)
    else if (k === 'port') port = Number(v)
    else if (k === 'left') left = Number(v)
    else if (k === 'event') event = v
    else if (k === 'numwant') numwant = Math.min(Number(v) || 0, 200)
    else if (k === 'balance') balance = decodeURIComponent(v)
  }
  if (!infoHash || infoHash.length !== 40 || !(port > 0 && port < 65536)) return failure('invalid announce')
  // The gate, as authorize() decides it for announces whose answer is already known in memory.
  if (paidTorrents.has(infoHash) && !paid.has(`${balance}\n${infoHash}`)) return failure('Payment required (payment_required)')

  let swarm = swarms.get(infoHash)
  if (!swarm) swarms.set(infoHash, swarm = { peers: new Map(), list: [], complete: 0 })
  const key = `${ip}:${port}`
  let peer = swarm.peers.get(key)
  const now = Date.now()
  if (event === 'stopped') {
    if (peer) remove(swarm, peer)
  } else {
    const complete = left === 0 || event === 'completed'
    if (!peer) {
      if (swarm.list.length >= MAX_PEERS) remove(swarm, swarm.list[Math.floor(Math.random() * swarm.list.length)]!)
      const compact = Buffer.allocUnsafe(6)
      const parts = ip.split('.')
      for (let i = 0; i < 4; i++) compact[i] = Number(parts[i])
      compact.writeUInt16BE(port, 4)
      peer = { key, compact, complete, seen: now, index: swarm.list.length }
      swarm.peers.set(key, peer)
      swarm.list.push(peer)
      if (complete) swarm.complete++
    } else {
      if (complete !== peer.complete) swarm.complete += complete ? 1 : -1
      peer.complete = complete
      peer.seen = now
    }
  }
  // Up to numwant other peers from a random starting point: O(numwant), no copy of the swarm.
  const n = swarm.list.length
  const want = Math.min(numwant, n)
  const peers = Buffer.allocUnsafe(want * 6)
  let count = 0
  const startAt = Math.floor(Math.random() * Math.max(n, 1))
  for (let i = 0; i < n && count < want; i++) {
    const p = swarm.list[(startAt + i) % n]!
    if (p === peer) continue
    p.compact.copy(peers, count * 6)
    count++
  }
  const head = `d8:completei${swarm.complete}e10:incompletei${n - swarm.complete}e8:intervali${INTERVAL_S}e5:peers${count * 6}:`
  return Buffer.concat([Buffer.from(head, 'latin1'), peers.subarray(0, count * 6), Buffer.from('e')])
}

if (import.meta.main) {
  const port = Number(process.argv[2])
  const app = Fastify({ logger: false })
  app.get('/announce', (req, reply) => {
    reply.hijack()
    const body = announce(req.raw.url ?? '', req.socket.remoteAddress?.replace(/^::ffff:/, '') ?? '127.0.0.1')
    reply.raw.writeHead(200, { 'content-type': 'text/plain; charset=binary', 'content-length': body.length })
    reply.raw.end(body)
  })
  // The bench's paid swarm: its infohash and the balances b0…b999 that paid for it.
  const paidHash = process.argv[3]
  if (paidHash) {
    paidTorrents.add(paidHash)
    for (let i = 0; i < 1000; i++) paid.add(`b${i}\n${paidHash}`)
  }
  await app.listen({ host: '127.0.0.1', port })
  process.stdout.write(`${JSON.stringify({ ready: true, port })}\n`)
  process.on('SIGTERM', () => { void app.close().then(() => process.exit(0)) })
}
