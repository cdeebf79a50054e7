// Three companion processes (server.ts, as `npm start` runs it) on one PostgreSQL schema and one NATS
// bus: a receipt credited on A is spent on B and read on C; 1,000 spends at once spread over the
// three never overdraw; webhooks queued while all three watch the outbox are delivered exactly once.
// (kill -9 under load: postgres-kill.test.ts; behind nginx, with WebTorrent clients: test/deployment.test.ts.)
import assert from 'node:assert/strict'
import { randomBytes, randomUUID } from 'node:crypto'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { test } from 'node:test'
import { encodeReceipt, receiptKeyFromSeed, receiptSecret } from '../src/receipts/codec.ts'
import { postgresPullStore } from '../src/store/postgres-features.ts'
import { deployment, eventually, startCompanion } from './cluster-helper.ts'

const spendAuth = { authorization: 'Bearer cluster-spend', 'content-type': 'text/plain' }

async function three (t: import('node:test').TestContext) {
  const d = await deployment(t)
  const env = { ...d.env, TRICKLE_ADMIN_TOKEN: 'cluster-admin', TRICKLE_SPEND_TOKEN: 'cluster-spend', TRICKLE_DEMO_ACCOUNT: '' }
  const a = await startCompanion(t, env)
  const rest = await Promise.all([startCompanion(t, env), startCompanion(t, env)])
  const all = [a, ...rest]
  await eventually('each instance to hear the other two', async () => {
    const health = await Promise.all(all.map(async (c) => await (await fetch(`${c.url}/health`)).json() as { cluster?: { instances: string[] } }))
    return health.every((h) => h.cluster?.instances.length === 2)
  })
  const key = receiptKeyFromSeed(Buffer.from(d.env.RECEIPT_SEED!, 'base64'))
  /** A receipt for a nonce issued through the shared store, as any instance's SPSP answer would. */
  const receipt = async (amount: bigint) => {
    const nonce = randomBytes(16)
    await d.store.putNonce({ nonce: nonce.toString('base64'), proxyId: 'creator', spspEndpoint: 'http://receiver.test/spsp', issuedAt: Date.now() })
    return encodeReceipt({ nonce, streamId: 1, totalReceived: amount, secret: receiptSecret(key, nonce) }).toString('base64')
  }
  return { ...d, instances: all, receipt }
}

test('three instances: credited on A, spent on B, read on C; 1,000 spends at once over the three never overdraw', { timeout: 120_000 }, async (t) => {
  const { instances: [a, b, c], receipt, store } = await three(t)
  const r = await receipt(500_000n)
  const credited = await fetch(`${a!.url}/balances/reader:creditReceipt`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: r })
  assert.equal(credited.status, 200, await credited.text())
  // The same receipt again, on another instance: it is not newer than what was credited (STREAM receipts count up).
  const replay = await fetch(`${c!.url}/balances/reader:creditReceipt`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: r })
  assert.equal(replay.status, 400)
  assert.equal((await replay.json() as { code: string }).code, 'receipt_not_newer')
  const spent = await fetch(`${b!.url}/balances/reader:spend`, { method: 'POST', headers: spendAuth, body: '1000' })
  assert.equal(spent.status, 200, await spent.text())
  const read = await (await fetch(`${c!.url}/balances/reader`)).json() as { balances?: Array<{ amount: string }>, balance?: string }
  assert.match(JSON.stringify(read), /499000/)

  // 499 spends of 1,000 fit; 1,000 are sent at once, a third to each instance.
  const statuses = await Promise.all(Array.from({ length: 1000 }, async (_, i) => {
    const target = [a, b, c][i % 3]!
    const res = await fetch(`${target.url}/balances/reader:spend`, { method: 'POST', headers: spendAuth, body: '1000' })
    await res.text()
    return res.status
  }))
  const ok = statuses.filter((s) => s === 200).length
  const counts: Record<string, number> = {}
  for (const s of statuses) counts[s] = (counts[s] ?? 0) + 1
  assert.equal(ok, 499, `statuses: ${JSON.stringify(counts)}`)
  assert.ok(statuses.every((s) => s === 200 || s === 409), 'the rest are refused for want of funds (409 insufficient_balance), nothing else')
  assert.equal(await store.getBalance('reader', 'creator'), 0n)
})

test('three instances watching one webhook outbox deliver each webhook exactly once', { timeout: 120_000 }, async (t) => {
  const { instances, store } = await three(t)
  const pull = postgresPullStore(store.pool)
  const seen = new Map<string, number>()
  const receiver = createServer((req, res) => {
    const id = String(req.headers['trickle-delivery'])
    seen.set(id, (seen.get(id) ?? 0) + 1)
    // Slow enough that the instances overlap in claiming.
    setTimeout(() => res.writeHead(204).end(), 50)
  })
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve))
  t.after(() => { receiver.close() })
  const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`
  const ids: string[] = []
  // Queued as a pull on any instance queues them; none of the three has a timer for them.
  for (let i = 0; i < 60; i++) {
    const id = randomUUID()
    ids.push(id)
    await pull.enqueueWebhook({ id, agreementId: `agreement-${i % 4}`, url, body: JSON.stringify({ n: i }), attempts: 0, createdAt: Date.now() }, Date.now())
  }
  await eventually('all 60 webhooks to arrive', () => ids.every((id) => seen.has(id)), 30_000)
  // A little longer: a second delivery would come now if any instance had claimed one twice.
  await new Promise((resolve) => setTimeout(resolve, 6000))
  assert.deepEqual([...seen.values()].filter((n) => n !== 1), [], 'no webhook arrived twice')
  assert.equal(seen.size, 60)
  assert.ok(instances.every((c) => c.child.exitCode === null))
})

test('a spend retried with its Idempotency-Key, on any instance and all at once, is spent once', { timeout: 120_000 }, async (t) => {
  const { instances, receipt, store } = await three(t)
  const credited = await fetch(`${instances[0]!.url}/balances/payer:creditReceipt`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: await receipt(10_000n) })
  assert.equal(credited.status, 200)
  const spend = (i: number, key: string, amount = '1000') => fetch(`${instances[i % 3]!.url}/balances/payer:spend`, { method: 'POST', headers: { ...spendAuth, 'idempotency-key': key }, body: amount })
  const answers = await Promise.all(Array.from({ length: 30 }, async (_, i) => {
    const res = await spend(i, 'order-42')
    return { status: res.status, left: await res.text(), replay: res.headers.get('idempotent-replay') }
  }))
  assert.ok(answers.every((a) => a.status === 200 && a.left === '9000'), JSON.stringify(answers.slice(0, 3)))
  assert.equal(answers.filter((a) => a.replay === 'true').length, 29, 'one spent, 29 answered as replays')
  assert.equal(await store.getBalance('payer', 'creator'), 9000n)
  assert.equal(await (await spend(0, 'order-43')).text(), '8000', 'another key is another spend')
  assert.equal(await (await spend(1, 'order-43', '500')).text(), '7500', 'the same key with another amount is another spend')
  const bad = await spend(2, 'no spaces allowed')
  assert.deepEqual([bad.status, (await bad.json() as { code: string }).code], [400, 'invalid_idempotency_key'])
})
