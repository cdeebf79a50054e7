// 6. Open Payments: credits per second through incoming payments beside credits through STREAM
// receipts, on one companion in this process (in-memory SQLite), in the same run; and in Chromium, the
// time from the covering payment's settlement at the creator's wallet to the sealed section being
// visible, with the development agent in extension mode.
//
// Each credit is a distinct payment to a distinct balance, already settled: a receipt credit is the
// verifier's HMAC check and one conditional write; an incoming-payment credit is one authenticated read
// of the payment at the wallet (here the embedded one, over loopback HTTP with RFC 9421 signatures
// checked, the grant cached) and one conditional write. The ratio is what reading the wallet costs.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { sealSite } from '../plugins/rehype-trickle-seal/lib/site.ts'
import { buildDevAgent } from '../scripts/build-dev-agent.ts'
import { hugoBuild, repoRoot as trickleRepo } from '../scripts/hugo.ts'
import { serveStatic } from '../scripts/static-server.ts'
import { build } from '../server/test/helper.ts'
import { pay, payIncomingPayment } from '../server/test/pay.ts'
import { siteSeal } from '../server/test/seal-helper.ts'
import { launchChromium } from '../test/support/browser.ts'
import { createIncomingPayment, getWalletAddress, incomingPaymentGrant, newClientKey } from '../theme/dev-agent/open-payments.ts'
import type { Ctx } from './lib/context.ts'
import { row, type Row } from './lib/report.ts'
import { round } from './lib/util.ts'

const CONCURRENCY = 16

/** Runs `jobs` with `CONCURRENCY` at a time; returns credits per second and CPU µs per credit. */
async function timed (jobs: Array<() => Promise<void>>): Promise<{ perS: number, cpuUs: number }> {
  const cpu = process.cpuUsage()
  const started = performance.now()
  let next = 0
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < jobs.length) await jobs[next++]!()
  }))
  const s = (performance.now() - started) / 1000
  const used = process.cpuUsage(cpu)
  return { perS: round(jobs.length / s, 0), cpuUs: round((used.user + used.system) / jobs.length, 0) }
}

export async function benchOpenPayments (ctx: Ctx): Promise<{ rows: Row[], details: Record<string, unknown> }> {
  const n = ctx.quick ? 100 : 400
  // Rate limits off: the bench is one address making every request.
  const { app, url, btpPort } = await build(undefined, { TRICKLE_RATE_LIMIT: '0', TRICKLE_SPSP_RATE_LIMIT_PER_ADDRESS: '0', TRICKLE_SPSP_RATE_LIMIT_PER_PROXY: '0' })
  try {
    // Receipts: one STREAM payment per SPSP query (each its own nonce), its last receipt kept.
    ctx.say(`  paying ${n} payments to the proxy pointer (receipts) and ${n} incoming payments…`)
    const receipts: string[] = []
    for (let i = 0; i < n; i++) receipts.push((await pay(btpPort, app.demo!.proxyPointer, '1000')).receipts.at(-1)!)
    // Incoming payments at the demo wallet address, as the extension makes them, each paid and settled.
    const wa = await getWalletAddress(`${url}/wallet/demo`)
    const key = await newClientKey()
    const token = await incomingPaymentGrant(wa, key)
    const payments: string[] = []
    for (let i = 0; i < n; i++) {
      const ip = await createIncomingPayment(wa, token, key, new Date(Date.now() + 600_000))
      await payIncomingPayment(btpPort, { ilpAddress: ip.ilpAddress, sharedSecret: Buffer.from(ip.sharedSecret).toString('base64url') }, 1000)
      payments.push(ip.id)
    }
    await ctx.checkLoad('open-payments credits')
    const viaReceipts = await timed(receipts.map((r, i) => async () => {
      const res = await fetch(`${url}/balances/r${i}:creditReceipt`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: r })
      if (!res.ok) throw new Error(`receipt credit: HTTP ${res.status}`)
      await res.text()
    }))
    const viaIncoming = await timed(payments.map((p, i) => async () => {
      const res = await fetch(`${url}/balances/i${i}:creditIncomingPayment`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ incomingPayment: p, walletAddress: wa.id }) })
      const body = await res.json() as { credited?: string }
      if (!res.ok || body.credited !== '1000') throw new Error(`incoming-payment credit: HTTP ${res.status} ${JSON.stringify(body)}`)
    }))

    // Chromium: one payment covers the section; settlement is when the wallet's total crosses the price.
    const latency = await sectionLatency(app, url, btpPort, ctx)
    const rows = [
      row({ id: 'op.credits', metric: 'credits/s through incoming payments (one authenticated wallet read each) vs through receipts', unit: '/s', trickle: viaIncoming.perS, anchor: viaReceipts.perS, anchorName: 'Trickle, STREAM receipts (same run)', note: `CPU ${viaIncoming.cpuUs} µs vs ${viaReceipts.cpuUs} µs per credit, companion and client in one process` }),
      row({ id: 'op.visible', metric: 'settlement of the covering payment → sealed section visible (Chromium, extension mode)', unit: 'ms', trickle: latency.medianMs, anchor: Number.NaN, anchorName: '–', goal: { on: 'value', op: '<=', target: 500, text: '≤ 500 ms' }, note: `median of ${latency.samples.length}: ${latency.samples.join(', ')} ms` })
    ]
    return { rows, details: { n, concurrency: CONCURRENCY, viaReceipts, viaIncoming, latency } }
  } finally {
    await app.close()
  }
}

