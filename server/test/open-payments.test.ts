// The embedded wallet's Open Payments servers driven by the official SDK (@interledger/open-payments,
// which validates every response against the Open Payments OpenAPI documents it ships): wallet
// addresses, GNAP grants, incoming payments paid over STREAM on the embedded network, token rotation
// and revocation, grant cancellation; and the attacks: no signature, another key's, a body changed
// after signing, another client's payment, a token for another wallet address.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createAuthenticatedClient, createUnauthenticatedClient, isFinalizedGrantWithAccessToken, type AuthenticatedClient } from '@interledger/open-payments'
import { createHeaders, generateJwk, generateKey } from '@interledger/http-signature-utils'
import { adminAuth, build } from './helper.ts'
import { payIncomingPayment } from './pay.ts'

interface Client { client: AuthenticatedClient, walletAddress: string, privateKey: ReturnType<typeof generateKey>, keyId: string }

/** A wallet account of the embedded wallet with a client key registered: a client that identifies as it. */
async function clientOf (url: string, name: string): Promise<Client> {
  await fetch(`${url}/wallet/accounts`, { method: 'POST', headers: { ...adminAuth, 'content-type': 'application/json' }, body: JSON.stringify({ name }) })
  const privateKey = generateKey()
  const keyId = `${name}-key`
  const jwk = generateJwk({ privateKey, keyId })
  const res = await fetch(`${url}/wallet/accounts/${name}/keys`, { method: 'POST', headers: { ...adminAuth, 'content-type': 'application/json' }, body: JSON.stringify(jwk) })
  assert.equal(res.status, 201, await res.text())
  const walletAddress = `${url}/wallet/${name}`
  return { client: await createAuthenticatedClient({ walletAddressUrl: walletAddress, privateKey, keyId, validateResponses: true }), walletAddress, privateKey, keyId }
}

async function grantFor (c: Client, authServer: string, actions: string[], identifier?: string) {
  const grant = await c.client.grant.request({ url: authServer }, {
    access_token: { access: [{ type: 'incoming-payment', actions: actions as never, ...(identifier ? { identifier } : {}) }] }
  })
  assert.ok(isFinalizedGrantWithAccessToken(grant), 'a non-interactive grant')
  return grant
}

test('the official SDK: wallet address, grant, incoming payment paid over STREAM, read, public view, list, complete', async (t) => {
  const { url, btpPort } = await build(t)
  const reader = await clientOf(url, 'reader')
  const wa = await reader.client.walletAddress.get({ url: `${url}/wallet/demo` })
  assert.deepEqual(wa, { id: `${url}/wallet/demo`, publicName: 'demo', assetCode: 'USD', assetScale: 9, authServer: `${url}/op/auth`, resourceServer: `${url}/op` })
  assert.deepEqual(await reader.client.walletAddress.getKeys({ url: reader.walletAddress }).then((k) => k.keys.map((x) => x.kid)), ['reader-key'])
  // SPSP on the same URL still answers SPSP queries.
  assert.equal((await fetch(`${url}/wallet/demo`, { headers: { accept: 'application/spsp4+json' } })).status, 200)

  // As the Web Monetization extension does: create at the site's wallet, no amount, 10 minutes.
  const grant = await grantFor(reader, wa.authServer, ['create', 'read', 'list', 'complete'], wa.id)
  const accessToken = grant.access_token.value
  const created = await reader.client.incomingPayment.create({ url: wa.resourceServer, accessToken }, {
    walletAddress: wa.id, expiresAt: new Date(Date.now() + 600_000).toISOString(), metadata: { source: 'Web Monetization' }
  })
  assert.equal(created.walletAddress, wa.id)
  assert.equal(created.receivedAmount.value, '0')
  assert.equal(created.methods.length, 1)
  const before = BigInt((await (await fetch(`${url}/wallet/accounts/demo`, { headers: adminAuth })).json() as { received: string }).received)

  assert.equal(await payIncomingPayment(btpPort, created.methods[0]!, 2_500_000), '2500000')
  const read = await reader.client.incomingPayment.get({ url: created.id, accessToken })
  assert.equal(read.receivedAmount.value, '2500000')
  assert.equal(read.completed, false)
  const after = BigInt((await (await fetch(`${url}/wallet/accounts/demo`, { headers: adminAuth })).json() as { received: string }).received)
  assert.equal(after - before, 2_500_000n, 'the account received it too')

  // The public view says how much, and where its auth server is, but not whose it is.
  const anonymous = await createUnauthenticatedClient({ validateResponses: true })
  const pub = await anonymous.incomingPayment.get({ url: created.id })
  assert.deepEqual(pub, { receivedAmount: { value: '2500000', assetCode: 'USD', assetScale: 9 }, authServer: wa.authServer })

  const page = await reader.client.incomingPayment.list({ url: wa.resourceServer, accessToken, walletAddress: wa.id }, { first: 10 } as never)
  assert.deepEqual(page.result.map((p) => p.id), [created.id])

  const completed = await reader.client.incomingPayment.complete({ url: created.id, accessToken })
  assert.equal(completed.completed, true)
  assert.deepEqual((await reader.client.incomingPayment.get({ url: created.id, accessToken })).methods, [], 'a completed payment offers no way to pay it')
  assert.equal(await payIncomingPayment(btpPort, created.methods[0]!, 1000), '0', 'and refuses more money')
  assert.equal((await reader.client.incomingPayment.get({ url: created.id, accessToken })).receivedAmount.value, '2500000')
})

