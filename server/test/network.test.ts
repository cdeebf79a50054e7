// The embedded Interledger network: BTP for Node and browser clients, allowed origins, and the uplink
// mode in which no connector starts.
import assert from 'node:assert/strict'
import { connect } from 'node:net'
import { test } from 'node:test'
import WebSocket from 'ws'
import { build, freePort } from './helper.ts'
import { pay } from './pay.ts'

/** Opens a WebSocket with a given Origin and reports whether the server closed it within 300 ms. */
function closedFor (port: number, origin: string | undefined): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}`, origin ? { origin } : {})
    let closed = false
    ws.on('close', () => { closed = true })
    ws.on('error', reject)
    ws.on('open', () => setTimeout(() => { ws.terminate(); resolve(closed) }, 300))
  })
}

test('browsers may join BTP only from allowed origins; Node clients send none', async (t) => {
  const { btpPort } = await build(t, { TRICKLE_BTP_ALLOWED_ORIGINS: '^http://localhost:1313$' }, { listen: false })
  assert.equal(await closedFor(btpPort, 'http://localhost:1313'), false, 'an allowed origin stays connected')
  assert.equal(await closedFor(btpPort, 'http://evil.example'), true, 'another origin is closed at once')
  assert.equal(await closedFor(btpPort, undefined), false, 'no Origin (a Node client) is allowed')
})

test('the default allows pages served from localhost on any port', async (t) => {
  const { btpPort } = await build(t, {}, { listen: false })
  assert.equal(await closedFor(btpPort, 'http://localhost:1313'), false)
  assert.equal(await closedFor(btpPort, 'http://127.0.0.1:8080'), false)
  assert.equal(await closedFor(btpPort, 'https://example.com'), true)
})

test('with ILP_BTP_SERVER the companion starts no connector and receives through the uplink', async (t) => {
  const upstream = await build(t, {}, { listen: false })
  const unusedBtpPort = await freePort()
  const { app } = await build(t, {
    ILP_BTP_SERVER: `btp+ws://companion-b:uplink-secret@127.0.0.1:${upstream.btpPort}`,
    TRICKLE_BTP_PORT: String(unusedBtpPort)
  })
  assert.equal(app.ilpNetwork.mode, 'uplink')
  assert.equal(app.ilpNetwork.btpUrl, `btp+ws://127.0.0.1:${upstream.btpPort}`, 'no credentials in what is shown')
  const refused = await new Promise<boolean>((resolve) => {
    const socket = connect(unusedBtpPort, '127.0.0.1')
    socket.on('connect', () => { socket.destroy(); resolve(false) })
    socket.on('error', () => resolve(true))
  })
  assert.ok(refused, 'nothing listens on TRICKLE_BTP_PORT')
  const health = await app.inject({ method: 'GET', url: '/health' })
  assert.equal(health.json().network.mode, 'uplink')

  // A sender on the upstream network pays the downstream companion's proxy pointer.
  const paid = await pay(upstream.btpPort, app.demo!.proxyPointer, 4321)
  assert.equal(paid.totalSent, '4321')
  assert.ok(paid.receipts.length > 0)
  const res = await app.inject({ method: 'POST', url: '/balances/up:creditReceipt', headers: { 'content-type': 'text/plain' }, payload: paid.receipts.at(-1) })
  assert.equal(res.body, '4321')
  const account = await app.wallet.getAccount('demo')
  assert.equal(typeof account === 'object' && account.received, '4321')
})

test('the ilp-protocol-stream Node >= 18 crash is worked around', async () => {
  const { DataAndMoneyStream } = await import('ilp-protocol-stream')
  await import('../src/ilp/stream.ts')
  const descriptor = Object.getOwnPropertyDescriptor(DataAndMoneyStream.prototype, 'closed')
  assert.ok(descriptor?.set, 'DataAndMoneyStream has its own settable `closed`')
})
