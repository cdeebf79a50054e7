// What the companion logs about requests: money moving at info (credits and spends), one line per
// request only at debug, failures always.
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

test('at info: a credit and a spend are logged with their amounts, requests are not', async (t) => {
  const { app, lines } = await logged(t, 'info')
  const n = await issueNonce(app)
  lines.length = 0
  assert.equal((await app.inject({ method: 'POST', url: '/balances/alice:creditReceipt', headers: text, payload: n.receipt(700) })).body, '700')
  assert.equal((await app.inject({ method: 'POST', url: '/balances/alice:spend', headers: { ...text, ...spendAuth }, payload: '200' })).body, '500')
  assert.equal((await app.inject({ method: 'POST', url: '/balances/alice:creditReceipt', headers: text, payload: n.receipt(700) })).statusCode, 400)
  assert.deepEqual(lines.map((l) => [l.level, l.msg]), [[30, 'receipt credited'], [30, 'balance spent']])
  assert.deepEqual([lines[0]!.balance, lines[0]!.amount, lines[0]!.total], ['alice', '700', '700'])
  assert.deepEqual([lines[1]!.balance, lines[1]!.amount, lines[1]!.left], ['alice', '200', '500'])
})

test('at debug: one line per request with method, url, status and time', async (t) => {
  const { app, lines } = await logged(t, 'debug')
  lines.length = 0
  await app.inject({ method: 'GET', url: '/balances/nobody' })
  const request = lines.filter((l) => l.msg === 'request')
  assert.equal(request.length, 1)
  assert.deepEqual([request[0]!.method, request[0]!.url, request[0]!.status, typeof request[0]!.ms], ['GET', '/balances/nobody', 404, 'number'])
})
