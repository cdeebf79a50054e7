// Every rejection class of the verifier, through HTTP, plus the happy paths of credit, spend and verify.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { adminAuth, build, issueNonce, spendAuth } from './helper.ts'

const text = { 'content-type': 'text/plain' }

test('credit: verified receipts add only what is new, per nonce and stream', async (t) => {
  const { app } = await build(t, {}, { listen: false })
  const n = await issueNonce(app)
  const credit = (body: string, id = 'reader-1') => app.inject({ method: 'POST', url: `/balances/${id}:creditReceipt`, headers: text, payload: body })

  let res = await credit(n.receipt(1000))
  assert.equal(res.statusCode, 200, res.body)
  assert.equal(res.body, '1000')
  assert.match(res.headers['content-type'] as string, /^text\/plain/)
  res = await credit(n.receipt(2500))
  assert.equal(res.body, '2500', 'only the 1500 increase is credited')
  res = await credit(n.receipt(300, 3))
  assert.equal(res.body, '2800', 'another stream of the same nonce counts on its own')

  for (const [label, body] of [['replay', n.receipt(2500)], ['lower total', n.receipt(2000)]] as const) {
    res = await credit(body)
    assert.equal(res.statusCode, 400, label)
    assert.equal(res.json().code, 'receipt_not_newer', label)
  }
  res = await app.inject({ method: 'GET', url: '/balances/reader-1' })
  assert.equal(res.body, '2800', 'refused receipts changed nothing')
})

test('credit: malformed, altered and foreign receipts are refused with a named reason', async (t) => {
  let clock = Date.now()
  const { app } = await build(t, { RECEIPT_TTL: '60' }, { listen: false, now: () => clock })
  const n = await issueNonce(app, clock)
  const good = Buffer.from(n.receipt(1000), 'base64')
  const flip = (i: number) => { const b = Buffer.from(good); b[i]! ^= 0xff; return b.toString('base64') }
  const cases: Array<[string, string, number, string]> = [
    ['empty body', '', 400, 'missing_receipt'],
    ['not base64', '%%%%not-base64%%%%', 400, 'receipt_not_base64'],
    ['57 bytes', good.subarray(0, 57).toString('base64'), 400, 'receipt_bad_length'],
    ['59 bytes', Buffer.concat([good, Buffer.from([1])]).toString('base64'), 400, 'receipt_bad_length'],
    ['version 2', flip(0), 400, 'receipt_bad_version'],
    ['altered amount', flip(25), 400, 'receipt_bad_hmac'],
    ['altered nonce', flip(5), 400, 'receipt_bad_hmac'],
    ['altered hmac', flip(57), 400, 'receipt_bad_hmac']
  ]
  for (const [label, body, status, code] of cases) {
    const res = await app.inject({ method: 'POST', url: '/balances/b1:creditReceipt', headers: text, payload: body })
    assert.equal(res.statusCode, status, `${label}: ${res.body}`)
    assert.equal(res.json().code, code, label)
    assert.ok(res.json().message.length > 10, `${label} has a message`)
  }

  // Signed with this verifier's seed, but the nonce was never handed out by a proxy query.
  const { encodeReceipt, receiptSecret } = await import('../src/receipts/codec.ts')
  const stray = Buffer.alloc(16, 0xab)
  const forged = encodeReceipt({ nonce: stray, streamId: 1, totalReceived: 5n, secret: receiptSecret(app.secrets.receiptKey, stray) })
  let res = await app.inject({ method: 'POST', url: '/balances/b1:creditReceipt', headers: text, payload: forged.toString('base64') })
  assert.equal(res.json().code, 'unknown_nonce')

  res = await app.inject({ method: 'POST', url: '/balances/b1:creditReceipt', headers: text, payload: 'A'.repeat(500) })
  assert.equal(res.statusCode, 413)

  res = await app.inject({ method: 'POST', url: '/balances/bad id!:creditReceipt', headers: text, payload: n.receipt(1) })
  assert.equal(res.statusCode, 404, 'ids outside the pattern match no route')
  res = await app.inject({ method: 'POST', url: `/balances/${'x'.repeat(129)}:creditReceipt`, headers: text, payload: n.receipt(1) })
  assert.ok([404, 414].includes(res.statusCode), `overlong id: ${res.statusCode}`)

  clock += 61_000
  res = await app.inject({ method: 'POST', url: '/balances/b1:creditReceipt', headers: text, payload: n.receipt(1000) })
  assert.equal(res.statusCode, 400)
  assert.equal(res.json().code, 'expired_nonce', 'a nonce older than RECEIPT_TTL is refused')
  assert.equal((await app.inject({ method: 'GET', url: '/balances/b1' })).statusCode, 404, 'nothing was ever credited')
})

