// Offline pull pointers: a compact JWS (HS256, pinned) carrying the terms, registered on first use.
import assert from 'node:assert/strict'
import { createHmac, randomBytes } from 'node:crypto'
import { test } from 'node:test'
import { keyId, signToken, TokenProblem, tokenAgreementId, verifyToken } from '../src/pull/token.ts'
import { adminAuth, build } from './helper.ts'
import { json, pullFrom, queryPull } from './pull-client.ts'

const KEY = Buffer.alloc(32, 7)
const env = { TRICKLE_PULL_SIGNING_KEY: KEY.toString('base64') }
const terms = { amount: '400', assetCode: 'USD', assetScale: 9, interval: 'P1D', cycles: 3, cap: true }
const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url')
/** A JWS with any header, signed (HMAC-SHA256 over header.payload) with `key`, or with the given signature. */
const jws = (header: unknown, claims: unknown, key: Buffer | string = KEY) => {
  const input = `${b64(header)}.${b64(claims)}`
  return `${input}.${typeof key === 'string' ? key : createHmac('sha256', key).update(input).digest('base64url')}`
}

test('minted offline pointer: nothing stored until its first query, then pulled like any other', async (t) => {
  let clock = Date.parse('2026-05-10T08:00:00Z')
  const { url, app, btpPort } = await build(t, env, { now: () => clock })
  const res = await fetch(`${url}/pull/tokens`, { method: 'POST', headers: json, body: JSON.stringify({ ...terms, webhook: 'https://site.example/hook' }) })
  assert.equal(res.status, 201)
  const minted = await res.json() as { id: string, token: string, pointer: string }
  assert.equal(minted.pointer, `${url}/pull/${minted.token}`)
  assert.equal(minted.id, tokenAgreementId(minted.token))
  const [header, payload] = minted.token.split('.').slice(0, 2).map((p) => JSON.parse(Buffer.from(p, 'base64url').toString())) as [Record<string, unknown>, Record<string, unknown>]
  assert.deepEqual(header, { alg: 'HS256', typ: 'JWT', kid: keyId(KEY) })
  assert.deepEqual({ ...payload, iat: 0, jti: '' }, { ...terms, webhook: 'https://site.example/hook', iat: 0, jti: '' }, 'typed JSON claims: cap is a boolean')
  assert.deepEqual(await app.pull.list(), [], 'offline: nothing registered yet')

  clock = Date.parse('2026-05-12T09:30:00Z')
  let q = await queryPull(minted.pointer)
  assert.equal(q.status, 200)
  assert.deepEqual(q.body.pull.agreement, { amount: '400', start: '2026-05-12T09:30:00.000Z', interval: 'P1D', cycles: 3, cap: true, asset: { code: 'USD', scale: 9 } },
    'without a start, the agreement starts at its first use')
  const [registered] = await app.pull.list()
  assert.deepEqual([registered!.id, registered!.offline, registered!.pointer], [minted.id, true, minted.pointer])

  assert.equal((await pullFrom(btpPort, minted.pointer, 150)).received, 150n)
  clock += 3_600_000
  assert.equal((await pullFrom(btpPort, minted.pointer)).received, 250n)
  await app.pull.idle()
  q = await queryPull(minted.pointer)
  assert.deepEqual(q.body.pull.balance, { total: '400', interval: '400', available: '0' })
  assert.equal((await app.pull.list()).length, 1, 'queried three times, registered once')

  // Manage it by id like any agreement.
  const patched = await fetch(`${url}/pull/${minted.id}`, { method: 'PATCH', headers: json, body: JSON.stringify({ amount: '500' }) })
  assert.equal((await patched.json() as { balance: { available: string } }).balance.available, '100')
})

test('a token signed elsewhere with the shared key, with its own start and expiry', async (t) => {
  const clock = Date.parse('2026-05-10T08:00:00Z')
  const { url, btpPort } = await build(t, env, { now: () => clock })
  const token = signToken(KEY, { ...terms, cap: false, start: '2026-05-08T08:00Z', expiry: '2026-06-01T00:00Z', jti: 'abc' })
  const q = await queryPull(`${url}/pull/${token}`)
  assert.equal(q.status, 200)
  assert.deepEqual([q.body.pull.cycle, q.body.pull.balance.available, q.body.pull.agreement.expiry], [3, '1200', '2026-06-01T00:00:00.000Z'])
  assert.equal((await pullFrom(btpPort, `${url}/pull/${token}`)).received, 1200n)
})

