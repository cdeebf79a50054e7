// 1. Verifier: receipts credited per second and spends per second over HTTP, with p50/p99 latency,
// Trickle (its companion in its own process, SQLite store) against @coil/receipt-verifier 1.0.3 on the
// local Redis. Both get one distinct, valid receipt per request: receipts are signed offline from each
// verifier's RECEIPT_SEED for nonces each believes it issued (Trickle: rows in its nonce table, written
// through its own store; receipt-verifier: its `ilpReceipts:<nonce>` hashes in Redis, as its SPSP proxy
// writes them).
import { randomBytes } from 'node:crypto'
import path from 'node:path'
import { encodeReceipt, receiptKeyFromSeed, receiptSecret } from '../server/src/receipts/codec.ts'
import { openSqliteStore } from '../server/src/store/sqlite.ts'
import type { Ctx } from './lib/context.ts'
import { runLoad, type LoadResult } from './lib/http-load.ts'
import { start, type Proc } from './lib/proc.ts'
import { RedisConnection } from './lib/redis.ts'
import { medianPair, row, type Row } from './lib/report.ts'
import { demoPointers, repoRoot, startCompanion } from './lib/trickle.ts'
import { freePort, round } from './lib/util.ts'

/** Redis database index the bench owns (BENCH_REDIS_DB); it must be empty or hold the bench's marker. */
const REDIS_DB = process.env.BENCH_REDIS_DB ?? '13'
const MARKER = 'trickle-bench:owner'
/** What each receipt is worth (receipt units): balances end up rich enough for every spend. */
const RECEIPT_TOTAL = 1_000_000n
const BALANCES = 1000
const CONNECTIONS = 32

/** Measured runs per target; each figure is the median run's. */
const ROUNDS = 3

/** A verifier under load: its receipts (each sent once, in order) and how to stop it. */
interface Target {
  name: string
  url: string
  proc: Proc
  spendHeaders: Record<string, string>
  receipts: string[]
  /** The next receipt to send. */
  next: number
  stop: () => Promise<void>
}

interface Run extends LoadResult { cpuPerRequestUs: number }
type Measured = Run & { runs: Run[] }

function signReceipts (seed: Buffer, nonces: Buffer[]): string[] {
  const key = receiptKeyFromSeed(seed)
  return nonces.map((nonce) => encodeReceipt({ nonce, streamId: 1, totalReceived: RECEIPT_TOTAL, secret: receiptSecret(key, nonce) }).toString('base64'))
}

const text = { 'content-type': 'text/plain' }

/** One load run of credits: each request a receipt not sent before, to the balances in turn. */
async function creditRun (t: Target, maxRequests: number, durationS: number): Promise<Run> {
  // Past the end (autocannon may build a request or two it never sends) a repeated receipt would be
  // refused; it is never sent within the bound.
  const credit = () => {
    const i = t.next++
    return { path: `/balances/b${i % BALANCES}:creditReceipt`, body: t.receipts[Math.min(i, t.receipts.length - 1)]! }
  }
  const cpu = t.proc.cpuSeconds()
  const r = await runLoad({ url: t.url, method: 'POST', headers: text, connections: CONNECTIONS, durationS, maxRequests, next: credit })
  return { ...r, cpuPerRequestUs: round((t.proc.cpuSeconds() - cpu) / r.ok * 1e6, 1) }
}

async function spendRun (t: Target, maxRequests: number, durationS: number): Promise<Run> {
  let s = 0
  const spend = () => ({ path: `/balances/b${s++ % BALANCES}:spend`, body: '1' })
  const cpu = t.proc.cpuSeconds()
  const r = await runLoad({ url: t.url, method: 'POST', headers: { ...text, ...t.spendHeaders }, connections: CONNECTIONS, durationS, maxRequests, next: spend })
  return { ...r, cpuPerRequestUs: round((t.proc.cpuSeconds() - cpu) / r.ok * 1e6, 1) }
}

function median (runs: Run[]): Measured {
  const sorted = [...runs].sort((a, b) => a.rps - b.rps)
  return { ...sorted[Math.floor(sorted.length / 2)]!, runs }
}

/**
 * ROUNDS runs of `run` for every target, in alternating order (A B C, C B A, A B C): this VM's speed
 * drifts by up to 2x over minutes, and alternating lets a drift move every target alike.
 */
