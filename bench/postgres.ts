// 7. Stores and scale-out: receipts credited and HTTP announces answered per second by one companion on
// SQLite, one on PostgreSQL, and two on one PostgreSQL schema and one NATS bus (the load split between
// them), with CPU per operation counted where the work is done: this process (the companions and the
// load, the same for every target) plus every PostgreSQL and NATS server process (read from /proc).
// On 2 cores the CPU per operation is the honest figure; the second instance shows what coordination
// (through the database for credits, through the bus for announces) costs, not added capacity.
import { randomBytes } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import type { FastifyInstance } from 'fastify'
import { build, issueNonce } from '../server/test/helper.ts'
import type { Ctx } from './lib/context.ts'
import { row, type Row } from './lib/report.ts'
import { round } from './lib/util.ts'
import { runLoad } from './lib/http-load.ts'

const POSTGRES = process.env.TRICKLE_TEST_POSTGRES ?? 'postgres://root@127.0.0.1:5432/test'
const NATS = process.env.TRICKLE_TEST_NATS ?? 'nats://127.0.0.1:4222'
const CONCURRENCY = 32
const TICKS = 100 // USER_HZ on Linux

/** CPU seconds used so far by every PostgreSQL server process (its backends included) and the NATS server. */
function postgresCpuSeconds (): number {
  let ticks = 0
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))
      if (name !== 'postgres' && name !== 'nats-server') continue
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      ticks += Number(fields[11]) + Number(fields[12])
    } catch {}
  }
  return ticks / TICKS
}

interface Measured { perS: number, cpuUs: number }

async function credits (apps: FastifyInstance[], urls: string[], n: number): Promise<Measured> {
  // Receipts made beforehand: each for a nonce of its own, issued through the store (as SPSP queries do).
  const receipts: Array<{ url: string, body: string }> = []
  for (let i = 0; i < n; i++) receipts.push({ url: urls[i % urls.length]!, body: (await issueNonce(apps[i % apps.length]!)).receipt(1000) })
  const cpu = process.cpuUsage()
  const pg = postgresCpuSeconds()
  const started = performance.now()
  let next = 0
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < receipts.length) {
      const i = next++
      const r = receipts[i]!
      const res = await fetch(`${r.url}/balances/b${i % 500}:creditReceipt`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: r.body })
      if (!res.ok) throw new Error(`credit: HTTP ${res.status} ${await res.text()}`)
      await res.text()
    }
  }))
  const s = (performance.now() - started) / 1000
  const used = process.cpuUsage(cpu)
  const cpuS = (used.user + used.system) / 1e6 + (postgresCpuSeconds() - pg)
  return { perS: round(n / s, 0), cpuUs: round(cpuS / n * 1e6, 0) }
}

const pct = (bytes: Buffer) => Array.from(bytes, (b) => `%${b.toString(16).padStart(2, '0')}`).join('')
const ANNOUNCE_PEERS = 2000

/** HTTP announces of a free torrent: ANNOUNCE_PEERS peers join (spread over the instances), then announce in turn. */
async function announces (urls: string[], n: number): Promise<Measured & { peersSeen: number }> {
  const infoHash = pct(randomBytes(20))
  const path = (i: number, event = '') => `/announce?info_hash=${infoHash}&peer_id=${pct(Buffer.from(`-BN0001-${String(i).padStart(12, '0')}`))}&port=${10_000 + i}&uploaded=0&downloaded=0&left=1000&numwant=50&compact=1${event}`
  const load = (count: number, event: string) => {
    const per = Math.ceil(count / urls.length)
    return Promise.all(urls.map((url, u) => {
      let k = 0
      return runLoad({ url, connections: Math.ceil(CONCURRENCY / urls.length), durationS: 120, maxRequests: per, next: () => ({ path: path((u + urls.length * k++) % ANNOUNCE_PEERS, event) }) })
    }))
  }
  await load(ANNOUNCE_PEERS, '&event=started')
  await new Promise((resolve) => setTimeout(resolve, 500))
  // Every peer is in every instance's swarm: a peer on the first instance gets 50 of the 2,000.
  const probe = Buffer.from(await (await fetch(`${urls[0]}${path(0)}`)).arrayBuffer()).toString('latin1')
  const peersSeen = Number(/5:peers(\d+):/.exec(probe)?.[1] ?? 0) / 6
  const cpu = process.cpuUsage()
  const pg = postgresCpuSeconds()
  const started = performance.now()
  const results = await load(n, '')
  const s = (performance.now() - started) / 1000
  const ok = results.reduce((sum, r) => sum + r.ok, 0)
  if (ok < n * 0.99) throw new Error(`announces: only ${ok} of ${n} answered`)
  const used = process.cpuUsage(cpu)
  const cpuS = (used.user + used.system) / 1e6 + (postgresCpuSeconds() - pg)
  return { perS: round(ok / s, 0), cpuUs: round(cpuS / ok * 1e6, 1), peersSeen }
}