test('credit: u64 totals are handled, and a balance never passes 2^63-1', async (t) => {
  const { app } = await build(t, {}, { listen: false })
  const n = await issueNonce(app)
  const i64max = (1n << 63n) - 1n
  let res = await app.inject({ method: 'POST', url: '/balances/big:creditReceipt', headers: text, payload: n.receipt(i64max) })
  assert.equal(res.body, i64max.toString())
  res = await app.inject({ method: 'POST', url: '/balances/big:creditReceipt', headers: text, payload: n.receipt(i64max + 1n) })
  assert.equal(res.statusCode, 409)
  assert.equal(res.json().code, 'balance_overflow')
  // The refused credit did not move the receipt's high-water mark: after a spend it can be credited.
  await app.inject({ method: 'POST', url: '/balances/big:spend', headers: { ...text, ...spendAuth }, payload: '10' })
  res = await app.inject({ method: 'POST', url: '/balances/big:creditReceipt', headers: text, payload: n.receipt(i64max + 1n) })
  assert.equal(res.statusCode, 200, res.body)
  assert.equal(res.body, (i64max - 9n).toString())
  // A different balance: a u64 total above i64 max, credited to /verify.
  const m = await issueNonce(app)
  res = await app.inject({ method: 'POST', url: '/verify', headers: text, payload: m.receipt((1n << 64n) - 1n) })
  assert.equal(res.json().amount, ((1n << 64n) - 1n).toString())
})

test('spend: needs a credential, checks the amount, never overdraws', async (t) => {
  const { app } = await build(t, {}, { listen: false })
  const n = await issueNonce(app)
  await app.inject({ method: 'POST', url: '/balances/r:creditReceipt', headers: text, payload: n.receipt(100) })
  const spend = (amount: string, headers: Record<string, string> = spendAuth, id = 'r') =>
    app.inject({ method: 'POST', url: `/balances/${id}:spend`, headers: { ...text, ...headers }, payload: amount })

  let res = await spend('10', {})
  assert.equal(res.statusCode, 401)
  assert.equal(res.json().code, 'missing_token')
  assert.match(res.headers['www-authenticate'] as string, /^Bearer/)
  res = await spend('10', { authorization: 'Bearer wrong' })
  assert.equal(res.statusCode, 401)
  assert.equal(res.json().code, 'invalid_token')

  for (const bad of ['0', '-5', '1.5', '1e3', 'ten', '', '18446744073709551616', '0x10']) {
    res = await spend(bad)
    assert.equal(res.statusCode, 400, `amount ${JSON.stringify(bad)}`)
    assert.equal(res.json().code, 'invalid_amount')
  }
  res = await spend('5', spendAuth, 'nobody')
  assert.equal(res.statusCode, 404)
  assert.equal(res.json().message, 'balance does not exist')
  res = await spend('101')
  assert.equal(res.statusCode, 409)
  assert.equal(res.json().message, 'insufficient balance')
  res = await spend('40')
  assert.equal(res.statusCode, 200)
  assert.equal(res.body, '60')
  res = await spend('60', adminAuth)
  assert.equal(res.body, '0', 'the admin token may spend too')
  res = await spend('1')
  assert.equal(res.statusCode, 409)
  res = await spend('1'.repeat(100))
  assert.equal(res.statusCode, 413, 'body longer than any u64')
})

test('verify: replies with the amount a receipt adds and the receiver it was issued for', async (t) => {
  const { app } = await build(t, {}, { listen: false })
  const n = await issueNonce(app)
  let res = await app.inject({ method: 'POST', url: '/verify', headers: text, payload: n.receipt(700) })
  assert.deepEqual(res.json(), { amount: '700', spspEndpoint: 'http://receiver.test/spsp' })
  res = await app.inject({ method: 'POST', url: '/verify', headers: text, payload: n.receipt(1000) })
  assert.equal(res.json().amount, '300')
  res = await app.inject({ method: 'POST', url: '/verify', headers: text, payload: n.receipt(1000) })
  assert.equal(res.statusCode, 400)
  assert.equal(res.json().code, 'receipt_not_newer')
})

test('credit accepts the receipt whatever the content type (as clients of receipt-verifier send it)', async (t) => {
  const { app } = await build(t, {}, { listen: false })
  const n = await issueNonce(app)
  let total = 0
  for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/octet-stream', 'application/json']) {
    total += 10
    const res = await app.inject({ method: 'POST', url: '/balances/ct:creditReceipt', headers: { 'content-type': type }, payload: n.receipt(total) })
    assert.equal(res.statusCode, 200, `${type}: ${res.body}`)
  }
})
