// Pull payments end to end (RFC 0036): the published ilp-protocol-spsp `pull()` client against the
// companion's pull pointers over the real embedded connector, with the agreement clock moved by hand.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { adminAuth, build } from './helper.ts'
import { createAgreement, json, pullFrom, queryPull } from './pull-client.ts'

const at = (iso: string) => Date.parse(iso)

test('cap true: at most amount per calendar cycle, P1M from 31 January, over several months', async (t) => {
  let clock = at('2024-01-31T10:00:00Z')
  const { url, app, btpPort } = await build(t, {}, { now: () => clock })
  const a = await createAgreement(url, { amount: '1000', assetCode: 'USD', assetScale: 9, interval: 'P1M', cycles: 4, cap: true, start: '2024-01-31T00:00:00Z' })
  assert.match(a.pointer, new RegExp(`^${url}/pull/[A-Za-z0-9_-]{22}$`))

  let q = await queryPull(a.pointer)
  assert.equal(q.status, 200)
  assert.match(q.contentType ?? '', /^application\/spsp4\+json/)
  assert.match(q.body.destination_account, /^private\.trickle\.local\.trickle-pull\./)
  assert.equal(Buffer.from(q.body.shared_secret, 'base64').length, 32)
  assert.deepEqual(q.body.pull, {
    balance: { total: '0', interval: '0', available: '1000' },
    cycle: 1,
    agreement: { amount: '1000', start: '2024-01-31T00:00:00.000Z', interval: 'P1M', cycles: 4, cap: true, asset: { code: 'USD', scale: 9 } }
  })

  assert.deepEqual(await pullFrom(btpPort, a.pointer, 600), { received: 600n, complete: true })
  assert.deepEqual(await pullFrom(btpPort, a.pointer, 600), { received: 400n, complete: false }, 'only what is left of the cycle')
  assert.deepEqual(await pullFrom(btpPort, a.pointer), { received: 0n, complete: false }, 'nothing more this cycle')
  await app.pull.idle()
  q = await queryPull(a.pointer)
  assert.deepEqual([q.body.pull.balance, q.body.pull.cycle], [{ total: '1000', interval: '1000', available: '0' }, 1])

  // 2024 is a leap year: 31 January + P1M is 29 February, not 2 March (30 days) or 1 March.
  clock = at('2024-02-28T23:59:59Z')
  assert.equal((await pullFrom(btpPort, a.pointer)).received, 0n, 'still cycle 1 on 28 February')
  clock = at('2024-02-29T00:00:00Z')
  q = await queryPull(a.pointer)
  assert.deepEqual([q.body.pull.balance, q.body.pull.cycle], [{ total: '1000', interval: '0', available: '1000' }, 2])
  assert.equal((await pullFrom(btpPort, a.pointer)).received, 1000n, 'cycle 2 starts on 29 February')

  // Cycle 3 starts on 31 March (start + 2 months, from start: no drift to the 29th).
  clock = at('2024-03-30T12:00:00Z')
  assert.equal((await pullFrom(btpPort, a.pointer)).received, 0n)
  clock = at('2024-03-31T00:00:00Z')
  assert.equal((await pullFrom(btpPort, a.pointer, 250)).received, 250n)
  // Cycle 4: 30 April. Unpulled 750 of cycle 3 does not carry over with cap.
  clock = at('2024-04-30T00:00:00Z')
  assert.equal((await pullFrom(btpPort, a.pointer)).received, 1000n)
  await app.pull.idle()
  q = await queryPull(a.pointer)
  assert.deepEqual([q.body.pull.balance, q.body.pull.cycle], [{ total: '3250', interval: '1000', available: '0' }, 4])

  // After the last cycle (31 May) nothing is available.
  clock = at('2024-05-31T00:00:00Z')
  q = await queryPull(a.pointer)
  assert.equal(q.status, 200)
  assert.deepEqual([q.body.pull.balance.available, q.body.pull.cycle], ['0', 4])
  assert.equal((await pullFrom(btpPort, a.pointer)).received, 0n, 'nothing after the last cycle')
  await app.pull.idle()
  const [listed] = await (await fetch(`${url}/pull`, { headers: json })).json() as Array<{ status: string, balance: { total: string } }>
  assert.deepEqual([listed!.status, listed!.balance.total], ['finished', '3250'])
})

