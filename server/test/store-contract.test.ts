// One contract for every store (store/types.ts), run against the embedded SQLite store and against
// PostgreSQL (TRICKLE_TEST_POSTGRES, default the machine's postgres://root@127.0.0.1:5432/test; each
// run in a schema of its own, dropped after). The money-moving steps are tried under concurrency:
// a thousand spends of one balance, one receipt credited from many requests at once, one purchase
// asked twice at once.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { describe, test } from 'node:test'
import { openPostgresStore, StoreOpenError } from '../src/store/postgres.ts'
import { openSqliteStore } from '../src/store/sqlite.ts'
import { postgresPullStore } from '../src/store/postgres-features.ts'
import type { Store } from '../src/store/types.ts'

const POSTGRES = process.env.TRICKLE_TEST_POSTGRES ?? 'postgres://root@127.0.0.1:5432/test'
const MAX = (1n << 63n) - 1n

interface Opened { store: Store, done (): Promise<void> }

const engines: Array<[string, () => Promise<Opened>]> = [
  ['sqlite', async () => {
    const store = openSqliteStore(':memory:')
    return { store, done: () => store.close() }
  }],
  ['postgres', async () => {
    const store = await openPostgresStore({ url: POSTGRES, schema: `trickle_test_${randomBytes(6).toString('hex')}` })
    return { store, done: async () => { await store.dropSchema(); await store.close() } }
  }]
]

