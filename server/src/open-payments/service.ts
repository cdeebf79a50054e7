// The embedded wallet's Open Payments servers, so development and tests take the path a real wallet
// takes (https://openpayments.dev): every wallet account is a wallet address; a GNAP auth server gives
// non-interactive incoming-payment grants (request, continuation, cancel, token rotation and
// revocation); a resource server creates, reads (authenticated, or the public view), completes and
// lists incoming payments, whose money arrives over STREAM on the embedded network. Every
// authenticated request is checked for its HTTP signature by the grant's client key. Plain factory;
// expected failures are values (errors.ts), which routes.ts maps to HTTP.
import { createHash, randomBytes, randomUUID } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import { sameServer } from '../receivers/service.ts'
import type { WalletService } from '../wallet/service.ts'
import { opFail, OpenPaymentsError as E, type OpenPaymentsFailure } from './errors.ts'
import { verifySignature, type Jwk, type SignedRequest } from './signatures.ts'
import type { AccessItem, GrantRecord, IncomingPaymentRecord, OpenPaymentsStore } from './store.ts'

export const ACCESS_TOKEN_TTL_S = 600
/** Incoming payments expire by default, and at the latest, this long after their creation (Rafiki's default). */
export const MAX_INCOMING_PAYMENT_TTL_MS = 30 * 24 * 3600 * 1000
const INCOMING_ACTIONS = new Set(['create', 'complete', 'read', 'read-all', 'list', 'list-all'])
const U64_MAX = (1n << 64n) - 1n
const MAX_METADATA = 4096
const MAX_ACCESS_ITEMS = 10

export interface Amount { value: string, assetCode: string, assetScale: number }

export interface WalletAddressDocument {
  id: string
  publicName: string
  assetCode: string
  assetScale: number
  authServer: string
  resourceServer: string
}

export interface GrantResponse {
  access_token: { value: string, manage: string, expires_in: number, access: AccessItem[] }
  continue: { access_token: { value: string }, uri: string }
}

export interface IncomingPaymentView {
  id: string
  walletAddress: string
  incomingAmount?: Amount
  receivedAmount: Amount
  completed: boolean
  metadata?: Record<string, unknown>
  createdAt: string
  expiresAt: string
  methods?: Array<{ type: 'ilp', ilpAddress: string, sharedSecret: string }>
}

export interface PublicIncomingPaymentView { receivedAmount: Amount, authServer: string }

export interface IncomingPaymentPage {
  pagination: { startCursor?: string, endCursor?: string, hasNextPage: boolean, hasPreviousPage: boolean }
  result: IncomingPaymentView[]
}

export interface OpenPaymentsDeps {
  store: OpenPaymentsStore
  wallet: Pick<WalletService, 'getAccount' | 'asset' | 'incomingPaymentMethod'>
  publicUrl: string
  log: FastifyBaseLogger
  now?: () => number
  /** The keys of a client wallet address on another server (GET {url}/jwks.json). */
  remoteKeys?: (walletAddress: string) => Promise<Jwk[] | undefined>
}

