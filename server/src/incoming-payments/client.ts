// The companion as an Open Payments client: its own Ed25519 key (derived from the admin token, so
// every instance of a deployment is one client and a restart changes nothing), the official SDK's
// authenticated client, and read-all grants for incoming payments, one per creator wallet address,
// cached and rotated (never one grant per credit).
//
// Identity: with TRICKLE_OP_CLIENT_WALLET the client is that wallet address, at whose wallet the
// writer added the companion's public key (GET /op/client-key) as a developer key; without it, a
// directed identity (the JWK in the grant request), which the embedded wallet and Rafiki 2.4+ accept.
import { createHash, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto'
import { createAuthenticatedClient, isFinalizedGrantWithAccessToken, type AuthenticatedClient } from '@interledger/open-payments'

const PKCS8_ED25519 = Buffer.from('302e020100300506032b657004220420', 'hex')

export interface CompanionJwk { kid: string, kty: 'OKP', crv: 'Ed25519', x: string, alg: 'EdDSA', use: 'sig' }

export interface OpenPaymentsClient {
  readonly jwk: CompanionJwk
  readonly sdk: AuthenticatedClient
  /** An access token that reads any incoming payment of `walletAddress` at `authServer`. */
  readToken (authServer: string, walletAddress: string): Promise<string>
  /** The token was refused: ask for a new grant next time. */
  forget (authServer: string, walletAddress: string): void
}

export function companionKey (adminToken: string): { privateKey: KeyObject, jwk: CompanionJwk } {
  const seed = createHash('sha256').update('trickle-open-payments-client-v1\n').update(adminToken).digest()
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519, seed]), format: 'der', type: 'pkcs8' })
  const x = createPublicKey(privateKey).export({ format: 'der', type: 'spki' }).subarray(-32).toString('base64url')
  const kid = `trickle-${createHash('sha256').update(x).digest('base64url').slice(0, 16)}`
  return { privateKey, jwk: { kid, kty: 'OKP', crv: 'Ed25519', x, alg: 'EdDSA', use: 'sig' } }
}

export async function createOpenPaymentsClient (opts: { adminToken: string, clientWallet?: string, fallbackWallet: string, now?: () => number }): Promise<OpenPaymentsClient> {
  const now = opts.now ?? Date.now
  const { privateKey, jwk } = companionKey(opts.adminToken)
  const sdk = await createAuthenticatedClient({
    walletAddressUrl: opts.clientWallet || opts.fallbackWallet,
    privateKey,
    keyId: jwk.kid,
    validateResponses: true,
    requestTimeoutMs: 5000
  })
  const override = opts.clientWallet ? undefined : { jwk: { kid: jwk.kid, kty: jwk.kty, crv: jwk.crv, x: jwk.x, alg: jwk.alg } }
  const tokens = new Map<string, Promise<{ value: string, manage: string, expiresAt: number }>>()
  const key = (authServer: string, walletAddress: string) => `${authServer}\n${walletAddress}`

  async function grant (authServer: string, walletAddress: string) {
    const g = await sdk.grant.request({ url: authServer }, {
      access_token: { access: [{ type: 'incoming-payment', actions: ['read-all'], identifier: walletAddress }] }
    }, override as never)
    // An interactive grant is no use to a server: the creator's wallet must allow read-all without it.
    if (!isFinalizedGrantWithAccessToken(g)) throw new Error(`${authServer} wants interaction for read-all access to ${walletAddress}'s incoming payments`)
    return { value: g.access_token.value, manage: g.access_token.manage, expiresAt: now() + (g.access_token.expires_in ?? 600) * 1000 }
  }

  return {
    jwk,
    sdk,
    async readToken (authServer, walletAddress) {
      const k = key(authServer, walletAddress)
      let entry = tokens.get(k)
      if (!entry) { entry = grant(authServer, walletAddress); tokens.set(k, entry) }
      let token
      try { token = await entry } catch (err) { tokens.delete(k); throw err }
      if (token.expiresAt - now() > 30_000) return token.value
      // Near its end: rotate (one request), or ask again if the wallet no longer knows it.
      const current = token
      const renewed = sdk.token.rotate({ url: current.manage, accessToken: current.value })
        .then((r) => ({ value: r.access_token.value, manage: r.access_token.manage, expiresAt: now() + (r.access_token.expires_in ?? 600) * 1000 }))
        .catch(() => grant(authServer, walletAddress))
      tokens.set(k, renewed)
      try { return (await renewed).value } catch (err) { tokens.delete(k); throw err }
    },
    forget (authServer, walletAddress) { tokens.delete(key(authServer, walletAddress)) }
  }
}
