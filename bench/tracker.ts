// 2. Tracker: HTTP announces per second from many distinct peers — Trickle with a free torrent, Trickle
// with a paid torrent whose peers have all paid, and a plain bittorrent-tracker — and the memory each
// idle WebSocket (WebTorrent) peer costs the tracker process, with thousands connected.
import { randomBytes } from 'node:crypto'
import path from 'node:path'
import { encodeReceipt, receiptKeyFromSeed, receiptSecret } from '../server/src/receipts/codec.ts'
import { openSqliteStore } from '../server/src/store/sqlite.ts'
import { balanceIdOf, newBalanceSecret } from '../server/src/verifier/owner.ts'
import { createTorrent, torrentToBase64 } from '../server/src/torrent/license.ts'
import type { Ctx } from './lib/context.ts'
import { runLoad, type LoadResult } from './lib/http-load.ts'
import { InspectorSession, inspectOptions } from './lib/inspector.ts'
import { settledRss, start, type Proc } from './lib/proc.ts'
import { medianPair, row, type Row } from './lib/report.ts'
import { demoPointers, repoRoot, startCompanion, type Companion } from './lib/trickle.ts'
import { freePort, round, sleep } from './lib/util.ts'

/** Distinct peers per swarm: bittorrent-tracker keeps 1000 per swarm (an LRU), so all of them stay in it. */
const PEERS = 1000
const CONNECTIONS = 32
/** Measured runs per swarm; each figure is the median run's. */
const ROUNDS = 3

const pct = (bytes: Buffer) => Array.from(bytes, (b) => `%${b.toString(16).padStart(2, '0')}`).join('')
const peerId = (i: number) => Buffer.from(`-BN0001-${String(i).padStart(12, '0')}`)

/** The query of peer i's announce; `event` only on its first. */
function announcePath (infoHash: string, i: number, extra: string, event?: string): string {
  return `/announce?info_hash=${pct(Buffer.from(infoHash, 'hex'))}&peer_id=${pct(peerId(i))}&port=${10_000 + i}` +
    `&uploaded=0&downloaded=0&left=1000&numwant=50&compact=1${event ? `&event=${event}` : ''}${extra}`
}

export interface Swarm { label: string, url: string, proc: Proc, infoHash: string, extra: (i: number) => string }
export type SwarmRun = LoadResult & { cpuPerAnnounceUs: number }
export type SwarmResult = SwarmRun & { failures: number, runs: SwarmRun[] }

/** Every peer announces once (started), and one of them checks that all of them got in. */
async function joinSwarm (s: Swarm): Promise<number> {
  let failures = 0
  let k = 0
  const warm = await runLoad({ url: s.url, connections: 8, durationS: 30, maxRequests: PEERS, next: () => { const i = k++ % PEERS; return { path: announcePath(s.infoHash, i, s.extra(i), 'started') } } })
  if (warm.ok < PEERS) throw new Error(`${s.label}: only ${warm.ok} of ${PEERS} peers could join`)
  // A refused announce is a 200 with a bencoded failure reason: check that every peer got in.
  const probe = await fetch(`${s.url}${announcePath(s.infoHash, 7, s.extra(7))}`)
  const body = Buffer.from(await probe.arrayBuffer()).toString('latin1')
  if (body.includes('failure reason')) throw new Error(`${s.label}: ${body}`)
  const peers = /5:peers(\d+):/.exec(body)
  if (!peers || Number(peers[1]) < 6 * 49) failures++
  return failures
}

/** One measured run: the swarm's peers announce in turn (regular announces). */
async function measureSwarm (ctx: Ctx, s: Swarm): Promise<SwarmRun> {
  await ctx.checkLoad(s.label)
  const cpu = s.proc.cpuSeconds()
  let n = 0
  const result = await runLoad({
    url: s.url,
    connections: CONNECTIONS,
    durationS: ctx.durationS,
    maxRequests: 1_000_000,
    next: () => { const i = n++ % PEERS; return { path: announcePath(s.infoHash, i, s.extra(i)) } }
  })
  const cpuPerAnnounceUs = round((s.proc.cpuSeconds() - cpu) / result.ok * 1e6, 1)
  ctx.say(`  ${s.label}: ${Math.round(result.rps)} announces/s (p50 ${result.p50ms} ms, p99 ${result.p99ms} ms, ${result.non2xx} non-2xx, ${result.errors} errors, ${cpuPerAnnounceUs} µs CPU each)`)
  return { ...result, cpuPerAnnounceUs }
}

/** The run with the median rate, with every run kept. */
function median (runs: SwarmRun[], failures: number): SwarmResult {
  const sorted = [...runs].sort((a, b) => a.rps - b.rps)
  return { ...sorted[Math.floor(sorted.length / 2)]!, failures, runs }
}