test('an incoming amount is a ceiling: STREAM delivers up to it and the payment completes', async (t) => {
  const { url, btpPort } = await build(t)
  const reader = await clientOf(url, 'reader')
  const wa = await reader.client.walletAddress.get({ url: `${url}/wallet/demo` })
  const { access_token: { value: accessToken } } = await grantFor(reader, wa.authServer, ['create', 'read'])
  const p = await reader.client.incomingPayment.create({ url: wa.resourceServer, accessToken }, { walletAddress: wa.id, incomingAmount: { value: '1000000', assetCode: 'USD', assetScale: 9 } })
  const delivered = BigInt(await payIncomingPayment(btpPort, p.methods[0]!, 5_000_000))
  assert.equal(delivered, 1_000_000n, 'STREAM delivered the incoming amount and no more')
  const read = await reader.client.incomingPayment.get({ url: p.id, accessToken })
  assert.equal(read.receivedAmount.value, '1000000')
  assert.equal(read.completed, true, 'and the payment completed')
})

test('tokens rotate and revoke; a cancelled grant\'s tokens stop working', async (t) => {
  const { url } = await build(t)
  const reader = await clientOf(url, 'reader')
  const wa = await reader.client.walletAddress.get({ url: `${url}/wallet/demo` })
  const grant = await grantFor(reader, wa.authServer, ['create', 'read'])
  const create = (accessToken: string) => reader.client.incomingPayment.create({ url: wa.resourceServer, accessToken }, { walletAddress: wa.id })

  const rotated = await reader.client.token.rotate({ url: grant.access_token.manage, accessToken: grant.access_token.value })
  assert.notEqual(rotated.access_token.value, grant.access_token.value)
  await assert.rejects(create(grant.access_token.value), (err: { status?: number }) => err.status === 401, 'the old token is gone')
  await create(rotated.access_token.value)

  await reader.client.token.revoke({ url: rotated.access_token.manage, accessToken: rotated.access_token.value })
  await assert.rejects(create(rotated.access_token.value), (err: { status?: number }) => err.status === 401, 'a revoked token is refused')

  const continued = await reader.client.grant.continue({ url: grant.continue.uri, accessToken: grant.continue.access_token.value })
  assert.ok(isFinalizedGrantWithAccessToken(continued as never), 'continuing the grant gives a fresh token')
  const fresh = (continued as { access_token: { value: string } }).access_token.value
  await create(fresh)
  await reader.client.grant.cancel({ url: grant.continue.uri, accessToken: grant.continue.access_token.value })
  await assert.rejects(create(fresh), (err: { status?: number }) => err.status === 401, 'a cancelled grant\'s token is refused')
})