async function alternate (ctx: Ctx, what: string, targets: Target[], run: (t: Target) => Promise<Run>): Promise<Measured[]> {
  const runs: Run[][] = targets.map(() => [])
  for (let r = 0; r < ROUNDS; r++) {
    const order = targets.map((_t, i) => i)
    if (r % 2 === 1) order.reverse()
    for (const i of order) {
      const t = targets[i]!
      await ctx.checkLoad(`${t.name} ${what}`)
      const result = await run(t)
      if (result.non2xx > 0 || result.errors > 0) throw new Error(`${t.name} ${what}: ${result.non2xx} non-2xx (${JSON.stringify(result.statusCodes)}), ${result.errors} errors`)
      ctx.say(`  ${t.name}: ${Math.round(result.rps)} ${what}/s (p50 ${result.p50ms} ms, p99 ${result.p99ms} ms, ${result.cpuPerRequestUs} µs CPU each)`)
      runs[i]!.push(result)
    }
  }
  return runs.map(median)
}

async function startTrickle (receiptsNeeded: number): Promise<Target> {
  const c = await startCompanion('verifier-trickle')
  try {
    const demo = await demoPointers(c)
    // The real path once: an SPSP query to the proxy pointer stores a nonce row like those written below.
    const spsp = await fetch(demo.proxyPointer, { headers: { accept: 'application/spsp4+json' } })
    if (!spsp.ok || (await spsp.json() as { receipts_enabled?: boolean }).receipts_enabled !== true) throw new Error('the proxy pointer gave no receipts')
    const nonces = Array.from({ length: receiptsNeeded }, () => randomBytes(16))
    // Through Trickle's own store (a second connection to its SQLite file, as a second process may).
    const store = openSqliteStore(c.database)
    const issuedAt = Date.now()
    store.db.exec('BEGIN IMMEDIATE')
    for (const n of nonces) await store.putNonce({ nonce: n.toString('base64'), proxyId: demo.proxyId, spspEndpoint: demo.walletPointer, issuedAt })
    store.db.exec('COMMIT')
    await store.close()
    return { name: 'Trickle', url: c.url, proc: c.proc, spendHeaders: c.auth('spend'), receipts: signReceipts(c.seed, nonces), next: 0, stop: () => c.proc.stop() }
  } catch (err) {
    await c.proc.stop()
    throw err
  }
}

async function startReceiptVerifier (receiptsNeeded: number): Promise<Target> {
  const redis = await RedisConnection.open()
  const cleanup = async () => {
    await redis.command('FLUSHDB').catch(() => {})
    redis.close()
  }
  try {
    await redis.command('SELECT', REDIS_DB)
    const size = await redis.command('DBSIZE') as number
    if (size > 0 && await redis.command('EXISTS', MARKER) !== 1) {
      redis.close()
      throw new Error(`Redis database ${REDIS_DB} holds ${size} keys that are not the bench's; pick an empty one with BENCH_REDIS_DB`)
    }
    // Ours from here on (and left over from an interrupted run otherwise): start clean.
    await redis.command('FLUSHDB')
    await redis.command('SET', MARKER, 'trickle bench/verifier.ts')
    const seed = randomBytes(32)
    const nonces = Array.from({ length: receiptsNeeded }, () => randomBytes(16))
    for (let i = 0; i < nonces.length; i += 5000) {
      // What its SPSP proxy does per query (Redis.setReceiptTTL): a hash with a dummy field, and a TTL.
      await redis.pipeline(nonces.slice(i, i + 5000).flatMap((n) => {
        const key = `ilpReceipts:${n.toString('base64')}`
        return [['HSET', key, 'dummy', '0'], ['EXPIRE', key, '3600']]
      }))
    }
    const port = await freePort()
    const proc = start({
      name: 'receipt-verifier',
      script: path.join(repoRoot, 'bench/node_modules/@coil/receipt-verifier/dist/index.js'),
      env: {
        VERIFIER_PORT: String(port),
        SPSP_PROXY_PORT: String(await freePort()),
        // Required by its config; the bench never queries its SPSP proxy.
        SPSP_ENDPOINT: 'http://127.0.0.1:9/unused',
        RECEIPT_SEED: seed.toString('base64'),
        RECEIPT_TTL: '3600',
        REDIS_URI: `redis://127.0.0.1:6379/${REDIS_DB}`,
        NODE_ENV: 'production'
      }
    })
    try {
      await proc.waitForLine(/Balances API listening/, 30_000)
    } catch (err) {
      await proc.stop()
      throw err
    }
    return {
      name: '@coil/receipt-verifier', url: `http://127.0.0.1:${port}`, proc, spendHeaders: {}, receipts: signReceipts(seed, nonces), next: 0,
      stop: async () => { await proc.stop(); await cleanup() }
    }
  } catch (err) {
    await cleanup()
    throw err
  }
}