export interface OpenPaymentsService {
  readonly authServer: string
  readonly resourceServer: string
  walletAddressUrl (account: string): string
  walletAddress (account: string): Promise<WalletAddressDocument | OpenPaymentsFailure>
  jwks (account: string): Promise<{ keys: Jwk[] } | OpenPaymentsFailure>
  addClientKey (account: string, jwk: unknown): Promise<{ created: boolean } | OpenPaymentsFailure>
  requestGrant (request: SignedRequest, body: unknown): Promise<GrantResponse | OpenPaymentsFailure>
  continueGrant (grantId: string, request: SignedRequest): Promise<GrantResponse | OpenPaymentsFailure>
  cancelGrant (grantId: string, request: SignedRequest): Promise<true | OpenPaymentsFailure>
  rotateToken (manageId: string, request: SignedRequest): Promise<{ access_token: GrantResponse['access_token'] } | OpenPaymentsFailure>
  revokeToken (manageId: string, request: SignedRequest): Promise<true | OpenPaymentsFailure>
  createIncomingPayment (request: SignedRequest, body: unknown): Promise<IncomingPaymentView | OpenPaymentsFailure>
  /** Authenticated (full view) when the request carries a token; the public view otherwise. */
  getIncomingPayment (id: string, request: SignedRequest): Promise<IncomingPaymentView | PublicIncomingPaymentView | OpenPaymentsFailure>
  completeIncomingPayment (id: string, request: SignedRequest): Promise<IncomingPaymentView | OpenPaymentsFailure>
  listIncomingPayments (request: SignedRequest, query: { walletAddress?: string, first?: number, cursor?: string }): Promise<IncomingPaymentPage | OpenPaymentsFailure>
  /**
   * The wallet's STREAM server asks before fulfilling a packet for incoming payment `uuid`: records
   * it and returns the payment's account, or throws (the packet is rejected, nothing received).
   */
  receive (uuid: string, amount: bigint): Promise<string>
  /** What incoming payment `uuid` can still take: 0 once complete or expired, 2^64-1 without an incoming amount. */
  room (uuid: string): Promise<bigint>
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)
const newToken = () => randomBytes(32).toString('base64url')
const gnapToken = (headers: SignedRequest['headers']) => /^GNAP ([A-Za-z0-9_-]{16,128})$/.exec(headers.authorization ?? '')?.[1]

