// 8. Paid calls: what one companion pays per joined attendee and per signalling message, and so how
// many attendees it holds. A companion process (SQLite, as a user runs it) with rooms of six; each
// attendee's balance is credited with a verified receipt, then joins over HTTP (the first period
// spent) and says hello on the signalling socket (bench/procs/call-attendees.ts, another process).
// Measured in the companion: CPU per join (credit excluded), heap per connected attendee (after
// collections, through the inspector), CPU per attendee per billed period (idle attendees, 5 s
// periods), and CPU per relayed signal (a 3 KB offer). No anchor: nothing else here sells a call.
import { randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { encodeReceipt, receiptKeyFromSeed, receiptSecret } from '../server/src/receipts/codec.ts'
import { openSqliteStore } from '../server/src/store/sqlite.ts'
import { newBalanceSecret, balanceIdOf } from '../server/src/verifier/owner.ts'
import type { Ctx } from './lib/context.ts'
import { InspectorSession, inspectOptions } from './lib/inspector.ts'
import { start } from './lib/proc.ts'
import { row, type Row } from './lib/report.ts'
import { demoPointers, repoRoot, startCompanion } from './lib/trickle.ts'
import { freePort, round, sleep } from './lib/util.ts'

const PERIOD_S = 5
const ROOM_SIZE = 6

export async function benchCalls (ctx: Ctx): Promise<{ rows: Row[], details: Record<string, unknown> }> {
  const attendees = ctx.quick ? 300 : 1200
  const messages = ctx.quick ? 3000 : 20_000
  const inspectPort = await freePort()
  const c = await startCompanion('calls', { TRICKLE_CALL_PERIOD: String(PERIOD_S), TRICKLE_CALL_GRACE: '2', NODE_OPTIONS: inspectOptions(inspectPort) })
  let session: InspectorSession | undefined
  try {
    const demo = await demoPointers(c)
    const rooms = Math.ceil(attendees / (ROOM_SIZE - 1))
    for (let r = 0; r < rooms; r++) {
      const res = await fetch(`${c.url}/calls/rooms`, { method: 'POST', headers: { ...c.auth('admin'), 'content-type': 'application/json' }, body: JSON.stringify({ id: `room-${r}`, pointer: demo.proxyPointer, rate: { amount: '1', assetCode: 'USD', assetScale: 2 }, maxParticipants: ROOM_SIZE }) })
      if (res.status !== 201) throw new Error(`room: ${res.status} ${await res.text()}`)
    }
    // Balances worth an hour each, credited with receipts for nonces written through the store.
    const key = receiptKeyFromSeed(c.seed)
    const store = openSqliteStore(c.database)
    const readers = Array.from({ length: attendees }, () => ({ secret: newBalanceSecret(), nonce: randomBytes(16) }))
    store.db.exec('BEGIN IMMEDIATE')
    for (const r of readers) await store.putNonce({ nonce: r.nonce.toString('base64'), proxyId: demo.proxyId, spspEndpoint: demo.walletPointer, issuedAt: Date.now() })
    store.db.exec('COMMIT')
    await store.close()
    for (const r of readers) {
      const receipt = encodeReceipt({ nonce: r.nonce, streamId: 1, totalReceived: 10_000_000_000n, secret: receiptSecret(key, r.nonce) }).toString('base64')
      const res = await fetch(`${c.url}/balances/${balanceIdOf(r.secret)}:creditReceipt`, { method: 'POST', body: receipt })
      if (!res.ok) throw new Error(`credit: ${res.status}`)
    }
    session = await InspectorSession.open(inspectPort)
    const heap = async () => { await session!.collectGarbage(); await session!.collectGarbage(); return await session!.evaluate<number>('process.memoryUsage().heapUsed') }
    const before = await heap()

    await ctx.checkLoad('calls: joins')
    const cpuJoin = c.proc.cpuSeconds()
    const tickets: Array<{ ticket: string, attendee: string, room: string }> = []
    for (let i = 0; i < attendees; i++) {
      const room = `room-${Math.floor(i / (ROOM_SIZE - 1))}`
      const res = await fetch(`${c.url}/calls/rooms/${room}/join`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ secret: readers[i]!.secret, name: `Reader ${i}` }) })
      const body = await res.json() as { ticket: string, attendee: string }
      if (!res.ok) throw new Error(`join: ${res.status} ${JSON.stringify(body)}`)
      tickets.push({ ticket: body.ticket, attendee: body.attendee, room })
    }
    const file = path.join(c.dir, 'tickets.json')
    writeFileSync(file, JSON.stringify(tickets))
    const crowd = start({ name: 'call-attendees', script: path.join(repoRoot, 'bench/procs/call-attendees.ts'), args: [`${c.url.replace(/^http/, 'ws')}/calls/signal`, file, String(4 * PERIOD_S * 1000), String(messages)] })
    const ready = await crowd.waitForJson<{ ready: number }>('ready', 120_000)
    const joinCpuUs = round((c.proc.cpuSeconds() - cpuJoin) / attendees * 1e6, 0)
    if (ready.ready !== attendees) throw new Error(`only ${ready.ready} of ${attendees} attendees were welcomed`)
    ctx.say(`  ${attendees} attendees joined: ${joinCpuUs} µs of companion CPU each (HTTP join with its spend, and the signalling hello)`)

    // Idle attendees: only billing runs (one spend per attendee per period).
    const cpuIdle = c.proc.cpuSeconds()
    const idleS = 3 * PERIOD_S
    await sleep(idleS * 1000)
    const billingUs = round((c.proc.cpuSeconds() - cpuIdle) / (attendees * idleS / PERIOD_S) * 1e6, 0)
    const heapPer = round((await heap() - before) / attendees, 0)
    ctx.say(`  idle: ${billingUs} µs CPU per attendee per billed period, ${heapPer} B of heap per attendee`)

    const cpuSignal = c.proc.cpuSeconds()
    const relayed = await crowd.waitForJson<{ sent: number, received: number }>('sent', 120_000)
    const signalUs = round((c.proc.cpuSeconds() - cpuSignal) / relayed.sent * 1e6, 1)
    ctx.say(`  signalling: ${relayed.sent} offers of 3 KB, ${relayed.received} relayed, ${signalUs} µs CPU each`)
    await crowd.stop()

    // One core, all for billing: attendees per period it can charge; memory: attendees per GiB of heap.
    const byBilling = Math.floor(PERIOD_S * 1e6 / billingUs * 60 / PERIOD_S)
    const byHeap = Math.floor(1024 ** 3 / heapPer)
    const rows = [
      row({ id: 'calls.join.cpu', metric: 'calls: companion CPU per join (HTTP join with its spend, signalling hello)', unit: 'µs', trickle: joinCpuUs, anchor: Number.NaN, anchorName: '–' }),
      row({ id: 'calls.billing.cpu', metric: `calls: CPU per attendee per billed period (${PERIOD_S} s periods, idle attendees)`, unit: 'µs', trickle: billingUs, anchor: Number.NaN, anchorName: '–' }),
      row({ id: 'calls.heap', metric: 'calls: heap per connected attendee (after collections)', unit: 'B', trickle: heapPer, anchor: Number.NaN, anchorName: '–' }),
      row({ id: 'calls.signal.cpu', metric: 'calls: CPU per relayed signal (3 KB offer)', unit: 'µs', trickle: signalUs, anchor: Number.NaN, anchorName: '–' })
    ]
    return { rows, details: { attendees, rooms, roomSize: ROOM_SIZE, periodS: PERIOD_S, messages: relayed, joinCpuUs, billingUs, heapPer, signalUs, capacity: { byBillingAt60sPeriods: byBilling, byHeapPerGiB: byHeap } } }
  } finally {
    session?.close()
    await c.proc.stop()
  }
}