test('attacks: no signature, another key\'s, a body changed after signing, a stale signature; another client\'s payment; another wallet address', async (t) => {
  const { url } = await build(t)
  const reader = await clientOf(url, 'reader')
  const other = await clientOf(url, 'mallory')
  const wa = await reader.client.walletAddress.get({ url: `${url}/wallet/demo` })
  const { access_token: { value: accessToken } } = await grantFor(reader, wa.authServer, ['create', 'read'])
  const body = JSON.stringify({ walletAddress: wa.id })
  const target = `${wa.resourceServer}/incoming-payments`
  // fetch sets Content-Length from the body it sends (a changed body has another).
  const raw = (headers: Record<string, string>, b = body) => fetch(target, { method: 'POST', headers: { 'content-type': 'application/json', ...Object.fromEntries(Object.entries(headers).filter(([k]) => k !== 'content-length')) }, body: b })
  const signedHeaders = async (key: Client, b = body, created?: number) => {
    const request = { method: 'POST', url: target, headers: { authorization: `GNAP ${accessToken}`, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(b)) }, body: b }
    const h = await createHeaders({ request, privateKey: key.privateKey, keyId: key.keyId })
    const out: Record<string, string> = { authorization: `GNAP ${accessToken}`, ...Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), String(v)])) }
    if (created !== undefined) out['signature-input'] = out['signature-input']!.replace(/created=\d+/, `created=${created}`)
    return out
  }

  const cases: Array<[string, Promise<Response>, number, string]> = [
    ['no signature', raw({ authorization: `GNAP ${accessToken}` }), 401, 'invalid_signature'],
    ['no token', raw(await signedHeaders(reader)).then(() => raw({})), 401, 'invalid_token'],
    ['another key', raw(await signedHeaders(other)), 401, 'invalid_signature'],
    ['body changed after signing', raw(await signedHeaders(reader), JSON.stringify({ walletAddress: `${url}/wallet/mallory` })), 401, 'invalid_signature'],
    ['a signature from an hour ago', raw(await signedHeaders(reader, body, Math.floor(Date.now() / 1000) - 3600)), 401, 'invalid_signature']
  ]
  for (const [name, response, status, code] of cases) {
    const res = await response
    const reply = await res.json() as { error?: { code: string } }
    assert.equal(res.status, status, name)
    assert.equal(reply.error?.code, code, name)
  }
  assert.equal((await raw(await signedHeaders(reader))).status, 201, 'the control: the same request, signed by the grant\'s key, passes')

  // A payment the reader created, read by another client: with `read` it does not exist for them;
  // `read-all` limited to another wallet address does not reach it either.
  const mine = await reader.client.incomingPayment.create({ url: wa.resourceServer, accessToken }, { walletAddress: wa.id })
  const theirs = await grantFor(other, wa.authServer, ['read'])
  await assert.rejects(other.client.incomingPayment.get({ url: mine.id, accessToken: theirs.access_token.value }), (err: { status?: number }) => err.status === 404)
  const elsewhere = await grantFor(other, wa.authServer, ['read-all'], `${url}/wallet/mallory`)
  await assert.rejects(other.client.incomingPayment.get({ url: mine.id, accessToken: elsewhere.access_token.value }), (err: { status?: number }) => err.status === 403)
  const all = await grantFor(other, wa.authServer, ['read-all'], wa.id)
  assert.equal((await other.client.incomingPayment.get({ url: mine.id, accessToken: all.access_token.value })).walletAddress, wa.id, 'read-all for this wallet address reads it')

  // Grants this wallet does not give: outgoing payments, and anything for an unknown client.
  const outgoing = await fetch(wa.authServer, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ access_token: { access: [{ type: 'outgoing-payment', actions: ['create'] }] }, client: reader.walletAddress }) })
  assert.equal(outgoing.status, 400)
  const stranger = await fetch(wa.authServer, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ access_token: { access: [{ type: 'incoming-payment', actions: ['read-all'] }] }, client: `${url}/wallet/nobody` }) })
  assert.equal(stranger.status, 401)
  // Hostile bodies get a 400, not a crash.
  for (const b of ['{', '[]', JSON.stringify({ access_token: { access: Array(50).fill({ type: 'incoming-payment', actions: ['read'] }) }, client: reader.walletAddress }), JSON.stringify({ a: 'x'.repeat(20_000) })]) {
    const res = await fetch(wa.authServer, { method: 'POST', headers: { 'content-type': 'application/json' }, body: b })
    assert.ok(res.status === 400 || res.status === 413, `${res.status} for ${b.slice(0, 30)}`)
  }
})

