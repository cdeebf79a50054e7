// Webhooks after pulls, against a real local HTTP receiver: they fire, are signed, are retried with
// backoff when the site fails, are given up after the bounded attempts, and never hold up a pull.
import assert from 'node:assert/strict'
import { createHmac } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { test, type TestContext } from 'node:test'
import { build } from './helper.ts'
import { createAgreement, pullFrom } from './pull-client.ts'

interface Hit { headers: IncomingHttpHeaders, body: string, respond (status: number): void }

/** A site's webhook endpoint: records every request and lets the test answer each one. */
async function receiver (t: TestContext, answer: (hit: Hit, n: number) => void) {
  const hits: Hit[] = []
  const waiters: Array<{ n: number, resolve: () => void }> = []
  const server = createServer((req, res: ServerResponse) => {
    let body = ''
    req.on('data', (c: Buffer) => { body += c.toString('utf8') })
    req.on('end', () => {
      const hit: Hit = { headers: req.headers, body, respond: (status) => { res.writeHead(status).end() } }
      hits.push(hit)
      answer(hit, hits.length)
      for (const w of waiters.filter((w) => hits.length >= w.n)) w.resolve()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.after(() => { server.closeAllConnections(); server.close() })
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/pull`,
    hits,
    /** Resolves once `n` requests have arrived (no sleeping, no timing). */
    received: (n: number) => new Promise<void>((resolve) => { if (hits.length >= n) resolve(); else waiters.push({ n, resolve }) })
  }
}

const sign = (secret: string, body: string) => `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`

test('a webhook fires after each pull, signed, and is retried until the site takes it', async (t) => {
  const site = await receiver(t, (hit, n) => hit.respond(n === 1 ? 500 : 204))
  const clock = Date.parse('2026-04-01T00:00:00Z')
  const { url, app, btpPort } = await build(t, { TRICKLE_PULL_WEBHOOK_BACKOFF: '20,20' }, { now: () => clock })
  const a = await createAgreement(url, { amount: '1000', assetCode: 'USD', assetScale: 9, interval: 'P1M', cycles: 12, cap: true, webhook: site.url })
  assert.match(a.webhookSecret ?? '', /^[A-Za-z0-9_-]{43}$/, 'the site gets the signing secret at creation')

  assert.equal((await pullFrom(btpPort, a.pointer, 600)).received, 600n)
  await site.received(2)
  const [first, retry] = site.hits as [Hit, Hit]
  assert.equal(first.body, retry.body, 'a retry sends the same body')
  assert.equal(first.headers['trickle-delivery'], retry.headers['trickle-delivery'], 'and the same delivery id')
  assert.deepEqual([first.headers['trickle-attempt'], retry.headers['trickle-attempt']], ['1', '2'])
  assert.equal(first.headers['content-type'], 'application/json')
  assert.equal(retry.headers['trickle-signature'], sign(a.webhookSecret!, retry.body), 'HMAC-SHA256 of the exact body')
  assert.deepEqual(JSON.parse(retry.body), {
    id: a.id,
    pointer: a.pointer,
    amount: '600',
    asset: { code: 'USD', scale: 9 },
    balance: { total: '600', interval: '600', available: '400' },
    cycle: 1,
    pulledAt: '2026-04-01T00:00:00.000Z'
  })

  assert.equal((await pullFrom(btpPort, a.pointer)).received, 400n)
  await site.received(3)
  const third = JSON.parse(site.hits[2]!.body) as { amount: string, balance: unknown }
  assert.deepEqual([third.amount, third.balance], ['400', { total: '1000', interval: '1000', available: '0' }])
  assert.equal(site.hits[2]!.headers['trickle-signature'], sign(a.webhookSecret!, site.hits[2]!.body))

  assert.equal((await pullFrom(btpPort, a.pointer)).received, 0n)
  await app.pull.idle()
  assert.equal(site.hits.length, 3, 'a pull that moved nothing sends no webhook')
  assert.deepEqual(await app.featureStores.pull().failedWebhooks(), [])
})

test('a failing site never holds up the pull, and is given up after the bounded attempts', async (t) => {
  let release!: () => void
  const held = new Promise<void>((resolve) => { release = resolve })
  // The first request hangs until the test lets it go; every answer is a 503.
  const site = await receiver(t, (hit, n) => { if (n === 1) void held.then(() => hit.respond(503)); else hit.respond(503) })
  const clock = Date.parse('2026-04-01T00:00:00Z')
  const { url, app, btpPort } = await build(t, { TRICKLE_PULL_WEBHOOK_BACKOFF: '10,10' }, { now: () => clock })
  const a = await createAgreement(url, { amount: '50', assetCode: 'USD', assetScale: 9, interval: 'P1D', cycles: 1, cap: false, webhook: site.url })

  assert.equal((await pullFrom(btpPort, a.pointer)).received, 50n)
  await site.received(1)
  assert.equal(site.hits.length, 1, 'the pull is done while its webhook is still waiting for the site')
  release()
  await site.received(3)
  await app.pull.idle()
  const failed = await app.featureStores.pull().failedWebhooks(a.id)
  assert.equal(failed.length, 1)
  assert.deepEqual([failed[0]!.attempts, failed[0]!.lastError], [3, 'HTTP 503'], 'one attempt plus one per backoff entry')
  assert.equal(site.hits.length, 3)
})

test('pending deliveries survive a restart and go out when the companion is back', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'trickle-pull-hook-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const database = path.join(dir, 'trickle.sqlite')
  const env = { TRICKLE_DATABASE: database, TRICKLE_PULL_WEBHOOK_BACKOFF: '3600000' }
  let up = false
  const site = await receiver(t, (hit) => hit.respond(up ? 200 : 502))
  const first = await build(undefined, env)
  const a = await createAgreement(first.url, { amount: '70', assetCode: 'USD', assetScale: 9, interval: 'P1D', cycles: 1, cap: true, webhook: site.url })
  assert.equal((await pullFrom(first.btpPort, a.pointer)).received, 70n)
  await site.received(1)
  await first.app.pull.idle()
  await first.app.close()

  // The retry is due in an hour: move it to now (the test's stand-in for "an hour later") while the
  // companion is down; the restarted companion's worker sends it as soon as it starts.
  const db = new DatabaseSync(database)
  db.exec('UPDATE pull_webhooks SET next_at = 0')
  db.close()
  up = true
  await build(t, env)
  await site.received(2)
  const [failed, delivered] = site.hits as [Hit, Hit]
  assert.equal(delivered.body, failed.body)
  assert.deepEqual([delivered.headers['trickle-delivery'], delivered.headers['trickle-attempt']], [failed.headers['trickle-delivery'], '2'])
  assert.equal(delivered.headers['trickle-signature'], sign(a.webhookSecret!, delivered.body), 'the secret survives the restart too')
})