test('cap false: what is not pulled carries over, until the last cycle ends', async (t) => {
  let clock = at('2026-03-02T09:00:00Z')
  const { url, app, btpPort } = await build(t, {}, { now: () => clock })
  const a = await createAgreement(url, { amount: '500', assetCode: 'USD', assetScale: 9, interval: 'P1W', cycles: 3, cap: false, start: '2026-03-02T09:00:00Z' })
  assert.equal((await pullFrom(btpPort, a.pointer, 200)).received, 200n)

  clock = at('2026-03-09T09:00:00Z') // cycle 2: 2 × 500 − 200
  let q = await queryPull(a.pointer)
  assert.deepEqual([q.body.pull.balance, q.body.pull.cycle], [{ total: '200', interval: '0', available: '800' }, 2])
  assert.equal((await pullFrom(btpPort, a.pointer, 700)).received, 700n)
  await app.pull.idle()
  q = await queryPull(a.pointer)
  assert.deepEqual(q.body.pull.balance, { total: '900', interval: '700', available: '100' })

  clock = at('2026-03-20T00:00:00Z') // cycle 3: 1500 − 900
  assert.equal((await pullFrom(btpPort, a.pointer)).received, 600n)
  clock = at('2026-03-23T09:00:00Z') // three weeks are over
  assert.equal((await pullFrom(btpPort, a.pointer)).received, 0n)
  await app.pull.idle()
  q = await queryPull(a.pointer)
  assert.deepEqual(q.body.pull.balance, { total: '1500', interval: '600', available: '0' })
})

test('a future start: nothing before it, the first cycle from it', async (t) => {
  let clock = at('2026-06-01T00:00:00Z')
  const { url, btpPort } = await build(t, {}, { now: () => clock })
  const a = await createAgreement(url, { amount: '300', assetCode: 'USD', assetScale: 9, interval: 'PT1H', cycles: 2, cap: true, start: '2026-06-01T12:00:00Z' })
  assert.equal(a.status, 'pending')
  let q = await queryPull(a.pointer)
  assert.deepEqual([q.body.pull.balance.available, q.body.pull.cycle], ['0', 0])
  assert.equal((await pullFrom(btpPort, a.pointer)).received, 0n, 'the original server let this through')
  clock = at('2026-06-01T11:59:59.999Z')
  assert.equal((await pullFrom(btpPort, a.pointer)).received, 0n)
  clock = at('2026-06-01T12:00:00Z')
  q = await queryPull(a.pointer)
  assert.deepEqual([q.body.pull.balance.available, q.body.pull.cycle], ['300', 1])
  assert.equal((await pullFrom(btpPort, a.pointer)).received, 300n)
  clock = at('2026-06-01T13:30:00Z')
  assert.equal((await pullFrom(btpPort, a.pointer)).received, 300n, 'PT1H: cycle 2')
})

test('expiry: nothing from the expiry on, and the pointer answers 410 as RFC 0036 errors', async (t) => {
  let clock = at('2026-01-01T00:00:00Z')
  const { url, btpPort } = await build(t, {}, { now: () => clock })
  const a = await createAgreement(url, { amount: '100', assetCode: 'USD', assetScale: 9, interval: 'P1D', cycles: 30, cap: false, expiry: '2026-01-03T12:00:00Z' })
  assert.equal(a.start, '2026-01-01T00:00:00.000Z', 'start defaults to the time of creation')
  clock = at('2026-01-03T11:00:00Z')
  let q = await queryPull(a.pointer)
  assert.equal(q.body.pull.agreement.expiry, '2026-01-03T12:00:00.000Z')
  assert.equal(q.body.pull.balance.available, '300')
  assert.equal((await pullFrom(btpPort, a.pointer, 100)).received, 100n)
  clock = at('2026-01-03T12:00:00Z')
  q = await queryPull(a.pointer)
  assert.equal(q.status, 410)
  assert.deepEqual([q.body.code, q.body.id], ['pull_expired', 'InvalidPointerError'])
  await assert.rejects(pullFrom(btpPort, a.pointer), /status=410/, 'the client cannot even query it')
})

