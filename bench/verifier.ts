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
import { row, type Row } from './lib/report.ts'
import { demoPointers, repoRoot, startCompanion } from './lib/trickle.ts'
import { freePort, round } from './lib/util.ts'

/** Redis database index the bench owns (BENCH_REDIS_DB); it must be empty or hold the bench's marker. */
const REDIS_DB = process.env.BENCH_REDIS_DB ?? '13'
const MARKER = 'trickle-bench:owner'
/** What each receipt is worth (receipt units): balances end up rich enough for every spend. */
const RECEIPT_TOTAL = 1_000_000n
const BALANCES = 1000
const CONNECTIONS = 32

interface Target {
  name: string
  url: string
  proc: Proc
  spendHeaders: Record<string, string>
}

interface Phase { credits: LoadResult, spends: LoadResult, cpuPerCreditUs: number, cpuPerSpendUs: number }

function signReceipts (seed: Buffer, nonces: Buffer[]): string[] {
  const key = receiptKeyFromSeed(seed)
  return nonces.map((nonce) => encodeReceipt({ nonce, streamId: 1, totalReceived: RECEIPT_TOTAL, secret: receiptSecret(key, nonce) }).toString('base64'))
}

async function loadTarget (ctx: Ctx, t: Target, receipts: string[], warm: number, count: number): Promise<Phase> {
  const text = { 'content-type': 'text/plain' }
  let next = 0
  const credit = () => {
    const i = next++
    // Past the end (autocannon may build a request or two it never sends) a repeated receipt would be
    // refused; it is never sent within the bound.
    return { path: `/balances/b${i % BALANCES}:creditReceipt`, body: receipts[Math.min(i, receipts.length - 1)]! }
  }
  ctx.say(`  ${t.name}: warm-up`)
  await runLoad({ url: t.url, method: 'POST', headers: text, connections: CONNECTIONS, durationS: 2, maxRequests: warm, next: credit })
  next = warm
  await ctx.checkLoad(`${t.name} credits`)
  let cpu = t.proc.cpuSeconds()
  const credits = await runLoad({ url: t.url, method: 'POST', headers: text, connections: CONNECTIONS, durationS: ctx.durationS, maxRequests: count, next: credit })
  const cpuPerCreditUs = (t.proc.cpuSeconds() - cpu) / credits.ok * 1e6
  ctx.say(`  ${t.name}: ${Math.round(credits.rps)} credits/s (p50 ${credits.p50ms} ms, p99 ${credits.p99ms} ms, ${credits.non2xx} non-2xx, ${credits.errors} errors)`)

  let s = 0
  const spend = () => ({ path: `/balances/b${s++ % BALANCES}:spend`, body: '1' })
  await ctx.checkLoad(`${t.name} spends`)
  cpu = t.proc.cpuSeconds()
  const spends = await runLoad({ url: t.url, method: 'POST', headers: { ...text, ...t.spendHeaders }, connections: CONNECTIONS, durationS: ctx.durationS, maxRequests: count, next: spend })
  const cpuPerSpendUs = (t.proc.cpuSeconds() - cpu) / spends.ok * 1e6
  ctx.say(`  ${t.name}: ${Math.round(spends.rps)} spends/s (p50 ${spends.p50ms} ms, p99 ${spends.p99ms} ms, ${spends.non2xx} non-2xx, ${spends.errors} errors)`)
  return { credits, spends, cpuPerCreditUs: round(cpuPerCreditUs, 1), cpuPerSpendUs: round(cpuPerSpendUs, 1) }
}

async function benchTrickle (ctx: Ctx, warm: number, count: number): Promise<Phase> {
  const c = await startCompanion('verifier-trickle')
  try {
    const demo = await demoPointers(c)
    // The real path once: an SPSP query to the proxy pointer stores a nonce row like those written below.
    const spsp = await fetch(demo.proxyPointer, { headers: { accept: 'application/spsp4+json' } })
    if (!spsp.ok || (await spsp.json() as { receipts_enabled?: boolean }).receipts_enabled !== true) throw new Error('the proxy pointer gave no receipts')
    const nonces = Array.from({ length: warm + count + 1000 }, () => randomBytes(16))
    // Through Trickle's own store (a second connection to its SQLite file, as a second process may).
    const store = openSqliteStore(c.database)
    const issuedAt = Date.now()
    store.db.exec('BEGIN IMMEDIATE')
    for (const n of nonces) await store.putNonce({ nonce: n.toString('base64'), proxyId: demo.proxyId, spspEndpoint: demo.walletPointer, issuedAt })
    store.db.exec('COMMIT')
    await store.close()
    const receipts = signReceipts(c.seed, nonces)
    return await loadTarget(ctx, { name: 'Trickle', url: c.url, proc: c.proc, spendHeaders: c.auth('spend') }, receipts, warm, count)
  } finally {
    await c.proc.stop()
  }
}