async function sectionLatency (app: Awaited<ReturnType<typeof build>>['app'], url: string, btpPort: number, ctx: Ctx): Promise<{ medianMs: number, samples: number[] }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'trickle-bench-op-'))
  try {
    await buildDevAgent()
    // Pages of other creators (front matter, the gallery) are sealed too: each creator a registered wallet.
    const creators: string[] = []
    for (const name of ['alice', 'bob', 'carol']) {
      const account = await app.wallet.ensureAccount(name)
      await app.verifier.registerProxy(account.paymentPointer)
      creators.push(`    ${name} = "${account.paymentPointer}"`)
    }
    const override = path.join(dir, 'trickle.toml')
    // One payment of 600000 units covers the 500000 price; 1 s apart, so each sample has one settlement.
    writeFileSync(override, `[params]\n  monetization = "${app.demo!.paymentPointer}"\n  [params.creators]\n${creators.join('\n')}\n  [params.trickle.devAgent]\n    btp = "btp+ws://127.0.0.1:${btpPort}"\n    amount = "600000"\n    intervalMs = 1000\n`)
    const site = await serveStatic(dir)
    await hugoBuild({ source: `${trickleRepo}site-example`, destination: path.join(dir, 'dev'), configs: [override], baseURL: `${site.url}/dev/`, environment: 'development' })
    await sealSite(path.join(dir, 'dev'), { ...siteSeal(app.sealKey), companion: url })
    const browser = await launchChromium()
    const samples: number[] = []
    try {
      for (let i = 0; i < (ctx.quick ? 3 : 7); i++) {
        // A new reader each time (a new context: a new balance), so the section is bought, not granted.
        const context = await browser.newContext()
        // Stamped in the page the moment the section opens (the page's clock is this machine's).
        await context.addInitScript(() => {
          const w = window as unknown as { trickleVisibleAt?: number }
          new MutationObserver(() => {
            if (!w.trickleVisibleAt && document.querySelector('[data-trickle-content]:not([data-trickle-sealed])')) w.trickleVisibleAt = Date.now()
          }).observe(document, { subtree: true, attributes: true, childList: true })
        })
        const page = await context.newPage()
        const received = async () => BigInt((await app.wallet.getAccount('demo') as { received: string }).received)
        const before = await received()
        await page.goto(`${site.url}/dev/posts/exclusive-marker/`)
        // Settlement, seen from the wallet every 5 ms; visibility, stamped in the page when it happens.
        let settledAt = 0
        while (settledAt === 0) {
          if ((await received()) - before >= 500_000n) settledAt = Date.now()
          else await new Promise((resolve) => setTimeout(resolve, 5))
        }
        const visibleAt = await (await page.waitForFunction(() => (window as unknown as { trickleVisibleAt?: number }).trickleVisibleAt, undefined, { timeout: 30_000 })).jsonValue() as number
        samples.push(Math.max(0, visibleAt - settledAt))
        await context.close()
      }
    } finally {
      await browser.close()
      await site.close()
    }
    const sorted = [...samples].sort((a, b) => a - b)
    return { medianMs: sorted[Math.floor(sorted.length / 2)]!, samples }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
