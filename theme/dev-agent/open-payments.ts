// The Web Monetization extension's side of Open Payments, small enough for a browser bundle and
// isomorphic (WebCrypto and fetch only, so the CLI uses it too): read a wallet address, get a
// non-interactive `incoming-payment` grant at its auth server, and create an incoming payment at its
// resource server, every request signed with an Ed25519 key as RFC 9421 HTTP message signatures.
//
// The client identifies by directed identity (the public JWK in the grant request): an agent that
// only pays a site needs no wallet address of its own there, and the embedded wallet and Rafiki 2.4+
// accept it for incoming-payment grants. The signature is the one the official SDK makes
// (@interledger/http-signature-utils): label sig1, components @method @target-uri [authorization]
// [content-digest content-length content-type], params keyid and created.
// https://openpayments.dev/identity/http-signatures/ · https://www.rfc-editor.org/rfc/rfc9421

export interface WalletAddress {
  id: string
  publicName?: string
  assetCode: string
  assetScale: number
  authServer: string
  resourceServer: string
}

export interface IncomingPayment {
  /** Its URL: what a `monetization` event names as incomingPayment */
  id: string
  walletAddress: string
  expiresAt: string
  /** Where to pay it over STREAM */
  ilpAddress: string
  /** The STREAM shared secret, decoded */
  sharedSecret: Uint8Array
}

export interface ClientKey {
  /** The public half, as a grant request presents it */
  jwk: { kid: string, kty: 'OKP', crv: 'Ed25519', x: string, alg: 'EdDSA' }
  privateKey: CryptoKey
}

export class OpenPaymentsError extends Error {
  readonly status?: number
  constructor (message: string, status?: number) {
    super(message)
    this.name = 'OpenPaymentsError'
    if (status !== undefined) this.status = status
  }
}

const encoder = new TextEncoder()
const base64 = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes))
const base64url = (bytes: Uint8Array) => base64(bytes).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
const fromBase64url = (text: string) => Uint8Array.from(atob(text.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0))

/** A fresh Ed25519 key pair; the private half cannot be exported. */
export async function newClientKey (): Promise<ClientKey> {
  const pair = await crypto.subtle.generateKey({ name: 'Ed25519' }, false, ['sign', 'verify']) as CryptoKeyPair
  const raw = new Uint8Array(await crypto.subtle.exportKey('raw', pair.publicKey))
  const x = base64url(raw)
  return { jwk: { kid: `trickle-agent-${x.slice(0, 12)}`, kty: 'OKP', crv: 'Ed25519', x, alg: 'EdDSA' }, privateKey: pair.privateKey }
}

export interface SignableRequest {
  method: string
  url: string
  /** Lower-case names */
  headers: Record<string, string>
  body?: string
}

/** The RFC 9421 signature base of `request` over `components`, with its @signature-params line. */
export function signatureBase (request: SignableRequest, components: string[], params: string): string {
  const lines = components.map((c) => {
    const value = c === '@method' ? request.method.toUpperCase() : c === '@target-uri' ? request.url : request.headers[c]
    if (value === undefined) throw new OpenPaymentsError(`cannot sign a request without ${c}`)
    return `"${c}": ${value}`
  })
  return [...lines, `"@signature-params": ${params}`].join('\n')
}

/** Content-Digest, Content-Length and Content-Type for a JSON body, then Signature and Signature-Input. */
export async function signedHeaders (request: SignableRequest, key: ClientKey, createdS = Math.floor(Date.now() / 1000)): Promise<Record<string, string>> {
  const headers = { ...request.headers }
  const components = ['@method', '@target-uri']
  if (headers.authorization) components.push('authorization')
  if (request.body) {
    const bytes = encoder.encode(request.body)
    headers['content-digest'] = `sha-512=:${base64(new Uint8Array(await crypto.subtle.digest('SHA-512', bytes)))}:`
    headers['content-length'] = String(bytes.length)
    headers['content-type'] = 'application/json'
    components.push('content-digest', 'content-length', 'content-type')
  }
  const params = `(${components.map((c) => `"${c}"`).join(' ')});keyid="${key.jwk.kid}";created=${createdS}`
  const base = signatureBase({ ...request, headers }, components, params)
  const signature = new Uint8Array(await crypto.subtle.sign({ name: 'Ed25519' }, key.privateKey, encoder.encode(base)))
  return { ...headers, signature: `sig1=:${base64(signature)}:`, 'signature-input': `sig1=${params}` }
}