for (const [engine, open] of engines) {
  describe(`store contract: ${engine}`, () => {
    const withStore = (name: string, fn: (s: Store) => Promise<void>) => test(name, async () => {
      const { store, done } = await open()
      try { await fn(store) } finally { await done() }
    })

    withStore('meta, accounts and proxies: created once, read back, listed in order', async (s) => {
      assert.equal(await s.metaGetOrSet('seed', 'a'), 'a')
      assert.equal(await s.metaGetOrSet('seed', 'b'), 'a', 'the first value stays')
      assert.equal((await s.createAccount('bob', 1)).created, true)
      assert.equal((await s.createAccount('bob', 2)).created, false)
      await s.createAccount('alice', 3)
      assert.deepEqual((await s.listAccounts()).map((a) => a.name), ['alice', 'bob'])
      assert.equal(await s.addReceived('bob', 5n), 5n)
      assert.equal(await s.addReceived('bob', 7n), 12n)
      assert.equal((await s.getAccount('bob'))!.received, 12n)
      assert.equal((await s.getAccount('bob'))!.createdAt, 1)
      await assert.rejects(s.addReceived('nobody', 1n), /unknown wallet account nobody/)
      const p = { id: 'a'.repeat(32), paymentPointer: '$w.example/a', spspEndpoint: 'https://w.example/a', createdAt: 10 }
      assert.equal((await s.putProxy(p)).created, true)
      assert.equal((await s.putProxy({ ...p, createdAt: 11 })).created, false)
      await s.putProxy({ ...p, id: 'b'.repeat(32), createdAt: 5 })
      assert.deepEqual((await s.listProxies()).map((x) => x.id), ['b'.repeat(32), 'a'.repeat(32)])
      assert.deepEqual(await s.getProxy(p.id), p)
      assert.equal(await s.deleteProxy(p.id), true)
      assert.equal(await s.deleteProxy(p.id), false)
      assert.equal(await s.getProxy(p.id), undefined)
    })

    withStore('receipts: only increases count, for the receiver behind the nonce; unknown, expired and purged nonces', async (s) => {
      await s.putNonce({ nonce: 'n1', proxyId: 'alice', spspEndpoint: 'https://w/alice', issuedAt: 100 })
      const credit = (total: bigint, extra: Partial<Parameters<Store['creditReceipt']>[0]> = {}) =>
        s.creditReceipt({ nonce: 'n1', streamId: 1, totalReceived: total, balanceId: 'b', maxBalance: MAX, nonceIssuedAfter: 50, ...extra })
      assert.deepEqual(await credit(300n), { kind: 'credited', amount: 300n, balance: 300n, receiver: 'alice', nonce: { nonce: 'n1', proxyId: 'alice', spspEndpoint: 'https://w/alice', issuedAt: 100 } })
      assert.deepEqual(await credit(300n), { kind: 'not_newer', previous: 300n })
      assert.equal((await credit(500n)).kind, 'credited')
      assert.equal(await s.getBalance('b', 'alice'), 500n)
      assert.equal(await s.getBalance('b', 'bob'), undefined)
      assert.deepEqual(await credit(900n, { nonceIssuedAfter: 200 }), { kind: 'expired_nonce' })
      assert.deepEqual(await credit(900n, { nonce: 'n2' }), { kind: 'unknown_nonce' })
      // Without the nonce check (callers that verified elsewhere), an unissued nonce counts for no receiver.
      const loose = await s.creditReceipt({ nonce: 'x', streamId: 1, totalReceived: 40n, balanceId: 'b', maxBalance: MAX })
      assert.deepEqual(loose, { kind: 'credited', amount: 40n, balance: 40n, receiver: '' })
      // A credit past the maximum changes nothing: a later one within it still counts from the old mark.
      assert.deepEqual(await credit(2000n, { maxBalance: 1000n }), { kind: 'balance_overflow', balance: 500n })
      assert.equal((await credit(600n, { maxBalance: 1000n }) as { amount: bigint }).amount, 100n)
      assert.equal(await s.purgeNonces(101), 1)
      assert.equal(await s.getNonce('n1'), undefined)
      assert.deepEqual(await credit(700n), { kind: 'unknown_nonce' })
    })

    withStore('spends per receiver; totals and listings', async (s) => {
      await s.putNonce({ nonce: 'a', proxyId: 'alice', spspEndpoint: 'e', issuedAt: 1 })
      await s.putNonce({ nonce: 'b', proxyId: 'bob', spspEndpoint: 'e', issuedAt: 1 })
      await s.creditReceipt({ nonce: 'a', streamId: 1, totalReceived: 100n, balanceId: 'r', maxBalance: MAX })
      await s.creditReceipt({ nonce: 'b', streamId: 1, totalReceived: 50n, balanceId: 'r', maxBalance: MAX })
      assert.equal(await s.getBalance('r'), 150n)
      assert.deepEqual(await s.listBalances('r'), [{ receiver: 'alice', amount: 100n }, { receiver: 'bob', amount: 50n }])
      assert.deepEqual(await s.spend('r', 60n, 'bob'), { kind: 'insufficient', balance: 50n }, 'alice\'s money does not pay bob')
      assert.deepEqual(await s.spend('r', 60n, 'alice'), { kind: 'spent', balance: 40n })
      assert.deepEqual(await s.spend('nobody', 1n, 'alice'), { kind: 'unknown_balance' })
      assert.equal(await s.getBalance('nobody'), undefined)
    })

    withStore('incoming payments: monotone, once across balances, a stale reading credits nothing', async (s) => {
      const credit = (received: bigint, balanceId = 'r', maxBalance = MAX) => s.creditIncomingPayment({ incomingPayment: 'https://w/ip/1', balanceId, receiver: 'alice', received, maxBalance, now: 1 })
      assert.deepEqual(await credit(100n), { kind: 'credited', amount: 100n, balance: 100n, credited: 100n })
      assert.deepEqual(await credit(80n), { kind: 'credited', amount: 0n, balance: 100n, credited: 100n })
      assert.deepEqual(await credit(250n), { kind: 'credited', amount: 150n, balance: 250n, credited: 250n })
      assert.deepEqual(await credit(400n, 'other'), { kind: 'claimed' })
      assert.deepEqual(await credit(400n, 'r', 300n), { kind: 'balance_overflow', balance: 250n })
      assert.equal((await credit(300n, 'r', 300n) as { amount: bigint }).amount, 50n, 'the overflow took nothing')
    })

    withStore('grants: a purchase is charged once within its grant, again after it', async (s) => {
      await s.creditIncomingPayment({ incomingPayment: 'ip', balanceId: 'r', receiver: 'alice', received: 100n, maxBalance: MAX, now: 1 })
      const buy = (now: number, amount = 30n) => s.spendForGrant({ balanceId: 'r', receiver: 'alice', grantKey: 'section', amount, now, expiresAt: now + 1000 })
      assert.deepEqual(await buy(10), { kind: 'granted', charged: 30n, balance: 70n, expiresAt: 1010 })
      assert.deepEqual(await buy(500), { kind: 'granted', charged: 0n, balance: 70n, expiresAt: 1010 })
      assert.deepEqual(await buy(2000), { kind: 'granted', charged: 30n, balance: 40n, expiresAt: 3000 })
      assert.deepEqual(await buy(5000, 100n), { kind: 'insufficient', balance: 40n })
      assert.deepEqual(await s.spendForGrant({ balanceId: 'nobody', receiver: 'alice', grantKey: 'k', amount: 1n, now: 1, expiresAt: 2 }), { kind: 'unknown_balance' })
    })

    withStore('under concurrency: 1,000 spends never overdraw, one receipt credits once, one purchase charges once', async (s) => {
      await s.creditIncomingPayment({ incomingPayment: 'ip', balanceId: 'r', receiver: 'alice', received: 500n, maxBalance: MAX, now: 1 })
      const spends = await Promise.all(Array.from({ length: 1000 }, () => s.spend('r', 1n, 'alice')))
      assert.equal(spends.filter((x) => x.kind === 'spent').length, 500)
      assert.equal(await s.getBalance('r', 'alice'), 0n)
      await s.putNonce({ nonce: 'n', proxyId: 'alice', spspEndpoint: 'e', issuedAt: 1 })
      const credits = await Promise.all(Array.from({ length: 50 }, () => s.creditReceipt({ nonce: 'n', streamId: 1, totalReceived: 70n, balanceId: 'r', maxBalance: MAX })))
      assert.equal(credits.filter((x) => x.kind === 'credited').length, 1)
      assert.equal(await s.getBalance('r', 'alice'), 70n)
      const ips = await Promise.all(Array.from({ length: 50 }, (_, i) => s.creditIncomingPayment({ incomingPayment: 'ip2', balanceId: i % 2 ? 'r' : 'q', receiver: 'alice', received: 10n, maxBalance: MAX, now: 1 })))
      assert.equal(ips.filter((x) => x.kind === 'credited' && x.amount === 10n).length, 1, 'credited once, to one balance')
      const buys = await Promise.all(Array.from({ length: 20 }, () => s.spendForGrant({ balanceId: 'r', receiver: 'alice', grantKey: 'g', amount: 30n, now: 5, expiresAt: 100 })))
      assert.equal(buys.filter((x) => x.kind === 'granted' && x.charged === 30n).length, 1)
      const adds = await Promise.all(Array.from({ length: 100 }, () => s.createAccount('w', 1).then(() => s.addReceived('w', 3n))))
      assert.equal(adds.length, 100)
      assert.equal((await s.getAccount('w'))!.received, 300n)
    })
  })
}

