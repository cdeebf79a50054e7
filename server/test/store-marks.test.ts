// Receipt marks keyed by the nonce's issue order (store/sqlite.ts): the same answers as marks keyed by
// the nonce, and databases written before the change keep every nonce and mark.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { test, type TestContext } from 'node:test'
import { openSqliteStore } from '../src/store/sqlite.ts'

const MAX = 1n << 62n

function tempFile (t: TestContext): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'trickle-marks-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  return path.join(dir, 'trickle.sqlite')
}

test('marks: per nonce and stream, strictly newer only, nonces issued or not', async () => {
  const store = openSqliteStore(':memory:')
  const now = Date.now()
  await store.putNonce({ nonce: 'a', proxyId: 'p', spspEndpoint: 'x', issuedAt: now })
  await store.putNonce({ nonce: 'b', proxyId: 'p', spspEndpoint: 'x', issuedAt: now })
  const credit = (nonce: string, streamId: number, total: bigint, checked = true) => store.creditReceipt({
    nonce, streamId, totalReceived: total, balanceId: 'bal', maxBalance: MAX, ...(checked ? { nonceIssuedAfter: now - 1000 } : {})
  })
  assert.deepEqual(await credit('a', 1, 10n), { kind: 'credited', amount: 10n, balance: 10n, receiver: 'p', nonce: { nonce: 'a', proxyId: 'p', spspEndpoint: 'x', issuedAt: now } })
  assert.deepEqual(await credit('a', 1, 10n), { kind: 'not_newer', previous: 10n })
  assert.equal((await credit('a', 2, 4n)).kind, 'credited', 'another stream of the same nonce has its own mark')
  assert.equal((await credit('b', 1, 3n)).kind, 'credited', 'another nonce has its own mark')
  assert.deepEqual(await credit('a', 1, 15n, false), { kind: 'credited', amount: 5n, balance: 22n, receiver: 'p' }, 'unchecked calls share the issued nonce\'s mark')
  // A nonce this store never issued: only an unchecked call may credit it, and it still moves only up.
  assert.deepEqual(await credit('never', 1, 7n), { kind: 'unknown_nonce' })
  // Its receiver is unknown: the money is kept apart, for no creator's content.
  assert.deepEqual(await credit('never', 1, 7n, false), { kind: 'credited', amount: 7n, balance: 7n, receiver: '' })
  assert.deepEqual(await credit('never', 1, 7n, false), { kind: 'not_newer', previous: 7n })
  assert.equal(await store.getBalance('bal', 'p'), 22n)
  assert.equal(await store.getBalance('bal', ''), 7n)
  assert.equal(await store.getBalance('bal'), 29n, 'all receivers together')
  assert.deepEqual(await store.listBalances('bal'), [{ receiver: '', amount: 7n }, { receiver: 'p', amount: 22n }])
  await store.close()
})

test('marks: a purged nonce takes its marks along, and its number is never reused', async () => {
  const store = openSqliteStore(':memory:')
  await store.putNonce({ nonce: 'old', proxyId: 'p', spspEndpoint: 'x', issuedAt: 1000 })
  await store.creditReceipt({ nonce: 'old', streamId: 1, totalReceived: 50n, balanceId: 'bal', maxBalance: MAX })
  assert.equal(await store.purgeNonces(2000), 1)
  assert.equal(store.db.prepare('SELECT count(*) AS n FROM nonce_marks').get()?.n, 0)
  await store.putNonce({ nonce: 'new', proxyId: 'p', spspEndpoint: 'x', issuedAt: 3000 })
  assert.equal(store.db.prepare('SELECT seq FROM nonces WHERE nonce = ?').get('new')?.seq, 2)
  assert.deepEqual(await store.creditReceipt({ nonce: 'new', streamId: 1, totalReceived: 1n, balanceId: 'bal', maxBalance: MAX }),
    { kind: 'credited', amount: 1n, balance: 51n, receiver: 'p' })
  await store.close()
})

