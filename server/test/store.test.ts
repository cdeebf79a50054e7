// Money is never lost or double-counted: restarts, concurrent spends and credits, several processes.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import { promisify } from 'node:util'
import { openSqliteStore } from '../src/store/sqlite.ts'
import { build, issueNonce, spendAuth } from './helper.ts'

const text = { 'content-type': 'text/plain' }

function tempDir (t: { after (fn: () => unknown): void }) {
  const dir = mkdtempSync(path.join(tmpdir(), 'trickle-store-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

test('balances, nonces, proxies, tokens and the wallet survive a restart', async (t) => {
  const database = path.join(tempDir(t), 'trickle.sqlite')
  const env = { TRICKLE_DATABASE: database, TRICKLE_ADMIN_TOKEN: '', TRICKLE_SPEND_TOKEN: '', TRICKLE_PUBLIC_URL: 'http://trickle.test' }
  const first = await build(undefined, env, { listen: false })
  const n = await issueNonce(first.app)
  let res = await first.app.inject({ method: 'POST', url: '/balances/kept:creditReceipt', headers: text, payload: n.receipt(5000) })
  assert.equal(res.body, '5000')
  await first.app.store.addReceived('demo', 5000n)
  const { adminToken, spendToken } = first.app.secrets
  const proxyPointer = first.app.demo!.proxyPointer.replace(/^http:\/\/[^/]+/, '')
  await first.app.close()

  const second = await build(t, env, { listen: false })
  assert.equal(second.app.secrets.adminToken, adminToken, 'generated tokens are kept')
  assert.equal(second.app.secrets.spendToken, spendToken)
  assert.equal(second.app.demo!.proxyPointer.replace(/^http:\/\/[^/]+/, ''), proxyPointer)
  res = await second.app.inject({ method: 'GET', url: '/balances/kept' })
  assert.equal(res.body, '5000')
  // The seed is kept: a receipt for a nonce issued before the restart still verifies, and only its increase counts.
  res = await second.app.inject({ method: 'POST', url: '/balances/kept:creditReceipt', headers: text, payload: n.receipt(5000) })
  assert.equal(res.json().code, 'receipt_not_newer', 'the high-water mark survived too')
  res = await second.app.inject({ method: 'POST', url: '/balances/kept:creditReceipt', headers: text, payload: n.receipt(6000) })
  assert.equal(res.body, '6000')
  res = await second.app.inject({ method: 'POST', url: '/balances/kept:spend', headers: { ...text, authorization: `Bearer ${spendToken}` }, payload: '6000' })
  assert.equal(res.body, '0')
  const demo = await second.app.wallet.getAccount('demo')
  assert.equal(typeof demo === 'object' && demo.received, '5000')
})

test('200 concurrent spends over HTTP never overdraw', async (t) => {
  const { app, url } = await build(t)
  const n = await issueNonce(app)
  await app.inject({ method: 'POST', url: '/balances/hot:creditReceipt', headers: text, payload: n.receipt(1000) })
  const replies = await Promise.all(Array.from({ length: 200 }, () =>
    fetch(`${url}/balances/hot:spend`, { method: 'POST', headers: spendAuth, body: '7' }).then(async (r) => ({ status: r.status, body: await r.text() }))))
  const ok = replies.filter((r) => r.status === 200)
  assert.equal(ok.length, 142, 'floor(1000 / 7) spends succeed')
  assert.ok(replies.every((r) => r.status === 200 || r.status === 409))
  assert.deepEqual(ok.map((r) => Number(r.body)).sort((a, b) => b - a), Array.from({ length: 142 }, (_, i) => 1000 - 7 * (i + 1)),
    'every reply is a distinct balance: no two spends saw the same one')
  assert.equal(await (await fetch(`${url}/balances/hot`)).text(), '6')
})

test('concurrent credits of one stream, in any order, add up to its highest total exactly once', async (t) => {
  const { app, url } = await build(t)
  const n = await issueNonce(app)
  const totals = Array.from({ length: 100 }, (_, i) => (i + 1) * 10).sort(() => Math.random() - 0.5)
  const replies = await Promise.all(totals.flatMap((total) => [0, 1].map(() =>
    fetch(`${url}/balances/race:creditReceipt`, { method: 'POST', body: n.receipt(total) }).then((r) => r.status))))
  assert.ok(replies.every((s) => s === 200 || s === 400))
  assert.equal(await (await fetch(`${url}/balances/race`)).text(), '1000')
})

test('two processes spending from one SQLite file never overdraw', async (t) => {
  const file = path.join(tempDir(t), 'shared.sqlite')
  const store = openSqliteStore(file)
  await store.putNonce({ nonce: 'n', proxyId: 'p', spspEndpoint: 'x', issuedAt: Date.now() })
  await store.creditReceipt({ nonce: 'n', streamId: 1, totalReceived: 500n, balanceId: 'shared', maxBalance: 1n << 62n })
  await store.close()
  const worker = new URL('./fixtures/spend-worker.ts', import.meta.url).pathname
  const run = () => promisify(execFile)(process.execPath, [worker, file, 'shared', '3', '150', 'p'])
  const results = await Promise.all([run(), run()])
  const spent = results.reduce((sum, r) => sum + (JSON.parse(r.stdout) as { spent: number }).spent, 0)
  assert.equal(spent, 166, 'floor(500 / 3) spends across both processes')
  const after = openSqliteStore(file)
  assert.equal(await after.getBalance('shared'), 2n)
  await after.close()
})

test('expired nonces are purged with their marks; balances stay', async (t) => {
  let clock = Date.now()
  const { app } = await build(t, { RECEIPT_TTL: '10' }, { listen: false, now: () => clock })
  const n = await issueNonce(app, clock)
  await app.inject({ method: 'POST', url: '/balances/p:creditReceipt', headers: text, payload: n.receipt(10) })
  clock += 25_000
  assert.equal(await app.verifier.purgeExpired(), 1)
  assert.equal(await app.store.getNonce(n.nonce.toString('base64')), undefined)
  assert.equal(await app.store.getBalance('p'), 10n)
  const res = await app.inject({ method: 'POST', url: '/balances/p:creditReceipt', headers: text, payload: n.receipt(20) })
  assert.equal(res.json().code, 'unknown_nonce')
})
