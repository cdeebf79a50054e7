// Bad input to the pull routes gets a clear 400 with a stable code; authentication; SPSP errors.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { adminAuth, build, spendAuth } from './helper.ts'
import { json } from './pull-client.ts'

const valid = { amount: '1000', assetCode: 'USD', assetScale: 2, interval: 'P1M', cycles: 12, cap: true }

test('creation: every bad field is refused with a 400 that names the problem', async (t) => {
  const { app } = await build(t, {}, { listen: false, now: () => Date.parse('2026-03-01T00:00:00Z') })
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['negative amount', { amount: '-5' }, 'invalid_amount'],
    ['zero amount', { amount: '0' }, 'invalid_amount'],
    ['decimal amount', { amount: '1.5' }, 'invalid_amount'],
    ['amount as a JSON number', { amount: 1000 }, 'invalid_amount'],
    ['amount as a float', { amount: 10.5 }, 'invalid_amount'],
    ['amount with leading zeros', { amount: '0100' }, 'invalid_amount'],
    ['amount above u64', { amount: '18446744073709551616' }, 'invalid_amount'],
    ['huge amount', { amount: '9'.repeat(40) }, 'invalid_amount'],
    ['amount in words', { amount: 'ten' }, 'invalid_amount'],
    ['empty interval', { interval: 'P' }, 'invalid_interval'],
    ['empty time part', { interval: 'PT' }, 'invalid_interval'],
    ['dangling T', { interval: 'P1DT' }, 'invalid_interval'],
    ['zero interval', { interval: 'P0D' }, 'invalid_interval'],
    ['all-zero long form', { interval: 'P0Y0M0DT0H0M0S' }, 'invalid_interval'],
    ['negative interval', { interval: '-P1M' }, 'invalid_interval'],
    ['fractional interval', { interval: 'P1.5M' }, 'invalid_interval'],
    ['lowercase', { interval: 'p1m' }, 'invalid_interval'],
    ['words', { interval: '1 month' }, 'invalid_interval'],
    ['wrong order', { interval: 'P1D1M' }, 'invalid_interval'],
    ['interval as a number', { interval: 30 }, 'invalid_interval'],
    ['zero cycles', { cycles: 0 }, 'invalid_cycles'],
    ['fractional cycles', { cycles: 1.5 }, 'invalid_cycles'],
    ['cycles as a string', { cycles: '12' }, 'invalid_cycles'],
    ['too many cycles', { cycles: 1_000_001 }, 'invalid_cycles'],
    ['cap as the string "true"', { cap: 'true' }, 'invalid_cap'],
    ['cap as 1', { cap: 1 }, 'invalid_cap'],
    ['scale 256', { assetScale: 256 }, 'invalid_asset'],
    ['negative scale', { assetScale: -1 }, 'invalid_asset'],
    ['scale as a string', { assetScale: '2' }, 'invalid_asset'],
    ['asset code with spaces', { assetCode: 'US D' }, 'invalid_asset'],
    ['start without a zone', { start: '2026-03-01T00:00:00' }, 'invalid_start'],
    ['start that does not exist', { start: '2026-02-30T00:00:00Z' }, 'invalid_start'],
    ['start as a date only', { start: '2026-03-01' }, 'invalid_start'],
    ['expiry garbage', { expiry: 'tomorrow' }, 'invalid_expiry'],
    ['expiry before start', { start: '2026-03-01T00:00:00Z', expiry: '2026-02-01T00:00:00Z' }, 'invalid_expiry'],
    ['expiry equal to the default start (now)', { expiry: '2026-03-01T00:00:00Z' }, 'invalid_expiry'],
    ['webhook over ftp', { webhook: 'ftp://site.example/hook' }, 'invalid_webhook'],
    ['webhook with credentials', { webhook: 'https://user:pw@site.example/hook' }, 'invalid_webhook'],
    ['webhook not a URL', { webhook: 'site.example/hook' }, 'invalid_webhook'],
    ['agreement beyond the range of dates', { interval: 'P999999999Y', cycles: 1000 }, 'agreement_too_long'],
    ['unknown field', { owner: 'eve' }, 'unknown_field'],
    ['misspelt field', { assetcode: 'USD' }, 'unknown_field'],
    ['asset without a rate', { assetCode: 'EUR' }, 'no_exchange_rate']
  ]
  for (const [what, change, code] of cases) {
    for (const path of ['/pull', '/pull/tokens']) {
      const res = await app.inject({ method: 'POST', url: path, headers: json, payload: { ...valid, ...change } })
      const body = res.json() as { code: string, message: string, statusCode: number }
      assert.deepEqual([res.statusCode, body.code], [400, code], `${path}: ${what}: ${res.body}`)
      assert.ok(body.message.length > 20, `${what}: the message says what is expected`)
    }
  }
  for (const field of ['amount', 'assetCode', 'assetScale', 'interval', 'cycles', 'cap']) {
    const { [field]: _, ...rest } = valid as Record<string, unknown>
    const res = await app.inject({ method: 'POST', url: '/pull', headers: json, payload: rest })
    assert.equal(res.statusCode, 400, `missing ${field}`)
  }
  for (const payload of ['[]', '"terms"', '42', 'null']) {
    const res = await app.inject({ method: 'POST', url: '/pull', headers: json, payload })
    assert.deepEqual([res.statusCode, res.json().code], [400, 'invalid_body'], payload)
  }
  const res = await app.inject({ method: 'POST', url: '/pull', headers: json, payload: valid })
  assert.equal(res.statusCode, 201, 'and the valid terms are fine')
})