test('periodic work runs once per deployment: a second store on the same database skips a job the first is running', async () => {
  const schema = `trickle_test_${randomBytes(6).toString('hex')}`
  const a = await openPostgresStore({ url: POSTGRES, schema })
  const b = await openPostgresStore({ url: POSTGRES, schema })
  try {
    let release!: () => void
    const held = new Promise<void>((resolve) => { release = resolve })
    const first = a.exclusive('purge', async () => { await held; return 'a ran' })
    await new Promise((resolve) => setTimeout(resolve, 100))
    assert.equal(await b.exclusive('purge', async () => 'b ran'), undefined, 'taken: skipped')
    assert.equal(await b.exclusive('other-job', async () => 'b ran'), 'b ran', 'another job is not held up')
    release()
    assert.equal(await first, 'a ran')
    assert.equal(await b.exclusive('purge', async () => 'b ran'), 'b ran', 'free again once the first is done')
  } finally {
    await a.dropSchema()
    await a.close()
    await b.close()
  }
  const s = openSqliteStore(':memory:')
  assert.equal(await s.exclusive('purge', async () => 1), 1)
  await s.close()
})

test('a job run every N ms runs once per deployment and interval, whichever instance\'s timer fires first', async () => {
  const schema = `trickle_test_${randomBytes(6).toString('hex')}`
  const a = await openPostgresStore({ url: POSTGRES, schema })
  const b = await openPostgresStore({ url: POSTGRES, schema })
  const file = path.join(tmpdir(), `trickle-exclusive-${randomBytes(4).toString('hex')}.sqlite`)
  const c = openSqliteStore(file)
  const d = openSqliteStore(file)
  try {
    for (const [x, y] of [[a, b], [c, d]] as const) {
      const ran: string[] = []
      const job = (who: string) => async () => { ran.push(who) }
      await x.exclusive('purge', job('x'), { everyMs: 1000, now: 10_000 })
      await y.exclusive('purge', job('y'), { everyMs: 1000, now: 10_500 })
      await x.exclusive('purge', job('x'), { everyMs: 1000, now: 10_900 })
      await y.exclusive('purge', job('y'), { everyMs: 1000, now: 11_000 })
      await x.exclusive('purge', job('x'), { everyMs: 1000, now: 11_200 })
      assert.deepEqual(ran, ['x', 'y'], 'once per interval, by whichever came first')
    }
  } finally {
    await a.dropSchema()
    await a.close()
    await b.close()
    await c.close()
    await d.close()
    for (const f of [file, `${file}-wal`, `${file}-shm`]) rmSync(f, { force: true })
  }
})

