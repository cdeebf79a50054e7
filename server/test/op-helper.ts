// The Web Monetization extension's side of Open Payments, for tests: a reader's wallet client (the
// official SDK, identifying as an account of the embedded wallet with a key registered for it) that
// creates incoming payments at a site's wallet as the extension does.
import assert from 'node:assert/strict'
import { createAuthenticatedClient, isFinalizedGrantWithAccessToken } from '@interledger/open-payments'
import { generateJwk, generateKey } from '@interledger/http-signature-utils'
import { adminAuth } from './helper.ts'

/** The extension's side: a reader's wallet client that creates incoming payments at a site's wallet. */
export async function extension (url: string) {
  await fetch(`${url}/wallet/accounts`, { method: 'POST', headers: { ...adminAuth, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'reader' }) })
  const privateKey = generateKey()
  const jwk = generateJwk({ privateKey, keyId: 'reader-key' })
  await fetch(`${url}/wallet/accounts/reader/keys`, { method: 'POST', headers: { ...adminAuth, 'content-type': 'application/json' }, body: JSON.stringify(jwk) })
  const client = await createAuthenticatedClient({ walletAddressUrl: `${url}/wallet/reader`, privateKey, keyId: 'reader-key' })
  return {
    /** An incoming payment at `walletAddress`, as the extension makes one: no amount, expiring soon. */
    async incomingPayment (walletAddress: string, expiresInMs = 600_000) {
      const wa = await client.walletAddress.get({ url: walletAddress })
      const grant = await client.grant.request({ url: wa.authServer }, { access_token: { access: [{ type: 'incoming-payment', actions: ['create'], identifier: wa.id }] } })
      assert.ok(isFinalizedGrantWithAccessToken(grant))
      return client.incomingPayment.create({ url: wa.resourceServer, accessToken: grant.access_token.value }, { walletAddress: wa.id, expiresAt: new Date(Date.now() + expiresInMs).toISOString(), metadata: { source: 'Web Monetization' } })
    }
  }
}

