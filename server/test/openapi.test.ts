import assert from 'node:assert/strict'
import { test } from 'node:test'
import { build } from './helper.ts'

test('OpenAPI: every route is described with its request and response schemas', async (t) => {
  const { app } = await build(t, {}, { listen: false })
  const res = await app.inject({ method: 'GET', url: '/openapi.json' })
  assert.equal(res.statusCode, 200)
  const doc = res.json()
  assert.equal(doc.openapi, '3.1.0')
  const expected = [
    'get /wallet/{name}', 'post /wallet/accounts', 'get /wallet/accounts', 'get /wallet/accounts/{name}',
    'post /balances/{id}:creditReceipt', 'post /balances/{id}:spend', 'get /balances/{id}', 'post /verify',
    'post /proxies', 'get /proxies', 'get /proxies/{id}', 'delete /proxies/{id}', 'get /p/{id}', 'get /health',
    'post /sealed/keys', 'get /sealed/price', 'post /sealed/sites',
    'get /announce', 'get /scrape', 'post /torrents', 'post /torrents/{infoHash}/access', 'get /torrents/proof-key', 'post /torrents/{infoHash}/seeder-proof', 'get /torrents', 'get /torrents/{infoHash}', 'delete /torrents/{infoHash}',
    'post /pull', 'post /pull/tokens', 'get /pull', 'get /pull/{id}', 'patch /pull/{id}', 'post /pull/{id}', 'delete /pull/{id}',
    'get /wallet/{name}/jwks.json', 'post /wallet/accounts/{name}/keys',
    'post /op/auth', 'post /op/auth/continue/{id}', 'delete /op/auth/continue/{id}', 'post /op/auth/token/{id}', 'delete /op/auth/token/{id}',
    'post /op/incoming-payments', 'get /op/incoming-payments', 'get /op/incoming-payments/{id}', 'post /op/incoming-payments/{id}/complete',
    'get /op/client-key', 'post /balances/{id}:creditIncomingPayment', 'get /',
    'post /calls/rooms', 'get /calls/rooms', 'get /calls/rooms/{room}', 'delete /calls/rooms/{room}', 'post /calls/rooms/{room}/join',
    'post /calls/rooms/{room}/host', 'post /calls/rooms/{room}/remove'
  ]
  const found = Object.entries(doc.paths as Record<string, Record<string, unknown>>)
    .flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m} ${p}`))
  assert.deepEqual(found.sort(), expected.sort())
  for (const [p, ops] of Object.entries(doc.paths as Record<string, Record<string, { summary?: string, responses: Record<string, { content?: unknown, description?: string }>, requestBody?: unknown, security?: unknown }>>)) {
    for (const [method, op] of Object.entries(ops)) {
      assert.ok(op.summary, `${method} ${p} has a summary`)
      const codes = Object.keys(op.responses)
      assert.ok(codes.some((c) => c.startsWith('2')), `${method} ${p} documents success`)
      for (const [code, r] of Object.entries(op.responses)) {
        if (code !== '204') assert.ok(r.content, `${method} ${p} ${code} has a schema`)
      }
      if (method === 'post' && !p.startsWith('/proxies') && p !== '/wallet/accounts') assert.ok(op.requestBody, `${method} ${p} documents its body`)
    }
  }
  assert.ok(doc.paths['/balances/{id}:spend'].post.security, 'spend is marked as needing a token')
  const ui = await app.inject({ method: 'GET', url: '/docs/' })
  assert.ok(ui.statusCode === 200 || ui.statusCode === 302, `Swagger UI at /docs (${ui.statusCode})`)
})