async function benchReceiptVerifier (ctx: Ctx, warm: number, count: number): Promise<Phase> {
  const redis = await RedisConnection.open()
  try {
    await redis.command('SELECT', REDIS_DB)
    const size = await redis.command('DBSIZE') as number
    if (size > 0 && await redis.command('EXISTS', MARKER) !== 1) {
      throw new Error(`Redis database ${REDIS_DB} holds ${size} keys that are not the bench's; pick an empty one with BENCH_REDIS_DB`)
    }
    // Ours from here on (and left over from an interrupted run otherwise): start clean.
    await redis.command('FLUSHDB')
    await redis.command('SET', MARKER, 'trickle bench/verifier.ts')
    const seed = randomBytes(32)
    const nonces = Array.from({ length: warm + count + 1000 }, () => randomBytes(16))
    for (let i = 0; i < nonces.length; i += 5000) {
      // What its SPSP proxy does per query (Redis.setReceiptTTL): a hash with a dummy field, and a TTL.
      await redis.pipeline(nonces.slice(i, i + 5000).flatMap((n) => {
        const key = `ilpReceipts:${n.toString('base64')}`
        return [['HSET', key, 'dummy', '0'], ['EXPIRE', key, '3600']]
      }))
    }
    const receipts = signReceipts(seed, nonces)
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
      return await loadTarget(ctx, { name: '@coil/receipt-verifier', url: `http://127.0.0.1:${port}`, proc, spendHeaders: {} }, receipts, warm, count)
    } finally {
      await proc.stop()
    }
  } finally {
    await redis.command('FLUSHDB').catch(() => {})
    redis.close()
  }
}

/** The same credit requests against a bare node:http server that does no work (bench/procs/http-floor.ts). */
async function benchHttpFloor (ctx: Ctx, count: number): Promise<LoadResult & { cpuPerRequestUs: number }> {
  const port = await freePort()
  const proc = start({ name: 'http-floor', script: path.join(repoRoot, 'bench/procs/http-floor.ts'), args: [String(port)] })
  try {
    await proc.waitForJson('ready', 30_000)
    const url = `http://127.0.0.1:${port}`
    // Bodies as long as a receipt; the server never reads them.
    const body = 'A'.repeat(80)
    let i = 0
    const next = () => ({ path: `/balances/b${i++ % BALANCES}:creditReceipt`, body })
    await runLoad({ url, method: 'POST', headers: { 'content-type': 'text/plain' }, connections: CONNECTIONS, durationS: 2, maxRequests: 5000, next })
    await ctx.checkLoad('bare node:http')
    const cpu = proc.cpuSeconds()
    const r = await runLoad({ url, method: 'POST', headers: { 'content-type': 'text/plain' }, connections: CONNECTIONS, durationS: ctx.durationS, maxRequests: count, next })
    const cpuPerRequestUs = round((proc.cpuSeconds() - cpu) / r.ok * 1e6, 1)
    ctx.say(`  bare node:http: ${Math.round(r.rps)} requests/s (p50 ${r.p50ms} ms, p99 ${r.p99ms} ms, ${cpuPerRequestUs} µs CPU each)`)
    return { ...r, cpuPerRequestUs }
  } finally {
    await proc.stop()
  }
}

export async function benchVerifier (ctx: Ctx): Promise<{ rows: Row[], details: Record<string, unknown> }> {
  const warm = ctx.quick ? 2000 : 5000
  const count = ctx.quick ? 30_000 : 200_000
  const trickle = await benchTrickle(ctx, warm, count)
  const anchor = await benchReceiptVerifier(ctx, warm, count)
  const floor = await benchHttpFloor(ctx, count)
  const rv = '@coil/receipt-verifier 1.0.3'
  const rows = [
    row({ id: 'verifier.credits', metric: 'verifier: receipts credited/s', unit: '/s', trickle: trickle.credits.rps, anchor: anchor.credits.rps, anchorName: rv, goal: { on: 'ratio', op: '>=', target: 5, text: '≥ 5x' } }),
    row({ id: 'verifier.credits.cpu', metric: 'verifier: server CPU per credit', unit: 'µs', trickle: trickle.cpuPerCreditUs, anchor: anchor.cpuPerCreditUs, anchorName: rv }),
    row({ id: 'verifier.http-floor', metric: 'verifier: the same requests to bare node:http (no work): the ceiling', unit: '/s', trickle: floor.rps, anchor: anchor.credits.rps, anchorName: rv, note: 'not Trickle: the most requests/s any verifier on node:http could answer here' }),
    row({ id: 'verifier.credits.p50', metric: 'verifier: credit latency p50', unit: 'ms', trickle: trickle.credits.p50ms, anchor: anchor.credits.p50ms, anchorName: rv }),
    row({ id: 'verifier.credits.p99', metric: 'verifier: credit latency p99', unit: 'ms', trickle: trickle.credits.p99ms, anchor: anchor.credits.p99ms, anchorName: rv }),
    row({ id: 'verifier.spends', metric: 'verifier: spends/s', unit: '/s', trickle: trickle.spends.rps, anchor: anchor.spends.rps, anchorName: rv }),
    row({ id: 'verifier.spends.p50', metric: 'verifier: spend latency p50', unit: 'ms', trickle: trickle.spends.p50ms, anchor: anchor.spends.p50ms, anchorName: rv }),
    row({ id: 'verifier.spends.p99', metric: 'verifier: spend latency p99', unit: 'ms', trickle: trickle.spends.p99ms, anchor: anchor.spends.p99ms, anchorName: rv })
  ]
  return { rows, details: { connections: CONNECTIONS, balances: BALANCES, warmup: warm, maxRequests: count, trickle, receiptVerifier: anchor, httpFloor: floor, redisDb: Number(REDIS_DB) } }
}