/**
 * Swarms joined, then ROUNDS measured runs each, in alternating order (A B C, C B A, A B C), so that
 * a machine whose speed drifts during the measurement (this VM's does) moves every swarm alike.
 */
export async function loadSwarms (ctx: Ctx, swarms: Swarm[]): Promise<SwarmResult[]> {
  const failures: number[] = []
  for (const s of swarms) failures.push(await joinSwarm(s))
  const runs: SwarmRun[][] = swarms.map(() => [])
  for (let r = 0; r < ROUNDS; r++) {
    const order = swarms.map((_s, i) => i)
    if (r % 2 === 1) order.reverse()
    for (const i of order) runs[i]!.push(await measureSwarm(ctx, swarms[i]!))
  }
  return swarms.map((_s, i) => median(runs[i]!, failures[i]!))
}

async function register (c: Companion, torrent: Uint8Array): Promise<string> {
  const res = await fetch(`${c.url}/torrents`, {
    method: 'POST',
    headers: { ...c.auth('admin'), 'content-type': 'application/json' },
    body: JSON.stringify({ torrent: torrentToBase64(torrent) })
  })
  const body = await res.json() as { infoHash: string, message?: string }
  if (res.status !== 201) throw new Error(`POST /torrents: ${res.status} ${body.message}`)
  return body.infoHash
}

/**
 * Credits `count` readers' balances with one receipt each (nonces issued through Trickle's store) and
 * buys each a ticket for its peer id: what a paying client announces with. Returns the tickets.
 */
async function payingPeers (c: Companion, infoHash: string, count: number, amount: bigint): Promise<{ tickets: string[], firstId: string }> {
  const secrets = Array.from({ length: count }, () => newBalanceSecret())
  const ids = secrets.map(balanceIdOf)
  const demo = await demoPointers(c)
  const key = receiptKeyFromSeed(c.seed)
  const nonces = Array.from({ length: count }, () => randomBytes(16))
  const store = openSqliteStore(c.database)
  store.db.exec('BEGIN IMMEDIATE')
  for (const n of nonces) await store.putNonce({ nonce: n.toString('base64'), proxyId: demo.proxyId, spspEndpoint: demo.walletPointer, issuedAt: Date.now() })
  store.db.exec('COMMIT')
  await store.close()
  let i = 0
  const r = await runLoad({
    url: c.url, method: 'POST', headers: { 'content-type': 'text/plain' }, connections: 8, durationS: 60, maxRequests: count,
    next: () => { const k = Math.min(i++, count - 1); const nonce = nonces[k]!; return { path: `/balances/${ids[k]}:creditReceipt`, body: encodeReceipt({ nonce, streamId: 1, totalReceived: amount, secret: receiptSecret(key, nonce) }).toString('base64') } }
  })
  if (r.ok !== count) throw new Error(`only ${r.ok} of ${count} balances could be funded (${JSON.stringify(r.statusCodes)})`)
  const tickets: string[] = []
  for (let k = 0; k < count; k += 50) {
    tickets.push(...await Promise.all(secrets.slice(k, k + 50).map(async (secret, j) => {
      const res = await fetch(`${c.url}/torrents/${infoHash}/access`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ secret, peerId: peerId(k + j).toString('hex') }) })
      const body = await res.json() as { ticket?: string, message?: string }
      if (!body.ticket) throw new Error(`no ticket for peer ${k + j}: ${res.status} ${body.message}`)
      return encodeURIComponent(body.ticket)
    })))
  }
  return { tickets, firstId: ids[7]! }
}