async function json<T> (res: Response, what: string): Promise<T> {
  if (!res.ok) {
    const text = await res.text().catch(() => '')
    throw new OpenPaymentsError(`${what} answered HTTP ${res.status}${text ? `: ${text.slice(0, 200)}` : ''}`, res.status)
  }
  return await res.json() as T
}

/** A wallet address document (GET with Accept: application/json); https, or http for a local wallet. */
export async function getWalletAddress (url: string, fetcher: typeof fetch = fetch): Promise<WalletAddress> {
  const res = await fetcher(url, { headers: { accept: 'application/json' }, cache: 'no-store' })
  const wa = await json<Partial<WalletAddress>>(res, `the wallet address ${url}`)
  if (typeof wa.id !== 'string' || typeof wa.authServer !== 'string' || typeof wa.resourceServer !== 'string' ||
    typeof wa.assetCode !== 'string' || !Number.isInteger(wa.assetScale)) {
    throw new OpenPaymentsError(`${url} is not an Open Payments wallet address (no id, authServer, resourceServer, assetCode and assetScale)`)
  }
  return wa as WalletAddress
}

async function signedJson<T> (method: string, url: string, body: unknown, key: ClientKey, what: string, accessToken?: string, fetcher: typeof fetch = fetch): Promise<T> {
  const text = body === undefined ? undefined : JSON.stringify(body)
  const headers = await signedHeaders({ method, url, headers: { accept: 'application/json', ...(accessToken ? { authorization: `GNAP ${accessToken}` } : {}) }, ...(text ? { body: text } : {}) }, key)
  return json<T>(await fetcher(url, { method, headers, ...(text ? { body: text } : {}) }), what)
}

/** A non-interactive grant to create incoming payments at `wa`; returns its access token. */
export async function incomingPaymentGrant (wa: WalletAddress, key: ClientKey, fetcher: typeof fetch = fetch): Promise<string> {
  const grant = await signedJson<{ access_token?: { value?: string }, interact?: unknown }>('POST', wa.authServer, {
    access_token: { access: [{ type: 'incoming-payment', actions: ['create'], identifier: wa.id }] },
    client: { jwk: key.jwk }
  }, key, `the auth server ${wa.authServer}`, undefined, fetcher)
  if (typeof grant.access_token?.value !== 'string') throw new OpenPaymentsError(`${wa.authServer} wants interaction for an incoming-payment grant; an agent cannot give it`)
  return grant.access_token.value
}

/** An incoming payment at `wa` with no amount, expiring at `expiresAt`, as the extension creates one. */
export async function createIncomingPayment (wa: WalletAddress, accessToken: string, key: ClientKey, expiresAt: Date, fetcher: typeof fetch = fetch): Promise<IncomingPayment> {
  const url = `${wa.resourceServer.replace(/\/+$/, '')}/incoming-payments`
  const ip = await signedJson<{ id?: string, walletAddress?: string, expiresAt?: string, methods?: Array<{ type: string, ilpAddress?: string, sharedSecret?: string }> }>('POST', url,
    { walletAddress: wa.id, expiresAt: expiresAt.toISOString(), metadata: { source: 'Web Monetization' } }, key, `the resource server ${wa.resourceServer}`, accessToken, fetcher)
  const ilp = ip.methods?.find((m) => m.type === 'ilp')
  if (typeof ip.id !== 'string' || !ilp?.ilpAddress || !ilp.sharedSecret) throw new OpenPaymentsError(`${url} returned an incoming payment without an ilp method`)
  return { id: ip.id, walletAddress: ip.walletAddress ?? wa.id, expiresAt: ip.expiresAt ?? expiresAt.toISOString(), ilpAddress: ilp.ilpAddress, sharedSecret: fromBase64url(ilp.sharedSecret) }
}