export function createOpenPaymentsService (deps: OpenPaymentsDeps): OpenPaymentsService {
  const log = deps.log.child({ service: 'open-payments' })
  const now = deps.now ?? Date.now
  const publicUrl = deps.publicUrl.replace(/\/+$/, '')
  const authServer = `${publicUrl}/op/auth`
  const resourceServer = `${publicUrl}/op`
  const walletAddressUrl = (account: string) => `${publicUrl}/wallet/${encodeURIComponent(account)}`
  const paymentUrl = (uuid: string) => `${resourceServer}/incoming-payments/${uuid}`

  /** The account of one of this wallet's addresses, however the URL spells this server. */
  function accountOf (url: unknown): string | undefined {
    if (typeof url !== 'string' || url.length > 2048) return undefined
    let u: URL
    try { u = new URL(url) } catch { return undefined }
    const base = new URL(publicUrl)
    if (!sameServer(u, base) || u.search || u.hash) return undefined
    const prefix = `${base.pathname.replace(/\/+$/, '')}/wallet/`
    if (!u.pathname.startsWith(prefix)) return undefined
    const name = decodeURIComponent(u.pathname.slice(prefix.length))
    return /^[A-Za-z0-9_-]{1,64}$/.test(name) ? name : undefined
  }

  const amount = (value: bigint): Amount => { const a = deps.wallet.asset(); return { value: value.toString(), assetCode: a.code, assetScale: a.scale } }

  /** The keys a grant's client signs with: its registered keys here, its jwks.json elsewhere, or its own JWK. */
  async function clientKeys (grant: Pick<GrantRecord, 'client' | 'clientJwk'>): Promise<Jwk[] | undefined> {
    if (grant.clientJwk) return [grant.clientJwk as Jwk]
    const local = accountOf(grant.client)
    if (local !== undefined) return await deps.store.clientKeys(local) as Jwk[]
    return deps.remoteKeys ? await deps.remoteKeys(grant.client) : undefined
  }
  // A directed identity is its key, not the kid it names (any client can pick any kid).
  const clientId = (grant: Pick<GrantRecord, 'client' | 'clientJwk'>) => grant.clientJwk
    ? `jwk:${createHash('sha256').update(String(grant.clientJwk.x)).digest('base64url')}`
    : grant.client

  async function signedBy (grant: Pick<GrantRecord, 'client' | 'clientJwk'>, request: SignedRequest): Promise<OpenPaymentsFailure | undefined> {
    const keys = await clientKeys(grant)
    if (!keys || keys.length === 0) return opFail(E.InvalidClient, 'the client has no keys this server can find (register one for its wallet address, or send a jwk)')
    if (!(await verifySignature(request, keys, now()))) return opFail(E.InvalidSignature, 'the request is not signed by the client\'s key (Signature, Signature-Input with keyid and a recent created)')
    return undefined
  }

  async function issueToken (grant: GrantRecord): Promise<GrantResponse['access_token']> {
    const value = newToken()
    const manageId = randomUUID()
    await deps.store.putToken(value, { manageId, grantId: grant.id, expiresAt: now() + ACCESS_TOKEN_TTL_S * 1000 })
    return { value, manage: `${authServer}/token/${manageId}`, expires_in: ACCESS_TOKEN_TTL_S, access: grant.access }
  }

  function parseAccess (value: unknown): AccessItem[] | OpenPaymentsFailure {
    if (!Array.isArray(value) || value.length === 0 || value.length > MAX_ACCESS_ITEMS) return opFail(E.InvalidRequest, `access_token.access must be a list of 1 to ${MAX_ACCESS_ITEMS} access items`)
    const items: AccessItem[] = []
    for (const item of value) {
      if (!isObject(item)) return opFail(E.InvalidRequest, 'each access item must be an object')
      if (item.type !== 'incoming-payment') {
        return opFail(E.RequestDenied, `this wallet grants incoming-payment access only, without interaction; "${String(item.type).slice(0, 40)}" is not offered`)
      }
      if (!Array.isArray(item.actions) || item.actions.length === 0 || item.actions.length > 6 || !item.actions.every((a) => typeof a === 'string' && INCOMING_ACTIONS.has(a))) {
        return opFail(E.InvalidRequest, `actions must be some of ${[...INCOMING_ACTIONS].join(', ')}`)
      }
      if (item.identifier !== undefined && accountOf(item.identifier) === undefined) return opFail(E.InvalidRequest, 'identifier must be a wallet address of this wallet')
      // Listing every payment of a wallet address needs the owner's consent, as in Rafiki
      // (LIST_ALL_ACCESS_INTERACTION): without interaction anyone could enumerate a creator's
      // payments and claim their credit before the payer does.
      if ((item.actions as string[]).includes('list-all')) return opFail(E.RequestDenied, 'list-all needs interaction, which this wallet does not offer')
      items.push({ type: 'incoming-payment', actions: [...new Set(item.actions as string[])], ...(item.identifier !== undefined ? { identifier: item.identifier as string } : {}) })
    }
    return items
  }

  /** The grant behind an access token, if this request may use it for `action` on `account`'s payments. */
  async function authorize (request: SignedRequest, action: string, account: string | undefined): Promise<{ grant: GrantRecord, item: AccessItem } | OpenPaymentsFailure> {
    const token = gnapToken(request.headers)
    if (!token) return opFail(E.InvalidToken, 'an Authorization: GNAP {access token} header is required')
    const found = await deps.store.token(token, now())
    if (!found) return opFail(E.InvalidToken, 'the access token is unknown, expired or revoked')
    const bad = await signedBy(found.grant, request)
    if (bad) return bad
    const fits = (i: AccessItem) => i.actions.includes(action) || (action === 'read' && i.actions.includes('read-all')) || (action === 'list' && i.actions.includes('list-all'))
    const item = found.grant.access.find((i) => fits(i) && (i.identifier === undefined || account === undefined || accountOf(i.identifier) === account))
    if (!item) return opFail(E.InsufficientScope, `the token does not allow ${action} on this wallet address's incoming payments`)
    return { grant: found.grant, item }
  }
  /** read-all and list-all see every payment of the wallet address; read and list only the client's own. */
  const seesAll = (item: AccessItem, action: 'read' | 'list') => item.actions.includes(`${action}-all`)

  /** With `methods` where the specification has them (create, authenticated get), else without. */
  async function view (p: IncomingPaymentRecord, withMethods = true): Promise<IncomingPaymentView> {
    const open = !p.completed && p.expiresAt > now()
    return {
      id: p.id,
      walletAddress: walletAddressUrl(p.account),
      ...(p.incomingAmount !== undefined ? { incomingAmount: amount(p.incomingAmount) } : {}),
      receivedAmount: amount(p.received),
      completed: p.completed,
      ...(p.metadata ? { metadata: p.metadata } : {}),
      createdAt: new Date(p.createdAt).toISOString(),
      expiresAt: new Date(p.expiresAt).toISOString(),
      // No way to pay a payment that can take nothing more.
      ...(withMethods ? { methods: open ? [{ type: 'ilp' as const, ...deps.wallet.incomingPaymentMethod(p.id.slice(p.id.lastIndexOf('/') + 1)) }] : [] } : {})
    }
  }

  const uuidOf = (id: string) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(id) ? id : undefined

  async function paymentFor (id: string, request: SignedRequest, action: 'read' | 'complete') {
    const uuid = uuidOf(id)
    const p = uuid ? await deps.store.getIncomingPayment(paymentUrl(uuid)) : undefined
    if (!p) return opFail(E.UnknownIncomingPayment, 'no incoming payment with this id')
    const auth = await authorize(request, action, p.account)
    if ('error' in auth) return auth
    // Another client's payment is not found, not forbidden: its existence is not this client's to know.
    if (action === 'read' && !seesAll(auth.item, 'read') && p.client !== clientId(auth.grant)) return opFail(E.UnknownIncomingPayment, 'no incoming payment with this id')
    // Completing stops a payment taking money: only the client that created it may.
    if (action === 'complete' && p.client !== clientId(auth.grant)) return opFail(E.UnknownIncomingPayment, 'no incoming payment with this id')
    return p
  }

  /** The grant a signed request's continuation token belongs to, if it is live. */
  async function continuing (grantId: string, request: SignedRequest): Promise<{ grant: GrantRecord, token: string } | OpenPaymentsFailure> {
    const token = gnapToken(request.headers)
    const grant = token ? await deps.store.grantByContinueToken(grantId, token) : undefined
    if (!grant || grant.revokedAt !== undefined) return opFail(E.InvalidContinuation, 'unknown grant, wrong continuation token, or the grant was cancelled')
    return (await signedBy(grant, request)) ?? { grant, token: token! }
  }
  const grantReply = async (grant: GrantRecord, continueToken: string): Promise<GrantResponse> =>
    ({ access_token: await issueToken(grant), continue: { access_token: { value: continueToken }, uri: `${authServer}/continue/${grant.id}` } })

  /** The live access token a signed request manages (rotate, revoke), with its grant. */
  async function managing (manageId: string, request: SignedRequest) {
    const token = gnapToken(request.headers)
    const found = token ? await deps.store.tokenByManageId(manageId, token, now()) : undefined
    if (!found) return opFail(E.InvalidToken, 'unknown, expired or revoked access token')
    return (await signedBy(found.grant, request)) ?? found
  }

  return {
    authServer,
    resourceServer,
    walletAddressUrl,

    async walletAddress (account) {
      const a = await deps.wallet.getAccount(account)
      if (typeof a === 'string') return opFail(E.UnknownWalletAddress, `no wallet address ${walletAddressUrl(account)}`)
      return { id: walletAddressUrl(account), publicName: account, assetCode: a.assetCode, assetScale: a.assetScale, authServer, resourceServer }
    },

    async jwks (account) {
      if (typeof await deps.wallet.getAccount(account) === 'string') return opFail(E.UnknownWalletAddress, `no wallet address ${walletAddressUrl(account)}`)
      return { keys: await deps.store.clientKeys(account) as Jwk[] }
    },

    async addClientKey (account, jwk) {
      if (typeof await deps.wallet.getAccount(account) === 'string') return opFail(E.UnknownWalletAddress, `no wallet address ${walletAddressUrl(account)}`)
      if (!isObject(jwk) || jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(jwk.x) ||
        typeof jwk.kid !== 'string' || !/^[\x21-\x7e]{1,128}$/.test(jwk.kid) || 'd' in jwk) {
        return opFail(E.InvalidRequest, 'the key must be a public Ed25519 JWK: {kty: "OKP", crv: "Ed25519", x, kid} (no "d")')
      }
      const key = { kid: jwk.kid, kty: 'OKP', crv: 'Ed25519', x: jwk.x, alg: 'EdDSA', use: 'sig' }
      const created = await deps.store.addClientKey(account, key, now())
      if (created) log.info({ account, kid: key.kid }, 'client key registered for a wallet address')
      return { created }
    },

    async requestGrant (request, body) {
      if (!isObject(body)) return opFail(E.InvalidRequest, 'the grant request must be a JSON object')
      if (body.subject !== undefined) return opFail(E.RequestDenied, 'subject information is not offered')
      if (!isObject(body.access_token)) return opFail(E.InvalidRequest, 'access_token with access items is required')
      const access = parseAccess(body.access_token.access)
      if ('error' in access) return access
      let client: Pick<GrantRecord, 'client' | 'clientJwk'>
      if (typeof body.client === 'string') client = { client: body.client }
      else if (isObject(body.client) && isObject(body.client.jwk) && typeof body.client.jwk.kid === 'string') {
        // Directed identity: the client presents its own key (non-interactive grants only, as in Rafiki).
        const j = body.client.jwk
        if (j.kty !== 'OKP' || j.crv !== 'Ed25519' || typeof j.x !== 'string' || 'd' in j) return opFail(E.InvalidClient, 'client.jwk must be a public Ed25519 JWK')
        client = { client: '', clientJwk: { kid: j.kid, kty: 'OKP', crv: 'Ed25519', x: j.x, alg: 'EdDSA' } }
      } else return opFail(E.InvalidClient, 'client must be the client\'s wallet address URL, or {jwk}')
      const bad = await signedBy(client, request)
      if (bad) return bad
      const grant: GrantRecord = { id: randomUUID(), ...client, access, createdAt: now() }
      const continueToken = newToken()
      await deps.store.putGrant(grant, continueToken)
      log.debug({ grant: grant.id, client: clientId(grant), access }, 'grant issued')
      return grantReply(grant, continueToken)
    },

    async continueGrant (grantId, request) {
      const c = await continuing(grantId, request)
      if ('error' in c) return c
      // Non-interactive grants are final at once: continuing one hands out a fresh access token.
      return grantReply(c.grant, c.token)
    },

    async cancelGrant (grantId, request) {
      const c = await continuing(grantId, request)
      if ('error' in c) return c
      await deps.store.revokeGrant(c.grant.id, now())
      log.debug({ grant: c.grant.id }, 'grant cancelled')
      return true
    },

    async rotateToken (manageId, request) {
      const found = await managing(manageId, request)
      if ('error' in found) return found
      await deps.store.revokeToken(manageId, now())
      return { access_token: await issueToken(found.grant) }
    },

    async revokeToken (manageId, request) {
      const found = await managing(manageId, request)
      if ('error' in found) return found
      await deps.store.revokeToken(manageId, now())
      return true
    },

    async createIncomingPayment (request, body) {
      if (!isObject(body)) return opFail(E.InvalidRequest, 'the body must be a JSON object')
      const account = accountOf(body.walletAddress)
      if (account === undefined || typeof await deps.wallet.getAccount(account) === 'string') return opFail(E.InvalidRequest, 'walletAddress must be a wallet address of this wallet')
      const auth = await authorize(request, 'create', account)
      if ('error' in auth) return auth
      const t = now()
      let incomingAmount: bigint | undefined
      if (body.incomingAmount !== undefined) {
        const a = body.incomingAmount
        const asset = deps.wallet.asset()
        if (!isObject(a) || typeof a.value !== 'string' || !/^[1-9][0-9]{0,19}$/.test(a.value) || BigInt(a.value) > U64_MAX) return opFail(E.InvalidRequest, 'incomingAmount.value must be a positive whole number of units in decimal')
        if (a.assetCode !== asset.code || a.assetScale !== asset.scale) return opFail(E.InvalidRequest, `incomingAmount must be in the wallet's asset, ${asset.code} at scale ${asset.scale}`)
        incomingAmount = BigInt(a.value)
      }
      let expiresAt = t + MAX_INCOMING_PAYMENT_TTL_MS
      if (body.expiresAt !== undefined) {
        const at = typeof body.expiresAt === 'string' ? Date.parse(body.expiresAt) : NaN
        if (!Number.isFinite(at) || at <= t || at > t + MAX_INCOMING_PAYMENT_TTL_MS) return opFail(E.InvalidRequest, 'expiresAt must be a date-time in the future, within 30 days')
        expiresAt = at
      }
      let metadata: Record<string, unknown> | undefined
      if (body.metadata !== undefined) {
        if (!isObject(body.metadata) || JSON.stringify(body.metadata).length > MAX_METADATA) return opFail(E.InvalidRequest, `metadata must be an object of at most ${MAX_METADATA} bytes of JSON`)
        metadata = body.metadata
      }
      const record: IncomingPaymentRecord = {
        id: paymentUrl(randomUUID()), account, client: clientId(auth.grant), received: 0n, completed: false, createdAt: t, updatedAt: t, expiresAt,
        ...(incomingAmount !== undefined ? { incomingAmount } : {}), ...(metadata ? { metadata } : {})
      }
      await deps.store.putIncomingPayment(record)
      log.debug({ incomingPayment: record.id, account, client: record.client }, 'incoming payment created')
      return view(record)
    },

    async getIncomingPayment (id, request) {
      if (request.headers.authorization === undefined) {
        // The public view (as Rafiki's): what it received and where its auth server is, not whose it is.
        const uuid = uuidOf(id)
        const p = uuid ? await deps.store.getIncomingPayment(paymentUrl(uuid)) : undefined
        if (!p) return opFail(E.UnknownIncomingPayment, 'no incoming payment with this id')
        return { receivedAmount: amount(p.received), authServer }
      }
      const p = await paymentFor(id, request, 'read')
      return 'error' in p ? p : view(p)
    },

    async completeIncomingPayment (id, request) {
      const p = await paymentFor(id, request, 'complete')
      if ('error' in p) return p
      const done = await deps.store.completeIncomingPayment(p.id, now())
      return view(done!, false)
    },

    async listIncomingPayments (request, query) {
      const account = accountOf(query.walletAddress)
      if (account === undefined) return opFail(E.InvalidRequest, 'wallet-address must be a wallet address of this wallet')
      const auth = await authorize(request, 'list', account)
      if ('error' in auth) return auth
      const first = Math.min(Math.max(query.first ?? 10, 1), 100)
      const after = query.cursor !== undefined ? uuidOf(query.cursor) : undefined
      if (query.cursor !== undefined && !after) return opFail(E.InvalidRequest, 'cursor must be an incoming payment id of a previous page')
      const rows = await deps.store.listIncomingPayments(account, { ...(seesAll(auth.item, 'list') ? {} : { client: clientId(auth.grant) }), ...(after ? { after: paymentUrl(after) } : {}), limit: first + 1 })
      const page = rows.slice(0, first)
      const cursorOf = (p: IncomingPaymentRecord) => p.id.slice(p.id.lastIndexOf('/') + 1)
      return {
        pagination: {
          ...(page.length > 0 ? { startCursor: cursorOf(page[0]!), endCursor: cursorOf(page.at(-1)!) } : {}),
          hasNextPage: rows.length > first,
          hasPreviousPage: after !== undefined
        },
        result: await Promise.all(page.map((p) => view(p, false)))
      }
    },

    async room (uuid) {
      const p = await deps.store.getIncomingPayment(paymentUrl(uuid))
      if (!p || p.completed || p.expiresAt <= now()) return 0n
      return p.incomingAmount === undefined ? U64_MAX : p.incomingAmount - p.received
    },

    async receive (uuid, value) {
      const result = await deps.store.receive(paymentUrl(uuid), value, now())
      if (result.kind !== 'received') throw new Error(`incoming payment ${result.kind}`)
      return result.payment.account
    }
  }
}