async function announceRates (ctx: Ctx) {
  // Both trackers run side by side, each in its own process, and their runs alternate with each other
  // (see loadSwarms): this VM's speed drifts by up to 2x over minutes, which would otherwise land on
  // whichever tracker happened to be measured then.
  const c = await startCompanion('tracker-trickle')
  const port = await freePort()
  const bt = start({ name: 'bittorrent-tracker', script: path.join(repoRoot, 'bench/procs/bt-tracker.ts'), args: [String(port)] })
  try {
    await bt.waitForJson('ready', 30_000)
    const demo = await demoPointers(c)
    const data = randomBytes(64 * 1024)
    const ws = `${c.url.replace(/^http/, 'ws')}/announce`
    const freeHash = await register(c, (await createTorrent({ name: 'free.bin', data, announce: ws })).torrent)
    const paidHash = await register(c, (await createTorrent({
      name: 'paid.bin', data, announce: ws,
      license: { paymentPointer: demo.proxyPointer, verifier: c.url, amount: '1000', assetCode: 'USD', assetScale: 9, proofKey: ((await (await fetch(`${c.url}/torrents/proof-key`)).json()) as { proofKey: string }).proofKey }
    })).torrent)
    // Each paid peer's reader bought its ticket (POST /torrents/{ih}/access spent the price once); the
    // measured announces are those of peers announcing with their tickets.
    const { tickets, firstId } = await payingPeers(c, paidHash, PEERS, 1_000_000n)
    const [free, paid, plain] = await loadSwarms(ctx, [
      { label: 'Trickle, free torrent', url: c.url, proc: c.proc, infoHash: freeHash, extra: () => '' },
      { label: 'Trickle, paid torrent', url: c.url, proc: c.proc, infoHash: paidHash, extra: (i) => `&ticket=${tickets[i]}` },
      { label: 'bittorrent-tracker', url: `http://127.0.0.1:${port}`, proc: bt, infoHash: 'f'.repeat(40), extra: () => '' }
    ])
    const left = await (await fetch(`${c.url}/balances/${firstId}`)).text()
    if (left !== String(1_000_000 - 1000)) throw new Error(`balance ${firstId} holds ${left}: the price was not spent exactly once`)
    if (!free || !paid || !plain) throw new Error('a swarm was not measured')
    return { free, paid, plain }
  } finally {
    await c.proc.stop()
    await bt.stop()
  }
}

/** Least-squares slope of y over x. */
function slope (points: Array<[number, number]>): number {
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length
  const mx = mean(points.map((p) => p[0]))
  const my = mean(points.map((p) => p[1]))
  return points.reduce((a, [x, y]) => a + (x - mx) * (y - my), 0) / points.reduce((a, [x]) => a + (x - mx) ** 2, 0)
}

/**
 * Memory of the tracker process per idle WebSocket peer, in two passes on one process.
 *
 * First (the method before 2026-11-29, kept for comparison): `count` peers over swarms 0-9, opened in
 * two halves from two processes, RSS read (settled) before, between and after; the slope of a
 * least-squares line through the three readings. This charges as per-peer cost whatever V8 grows
 * once while the first thousands of connections arrive: a burst of upgrades allocates about 13 KB per
 * connection, nearly all of it garbage at once, V8 doubles its young generation (semi-spaces) under that
 * load, and the pages it touches appear in RSS in steps, wherever the readings happen to fall.
 *
 * Then (the figure): `count` more peers over swarms 10-19, in four groups; before each reading the
 * process collects its garbage (a full, memory-reducing collection asked for through its inspector,
 * no code in the process under test) and RSS is read (settled); the figure is the slope through the
 * five readings. It is what each further peer keeps, JS heap and native, with thousands connected.
 * The JS heap after each collection is kept too.
 */
async function wsMemory (ctx: Ctx, label: string, proc: Proc, inspectPort: number, wsUrl: string, count: number) {
  const peersScript = path.join(repoRoot, 'bench/procs/ws-peers.ts')
  // Warm the tracker's code paths first, so that what is measured is per peer and not first use.
  const warm = start({ name: 'ws-peers-warm', script: peersScript, args: [wsUrl, '200', '10', '30000'] })
  await warm.waitForJson('ready', 40_000)
  await warm.stop()
  await sleep(2000)
  const points: Array<[number, number]> = [[0, await settledRss(proc, 3000, 7)]]
  const half = Math.floor(count / 2)
  const groups: Proc[] = []
  let failed = 0
  let peers = 0
  const connect = async (n: number, firstSwarm: number) => {
    const g = start({ name: 'ws-peers', script: peersScript, args: [wsUrl, String(n), '10', '120000', String(firstSwarm)] })
    groups.push(g)
    const r = await g.waitForJson<{ answered: number, failed: number }>('ready', 130_000)
    failed += r.failed
    peers += r.answered
  }
  const gcPoints: Array<[number, number]> = []
  const heapPoints: Array<[number, number]> = []
  let session: InspectorSession | undefined
  try {
    for (const n of [half, count - half]) {
      await connect(n, 0)
      points.push([peers, await settledRss(proc, 3000, 7)])
    }
    session = await InspectorSession.open(inspectPort)
    const s = session
    const afterGc = async () => {
      await s.collectGarbage()
      await s.collectGarbage()
      gcPoints.push([peers, await settledRss(proc, 2000, 5)])
      heapPoints.push([peers, await s.evaluate<number>('process.memoryUsage().heapUsed') / 1024])
    }
    await afterGc()
    const quarter = Math.floor(count / 4)
    for (const n of [quarter, quarter, quarter, count - 3 * quarter]) {
      await connect(n, 10)
      await afterGc()
    }
  } finally {
    session?.close()
    for (const g of groups) await g.stop()
  }
  const bytesPerPeerOld = slope(points) * 1024
  const bytesPerPeer = slope(gcPoints) * 1024
  const heapBytesPerPeer = slope(heapPoints) * 1024
  const kib = (ps: Array<[number, number]>) => ps.map((p) => Math.round(p[1] / 1024)).join(' → ')
  ctx.say(`  ${label}: ${peers} idle WebSocket peers (${failed} failed); ${gcPoints[0]![0]} → ${peers} after collections: RSS ${kib(gcPoints)} MiB, ` +
    `${Math.round(bytesPerPeer)} B per peer (JS heap ${Math.round(heapBytesPerPeer)} B); 0 → ${points.at(-1)![0]} without (the old method): RSS ${kib(points)} MiB, ${Math.round(bytesPerPeerOld)} B per peer`)
  return {
    peers,
    failed,
    from: gcPoints[0]![0],
    bytesPerPeer,
    rssAfterGcKiB: gcPoints,
    heapBytesPerPeer,
    heapAfterGcKiB: heapPoints.map(([x, y]) => [x, Math.round(y)]),
    oldMethod: { peers: points.at(-1)![0], rssKiB: points, bytesPerPeer: bytesPerPeerOld }
  }
}