test('update: bad fields, asset code and scale only together, nothing to update', async (t) => {
  const { app } = await build(t, {}, { listen: false })
  const created = (await app.inject({ method: 'POST', url: '/pull', headers: json, payload: valid })).json() as { id: string }
  const cases: Array<[Record<string, unknown>, string]> = [
    [{}, 'empty_update'],
    [{ assetCode: 'USD' }, 'asset_update_incomplete'],
    [{ assetScale: 4 }, 'asset_update_incomplete'],
    [{ amount: '-1' }, 'invalid_amount'],
    [{ amount: 5 }, 'invalid_amount'],
    [{ interval: 'PT0S' }, 'invalid_interval'],
    [{ cycles: -3 }, 'invalid_cycles'],
    [{ cap: 'false' }, 'invalid_cap'],
    [{ expiry: 'soon' }, 'invalid_expiry'],
    [{ start: '2026-01-01T00:00:00Z' }, 'unknown_field'],
    [{ webhook: 'https://site.example/hook' }, 'unknown_field'],
    [{ assetCode: 'EUR', assetScale: 2 }, 'no_exchange_rate']
  ]
  for (const [payload, code] of cases) {
    for (const method of ['PATCH', 'POST'] as const) {
      const res = await app.inject({ method, url: `/pull/${created.id}`, headers: json, payload })
      assert.deepEqual([res.statusCode, res.json().code], [400, code], `${method} ${JSON.stringify(payload)}`)
    }
  }
  const res = await app.inject({ method: 'PATCH', url: '/pull/unknown-id', headers: json, payload: { amount: '5' } })
  assert.deepEqual([res.statusCode, res.json().code], [404, 'unknown_pointer'])
})

test('authentication: admin token, or TRICKLE_PULL_TOKEN when set; never the spend token', async (t) => {
  const pullToken = 'wallet-front-end-token'
  const { app } = await build(t, { TRICKLE_PULL_TOKEN: pullToken }, { listen: false })
  const post = (headers: Record<string, string>) => app.inject({ method: 'POST', url: '/pull', headers: { 'content-type': 'application/json', ...headers }, payload: valid })
  assert.equal((await post({})).statusCode, 401)
  assert.equal((await post(spendAuth)).statusCode, 401)
  assert.equal((await post({ authorization: 'Bearer nope' })).statusCode, 401)
  assert.equal((await post(adminAuth)).statusCode, 201)
  assert.equal((await post({ authorization: `Bearer ${pullToken}` })).statusCode, 201)
  assert.equal((await app.inject({ method: 'GET', url: '/pull' })).statusCode, 401)
  assert.equal((await app.inject({ method: 'GET', url: '/pull', headers: { authorization: `Bearer ${pullToken}` } })).json().length, 2)
  assert.equal((await app.inject({ method: 'POST', url: '/pull/tokens', headers: { 'content-type': 'application/json' }, payload: valid })).statusCode, 401)
})

test('SPSP query: Accept required; unknown pointers get RFC 0036\'s InvalidPointerError', async (t) => {
  const { app } = await build(t, {}, { listen: false })
  const created = (await app.inject({ method: 'POST', url: '/pull', headers: json, payload: valid })).json() as { id: string }
  let res = await app.inject({ method: 'GET', url: `/pull/${created.id}` })
  assert.deepEqual([res.statusCode, res.json().code], [406, 'not_spsp_request'])
  res = await app.inject({ method: 'GET', url: `/pull/${created.id}`, headers: { accept: 'application/spsp4+json, application/spsp+json' } })
  assert.equal(res.statusCode, 200)
  assert.equal(res.headers['cache-control'], 'no-store')
  res = await app.inject({ method: 'GET', url: '/pull/0f09dc92-84ad-401b-a7c9-441bc6173f4e', headers: { accept: 'application/spsp4+json' } })
  assert.equal(res.statusCode, 404)
  assert.deepEqual(res.json(), { statusCode: 404, error: 'Not Found', code: 'unknown_pointer', message: 'Pointer does not exist.', id: 'InvalidPointerError' })
  res = await app.inject({ method: 'GET', url: '/pull/a/b', headers: { accept: 'application/spsp4+json' } })
  assert.equal(res.statusCode, 400, 'a pointer is one path segment')
})