test('update (amount, cycles, cap, interval, expiry, asset) and cancel', async (t) => {
  let clock = at('2026-01-10T00:00:00Z')
  const { url, app, btpPort } = await build(t, {}, { now: () => clock })
  const a = await createAgreement(url, { amount: '1000', assetCode: 'USD', assetScale: 9, interval: 'P1D', cycles: 5, cap: true, start: '2026-01-10T00:00:00Z' })
  const patch = async (body: unknown, method = 'PATCH', id = a.id) => {
    const res = await fetch(`${url}/pull/${id}`, { method, headers: json, body: JSON.stringify(body) })
    return { status: res.status, body: await res.json() as Record<string, unknown> & { code?: string, balance: { total: string, available: string } } }
  }
  assert.equal((await pullFrom(btpPort, a.pointer, 400)).received, 400n)
  await app.pull.idle()

  let r = await patch({ amount: '1500' })
  assert.equal(r.status, 200)
  assert.deepEqual([r.body.amount, r.body.balance.available], ['1500', '1100'])
  assert.equal((await pullFrom(btpPort, a.pointer)).received, 1100n)

  r = await patch({ cap: false, cycles: 2 }, 'POST')
  assert.equal(r.status, 200, JSON.stringify(r.body))
  assert.deepEqual([r.body.cap, r.body.cycles], [false, 2])
  clock = at('2026-01-11T06:00:00Z')
  assert.equal((await pullFrom(btpPort, a.pointer)).received, 1500n, '2 × 1500 − 1500')
  clock = at('2026-01-12T00:00:00Z')
  assert.equal((await pullFrom(btpPort, a.pointer)).received, 0n, 'cycles cut to 2: over')

  r = await patch({ cycles: 10, interval: 'PT12H', cap: true })
  assert.equal(r.status, 200)
  assert.deepEqual([r.body.interval, r.body.cycle, r.body.balance.available], ['PT12H', 5, '1500'], '2 days of 12 h: cycle 5')

  // The asset moves with its balances: USD scale 9 -> USD scale 6, pulled amounts rounded up.
  r = await patch({ assetCode: 'USD' })
  assert.deepEqual([r.status, r.body.code], [400, 'asset_update_incomplete'])
  r = await patch({ assetScale: 6 })
  assert.deepEqual([r.status, r.body.code], [400, 'asset_update_incomplete'])
  r = await patch({ assetCode: 'USD', assetScale: 6, amount: '2' })
  assert.equal(r.status, 200, JSON.stringify(r.body))
  assert.deepEqual([r.body.assetScale, r.body.balance.total, r.body.balance.available], [6, '3', '2'], '3000 at scale 9 is 3 at scale 6')
  assert.equal((await pullFrom(btpPort, a.pointer)).received, 2000n, '2 units of scale 6 are 2000 of the network\'s scale 9')

  r = await patch({ expiry: '2026-01-12T12:00:00Z' })
  assert.equal(r.body.expiry, '2026-01-12T12:00:00.000Z')
  r = await patch({ expiry: null })
  assert.equal(r.body.expiry, undefined)
  r = await patch({ expiry: '2026-01-01T00:00:00Z' })
  assert.deepEqual([r.status, r.body.code], [400, 'invalid_expiry'], 'expiry before start')

  let res = await fetch(`${url}/pull/${a.id}`, { method: 'DELETE', headers: adminAuth })
  assert.equal(res.status, 200)
  assert.equal((await res.json() as { status: string }).status, 'cancelled')
  const q = await queryPull(a.pointer)
  assert.deepEqual([q.status, q.body.code, q.body.id], [410, 'pull_cancelled', 'InvalidPointerError'])
  await assert.rejects(pullFrom(btpPort, a.pointer), /status=410/)
  r = await patch({ amount: '5' })
  assert.deepEqual([r.status, r.body.code], [410, 'pull_cancelled'])
  res = await fetch(`${url}/pull/${a.id}`, { method: 'DELETE', headers: adminAuth })
  assert.equal(res.status, 410)
  res = await fetch(`${url}/pull/nope`, { method: 'DELETE', headers: adminAuth })
  assert.equal(res.status, 404)
  res = await fetch(`${url}/pull/${a.id}`, { method: 'DELETE' })
  assert.equal(res.status, 401, 'cancel needs the admin (or pull) token')
})

