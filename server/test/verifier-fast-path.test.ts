// The verifier's fast paths: HMAC from one-shot hashes must give createHmac's bytes, and the
// store's group commit must keep every money-moving call atomic, ordered and isolated from the others'
// failures.
import assert from 'node:assert/strict'
import { createHmac, randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { receiptKeyFromSeed, receiptSecret } from '../src/receipts/codec.ts'
import { openSqliteStore } from '../src/store/sqlite.ts'
import { hmacKey, hmacSha256 } from '../src/verifier/hmac.ts'

test('hmacSha256 matches createHmac for keys and messages of every length that matters', () => {
  for (const keyLength of [0, 1, 16, 32, 63, 64, 65, 128, 200]) {
    for (const dataLength of [0, 1, 16, 26, 55, 56, 64, 200]) {
      const key = randomBytes(keyLength)
      const data = randomBytes(dataLength)
      const expected = createHmac('sha256', key).update(data).digest()
      assert.deepEqual(hmacSha256(key, data), expected, `key ${keyLength} B, data ${dataLength} B`)
      assert.deepEqual(hmacSha256(hmacKey(key), data), expected, `prepared key ${keyLength} B, data ${dataLength} B`)
    }
  }
})

test('hmacSha256 derives the receipt secrets of the test vectors', () => {
  const { derivation } = JSON.parse(readFileSync(new URL('./fixtures/receipt-vectors.json', import.meta.url), 'utf8')) as { derivation: { seed: string, nonce: string, secret: string } }
  const key = receiptKeyFromSeed(Buffer.from(derivation.seed, 'base64'))
  const nonce = Buffer.from(derivation.nonce, 'base64')
  assert.equal(hmacSha256(hmacKey(key), nonce).toString('base64'), derivation.secret)
  assert.deepEqual(hmacSha256(key, nonce), receiptSecret(key, nonce))
})

test('group commit: calls of one turn run in order in one transaction, and one failure fails only itself', async () => {
  const store = openSqliteStore(':memory:')
  await store.createAccount('alice', Date.now())
  await store.putNonce({ nonce: 'n', proxyId: 'p', spspEndpoint: 'x', issuedAt: Date.now() })
  // Issued together, as concurrent requests are: a credit, spends that depend on it, and a call that throws.
  const results = await Promise.allSettled([
    store.creditReceipt({ nonce: 'n', streamId: 1, totalReceived: 100n, balanceId: 'b', maxBalance: 1n << 62n }),
    store.spend('b', 60n, 'p'),
    store.addReceived('nobody', 5n),
    store.spend('b', 60n, 'p'),
    store.spend('b', 40n, 'p'),
    store.addReceived('alice', 7n)
  ])
  assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled', 'fulfilled'])
  const values = results.map((r) => r.status === 'fulfilled' ? r.value : (r.reason as Error).message)
  assert.deepEqual(values[0], { kind: 'credited', amount: 100n, balance: 100n, receiver: 'p' })
  assert.deepEqual(values[1], { kind: 'spent', balance: 40n })
  assert.match(String(values[2]), /unknown wallet account nobody/)
  assert.deepEqual(values[3], { kind: 'insufficient', balance: 40n }, 'the second spend saw the first one')
  assert.deepEqual(values[4], { kind: 'spent', balance: 0n })
  assert.equal(values[5], 7n)
  assert.equal(await store.getBalance('b'), 0n)
  assert.equal((await store.getAccount('alice'))?.received, 7n)
  await store.close()
})

test('group commit: the nonce is checked in the same step as the credit', async () => {
  const store = openSqliteStore(':memory:')
  const now = Date.now()
  await store.putNonce({ nonce: 'old', proxyId: 'p', spspEndpoint: 'http://old', issuedAt: now - 10_000 })
  await store.putNonce({ nonce: 'new', proxyId: 'p', spspEndpoint: 'http://new', issuedAt: now })
  const credit = (nonce: string) => store.creditReceipt({ nonce, streamId: 1, totalReceived: 5n, balanceId: 'b', maxBalance: 1n << 62n, nonceIssuedAfter: now - 5000 })
  assert.deepEqual(await credit('unknown'), { kind: 'unknown_nonce' })
  assert.deepEqual(await credit('old'), { kind: 'expired_nonce' })
  const ok = await credit('new')
  assert.equal(ok.kind, 'credited')
  assert.equal(ok.kind === 'credited' && ok.nonce?.spspEndpoint, 'http://new')
  assert.equal(await store.getBalance('b'), 5n, 'refused receipts credited nothing')
  await store.close()
})

test('group commit: what was queued before close() is committed, calls after it are refused', async () => {
  const store = openSqliteStore(':memory:')
  await store.createAccount('alice', Date.now())
  const pending = store.addReceived('alice', 3n)
  await store.close()
  assert.equal(await pending, 3n)
  await assert.rejects(store.spend('b', 1n), /closed/)
})
