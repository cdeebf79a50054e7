// The agent's Open Payments client (theme/dev-agent/open-payments.ts: WebCrypto, for the development
// agent's browser bundle and the CLI): its signatures are the official SDK's, checked by
// @interledger/http-signature-utils and by the embedded wallet, and its grant and incoming payment are
// the ones the Web Monetization extension makes.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { validateSignature, validateSignatureHeaders } from '@interledger/http-signature-utils'
import { createIncomingPayment, getWalletAddress, incomingPaymentGrant, newClientKey, signedHeaders, OpenPaymentsError } from '../../theme/dev-agent/open-payments.ts'
import { verifySignature } from '../src/open-payments/signatures.ts'
import { build } from './helper.ts'
import { payIncomingPayment } from './pay.ts'

test('signatures: what the official verifier and the embedded wallet accept, and nothing altered', async () => {
  const key = await newClientKey()
  const body = JSON.stringify({ walletAddress: 'https://wallet.test/alice', expiresAt: '2026-12-01T00:10:00.000Z' })
  const request = { method: 'POST', url: 'https://wallet.test/incoming-payments', headers: { authorization: 'GNAP abc' }, body }
  const headers = await signedHeaders(request, key)
  assert.match(headers['signature-input']!, /^sig1=\("@method" "@target-uri" "authorization" "content-digest" "content-length" "content-type"\);keyid="trickle-agent-[A-Za-z0-9_-]{12}";created=\d+$/)
  const like = { method: 'POST', url: request.url, headers, body }
  assert.ok(validateSignatureHeaders(like))
  assert.equal(await validateSignature(key.jwk as never, like), true, 'http-signature-utils accepts it')
  assert.equal(await verifySignature({ ...like }, [key.jwk], Date.now()), true, 'the embedded wallet accepts it')
  // Each part is covered: another body, URL, method, token or key fails.
  const other = await newClientKey()
  for (const [what, changed, jwk] of [
    ['body', { ...like, body: body.replace('alice', 'mallory') }, key.jwk],
    ['url', { ...like, url: 'https://wallet.test/incoming-payments?x' }, key.jwk],
    ['method', { ...like, method: 'PUT' }, key.jwk],
    ['token', { ...like, headers: { ...headers, authorization: 'GNAP abd' } }, key.jwk],
    ['key', like, { ...other.jwk, kid: key.jwk.kid }]
  ] as const) {
    assert.equal(await verifySignature(changed, [jwk], Date.now()), false, what)
  }
  // Without a body: no content headers, and none signed.
  const get = await signedHeaders({ method: 'GET', url: 'https://wallet.test/alice', headers: {} }, key)
  assert.match(get['signature-input']!, /^sig1=\("@method" "@target-uri"\);/)
  assert.equal(await verifySignature({ method: 'GET', url: 'https://wallet.test/alice', headers: get }, [key.jwk], Date.now()), true)
})

test('the agent\'s flow at the embedded wallet: wallet address, grant, incoming payment, paid over STREAM, received', async (t) => {
  const { url, btpPort } = await build(t)
  const key = await newClientKey()
  const wa = await getWalletAddress(`${url}/wallet/demo`)
  assert.equal(wa.id, `${url}/wallet/demo`)
  const token = await incomingPaymentGrant(wa, key)
  const ip = await createIncomingPayment(wa, token, key, new Date(Date.now() + 600_000))
  assert.match(ip.id, new RegExp(`^${url}/op/incoming-payments/[0-9a-f-]{36}$`))
  assert.equal(ip.sharedSecret.length, 32)
  assert.equal(await payIncomingPayment(btpPort, { ilpAddress: ip.ilpAddress, sharedSecret: Buffer.from(ip.sharedSecret).toString('base64url') }, 12345), '12345')
  const seen = await (await fetch(ip.id)).json() as { receivedAmount: { value: string } }
  assert.equal(seen.receivedAmount.value, '12345')
  // Another key cannot use this grant's token; a page that is no wallet address says so.
  await assert.rejects(createIncomingPayment(wa, token, await newClientKey(), new Date(Date.now() + 600_000)), (err: OpenPaymentsError) => err.status === 401)
  await assert.rejects(getWalletAddress(`${url}/health`), /is not an Open Payments wallet address/)
})
