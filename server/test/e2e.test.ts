// End to end on the real stack: ilp-connector + mini-accounts BTP, the wallet's ilp-protocol-stream
// server, the verifier's SPSP proxy, and an ilp-protocol-stream client paying over its own BTP socket.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { adminAuth, build, spendAuth } from './helper.ts'
import { pay, querySpsp } from './pay.ts'

test('paying through the proxy pointer: every receipt is credited, spends work, replays add nothing, wallet and verifier agree', async (t) => {
  const { app, url, btpPort } = await build(t, { TRICKLE_ILP_MAX_PACKET_AMOUNT: '1000' })
  const proxy = app.demo!.proxyPointer
  assert.match(proxy, /^http:\/\/127\.0\.0\.1:\d+\/p\/[0-9a-f]{32}$/)

  const paid = await pay(btpPort, proxy, 25_000)
  assert.equal(paid.totalSent, '25000')
  assert.ok(paid.receipts.length >= 25, `one receipt per packet of at most 1000 (got ${paid.receipts.length})`)

  let last = ''
  for (const receipt of paid.receipts) {
    const res = await fetch(`${url}/balances/session-1:creditReceipt`, { method: 'POST', body: receipt })
    assert.equal(res.status, 200, await res.clone().text())
    last = await res.text()
  }
  assert.equal(last, '25000', 'the credited total is what was sent')

  const account = await (await fetch(`${url}/wallet/accounts/demo`, { headers: adminAuth })).json() as { received: string }
  assert.equal(account.received, '25000', 'the wallet received what the verifier credited')

  let res = await fetch(`${url}/balances/session-1:spend`, { method: 'POST', headers: spendAuth, body: '10000' })
  assert.equal(await res.text(), '15000')

  for (const receipt of paid.receipts.slice(-3)) {
    res = await fetch(`${url}/balances/session-1:creditReceipt`, { method: 'POST', body: receipt })
    assert.equal(res.status, 400)
    assert.equal((await res.json() as { code: string }).code, 'receipt_not_newer')
  }
  assert.equal(await (await fetch(`${url}/balances/session-1`)).text(), '15000', 'replayed receipts added nothing')
})

test('several streams on one connection: each stream has its own receipts, all add up', async (t) => {
  const { app, url, btpPort } = await build(t, { TRICKLE_ILP_MAX_PACKET_AMOUNT: '500' })
  const paid = await pay(btpPort, app.demo!.proxyPointer, 6000, 3)
  assert.equal(paid.totalSent, '6000')
  // Credit out of order across streams: each stream's totals only ever rise, the sum is exact.
  const byStream = new Map<number, string[]>()
  for (const r of paid.receipts) {
    const id = Buffer.from(r, 'base64')[17]!
    byStream.set(id, [...(byStream.get(id) ?? []), r])
  }
  assert.equal(byStream.size, 3)
  let balance = ''
  for (const receipts of byStream.values()) {
    balance = await (await fetch(`${url}/balances/multi:creditReceipt`, { method: 'POST', body: receipts.at(-1) })).text()
  }
  assert.equal(balance, '6000', 'the last receipt of each stream carries its whole total')
})

test('a direct SPSP query to the wallet has no receipts; with Receipt-* headers it does', async (t) => {
  const { app, btpPort } = await build(t)
  const plain = await querySpsp(app.demo!.paymentPointer)
  assert.equal(plain.receipts_enabled, false)
  const paid = await pay(btpPort, app.demo!.paymentPointer, 1234)
  assert.equal(paid.totalSent, '1234')
  assert.deepEqual(paid.receipts, [], 'no receipts without a verifier nonce')
  const account = await app.wallet.getAccount('demo')
  assert.equal(typeof account === 'object' && account.received, '1234')
})

test('money is tied to the right account by its connection tag', async (t) => {
  const { app, url, btpPort } = await build(t)
  const res = await fetch(`${url}/wallet/accounts`, { method: 'POST', headers: { ...adminAuth, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'alice' }) })
  assert.equal(res.status, 201)
  const alice = await res.json() as { paymentPointer: string }
  await pay(btpPort, alice.paymentPointer, 700)
  await pay(btpPort, app.demo!.paymentPointer, 300)
  const accounts = await (await fetch(`${url}/wallet/accounts`, { headers: adminAuth })).json() as Array<{ name: string, received: string, assetCode: string, assetScale: number }>
  assert.deepEqual(accounts.map((a) => [a.name, a.received, a.assetCode, a.assetScale]), [['alice', '700', 'USD', 9], ['demo', '300', 'USD', 9]])
})
