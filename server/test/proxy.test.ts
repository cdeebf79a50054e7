// Proxy payment pointers: registration (admin), SPSP forwarding with receipt headers, refusals.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import Fastify from 'fastify'
import { adminAuth, build, freePort } from './helper.ts'

const json = { ...adminAuth, 'content-type': 'application/json' }
const spsp = { accept: 'application/spsp4+json' }

/** A real SPSP receiver that does not enable receipts (an old wallet), on its own port. */
async function receiverWithoutReceipts (t: { after (fn: () => unknown): void }) {
  const other = Fastify()
  const seen: Array<Record<string, unknown>> = []
  other.get('/.well-known/pay', async (req, reply) => {
    seen.push(req.headers)
    reply.type('application/spsp4+json')
    return { destination_account: 'private.other.x', shared_secret: Buffer.alloc(32).toString('base64') }
  })
  other.get('/gone', async (_req, reply) => reply.code(404).send('no such pointer'))
  const port = await freePort()
  await other.listen({ host: '127.0.0.1', port })
  t.after(() => other.close())
  return { base: `http://127.0.0.1:${port}`, seen }
}

test('register, query through, list, deregister', async (t) => {
  const { app, url } = await build(t)
  const pointer = app.demo!.paymentPointer

  let res = await app.inject({ method: 'POST', url: '/proxies', headers: { 'content-type': 'application/json' }, payload: { paymentPointer: pointer } })
  assert.equal(res.statusCode, 401, 'registering needs the admin token')
  res = await app.inject({ method: 'POST', url: '/proxies', headers: { ...json, authorization: 'Bearer nope' }, payload: { paymentPointer: pointer } })
  assert.equal(res.statusCode, 401)

  res = await app.inject({ method: 'POST', url: '/proxies', headers: json, payload: { paymentPointer: pointer } })
  assert.equal(res.statusCode, 200, 'the demo pointer was registered at start; registering again is idempotent')
  const proxy = res.json()
  assert.equal(proxy.proxyPointer, app.demo!.proxyPointer)
  assert.equal(proxy.spspEndpoint, pointer)

  const query = await fetch(proxy.proxyPointer, { headers: spsp })
  assert.equal(query.status, 200)
  assert.match(query.headers.get('content-type')!, /^application\/spsp4\+json/)
  assert.equal(query.headers.get('cache-control'), 'no-store')
  const body = await query.json() as Record<string, unknown>
  assert.equal(body.receipts_enabled, true)
  assert.match(String(body.destination_account), /^private\.trickle\.local\.trickle-wallet\./)

  res = await app.inject({ method: 'GET', url: '/proxies', headers: adminAuth })
  assert.deepEqual(res.json().map((p: { id: string }) => p.id), [proxy.id])

  res = await app.inject({ method: 'DELETE', url: `/proxies/${proxy.id}`, headers: adminAuth })
  assert.equal(res.statusCode, 204)
  assert.equal((await fetch(proxy.proxyPointer, { headers: spsp })).status, 404, 'a deregistered proxy answers 404')
  res = await app.inject({ method: 'DELETE', url: `/proxies/${proxy.id}`, headers: adminAuth })
  assert.equal(res.statusCode, 404)
  assert.equal(res.json().code, 'unknown_proxy')
  void url
})

test('payment pointers are resolved as the spec says; bad ones get 400', async (t) => {
  const { app } = await build(t, {}, { listen: false })
  const register = (paymentPointer: unknown) => app.inject({ method: 'POST', url: '/proxies', headers: json, payload: { paymentPointer } })
  let res = await register('$wallet.example/alice')
  assert.equal(res.statusCode, 201)
  assert.equal(res.json().spspEndpoint, 'https://wallet.example/alice')
  res = await register('$wallet.example')
  assert.equal(res.json().spspEndpoint, 'https://wallet.example/.well-known/pay')
  for (const bad of ['ftp://wallet.example/a', 'not a pointer', '$ ', 'http://user:pw@wallet.example/a', 'https://wallet.example/a#frag', '$wallet.example/a?x=1']) {
    res = await register(bad)
    assert.equal(res.statusCode, 400, bad)
    assert.equal(res.json().code, 'invalid_payment_pointer', bad)
  }
  for (const bad of [42, '', '$', undefined]) {
    res = await register(bad)
    assert.equal(res.statusCode, 400, String(bad))
  }
  res = await app.inject({ method: 'POST', url: '/proxies', headers: json, payload: { paymentPointer: '$a.example', extra: 1 } })
  assert.equal(res.statusCode, 400, 'unknown fields are refused')
})

