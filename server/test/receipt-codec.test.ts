import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import {
  decodeReceipt, encodeReceipt, RECEIPT_LENGTH, ReceiptError, receiptFromBase64, receiptKeyFromSeed, receiptSecret, U64_MAX, verifyReceipt
} from '../src/receipts/codec.ts'

const fixtures = JSON.parse(readFileSync(new URL('./fixtures/receipt-vectors.json', import.meta.url), 'utf8')) as {
  vectors: Array<{ name: string, streamId: number, totalReceived: string, nonce: string, secret: string, receipt: string }>
  derivation: { seed: string, nonce: string, secret: string }
}
const b64 = (s: string) => Buffer.from(s, 'base64')

for (const v of fixtures.vectors) {
  test(`vector "${v.name}": encode matches ilp-protocol-stream byte for byte`, () => {
    const ours = encodeReceipt({ nonce: b64(v.nonce), streamId: v.streamId, totalReceived: BigInt(v.totalReceived), secret: b64(v.secret) })
    assert.equal(ours.toString('base64'), v.receipt)
  })
  test(`vector "${v.name}": decodes and verifies`, () => {
    const r = verifyReceipt(b64(v.receipt), b64(v.secret))
    assert.equal(r.version, 1)
    assert.deepEqual(r.nonce, b64(v.nonce))
    assert.equal(r.streamId, v.streamId)
    assert.equal(r.totalReceived, BigInt(v.totalReceived))
  })
}

test('every single-bit change of a receipt is refused', () => {
  const v = fixtures.vectors[0]!
  const good = b64(v.receipt)
  for (let byte = 0; byte < RECEIPT_LENGTH; byte++) {
    const bad = Buffer.from(good)
    bad[byte]! ^= 1
    assert.throws(() => verifyReceipt(bad, b64(v.secret)), (err: ReceiptError) =>
      err instanceof ReceiptError && (byte === 0 ? err.problem === 'bad_version' : err.problem === 'bad_hmac'), `byte ${byte}`)
  }
})

test('a receipt checked with another secret is refused', () => {
  const v = fixtures.vectors[0]!
  assert.throws(() => verifyReceipt(b64(v.receipt), b64(fixtures.vectors[1]!.secret)), { problem: 'bad_hmac' })
})

test('length is exact', () => {
  const good = b64(fixtures.vectors[0]!.receipt)
  assert.throws(() => decodeReceipt(good.subarray(0, 57)), { problem: 'bad_length', message: /58 bytes, got 57/ })
  assert.throws(() => decodeReceipt(Buffer.concat([good, Buffer.from([0])])), { problem: 'bad_length' })
  assert.throws(() => decodeReceipt(Buffer.alloc(0)), { problem: 'bad_length' })
})

test('version must be 1', () => {
  const bad = Buffer.from(b64(fixtures.vectors[0]!.receipt))
  bad[0] = 2
  assert.throws(() => decodeReceipt(bad), { problem: 'bad_version', message: /version 2/ })
})

test('base64 is decoded strictly, URL-safe alphabet accepted', () => {
  const text = fixtures.vectors[0]!.receipt
  assert.deepEqual(receiptFromBase64(`  ${text}\n`), b64(text))
  assert.deepEqual(receiptFromBase64(Buffer.from(text, 'base64').toString('base64url')), b64(text))
  for (const junk of ['', '!!!!', 'abc$def', 'a', `${text}*`]) {
    assert.throws(() => receiptFromBase64(junk), { problem: 'not_base64' }, JSON.stringify(junk))
  }
})

test('u64 bounds: the largest total round-trips, larger ones cannot be encoded', () => {
  const nonce = Buffer.alloc(16, 7)
  const secret = Buffer.alloc(32, 9)
  const r = encodeReceipt({ nonce, streamId: 1, totalReceived: U64_MAX, secret })
  assert.equal(verifyReceipt(r, secret).totalReceived, U64_MAX)
  assert.throws(() => encodeReceipt({ nonce, streamId: 1, totalReceived: U64_MAX + 1n, secret }), RangeError)
  assert.throws(() => encodeReceipt({ nonce, streamId: 256, totalReceived: 1n, secret }), RangeError)
  assert.throws(() => encodeReceipt({ nonce: Buffer.alloc(15), streamId: 1, totalReceived: 1n, secret }), RangeError)
})

test('secret derivation matches @coil/receipt-verifier: HMAC(HMAC(seed, "receipt_secret"), nonce)', () => {
  const d = fixtures.derivation
  assert.equal(receiptSecret(receiptKeyFromSeed(b64(d.seed)), b64(d.nonce)).toString('base64'), d.secret)
})