test('found by an attacker\'s second look: no list-all without interaction, only the creator completes, a directed identity is its key not its kid, a body counts only if its digest is signed', async (t) => {
  const { url } = await build(t)
  const reader = await clientOf(url, 'reader')
  const wa = await reader.client.walletAddress.get({ url: `${url}/wallet/demo` })
  await assert.rejects(reader.client.grant.request({ url: wa.authServer }, { access_token: { access: [{ type: 'incoming-payment', actions: ['list-all'], identifier: wa.id }] } }),
    (err: { status?: number, code?: string }) => err.status === 400 && err.code === 'request_denied')

  const mine = await grantFor(reader, wa.authServer, ['create', 'read', 'complete'])
  const payment = await reader.client.incomingPayment.create({ url: wa.resourceServer, accessToken: mine.access_token.value }, { walletAddress: wa.id })
  const other = await clientOf(url, 'mallory')
  const theirs = await grantFor(other, wa.authServer, ['complete', 'read'])
  await assert.rejects(other.client.incomingPayment.complete({ url: payment.id, accessToken: theirs.access_token.value }), (err: { status?: number }) => err.status === 404)

  // Two directed identities naming the same kid are two clients.
  const victimKey = generateKey()
  const attackerKey = generateKey()
  const victim = await createAuthenticatedClient({ walletAddressUrl: `${url}/wallet/demo`, privateKey: victimKey, keyId: 'shared-kid' })
  const attacker = await createAuthenticatedClient({ walletAddressUrl: `${url}/wallet/demo`, privateKey: attackerKey, keyId: 'shared-kid' })
  const directed = async (c: AuthenticatedClient, key: ReturnType<typeof generateKey>) => {
    const g = await c.grant.request({ url: wa.authServer }, { access_token: { access: [{ type: 'incoming-payment', actions: ['create', 'read'] }] } }, { jwk: generateJwk({ privateKey: key, keyId: 'shared-kid' }) } as never)
    assert.ok(isFinalizedGrantWithAccessToken(g))
    return g.access_token.value
  }
  const victimToken = await directed(victim, victimKey)
  const attackerToken = await directed(attacker, attackerKey)
  const victims = await victim.incomingPayment.create({ url: wa.resourceServer, accessToken: victimToken }, { walletAddress: wa.id })
  await assert.rejects(attacker.incomingPayment.get({ url: victims.id, accessToken: attackerToken }), (err: { status?: number }) => err.status === 404)

  // A signature that does not cover the body's digest does not vouch for the body.
  const body = JSON.stringify({ walletAddress: wa.id })
  const target = `${wa.resourceServer}/incoming-payments`
  const h = await createHeaders({ request: { method: 'POST', url: target, headers: { authorization: `GNAP ${mine.access_token.value}` } }, privateKey: reader.privateKey, keyId: reader.keyId })
  const headers: Record<string, string> = { authorization: `GNAP ${mine.access_token.value}`, 'content-type': 'application/json', ...Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), String(v)])) }
  const res = await fetch(target, { method: 'POST', headers, body })
  assert.equal(res.status, 401)
})

test('what can no longer be used is purged: expired and revoked tokens, old grants without tokens, long-expired payments', async (t) => {
  const { app, url } = await build(t)
  const reader = await clientOf(url, 'reader')
  const wa = await reader.client.walletAddress.get({ url: `${url}/wallet/demo` })
  const grant = await grantFor(reader, wa.authServer, ['create', 'read'])
  const p = await reader.client.incomingPayment.create({ url: wa.resourceServer, accessToken: grant.access_token.value }, { walletAddress: wa.id, expiresAt: new Date(Date.now() + 1000).toISOString() })
  const store = app.featureStores.openPayments()
  assert.deepEqual(await store.purge(Date.now(), { grantTtlMs: 3600_000, paymentRetentionMs: 3600_000 }), { tokens: 0, grants: 0, payments: 0 }, 'nothing live is purged')
  const later = Date.now() + 2 * 3600_000
  assert.deepEqual(await store.purge(later, { grantTtlMs: 3600_000, paymentRetentionMs: 3600_000 }), { tokens: 1, grants: 1, payments: 1 })
  assert.equal(await store.getIncomingPayment(p.id), undefined)
})