async function memory (ctx: Ctx) {
  const count = ctx.quick ? 2000 : 5000
  await ctx.checkLoad('tracker memory')
  let inspectPort = await freePort()
  const c = await startCompanion('tracker-ws-trickle', { NODE_OPTIONS: inspectOptions(inspectPort) })
  let trickle
  try {
    trickle = await wsMemory(ctx, 'Trickle', c.proc, inspectPort, `${c.url.replace(/^http/, 'ws')}/announce`, count)
  } finally {
    await c.proc.stop()
  }
  const port = await freePort()
  inspectPort = await freePort()
  const bt = start({ name: 'bittorrent-tracker-ws', script: path.join(repoRoot, 'bench/procs/bt-tracker.ts'), args: [String(port)], env: { NODE_OPTIONS: inspectOptions(inspectPort) } })
  let plain
  try {
    await bt.waitForJson('ready', 30_000)
    plain = await wsMemory(ctx, 'bittorrent-tracker', bt, inspectPort, `ws://127.0.0.1:${port}`, count)
  } finally {
    await bt.stop()
  }
  return { trickle, plain }
}

export async function benchTracker (ctx: Ctx): Promise<{ rows: Row[], details: Record<string, unknown> }> {
  const rates = await announceRates(ctx)
  const mem = await memory(ctx)
  const bt = 'bittorrent-tracker 11.2.3'
  const rows = [
    row({ id: 'tracker.announces.free', metric: 'tracker: HTTP announces/s, free torrent', unit: '/s', ...medianPair(rates.free.runs.map((r) => r.rps), rates.plain.runs.map((r) => r.rps)), anchorName: bt, goal: { on: 'ratio', op: '>=', target: 3, text: '≥ 3x' } }),
    row({ id: 'tracker.announces.paid', metric: 'tracker: HTTP announces/s, paid torrent (peers paid)', unit: '/s', ...medianPair(rates.paid.runs.map((r) => r.rps), rates.plain.runs.map((r) => r.rps)), anchorName: bt }),
    row({ id: 'tracker.paid-vs-free', metric: 'tracker: paid swarm vs free swarm', unit: '/s', ...medianPair(rates.paid.runs.map((r) => r.rps), rates.free.runs.map((r) => r.rps)), anchorName: 'Trickle, free torrent', goal: { on: 'ratio', op: '>=', target: 0.9, text: '≥ 0.90x' } }),
    row({ id: 'tracker.cpu.paid-vs-free', metric: 'tracker: companion CPU per announce, paid vs free', unit: 'µs', ...medianPair(rates.paid.runs.map((r) => r.cpuPerAnnounceUs), rates.free.runs.map((r) => r.cpuPerAnnounceUs)), anchorName: 'Trickle, free torrent' }),
    row({ id: 'tracker.announce.p99', metric: 'tracker: announce latency p99, free torrent', unit: 'ms', trickle: rates.free.p99ms, anchor: rates.plain.p99ms, anchorName: bt }),
    row({ id: 'tracker.ws.bytes-per-peer', metric: `tracker: memory per idle WebSocket peer (${mem.trickle.from}-${mem.trickle.peers} peers)`, unit: 'B', trickle: mem.trickle.bytesPerPeer, anchor: mem.plain.bytesPerPeer, anchorName: bt, goal: { on: 'value', op: '<=', target: 4096, text: '≤ 4 KB' } })
  ]
  return { rows, details: { peersPerSwarm: PEERS, connections: CONNECTIONS, rounds: ROUNDS, announce: rates, wsMemory: mem } }
}
