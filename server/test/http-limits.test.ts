// The companion's HTTP side against slow and greedy clients: requests that never finish, request
// floods, SPSP queries used to flood the store and the receiver, connection hoarding.
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { connect } from 'node:net'
import test from 'node:test'
import WebSocket from 'ws'
import { build } from './helper.ts'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Opens a TCP connection, writes `head`, then one byte of `trickle` every `everyMs`; resolves when the server closes it. */
async function slowClient (port: number, head: string, trickle: string, everyMs: number) {
  const socket = connect(port, '127.0.0.1')
  await once(socket, 'connect')
  let received = ''
  socket.on('data', (d: Buffer) => { received += d.toString() })
  socket.on('error', () => {})
  socket.write(head)
  const started = Date.now()
  let i = 0
  const timer = setInterval(() => { if (!socket.destroyed && i < trickle.length) socket.write(trickle[i++]!) }, everyMs)
  await once(socket, 'close')
  clearInterval(timer)
  return { ms: Date.now() - started, received }
}

test('a request body sent a byte at a time is cut off with 408 after TRICKLE_HTTP_REQUEST_TIMEOUT', { timeout: 20_000 }, async (t) => {
  const { app } = await build(t, { TRICKLE_HTTP_REQUEST_TIMEOUT: '2' })
  const port = (app.server.address() as { port: number }).port
  const body = 'A'.repeat(80)
  const slow = await slowClient(port, `POST /balances/slow:creditReceipt HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n`, body, 300)
  assert.ok(slow.ms < 5_000, `closed after ${slow.ms} ms`)
  assert.match(slow.received, /^HTTP\/1\.1 408 /)
  // Headers that dribble in get less time still.
  const headers = await slowClient(port, 'GET /health HTTP/1.1\r\n', 'X-Slow: ' + 'a'.repeat(100), 300)
  assert.ok(headers.ms < 4_000, `closed after ${headers.ms} ms`)
  assert.equal((await fetch(`http://127.0.0.1:${port}/health`)).status, 200, 'everyone else is served')
})

test('requests beyond TRICKLE_RATE_LIMIT per address get 429 with Retry-After and a stable code', async (t) => {
  const { app } = await build(t, { TRICKLE_RATE_LIMIT: '5' }, { listen: false })
  for (let i = 0; i < 5; i++) assert.equal((await app.inject({ url: '/torrents', remoteAddress: '10.0.0.1' })).statusCode, 200)
  assert.equal((await app.inject({ url: '/health', remoteAddress: '10.0.0.1' })).statusCode, 200, 'monitors may always poll /health')
  const limited = await app.inject({ url: '/torrents', remoteAddress: '10.0.0.1' })
  assert.equal(limited.statusCode, 429)
  assert.equal(limited.json().code, 'rate_limited')
  assert.match(limited.json().message, /at most 5 requests/)
  assert.ok(Number(limited.headers['retry-after']) > 0)
  assert.equal((await app.inject({ url: '/torrents', remoteAddress: '10.0.0.2' })).statusCode, 200, 'another address is not affected')
  // A forged X-Forwarded-For does not make a new client unless the operator trusts a proxy.
  assert.equal((await app.inject({ url: '/torrents', remoteAddress: '10.0.0.1', headers: { 'x-forwarded-for': '192.0.2.9' } })).statusCode, 429)
})

test('behind a trusted proxy the forwarded address is what is counted', async (t) => {
  const { app } = await build(t, { TRICKLE_RATE_LIMIT: '2', TRICKLE_TRUST_PROXY: 'true' }, { listen: false })
  const from = (client: string) => app.inject({ url: '/torrents', remoteAddress: '127.0.0.1', headers: { 'x-forwarded-for': client } })
  assert.equal((await from('192.0.2.1')).statusCode, 200)
  assert.equal((await from('192.0.2.1')).statusCode, 200)
  assert.equal((await from('192.0.2.1')).statusCode, 429)
  assert.equal((await from('192.0.2.2')).statusCode, 200)
})

test('SPSP queries to a proxy pointer are limited per address and proxy, and per proxy', async (t) => {
  const { app } = await build(t, { TRICKLE_SPSP_RATE_LIMIT_PER_ADDRESS: '3', TRICKLE_SPSP_RATE_LIMIT_PER_PROXY: '5' }, { listen: false })
  const proxy = new URL(app.demo!.proxyPointer).pathname
  const other = await app.verifier.registerProxy(`${app.config.publicUrl}/wallet/other`)
  assert.ok(typeof other !== 'string')
  const otherPath = new URL(other.proxy.proxyPointer).pathname
  const query = (url: string, address: string) => app.inject({ url, remoteAddress: address, headers: { accept: 'application/spsp4+json' } })
  for (let i = 0; i < 3; i++) assert.notEqual((await query(proxy, '10.0.0.1')).statusCode, 429)
  const perAddress = await query(proxy, '10.0.0.1')
  assert.equal(perAddress.statusCode, 429)
  assert.equal(perAddress.json().code, 'rate_limited')
  assert.match(perAddress.json().message, /one address to one payment pointer/)
  assert.notEqual((await query(otherPath, '10.0.0.1')).statusCode, 429, 'another pointer from the same address')
  assert.notEqual((await query(proxy, '10.0.0.2')).statusCode, 429)
  assert.notEqual((await query(proxy, '10.0.0.3')).statusCode, 429)
  const perProxy = await query(proxy, '10.0.0.4')
  assert.equal(perProxy.statusCode, 429, 'five in all for this pointer, from every address together')
  assert.match(perProxy.json().message, /to this payment pointer/)
})

test('hoarded WebSocket connections never starve HTTP: past the cap upgrades get 503, /health still answers', async (t) => {
  const { url } = await build(t, { TRICKLE_TRACKER_MAX_CONNECTIONS: '5', TRICKLE_TRACKER_MAX_CONNECTIONS_PER_ADDRESS: '0' })
  const ws = `${url.replace(/^http/, 'ws')}/announce`
  const results = await Promise.all(Array.from({ length: 10 }, () => new Promise<WebSocket | number>((resolve) => {
    const s = new WebSocket(ws)
    s.once('open', () => resolve(s))
    s.once('unexpected-response', (_req, res) => { resolve(res.statusCode!) })
  })))
  assert.equal(results.filter((r) => r instanceof WebSocket).length, 5)
  assert.deepEqual(results.filter((r) => typeof r === 'number'), [503, 503, 503, 503, 503])
  assert.equal((await fetch(`${url}/health`)).status, 200)
  for (const r of results) if (r instanceof WebSocket) r.close()
  await sleep(20)
})
