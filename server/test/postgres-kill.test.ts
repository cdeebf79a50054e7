// Three companion processes on one PostgreSQL schema and one bus, credited and spent from at once; one
// is killed with SIGKILL in the middle. No acknowledged credit or spend is lost (each balance holds at
// least what was acknowledged, and never more than acknowledged plus what was in flight to the killed
// one), the survivors keep serving, and they notice the dead one is gone.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { test } from 'node:test'
import { encodeReceipt, receiptKeyFromSeed, receiptSecret } from '../src/receipts/codec.ts'
import { openPostgresStore } from '../src/store/postgres.ts'
import { eventually, NATS, startCompanion } from './cluster-helper.ts'

const POSTGRES = process.env.TRICKLE_TEST_POSTGRES ?? 'postgres://root@127.0.0.1:5432/test'

test('kill -9 of one of three companions under load loses no acknowledged credit or spend; the others keep serving', { timeout: 120_000 }, async (t) => {
  const schema = `trickle_kill_${randomBytes(5).toString('hex')}`
  const database = `${POSTGRES}?schema=${schema}`
  const seed = randomBytes(32)
  const env = { TRICKLE_DATABASE: database, RECEIPT_SEED: seed.toString('base64'), TRICKLE_ADMIN_TOKEN: 'kill-admin', TRICKLE_SPEND_TOKEN: 'kill-spend', TRICKLE_RATE_LIMIT: '0', TRICKLE_DEMO_ACCOUNT: '', TRICKLE_BUS: NATS, TRICKLE_BUS_SUBJECT: schema }
  // The schema first, by one store, so the companions do not all create it at once.
  const store = await openPostgresStore({ url: POSTGRES, schema })
  t.after(async () => { await store.dropSchema(); await store.close() })
  const [a, b, c] = await Promise.all([startCompanion(t, env), startCompanion(t, env), startCompanion(t, env)])

  // Receipts for nonces issued through the shared store (as either companion's SPSP queries would).
  const key = receiptKeyFromSeed(seed)
  const N = 1200
  const receipts: string[] = []
  for (let i = 0; i < N; i++) {
    const nonce = randomBytes(16)
    await store.putNonce({ nonce: nonce.toString('base64'), proxyId: 'creator', spspEndpoint: 'http://receiver.test/spsp', issuedAt: Date.now() })
    receipts.push(encodeReceipt({ nonce, streamId: 1, totalReceived: 1000n, secret: receiptSecret(key, nonce) }).toString('base64'))
  }
  const BALANCES = 20
  const acked = new Map<string, bigint>()
  /** Requests that got no answer (the killed companion's): each may or may not have committed. */
  const unknownCredits = new Map<string, bigint>()
  const unknownSpends = new Map<string, bigint>()
  const add = (m: Map<string, bigint>, k: string, v: bigint) => m.set(k, (m.get(k) ?? 0n) + v)
  let killed = false
  let servedAfterKill = 0
  let next = 0
  await Promise.all(Array.from({ length: 16 }, async () => {
    while (next < N) {
      const i = next++
      if (i === Math.floor(N / 3) && !killed) { killed = true; a.child.kill('SIGKILL') }
      const target = [a, b, c][i % 3]!
      const balance = `b${i % BALANCES}`
      const spend = i % 5 === 4
      try {
        const res = spend
          ? await fetch(`${target.url}/balances/${balance}:spend`, { method: 'POST', headers: { authorization: 'Bearer kill-spend', 'content-type': 'text/plain' }, body: '300' })
          : await fetch(`${target.url}/balances/${balance}:creditReceipt`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: receipts[i]! })
        await res.text()
        if (res.ok) add(acked, balance, spend ? -300n : 1000n)
        if (killed && target !== a) servedAfterKill++
      } catch {
        // No answer (the killed one): its effect is unknown either way.
        if (spend) add(unknownSpends, balance, 300n); else add(unknownCredits, balance, 1000n)
      }
    }
  }))
  assert.ok(killed && servedAfterKill > 100, `the survivors served ${servedAfterKill} requests after the kill`)
  // The survivors stop counting the dead one as part of the deployment (no heartbeat for ~7 s).
  await eventually('the survivors to drop the killed instance', async () => {
    const seen = await Promise.all([b, c].map(async (x) => (await (await fetch(`${x.url}/health`)).json() as { cluster: { instances: string[] } }).cluster.instances.length))
    return seen.every((n) => n === 1)
  }, 15_000)
  let lostAnswers = 0
  for (let i = 0; i < BALANCES; i++) {
    const id = `b${i}`
    const stored = (await store.getBalance(id, 'creator')) ?? 0n
    const ack = acked.get(id) ?? 0n
    const credits = unknownCredits.get(id) ?? 0n
    const spends = unknownSpends.get(id) ?? 0n
    lostAnswers += Number((credits + spends) > 0n)
    // Every acknowledged credit and spend is there; unanswered ones may each have committed or not.
    assert.ok(stored >= ack - spends && stored <= ack + credits, `${id}: stored ${stored}, acknowledged ${ack}, unanswered credits ${credits}, unanswered spends ${spends}`)
  }
  t.diagnostic(`${servedAfterKill} requests served by the survivors after the kill; ${lostAnswers} balances had requests left unanswered`)
})