/**
 * The same credit requests against a bare node:http server that does no work
 * (bench/procs/http-floor.ts): the bodies are as long as a receipt, and it never reads them.
 */
async function startHttpFloor (): Promise<Target> {
  const port = await freePort()
  const proc = start({ name: 'http-floor', script: path.join(repoRoot, 'bench/procs/http-floor.ts'), args: [String(port)] })
  await proc.waitForJson('ready', 30_000)
  return { name: 'bare node:http', url: `http://127.0.0.1:${port}`, proc, spendHeaders: {}, receipts: ['A'.repeat(80)], next: 0, stop: () => proc.stop() }
}

export async function benchVerifier (ctx: Ctx): Promise<{ rows: Row[], details: Record<string, unknown> }> {
  const warm = ctx.quick ? 2000 : 5000
  const count = ctx.quick ? 30_000 : 200_000
  const needed = warm + ROUNDS * (count + 100)
  // All three run side by side, each in its own process; their runs alternate (see `alternate`).
  const targets: Target[] = []
  let credits: Measured[]
  let spends: Measured[]
  try {
    targets.push(await startTrickle(needed))
    targets.push(await startReceiptVerifier(needed))
    targets.push(await startHttpFloor())
    for (const t of targets) {
      ctx.say(`  ${t.name}: warm-up`)
      await creditRun(t, warm, 2)
    }
    credits = await alternate(ctx, 'credits', targets, (t) => creditRun(t, count, ctx.durationS))
    spends = await alternate(ctx, 'spends', targets.slice(0, 2), (t) => spendRun(t, count, ctx.durationS))
  } finally {
    for (const t of targets) await t.stop()
  }
  const [trickle, anchor, floor] = credits as [Measured, Measured, Measured]
  const [trickleSpends, anchorSpends] = spends as [Measured, Measured]
  const rv = '@coil/receipt-verifier 1.0.3'
  const rows = [
    row({ id: 'verifier.credits', metric: 'verifier: receipts credited/s', unit: '/s', ...medianPair(trickle.runs.map((r) => r.rps), anchor.runs.map((r) => r.rps)), anchorName: rv, goal: { on: 'ratio', op: '>=', target: 5, text: '≥ 5x' } }),
    row({ id: 'verifier.credits.cpu', metric: 'verifier: server CPU per credit', unit: 'µs', ...medianPair(trickle.runs.map((r) => r.cpuPerRequestUs), anchor.runs.map((r) => r.cpuPerRequestUs)), anchorName: rv }),
    row({ id: 'verifier.http-floor', metric: 'verifier: the same requests to bare node:http (no work): the ceiling', unit: '/s', ...medianPair(floor.runs.map((r) => r.rps), anchor.runs.map((r) => r.rps)), anchorName: rv, note: 'not Trickle: the most requests/s any verifier on node:http could answer here' }),
    row({ id: 'verifier.credits.p50', metric: 'verifier: credit latency p50', unit: 'ms', trickle: trickle.p50ms, anchor: anchor.p50ms, anchorName: rv }),
    row({ id: 'verifier.credits.p99', metric: 'verifier: credit latency p99', unit: 'ms', trickle: trickle.p99ms, anchor: anchor.p99ms, anchorName: rv }),
    row({ id: 'verifier.spends', metric: 'verifier: spends/s', unit: '/s', ...medianPair(trickleSpends.runs.map((r) => r.rps), anchorSpends.runs.map((r) => r.rps)), anchorName: rv }),
    row({ id: 'verifier.spends.p50', metric: 'verifier: spend latency p50', unit: 'ms', trickle: trickleSpends.p50ms, anchor: anchorSpends.p50ms, anchorName: rv }),
    row({ id: 'verifier.spends.p99', metric: 'verifier: spend latency p99', unit: 'ms', trickle: trickleSpends.p99ms, anchor: anchorSpends.p99ms, anchorName: rv })
  ]
  return {
    rows,
    details: {
      connections: CONNECTIONS, balances: BALANCES, warmup: warm, maxRequests: count, rounds: ROUNDS,
      trickle: { credits: trickle, spends: trickleSpends }, receiptVerifier: { credits: anchor, spends: anchorSpends }, httpFloor: floor, redisDb: Number(REDIS_DB)
    }
  }
}
