// Pull agreements live in the companion's SQLite file: balances, offline registrations and the signing
// key survive a restart; the send lease and the per-cycle accounting are atomic store steps.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { test } from 'node:test'
import { openSqlitePullStore, type PullAgreement } from '../src/pull/store.ts'
import { build } from './helper.ts'
import { createAgreement, json, pullFrom, queryPull } from './pull-client.ts'

test('agreements, balances, offline registrations and the signing key survive a restart', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'trickle-pull-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const env = { TRICKLE_DATABASE: path.join(dir, 'trickle.sqlite'), TRICKLE_PUBLIC_URL: 'http://trickle.test' }
  const clock = Date.parse('2026-07-01T00:00:00Z')
  const terms = { amount: '1000', assetCode: 'USD', assetScale: 9, interval: 'P1M', cycles: 6, cap: true }
  // The public URL is fixed so pointers are stable; reach the app on its real port instead.
  const local = (url: string, pointer: string) => pointer.replace('http://trickle.test', url)
  const mint = async (url: string) => (await (await fetch(`${url}/pull/tokens`, { method: 'POST', headers: json, body: JSON.stringify(terms) })).json() as { token: string, pointer: string })

  const first = await build(undefined, env, { now: () => clock })
  const online = await createAgreement(first.url, terms)
  assert.equal(online.pointer, `http://trickle.test/pull/${online.id}`)
  assert.equal((await pullFrom(first.btpPort, local(first.url, online.pointer), 300)).received, 300n)
  const used = await mint(first.url)
  assert.equal((await pullFrom(first.btpPort, local(first.url, used.pointer), 100)).received, 100n)
  const unused = await mint(first.url)
  const never = await mint(first.url)
  await first.app.pull.idle()
  await first.app.close()

  const second = await build(undefined, env, { now: () => clock })
  const listed = await second.app.pull.list()
  // Both were created at the same (injected) instant, so the list order between them is not defined.
  const byPointer = (a: [string, string, boolean], b: [string, string, boolean]) => a[0].localeCompare(b[0])
  assert.deepEqual(listed.map((a): [string, string, boolean] => [a.pointer, a.balance.total, a.offline]).sort(byPointer), ([
    [online.pointer, '300', false],
    [used.pointer, '100', true]
  ] as Array<[string, string, boolean]>).sort(byPointer))
  assert.equal((await pullFrom(second.btpPort, local(second.url, online.pointer))).received, 700n, 'the rest of the cycle, not a fresh 1000')
  assert.equal((await pullFrom(second.btpPort, local(second.url, used.pointer))).received, 900n)
  assert.equal((await queryPull(local(second.url, unused.pointer))).status, 200, 'a token minted before the restart verifies: the generated key was kept')
  await second.app.pull.idle()
  await second.app.close()

  // With another signing key, registered offline pointers keep working; unused old tokens are refused.
  const rotated = await build(t, { ...env, TRICKLE_PULL_SIGNING_KEY: Buffer.alloc(32, 1).toString('base64') }, { now: () => clock })
  assert.equal((await queryPull(local(rotated.url, used.pointer))).status, 200)
  assert.equal((await queryPull(local(rotated.url, unused.pointer))).status, 200)
  const stale = await queryPull(local(rotated.url, never.pointer))
  assert.deepEqual([stale.status, stale.body.code], [401, 'token_unknown_key'])
})

test('store: one send lease at a time, lapsing on its own; pulls counted per cycle', async () => {
  const store = openSqlitePullStore(new DatabaseSync(':memory:'))
  const a: PullAgreement = {
    id: 'a1', amount: 100n, assetCode: 'USD', assetScale: 2, interval: 'P1D', cycles: 3, cap: true, start: 0,
    createdAt: 0, updatedAt: 0, total: 0n, intervalPulled: 0n, intervalCycle: 0
  }
  assert.equal((await store.insert(a)).created, true)
  assert.equal((await store.insert({ ...a, amount: 5n })).created, false, 'insert never overwrites')
  assert.equal((await store.get('a1'))!.amount, 100n)

  assert.equal(typeof await store.acquireLease('a1', 'h1', 1000, 2000), 'object')
  assert.equal(await store.acquireLease('a1', 'h2', 1500, 2500), 'busy', 'only one sendMax at a time')
  assert.equal(typeof await store.acquireLease('a1', 'h1', 1500, 2500), 'object', 'the holder may renew')
  assert.equal(await store.acquireLease('a1', 'h2', 2499, 3000), 'busy')
  assert.equal(typeof await store.acquireLease('a1', 'h2', 2500, 3000), 'object', 'a lapsed lease (crashed holder) is free')
  await store.releaseLease('a1', 'h1')
  assert.equal(await store.acquireLease('a1', 'h3', 2600, 3000), 'busy', 'only the holder releases')
  await store.releaseLease('a1', 'h2')
  assert.equal(typeof await store.acquireLease('a1', 'h3', 2600, 3000), 'object')
  assert.equal(await store.acquireLease('nope', 'h3', 2600, 3000), undefined)

  const step = async (amount: bigint, cycle: number) => {
    const r = (await store.recordPulled('a1', amount, cycle, 0))!
    return [r.total, r.intervalPulled, r.intervalCycle]
  }
  assert.deepEqual(await step(50n, 1), [50n, 50n, 1])
  assert.deepEqual(await step(20n, 1), [70n, 70n, 1])
  assert.deepEqual(await step(10n, 2), [80n, 10n, 2], 'a new cycle starts its interval balance afresh')
  assert.deepEqual(await step(5n, 1), [85n, 10n, 2], 'a late record of an older cycle only adds to the total')
  assert.equal(await store.update('a1', () => 'nope' as const), 'nope', 'update returns the callback\'s error, writing nothing')
  assert.equal((await store.get('a1'))!.total, 85n)
  assert.equal(await store.update('missing', (x) => x), undefined)
})

test('many concurrent records never lose a unit', async () => {
  const store = openSqlitePullStore(new DatabaseSync(':memory:'))
  await store.insert({
    id: 'c', amount: 1n, assetCode: 'USD', assetScale: 0, interval: 'P1D', cycles: 1, cap: false, start: 0,
    createdAt: 0, updatedAt: 0, total: 0n, intervalPulled: 0n, intervalCycle: 0
  })
  await Promise.all(Array.from({ length: 500 }, (_, i) => store.recordPulled('c', BigInt(i + 1), 1, 0)))
  const c = (await store.get('c'))!
  assert.deepEqual([c.total, c.intervalPulled], [125_250n, 125_250n])
})