test('a PostgreSQL that cannot be reached is one message naming it, without its password', async () => {
  await assert.rejects(openPostgresStore({ url: 'postgres://root:secret@127.0.0.1:9/test' }), (err: Error) =>
    err instanceof StoreOpenError && /^could not connect to PostgreSQL at postgres:\/\/root:\*\*\*@127\.0\.0\.1:9\/test: .*ECONNREFUSED/.test(err.message) && !err.message.includes('secret'))
})

test('the webhook outbox: three instances claiming at once take each delivery once (FOR UPDATE SKIP LOCKED)', async () => {
  const schema = `trickle_test_${randomBytes(6).toString('hex')}`
  const stores = await Promise.all([0, 1, 2].map(() => openPostgresStore({ url: POSTGRES, schema })))
  try {
    const pulls = stores.map((s) => postgresPullStore(s.pool))
    for (let i = 0; i < 300; i++) {
      await pulls[0]!.enqueueWebhook({ id: `d${i}`, agreementId: 'a', url: 'https://site.test/hook', body: '{}', attempts: 0, createdAt: 1 }, 1)
    }
    // 60 claims of 10 at once, from three pools: more asked than queued, so they contend for every row.
    const claims = await Promise.all(Array.from({ length: 60 }, (_, i) => pulls[i % 3]!.claimDueWebhooks(2, 1_000_000, 10)))
    const ids = claims.flat().map((d) => d.id)
    assert.equal(ids.length, 300, 'all claimed')
    assert.equal(new Set(ids).size, 300, 'none twice')
    assert.deepEqual(await pulls[1]!.claimDueWebhooks(3, 1_000_000, 10), [], 'claimed ones wait for their claim to lapse')
    assert.equal((await pulls[2]!.claimDueWebhooks(1_000_001, 2_000_000, 500)).length, 300, 'then any instance may take them again')
  } finally {
    await stores[0]!.dropSchema()
    await Promise.all(stores.map((s) => s.close()))
  }
})