test('another asset: exact conversion with a rate from TRICKLE_PULL_RATES, rounded down for the sender', async (t) => {
  const clock = at('2026-02-01T00:00:00Z')
  const { url, app, btpPort } = await build(t, { TRICKLE_PULL_RATES: 'EUR:USD=1.08, USD:JPY=151.5', TRICKLE_ILP_MAX_PACKET_AMOUNT: '100000000' }, { now: () => clock })
  // Same code, another scale: no rate needed. $1.50 at scale 2 is 1.5e9 at the network's scale 9, in
  // 15 packets of at most 1e8: the recorded total is exactly the agreement's 150, not 15 × ceil(…).
  const usd = await createAgreement(url, { amount: '150', assetCode: 'USD', assetScale: 2, interval: 'P1M', cycles: 1, cap: true })
  assert.equal((await pullFrom(btpPort, usd.pointer)).received, 1_500_000_000n)
  await app.pull.idle()
  assert.deepEqual((await queryPull(usd.pointer)).body.pull.balance, { total: '150', interval: '150', available: '0' })

  // €1.00 = $1.08.
  const eur = await createAgreement(url, { amount: '100', assetCode: 'EUR', assetScale: 2, interval: 'P1M', cycles: 1, cap: true })
  assert.equal((await pullFrom(btpPort, eur.pointer)).received, 1_080_000_000n)
  // The inverse of a rate works too: ¥1 = $1/151.5; 1000 yen (scale 0) is 6.600660066… dollars.
  const jpy = await createAgreement(url, { amount: '1000', assetCode: 'JPY', assetScale: 0, interval: 'P1M', cycles: 1, cap: true })
  assert.equal((await pullFrom(btpPort, jpy.pointer)).received, 6_600_660_066n, 'floor(1000 × 1e9 / 151.5)')
  await app.pull.idle()
  assert.deepEqual((await queryPull(jpy.pointer)).body.pull.balance, { total: '1000', interval: '1000', available: '0' }, 'ceil back: the whole 1000')

  const res = await fetch(`${url}/pull`, { method: 'POST', headers: json, body: JSON.stringify({ amount: '100', assetCode: 'GBP', assetScale: 2, interval: 'P1M', cycles: 1, cap: true }) })
  assert.equal(res.status, 400)
  assert.equal((await res.json() as { code: string }).code, 'no_exchange_rate')
})

test('concurrent pulls of one agreement never exceed what is available (one sendMax at a time)', async (t) => {
  const clock = at('2026-02-01T00:00:00Z')
  const { url, app, btpPort } = await build(t, { TRICKLE_ILP_MAX_PACKET_AMOUNT: '100' }, { now: () => clock })
  const a = await createAgreement(url, { amount: '5000', assetCode: 'USD', assetScale: 9, interval: 'P1M', cycles: 1, cap: true })
  const results = await Promise.all(Array.from({ length: 6 }, () => pullFrom(btpPort, a.pointer, 2000)))
  const received = results.reduce((sum, r) => sum + r.received, 0n)
  assert.equal(received, 5000n, `all of it and no more (${results.map((r) => r.received).join(', ')})`)
  assert.equal(results.filter((r) => r.complete).length, 2, 'two pulls got their 2000, one got the 1000 left, the others nothing')
  await app.pull.idle()
  assert.deepEqual((await queryPull(a.pointer)).body.pull.balance, { total: '5000', interval: '5000', available: '0' })
})

test('the published client against a pointer: query() shape and content type', async (t) => {
  const { url } = await build(t)
  const a = await createAgreement(url, { amount: '1', assetCode: 'USD', assetScale: 9, interval: 'P1Y', cycles: 1, cap: true })
  const { createRequire } = await import('node:module')
  const SPSP = createRequire(import.meta.url)('ilp-protocol-spsp') as { query (p: string): Promise<Record<string, unknown>> }
  const reply = await SPSP.query(a.pointer)
  assert.match(String(reply.content_type), /application\/spsp4\+json/)
  assert.ok(typeof reply.destination_account === 'string' && typeof reply.shared_secret === 'string' && typeof reply.pull === 'object')
})