test('a database from before balances per receiver keeps its amounts, for no receiver\'s content', async (t) => {
  const file = tempFile(t)
  const old = new DatabaseSync(file)
  old.exec(`
    CREATE TABLE balances (id TEXT PRIMARY KEY, amount TEXT NOT NULL, updated_at INTEGER NOT NULL) WITHOUT ROWID;
    INSERT INTO balances VALUES ('reader', '1234', 1000);
  `)
  old.close()
  const store = openSqliteStore(file)
  assert.deepEqual(await store.listBalances('reader'), [{ receiver: '', amount: 1234n }])
  assert.deepEqual(await store.spend('reader', 1000n, 'p'), { kind: 'unknown_balance' }, 'no creator\'s content is bought with it')
  assert.deepEqual(await store.spend('reader', 1000n, ''), { kind: 'spent', balance: 234n }, 'an operator may spend it by naming no receiver')
  await store.close()
  const again = openSqliteStore(file)
  assert.equal(await again.getBalance('reader'), 234n, 'migrated once, kept after')
  await again.close()
})

test('a database from before nonces.seq keeps its nonces and marks', async (t) => {
  const file = tempFile(t)
  const old = new DatabaseSync(file)
  old.exec(`
    PRAGMA journal_mode = WAL;
    CREATE TABLE nonces (nonce TEXT PRIMARY KEY, proxy_id TEXT NOT NULL, spsp_endpoint TEXT NOT NULL, issued_at INTEGER NOT NULL) WITHOUT ROWID;
    CREATE INDEX nonces_issued_at ON nonces (issued_at);
    CREATE TABLE receipt_marks (nonce TEXT NOT NULL, stream_id INTEGER NOT NULL, total TEXT NOT NULL, PRIMARY KEY (nonce, stream_id)) WITHOUT ROWID;
    INSERT INTO nonces VALUES ('later', 'p', 'http://x/pay', 2000), ('earlier', 'p', 'http://x/pay', 1000);
    INSERT INTO receipt_marks VALUES ('later', 1, '18446744073709551615'), ('earlier', 1, '30'), ('earlier', 2, '40'), ('stray', 1, '5');
  `)
  old.close()

  const store = openSqliteStore(file)
  assert.deepEqual(await store.getNonce('earlier'), { nonce: 'earlier', proxyId: 'p', spspEndpoint: 'http://x/pay', issuedAt: 1000 })
  assert.deepEqual(store.db.prepare('SELECT nonce, seq FROM nonces ORDER BY seq').all().map((r) => ({ ...r })), [{ nonce: 'earlier', seq: 1 }, { nonce: 'later', seq: 2 }], 'renumbered in issue order')
  const credit = (nonce: string, streamId: number, total: bigint) => store.creditReceipt({ nonce, streamId, totalReceived: total, balanceId: 'b', maxBalance: MAX })
  assert.deepEqual(await credit('earlier', 1, 30n), { kind: 'not_newer', previous: 30n })
  assert.deepEqual(await credit('earlier', 2, 45n), { kind: 'credited', amount: 5n, balance: 5n, receiver: 'p' })
  assert.deepEqual(await credit('later', 1, 18446744073709551615n), { kind: 'not_newer', previous: 18446744073709551615n })
  assert.deepEqual(await credit('stray', 1, 5n), { kind: 'not_newer', previous: 5n }, 'the mark of a nonce never issued here stays')
  assert.deepEqual(store.db.prepare('SELECT nonce FROM receipt_marks').all().map((r) => r.nonce), ['stray'])
  assert.equal(await store.purgeNonces(1500), 1)
  await store.close()

  // Opening again changes nothing.
  const again = openSqliteStore(file)
  assert.equal(await again.getNonce('earlier'), undefined)
  assert.deepEqual(await again.creditReceipt({ nonce: 'later', streamId: 1, totalReceived: 1n, balanceId: 'b', maxBalance: MAX, nonceIssuedAfter: 0 }), { kind: 'not_newer', previous: 18446744073709551615n })
  await again.close()
})