test('refused tokens: tampered, unknown key, expired, alg none or another algorithm, malformed, bad terms', async (t) => {
  const clock = Date.parse('2026-05-10T08:00:00Z')
  const { url, app } = await build(t, env, { now: () => clock })
  const good = signToken(KEY, terms)
  const [h, p, s] = good.split('.') as [string, string, string]
  const other = randomBytes(32)
  const cases: Array<[string, string, number, string]> = [
    ['tampered amount', `${h}.${b64({ ...terms, amount: '40000' })}.${s}`, 401, 'token_bad_signature'],
    ['tampered signature', `${h}.${p}.${s.slice(0, -2)}${s.at(-2) === 'A' ? 'B' : 'A'}${s.at(-1)}`, 401, 'token_bad_signature'],
    ['another server\'s key', signToken(other, terms), 401, 'token_unknown_key'],
    ['another key, no kid', jws({ alg: 'HS256' }, terms, other), 401, 'token_bad_signature'],
    ['expired (exp)', signToken(KEY, { ...terms, exp: Math.floor(clock / 1000) - 1 }), 401, 'token_expired'],
    ['not valid yet (nbf)', signToken(KEY, { ...terms, nbf: Math.floor(clock / 1000) + 60 }), 401, 'token_not_yet_valid'],
    ['alg none', jws({ alg: 'none', typ: 'JWT' }, terms, ''), 400, 'token_bad_algorithm'],
    ['alg none, any signature', jws({ alg: 'none' }, terms, s), 400, 'token_bad_algorithm'],
    ['alg HS512', jws({ alg: 'HS512' }, terms, createHmac('sha512', KEY).update(`${b64({ alg: 'HS512' })}.${b64(terms)}`).digest('base64url')), 400, 'token_bad_algorithm'],
    ['alg RS256', jws({ alg: 'RS256' }, terms), 400, 'token_bad_algorithm'],
    ['crit header', jws({ alg: 'HS256', crit: ['exp'] }, terms), 400, 'token_bad_algorithm'],
    ['two parts', `${h}.${p}`, 400, 'token_malformed'],
    ['signed, but not JSON', jws({ alg: 'HS256' }, 'amount=400'), 400, 'token_malformed'],
    ['cap as a string', signToken(KEY, { ...terms, cap: 'true' }), 400, 'invalid_cap'],
    ['amount as a number', signToken(KEY, { ...terms, amount: 400 }), 400, 'invalid_amount'],
    ['unknown claim', signToken(KEY, { ...terms, owner: 'eve' }), 400, 'unknown_field'],
    ['bad interval', signToken(KEY, { ...terms, interval: 'monthly' }), 400, 'invalid_interval']
  ]
  for (const [what, token, status, code] of cases) {
    const q = await queryPull(`${url}/pull/${token}`)
    assert.deepEqual([q.status, q.body.code, q.body.id], [status, code, 'InvalidPointerError'], what)
  }
  // The agreement's own expiry is past: registered, but 410 like any expired agreement.
  const lapsed = await queryPull(`${url}/pull/${signToken(KEY, { ...terms, start: '2026-01-01T00:00Z', expiry: '2026-02-01T00:00Z' })}`)
  assert.deepEqual([lapsed.status, lapsed.body.code], [410, 'pull_expired'])
  assert.equal((await app.pull.list()).length, 1, 'none of the refused tokens registered anything')
})

test('an offline pointer can be revoked before anyone uses it', async (t) => {
  const { url } = await build(t, env)
  const token = signToken(KEY, terms)
  let res = await fetch(`${url}/pull/${token}`, { method: 'DELETE', headers: adminAuth })
  assert.equal(res.status, 200)
  assert.equal((await res.json() as { status: string }).status, 'cancelled')
  const q = await queryPull(`${url}/pull/${token}`)
  assert.deepEqual([q.status, q.body.code], [410, 'pull_cancelled'])
  res = await fetch(`${url}/pull/${token}`, { method: 'DELETE' })
  assert.equal(res.status, 401, 'revoking needs the admin (or pull) token')
})

test('token module: round trip, key ids, canonical encoding only', () => {
  const now = Date.parse('2026-01-01T00:00:00Z')
  const token = signToken(KEY, { a: 1 })
  assert.deepEqual(verifyToken(KEY, token, now), { claims: { a: 1 } })
  assert.equal(verifyToken(Buffer.alloc(32, 8), token, now), TokenProblem.UnknownKey)
  assert.equal(verifyToken(KEY, `${token}x`, now), TokenProblem.BadSignature)
  // Another spelling of the same header bytes (base64url with non-zero padding bits) is refused, so one
  // signed token cannot register twice under two ids.
  const [h, p, s] = token.split('.') as [string, string, string]
  const last = h.at(-1)!
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
  const twin = alphabet[alphabet.indexOf(last) + 1]!
  if (Buffer.from(h.slice(0, -1) + twin, 'base64url').equals(Buffer.from(h, 'base64url'))) {
    assert.equal(verifyToken(KEY, `${h.slice(0, -1)}${twin}.${p}.${s}`, now), TokenProblem.Malformed)
  }
  assert.notEqual(tokenAgreementId(token), tokenAgreementId(`${token}x`))
  assert.equal(verifyToken(KEY, 'x'.repeat(5000), now), TokenProblem.Malformed)
})