test('a receiver without receipts gets 409; failures of the receiver are told apart', async (t) => {
  const { app } = await build(t)
  const other = await receiverWithoutReceipts(t)
  const register = async (paymentPointer: string) =>
    (await app.inject({ method: 'POST', url: '/proxies', headers: json, payload: { paymentPointer } })).json().proxyPointer as string

  const old = await register(other.base)
  let res = await fetch(old, { headers: spsp })
  assert.equal(res.status, 409)
  assert.equal((await res.json() as { code: string }).code, 'receipts_not_enabled')
  const headers = other.seen[0]!
  assert.equal(Buffer.from(String(headers['receipt-nonce']), 'base64').length, 16, 'the receiver was sent a 16-byte nonce')
  assert.equal(Buffer.from(String(headers['receipt-secret']), 'base64').length, 32, 'and a 32-byte secret')

  res = await fetch(await register(`${other.base}/gone`), { headers: spsp })
  assert.equal(res.status, 502)
  assert.equal((await res.json() as { code: string }).code, 'receiver_failed')

  res = await fetch(await register(`http://127.0.0.1:${await freePort()}/nobody`), { headers: spsp })
  assert.equal(res.status, 502)
  assert.equal((await res.json() as { code: string }).code, 'receiver_unreachable')

  res = await fetch(app.demo!.proxyPointer, { headers: { accept: 'text/html' } })
  assert.equal(res.status, 200, 'a browser visiting the pointer gets a page that says what it is')
  assert.match(await res.text(), /A proxy payment pointer/)
  res = await fetch(app.demo!.proxyPointer, { headers: { accept: 'image/png' } })
  assert.equal(res.status, 406, 'what is neither SPSP nor a page is refused')
  res = await fetch(app.demo!.proxyPointer.replace(/[0-9a-f]{32}$/, '0'.repeat(32)), { headers: spsp })
  assert.equal(res.status, 404)
})

test('wallet accounts: admin creates, names are checked, SPSP refuses what it cannot serve', async (t) => {
  const { app } = await build(t, {}, { listen: false })
  const create = (name: unknown, headers: Record<string, string> = json) => app.inject({ method: 'POST', url: '/wallet/accounts', headers, payload: { name } })
  assert.equal((await create('bob', { 'content-type': 'application/json' })).statusCode, 401)
  let res = await create('bob')
  assert.equal(res.statusCode, 201)
  assert.equal(res.json().received, '0')
  assert.match(res.json().paymentPointer, /\/wallet\/bob$/)
  res = await create('bob')
  assert.equal(res.statusCode, 409)
  assert.equal(res.json().code, 'account_exists')
  for (const bad of ['', 'has space', 'x'.repeat(65), 'dots.not.allowed', 7]) {
    assert.equal((await create(bad)).statusCode, 400, String(bad))
  }
  res = await app.inject({ method: 'GET', url: '/wallet/accounts/nobody', headers: adminAuth })
  assert.equal(res.statusCode, 404)
  res = await app.inject({ method: 'GET', url: '/wallet/nobody', headers: spsp })
  assert.equal(res.statusCode, 404)
  assert.equal(res.json().code, 'unknown_account')
  res = await app.inject({ method: 'GET', url: '/wallet/bob', headers: { accept: 'text/html' } })
  assert.equal(res.statusCode, 200, 'a browser gets a page')
  res = await app.inject({ method: 'GET', url: '/wallet/bob', headers: { accept: 'image/png' } })
  assert.equal(res.statusCode, 406)
  res = await app.inject({ method: 'GET', url: '/wallet/bob', headers: { ...spsp, 'receipt-nonce': Buffer.alloc(16).toString('base64') } })
  assert.equal(res.statusCode, 400, 'a nonce without a secret')
  res = await app.inject({ method: 'GET', url: '/wallet/bob', headers: { ...spsp, 'receipt-nonce': Buffer.alloc(8).toString('base64'), 'receipt-secret': Buffer.alloc(32).toString('base64') } })
  assert.equal(res.statusCode, 400, 'a short nonce')
  assert.equal(res.json().code, 'invalid_receipt_headers')
  res = await app.inject({ method: 'GET', url: '/wallet/bob', headers: { ...spsp, 'receipt-nonce': Buffer.alloc(16).toString('base64'), 'receipt-secret': Buffer.alloc(32).toString('base64') } })
  assert.equal(res.json().receipts_enabled, true)
})
