// What the companion logs about requests: spends at info, credits in a summary line at info (each at
// debug), one line per request only at debug, failures always.
import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { test, type TestContext } from 'node:test'
import { build, issueNonce, spendAuth } from './helper.ts'

const text = { 'content-type': 'text/plain' }

async function logged (t: TestContext, level: string) {
  const lines: Array<Record<string, unknown>> = []
  const stream = new Writable({
    write (chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>)
      done()
    }
  })
  const { app } = await build(t, {}, { listen: false, logger: { level, stream } })
  return { app, lines }
}

test('at info: a spend is logged with its amounts, credits once a minute in one summary line, requests not at all', async (t) => {
  const { app, lines } = await logged(t, 'info')
  const n = await issueNonce(app)
  const other = await issueNonce(app)
  lines.length = 0
  assert.equal((await app.inject({ method: 'POST', url: '/balances/alice:creditReceipt', headers: text, payload: n.receipt(700) })).body, '700')
  assert.equal((await app.inject({ method: 'POST', url: '/balances/alice:spend', headers: { ...text, ...spendAuth }, payload: '200' })).body, '500')
  assert.equal((await app.inject({ method: 'POST', url: '/balances/alice:creditReceipt', headers: text, payload: n.receipt(700) })).statusCode, 400)
  assert.equal((await app.inject({ method: 'POST', url: '/balances/alice:creditReceipt', headers: text, payload: n.receipt(1000) })).body, '800')
  assert.equal((await app.inject({ method: 'POST', url: '/balances/bob:creditReceipt', headers: text, payload: other.receipt(5) })).body, '5')
  assert.deepEqual(lines.map((l) => [l.level, l.msg]), [[30, 'balance spent']])
  assert.deepEqual([lines[0]!.balance, lines[0]!.amount, lines[0]!.left], ['alice', '200', '500'])

  // What the plugin's timer does every minute (and closing does once more).
  app.verifier.logCredits()
  assert.deepEqual(lines.map((l) => [l.level, l.msg]), [[30, 'balance spent'], [30, '3 receipts credited']])
  const summary = lines[1]!
  assert.equal(summary.receipts, 3)
  assert.equal(summary.balances, 2)
  assert.deepEqual(Object.values(summary.received as Record<string, string>), ['1005'], 'amounts per receiver, as decimal strings')
  app.verifier.logCredits()
  assert.equal(lines.length, 2, 'nothing credited since: no line')
})

test('at debug: each credit is logged with balance, amount and total', async (t) => {
  const { app, lines } = await logged(t, 'debug')
  const n = await issueNonce(app)
  lines.length = 0
  await app.inject({ method: 'POST', url: '/balances/alice:creditReceipt', headers: text, payload: n.receipt(700) })
  const credit = lines.filter((l) => l.msg === 'receipt credited')
  assert.deepEqual(credit.map((l) => [l.level, l.balance, l.amount, l.total]), [[20, 'alice', '700', '700']])
})

test('at debug: one line per request with method, url, status and time', async (t) => {
  const { app, lines } = await logged(t, 'debug')
  lines.length = 0
  await app.inject({ method: 'GET', url: '/balances/nobody' })
  const request = lines.filter((l) => l.msg === 'request')
  assert.equal(request.length, 1)
  assert.deepEqual([request[0]!.method, request[0]!.url, request[0]!.status, typeof request[0]!.ms], ['GET', '/balances/nobody', 404, 'number'])
})
