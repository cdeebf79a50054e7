// 3. Payments: STREAM packets per second from a sender into the creator wallet through the embedded
// connector with receipts on (the demo proxy pointer: SPSP through the verifier, a receipt on every
// packet), against a bare ilp-protocol-stream server on the same connector (its own process, joined
// over BTP like any client). TRICKLE_ILP_MAX_PACKET_AMOUNT is small so that packets, not amounts, are
// counted; the connector's rate limit is off. Rounds alternate between the two; the median counts.
import path from 'node:path'
import type { Ctx } from './lib/context.ts'
import { start } from './lib/proc.ts'
import { row, type Row } from './lib/report.ts'
import { demoPointers, repoRoot, startCompanion, type Companion } from './lib/trickle.ts'
import { freePort, median } from './lib/util.ts'

const PACKET_AMOUNT = '1000'
const CONNECTIONS = 4

interface SenderResult { packets: number, seconds: number, packetsPerS: number, totalPackets: number, receipts: string[] }

async function send (ctx: Ctx, label: string, c: Companion, pointer: string): Promise<SenderResult & { companionCpuPerPacketUs: number }> {
  await ctx.checkLoad(label)
  const cpu = c.proc.cpuSeconds()
  const sender = start({
    name: `stream-sender-${label}`,
    script: path.join(repoRoot, 'bench/procs/stream-sender.ts'),
    args: [JSON.stringify({ pointer, btpUrl: c.btpUrl, connections: CONNECTIONS, warmupMs: 3000, durationMs: ctx.durationS * 1000, maxPackets: 500_000, packetAmount: PACKET_AMOUNT })]
  })
  try {
    const r = await sender.waitForJson<SenderResult>('result', (ctx.durationS + 60) * 1000)
    // CPU of the companion process per packet: the connector and, for Trickle, the wallet and its receipts.
    const companionCpuPerPacketUs = Math.round((c.proc.cpuSeconds() - cpu) / r.totalPackets * 1e6)
    ctx.say(`  ${label}: ${Math.round(r.packetsPerS)} packets/s (${r.packets} in ${r.seconds.toFixed(1)} s, ${CONNECTIONS} connections; companion CPU ${companionCpuPerPacketUs} µs/packet)`)
    return { ...r, companionCpuPerPacketUs }
  } finally {
    await sender.stop()
  }
}

export async function benchStream (ctx: Ctx): Promise<{ rows: Row[], details: Record<string, unknown> }> {
  const rounds = ctx.quick ? 1 : 3
  const c = await startCompanion('stream', { TRICKLE_ILP_MAX_PACKET_AMOUNT: PACKET_AMOUNT, TRICKLE_ILP_RATE_LIMIT: '0' })
  const httpPort = await freePort()
  const receiver = start({ name: 'bare-receiver', script: path.join(repoRoot, 'bench/procs/bare-receiver.ts'), args: [c.btpUrl, String(httpPort)] })
  try {
    const demo = await demoPointers(c)
    await receiver.waitForJson('ready', 30_000)
    const trickleRuns = []
    const bareRuns = []
    const trickle1 = () => send(ctx, 'Trickle wallet, receipts on', c, demo.proxyPointer)
    const bare1 = () => send(ctx, 'bare ilp-protocol-stream', c, `http://127.0.0.1:${httpPort}/`)
    for (let i = 0; i < rounds; i++) {
      if (i % 2 === 0) { trickleRuns.push(await trickle1()); bareRuns.push(await bare1()) } else { bareRuns.push(await bare1()); trickleRuns.push(await trickle1()) }
    }
    const last = trickleRuns.at(-1)!
    if (last.receipts.length !== CONNECTIONS) throw new Error(`only ${last.receipts.length} of ${CONNECTIONS} streams brought receipts back`)
    // The receipts are real: the verifier credits the last one of a stream (its running total).
    const res = await fetch(`${c.url}/balances/stream-check:creditReceipt`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: last.receipts[0] })
    const receiptCredited = await res.text()
    if (res.status !== 200) throw new Error(`the verifier refused a receipt of the run: ${receiptCredited}`)
    const trickle = median(trickleRuns.map((r) => r.packetsPerS))
    const bare = median(bareRuns.map((r) => r.packetsPerS))
    const strip = (r: SenderResult & { companionCpuPerPacketUs: number }) => ({ ...r, receipts: r.receipts.length })
    const rows = [
      row({ id: 'stream.packets', metric: 'payments: STREAM packets/s into the wallet (receipts on)', unit: '/s', trickle, anchor: bare, anchorName: 'bare ilp-protocol-stream 2.7.1', goal: { on: 'ratio', op: '>=', target: 0.9, text: '≥ 0.90x' } })
    ]
    return { rows, details: { packetAmount: PACKET_AMOUNT, connections: CONNECTIONS, rounds, receiptCredited, trickle: trickleRuns.map(strip), bare: bareRuns.map(strip) } }
  } finally {
    await receiver.stop()
    await c.proc.stop()
  }
}