export async function benchPostgres (ctx: Ctx): Promise<{ rows: Row[], details: Record<string, unknown> }> {
  const n = ctx.quick ? 500 : 3000
  const nAnnounces = ctx.quick ? 5000 : 40_000
  const off = { TRICKLE_RATE_LIMIT: '0', TRICKLE_SPSP_RATE_LIMIT_PER_ADDRESS: '0', TRICKLE_SPSP_RATE_LIMIT_PER_PROXY: '0', TRICKLE_SEED: '' }
  const results: Record<string, Measured> = {}
  const announceResults: Record<string, Measured & { peersSeen: number }> = {}
  const run = async (name: string, envs: Array<Record<string, string>>) => {
    const built = []
    for (const env of envs) built.push(await build(undefined, { ...off, ...env }))
    try {
      await ctx.checkLoad(`stores: ${name}`)
      results[name] = await credits(built.map((b) => b.app), built.map((b) => b.url), n)
      ctx.say(`  ${name}: ${results[name]!.perS} credits/s, ${results[name]!.cpuUs} µs CPU per credit`)
      await ctx.checkLoad(`stores: ${name}, announces`)
      announceResults[name] = await announces(built.map((b) => b.url), nAnnounces)
      ctx.say(`  ${name}: ${announceResults[name]!.perS} announces/s, ${announceResults[name]!.cpuUs} µs CPU per announce (a peer on the first instance got ${announceResults[name]!.peersSeen} peers)`)
    } finally {
      for (const b of built) await b.app.close()
    }
  }
  await run('sqlite, 1 instance', [{}])
  const schema = () => `trickle_bench_${randomBytes(5).toString('hex')}`
  const one = `${POSTGRES}?schema=${schema()}`
  await run('postgres, 1 instance', [{ TRICKLE_DATABASE: one }])
  const shared = `${POSTGRES}?schema=${schema()}`
  const bus = { TRICKLE_BUS: NATS, TRICKLE_BUS_SUBJECT: `trickle-bench-${randomBytes(4).toString('hex')}` }
  await run('postgres, 2 instances', [{ TRICKLE_DATABASE: shared, ...bus }, { TRICKLE_DATABASE: shared, ...bus }])
  // The bench's schemas, dropped.
  const { default: pg } = await import('pg')
  const client = new pg.Client({ connectionString: POSTGRES })
  await client.connect()
  for (const url of [one, shared]) await client.query(`DROP SCHEMA IF EXISTS ${new URL(url).searchParams.get('schema')} CASCADE`)
  await client.end()

  const s = results['sqlite, 1 instance']!
  const p1 = results['postgres, 1 instance']!
  const p2 = results['postgres, 2 instances']!
  const rows = [
    row({ id: 'stores.credits.pg1', metric: 'stores: receipts credited/s, PostgreSQL, 1 instance', unit: '/s', trickle: p1.perS, anchor: s.perS, anchorName: 'Trickle on SQLite, 1 instance (same run)' }),
    row({ id: 'stores.cpu.pg1', metric: 'stores: CPU per credit (companion + load + PostgreSQL), PostgreSQL vs SQLite', unit: 'µs', trickle: p1.cpuUs, anchor: s.cpuUs, anchorName: 'Trickle on SQLite, 1 instance (same run)' }),
    row({ id: 'stores.credits.pg2', metric: 'stores: receipts credited/s, PostgreSQL, 2 instances (load split)', unit: '/s', trickle: p2.perS, anchor: p1.perS, anchorName: 'Trickle on PostgreSQL, 1 instance (same run)' }),
    row({ id: 'stores.cpu.pg2', metric: 'stores: CPU per credit, 2 instances vs 1, PostgreSQL', unit: 'µs', trickle: p2.cpuUs, anchor: p1.cpuUs, anchorName: 'Trickle on PostgreSQL, 1 instance (same run)' })
  ]
  const as = announceResults['sqlite, 1 instance']!
  const ap1 = announceResults['postgres, 1 instance']!
  const ap2 = announceResults['postgres, 2 instances']!
  rows.push(
    row({ id: 'stores.announces.pg1', metric: 'scale-out: HTTP announces/s, PostgreSQL, 1 instance', unit: '/s', trickle: ap1.perS, anchor: as.perS, anchorName: 'Trickle on SQLite, 1 instance (same run)' }),
    row({ id: 'stores.announces.cpu.pg1', metric: 'scale-out: CPU per announce, PostgreSQL vs SQLite, 1 instance', unit: 'µs', trickle: ap1.cpuUs, anchor: as.cpuUs, anchorName: 'Trickle on SQLite, 1 instance (same run)' }),
    row({ id: 'stores.announces.pg2', metric: 'scale-out: HTTP announces/s, 2 instances on one NATS bus (load split)', unit: '/s', trickle: ap2.perS, anchor: ap1.perS, anchorName: 'Trickle on PostgreSQL, 1 instance (same run)' }),
    row({ id: 'stores.announces.cpu.pg2', metric: 'scale-out: CPU per announce (companions + load + NATS), 2 instances vs 1', unit: 'µs', trickle: ap2.cpuUs, anchor: ap1.cpuUs, anchorName: 'Trickle on PostgreSQL, 1 instance (same run)' })
  )
  return { rows, details: { n, nAnnounces, announcePeers: ANNOUNCE_PEERS, concurrency: CONCURRENCY, results, announces: announceResults } }
}
