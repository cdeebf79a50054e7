// What a person sees opening the companion's URLs in a browser: a front page that says what runs and
// links the docs, and pages that explain a proxy pointer or wallet address instead of a 406 or a
// JSON document; agents, which ask for SPSP or JSON, get what they always got.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { escapeHtml, htmlPage } from '../src/landing/html.ts'
import { build } from './helper.ts'

const BROWSER = 'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8'

test('GET / says what runs here and links the API docs', async (t) => {
  const { app } = await build(t, {}, { listen: false })
  const res = await app.inject({ method: 'GET', url: '/', headers: { accept: BROWSER } })
  assert.equal(res.statusCode, 200)
  assert.match(String(res.headers['content-type']), /^text\/html/)
  assert.match(res.body, /<a href="http:\/\/127\.0\.0\.1:\d+\/docs">/)
  assert.ok(res.body.includes(app.demo!.paymentPointer) && res.body.includes(app.demo!.proxyPointer))
  assert.match(res.body, /embedded connector/)
  assert.doesNotMatch(res.body, /<script/i)
})

test('a proxy pointer and a wallet address opened in a browser explain themselves; agents still get SPSP and JSON', async (t) => {
  const { app } = await build(t, {}, { listen: false })
  const proxyPath = new URL(app.demo!.proxyPointer).pathname
  const page = await app.inject({ method: 'GET', url: proxyPath, headers: { accept: BROWSER } })
  assert.equal(page.statusCode, 200, page.body)
  assert.match(String(page.headers['content-type']), /^text\/html/)
  assert.ok(page.body.includes(`<code>${app.demo!.paymentPointer}</code>`), 'names the wallet it forwards to')
  const wallet = await app.inject({ method: 'GET', url: '/wallet/demo', headers: { accept: BROWSER } })
  assert.equal(wallet.statusCode, 200)
  assert.match(wallet.body, /Open Payments wallet address/)
  assert.match(wallet.body, /USD \(scale 9\)/)
  assert.equal((await app.inject({ method: 'GET', url: '/wallet/nobody', headers: { accept: BROWSER } })).statusCode, 404)
  // Agents: unchanged.
  const spsp = await app.inject({ method: 'GET', url: '/wallet/demo', headers: { accept: 'application/spsp4+json' } })
  assert.match(String(spsp.headers['content-type']), /application\/spsp4\+json/)
  const json = await app.inject({ method: 'GET', url: '/wallet/demo', headers: { accept: 'application/json' } })
  assert.equal(json.json().id, app.demo!.paymentPointer)
})

test('pages escape every value', () => {
  assert.equal(escapeHtml('<a href="x">\'&'), '&lt;a href=&quot;x&quot;&gt;&#39;&amp;')
  assert.ok(!htmlPage('<script>alert(1)</script>', '').includes('<script>alert'))
})
