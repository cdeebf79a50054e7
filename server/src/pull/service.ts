// SPSP pull payments (RFC 0036, interledger/rfcs deprecated/0036-spsp-pull-payments). Roles are
// reversed: the payer runs the SPSP server. A pull pointer's SPSP query hands out the address and
// secret of a STREAM connection on which this server *sends*: when the payee's client opens a stream
// and raises its receiveMax, we set sendMax to what the agreement makes available (converted to the
// network's asset, rounded down) and end the stream once it is sent.
//
// Fixes over ilp-spsp-pull-payment-server: cycles follow the calendar from `start`
// (duration.ts), nothing is pulled before start, after expiry or after the last cycle, cap is a JSON
// boolean, rates are exact rationals, one sendMax at a time per agreement (a lease in the store), the
// pulled amounts are recorded atomically as each packet is fulfilled, webhooks really fire (signed,
// retried), and offline tokens are HS256-pinned JWS with a generated key and can be revoked.
import { createHash, createHmac, randomBytes, randomUUID } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import { U64_MAX } from '../receipts/codec.ts'
import { createServer, type DataAndMoneyStream, type StreamConnection, type StreamServer } from '../ilp/stream.ts'
import type { IlpNetwork } from '../ilp/network.ts'
import { openConnectionTag, sealConnectionTag } from '../wallet/connection-tag.ts'
import { addDuration, cycleAt, parseDateTime, parseDuration, type Duration } from './duration.ts'
import { PullError } from './errors.ts'
import { ceilDivide, ceilTimes, conversionFactor, floorTimes, type Asset, type ExchangeRate, type Rational } from '../prices/rates.ts'
import type { PullAgreement, PullStore } from './store.ts'
import { looksLikeToken, signToken, tokenAgreementId, TokenProblem, verifyToken } from './token.ts'
import { createWebhookDispatcher } from './webhooks.ts'

/** Longest a payee may hold an agreement's sendMax in one pull; then the stream is ended. */
const PULL_MAX_MS = 60_000
/** Packets in flight when a stream is ended settle within their expiry (30 s by default). */
const SETTLE_MS = 35_000
const MAX_CYCLES = 1_000_000
const ASSET_CODE = /^[A-Za-z0-9]{1,16}$/
const AMOUNT = /^[1-9][0-9]{0,19}$/
const TERM_FIELDS = ['amount', 'assetCode', 'assetScale', 'interval', 'cycles', 'cap', 'start', 'expiry', 'webhook']
/** Registered JWT claims an offline token may carry next to the terms (RFC 7519 §4.1). */
const TOKEN_CLAIMS = ['iat', 'exp', 'nbf', 'jti', 'iss', 'sub', 'aud']

export interface PullTerms {
  amount: bigint
  assetCode: string
  assetScale: number
  interval: string
  cycles: number
  cap: boolean
  start?: number
  expiry?: number
  webhook?: string
}

export type AgreementStatus = 'pending' | 'active' | 'finished' | 'expired' | 'cancelled'

export interface Balance {
  total: string
  interval: string
  available: string
}

/** What the admin (and the creator) sees of an agreement. */
export interface AgreementView {
  id: string
  pointer: string
  amount: string
  assetCode: string
  assetScale: number
  interval: string
  cycles: number
  cap: boolean
  start: string
  expiry?: string
  webhook?: string
  /** Key of the HMAC in the webhook's Trickle-Signature header. */
  webhookSecret?: string
  offline: boolean
  status: AgreementStatus
  cycle: number
  balance: Balance
  createdAt: string
  updatedAt: string
  cancelledAt?: string
}

/** The SPSP query reply, exactly as RFC 0036 lays it out. */
export interface SpspPullReply {
  destination_account: string
  shared_secret: string
  pull: {
    balance: Balance
    cycle: number
    agreement: {
      amount: string
      start: string
      expiry?: string
      interval: string
      cycles: number
      cap: boolean
      asset: { code: string, scale: number }
    }
  }
}

export interface MintedToken {
  id: string
  token: string
  pointer: string
}

export interface PullService {
  /** The asset this server sends in (the network's). */
  readonly asset: Asset
  create (body: unknown): Promise<AgreementView | PullError>
  /** Signs an offline pointer; nothing is stored until its first use. */
  mintToken (body: unknown): Promise<MintedToken | PullError>
  /** SPSP query of a pointer (id or offline token; a valid token is registered here). */
  query (idOrToken: string): Promise<SpspPullReply | PullError>
  list (): Promise<AgreementView[]>
  get (idOrToken: string): Promise<AgreementView | PullError>
  update (idOrToken: string, body: unknown): Promise<AgreementView | PullError>
  /** Cancels an agreement; an offline token that was never used is registered as cancelled (revoked). */
  cancel (idOrToken: string): Promise<AgreementView | PullError>
  /** Resolves when no pull and no webhook delivery is under way (tests). */
  idle (): Promise<void>
  close (): Promise<void>
}

export interface PullDeps {
  store: PullStore
  network: IlpNetwork
  publicUrl: string
  /** 32 random bytes: connection tags, the STREAM server secret and webhook secrets derive from it. */
  secret: Buffer
  /** HS256 key of offline tokens */
  signingKey: Buffer
  rates: readonly ExchangeRate[]
  webhookBackoffMs: readonly number[]
  log: FastifyBaseLogger
  /** Clock of the agreements (cycles, start, expiry); tests move it instead of sleeping. */
  now?: () => number
}

const iso = (ms: number) => new Date(ms).toISOString()
const cappedU64 = (n: bigint) => (n > U64_MAX ? U64_MAX : n).toString()

function parseWebhook (value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length > 2048) return undefined
  try {
    const url = new URL(value)
    if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.username || url.password) return undefined
    return url.href
  } catch {
    return undefined
  }
}

/**
 * Validates terms from a request body or an offline token's claims. Strict JSON types: amount is a
 * decimal string (u64), assetScale and cycles are integers, cap is a boolean (the original server
 * took only the *string* 'true').
 */
export function parseTerms (input: unknown, opts: { tokenClaims?: boolean } = {}): PullTerms | PullError {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return PullError.InvalidBody
  const o = input as Record<string, unknown>
  const allowed = opts.tokenClaims ? [...TERM_FIELDS, ...TOKEN_CLAIMS] : TERM_FIELDS
  if (Object.keys(o).some((k) => !allowed.includes(k))) return PullError.UnknownField
  const amount = parseAmount(o.amount)
  if (amount === undefined) return PullError.InvalidAmount
  if (!isAsset(o.assetCode, o.assetScale)) return PullError.InvalidAsset
  if (typeof o.interval !== 'string' || parseDuration(o.interval) === undefined) return PullError.InvalidInterval
  if (!isCycles(o.cycles)) return PullError.InvalidCycles
  if (typeof o.cap !== 'boolean') return PullError.InvalidCap
  const start = o.start === undefined ? undefined : typeof o.start === 'string' ? parseDateTime(o.start) : undefined
  if (o.start !== undefined && start === undefined) return PullError.InvalidStart
  const expiry = o.expiry === undefined ? undefined : typeof o.expiry === 'string' ? parseDateTime(o.expiry) : undefined
  if (o.expiry !== undefined && expiry === undefined) return PullError.InvalidExpiry
  const webhook = o.webhook === undefined ? undefined : parseWebhook(o.webhook)
  if (o.webhook !== undefined && webhook === undefined) return PullError.InvalidWebhook
  return {
    amount,
    assetCode: o.assetCode as string,
    assetScale: o.assetScale as number,
    interval: o.interval,
    cycles: o.cycles as number,
    cap: o.cap,
    ...(start === undefined ? {} : { start }),
    ...(expiry === undefined ? {} : { expiry }),
    ...(webhook === undefined ? {} : { webhook })
  }
}

function parseAmount (value: unknown): bigint | undefined {
  if (typeof value !== 'string' || !AMOUNT.test(value)) return undefined
  const n = BigInt(value)
  return n > U64_MAX ? undefined : n
}
const isAsset = (code: unknown, scale: unknown) =>
  typeof code === 'string' && ASSET_CODE.test(code) && typeof scale === 'number' && Number.isInteger(scale) && scale >= 0 && scale <= 255
const isCycles = (value: unknown) => typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= MAX_CYCLES

export type PullUpdate = Partial<Omit<PullTerms, 'start' | 'webhook'>> & { removeExpiry?: boolean }

/** Validates an update: any of amount, interval, cycles, cap, expiry (null removes it), and assetCode with assetScale. */
export function parseUpdate (body: unknown): PullUpdate | PullError {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return PullError.InvalidBody
  const o = body as Record<string, unknown>
  const keys = Object.keys(o)
  if (keys.some((k) => !['amount', 'interval', 'cycles', 'cap', 'expiry', 'assetCode', 'assetScale'].includes(k))) return PullError.UnknownField
  if (keys.length === 0) return PullError.EmptyUpdate
  if ((o.assetCode === undefined) !== (o.assetScale === undefined)) return PullError.AssetUpdateIncomplete
  const patch: PullUpdate = {}
  if (o.amount !== undefined) {
    const amount = parseAmount(o.amount)
    if (amount === undefined) return PullError.InvalidAmount
    patch.amount = amount
  }
  if (o.interval !== undefined) {
    if (typeof o.interval !== 'string' || parseDuration(o.interval) === undefined) return PullError.InvalidInterval
    patch.interval = o.interval
  }
  if (o.cycles !== undefined) {
    if (!isCycles(o.cycles)) return PullError.InvalidCycles
    patch.cycles = o.cycles as number
  }
  if (o.cap !== undefined) {
    if (typeof o.cap !== 'boolean') return PullError.InvalidCap
    patch.cap = o.cap
  }
  if (o.expiry === null) patch.removeExpiry = true
  else if (o.expiry !== undefined) {
    const expiry = typeof o.expiry === 'string' ? parseDateTime(o.expiry) : undefined
    if (expiry === undefined) return PullError.InvalidExpiry
    patch.expiry = expiry
  }
  if (o.assetCode !== undefined) {
    if (!isAsset(o.assetCode, o.assetScale)) return PullError.InvalidAsset
    patch.assetCode = o.assetCode as string
    patch.assetScale = o.assetScale as number
  }
  return patch
}

interface BalanceState {
  status: AgreementStatus
  /** 0 before start, 1..cycles during, cycles after the last one */
  cycle: number
  total: bigint
  interval: bigint
  available: bigint
}

/** The balance of an agreement at time t (RFC 0036 `pull.balance` and `pull.cycle`). */
export function balanceAt (a: PullAgreement, t: number): BalanceState {
  const d = parseDuration(a.interval)!
  const c = cycleAt(a.start, d, a.cycles, t)
  const cycle = Math.min(c, a.cycles)
  const interval = cycle > 0 && a.intervalCycle === cycle ? a.intervalPulled : 0n
  let status: AgreementStatus = 'active'
  if (a.cancelledAt !== undefined) status = 'cancelled'
  else if (a.expiry !== undefined && t >= a.expiry) status = 'expired'
  else if (c === 0) status = 'pending'
  else if (c > a.cycles) status = 'finished'
  let available = 0n
  if (status === 'active') {
    // cap: at most `amount` per cycle. No cap: what was not pulled carries over to later cycles.
    available = a.cap ? a.amount - interval : a.amount * BigInt(c) - a.total
    if (available < 0n) available = 0n
  }
  return { status, cycle, total: a.total, interval, available }
}

export async function createPullService (deps: PullDeps): Promise<PullService> {
  const log = deps.log.child({ service: 'pull' })
  const now = deps.now ?? Date.now
  const derive = (label: string) => createHash('sha256').update(deps.secret).update(label).digest()
  const tagKey = derive('pull-connection-tag')
  const webhookKey = derive('pull-webhook')
  const webhookSecretOf = (id: string) => createHmac('sha256', webhookKey).update(id).digest('base64url')

  const plugin = deps.network.createPlugin('trickle-pull')
  const server: StreamServer = await createServer({
    plugin,
    serverSecret: derive('pull-stream-server'),
    // A pull pointer only ever sends; money pushed to it is refused rather than kept unaccounted.
    shouldFulfill: async () => { throw new Error('pull pointers do not receive money') }
  })
  const asset: Asset = { code: server.assetCode, scale: server.assetScale }
  log.info({ ilpAddress: (server as unknown as { serverAccount: string }).serverAccount, asset: `${asset.code}/${asset.scale}` }, 'pull pointers sending on the Interledger network')

  const webhooks = createWebhookDispatcher({ store: deps.store, backoffMs: deps.webhookBackoffMs, secretOf: webhookSecretOf, log })
  const factorOf = (a: Asset) => conversionFactor(a, asset, deps.rates)
  /** Units of `to` per unit of `from`, directly or through the server's asset. */
  const factorBetween = (from: Asset, to: Asset): Rational | undefined => {
    const direct = conversionFactor(from, to, deps.rates)
    if (direct) return direct
    const a = factorOf(from)
    const b = conversionFactor(asset, to, deps.rates)
    return a && b ? { num: a.num * b.num, den: a.den * b.den } : undefined
  }

  const pointerOf = (a: PullAgreement) => `${deps.publicUrl}/pull/${a.token ?? a.id}`
  const view = (a: PullAgreement): AgreementView => {
    const b = balanceAt(a, now())
    return {
      id: a.id,
      pointer: pointerOf(a),
      amount: a.amount.toString(),
      assetCode: a.assetCode,
      assetScale: a.assetScale,
      interval: a.interval,
      cycles: a.cycles,
      cap: a.cap,
      start: iso(a.start),
      ...(a.expiry === undefined ? {} : { expiry: iso(a.expiry) }),
      ...(a.webhook === undefined ? {} : { webhook: a.webhook, webhookSecret: webhookSecretOf(a.id) }),
      offline: a.token !== undefined,
      status: b.status,
      cycle: b.cycle,
      balance: { total: b.total.toString(), interval: b.interval.toString(), available: cappedU64(b.available) },
      createdAt: iso(a.createdAt),
      updatedAt: iso(a.updatedAt),
      ...(a.cancelledAt === undefined ? {} : { cancelledAt: iso(a.cancelledAt) })
    }
  }

  /** Turns valid terms into a new agreement record, or says why they cannot be agreed. */
  function agreementFrom (id: string, terms: PullTerms, t: number, token?: string): PullAgreement | PullError {
    const start = terms.start ?? t
    if (terms.expiry !== undefined && terms.expiry <= start) return PullError.InvalidExpiry
    if (Number.isNaN(addDuration(start, parseDuration(terms.interval)!, terms.cycles))) return PullError.AgreementTooLong
    if (!factorOf({ code: terms.assetCode, scale: terms.assetScale })) return PullError.NoExchangeRate
    return {
      id,
      ...(token === undefined ? {} : { token }),
      amount: terms.amount,
      assetCode: terms.assetCode,
      assetScale: terms.assetScale,
      interval: terms.interval,
      cycles: terms.cycles,
      cap: terms.cap,
      start,
      ...(terms.expiry === undefined ? {} : { expiry: terms.expiry }),
      ...(terms.webhook === undefined ? {} : { webhook: terms.webhook }),
      createdAt: t,
      updatedAt: t,
      total: 0n,
      intervalPulled: 0n,
      intervalCycle: 0
    }
  }

  const tokenErrors: { [P in TokenProblem]: PullError } = {
    malformed: PullError.TokenMalformed,
    bad_algorithm: PullError.TokenBadAlgorithm,
    unknown_key: PullError.TokenUnknownKey,
    bad_signature: PullError.TokenBadSignature,
    expired: PullError.TokenExpired,
    not_yet_valid: PullError.TokenNotYetValid
  }

  /** Finds an agreement by id, or by offline token (verifying and registering it on first use). */
  async function resolve (idOrToken: string): Promise<PullAgreement | PullError> {
    if (!looksLikeToken(idOrToken)) return (await deps.store.get(idOrToken)) ?? PullError.UnknownPointer
    // Registered tokens are found by the hash of their exact text, as the original looked in its DB
    // first: they stay usable after the signing key is rotated. Anything else must verify.
    const id = tokenAgreementId(idOrToken)
    const known = await deps.store.get(id)
    if (known) return known
    const t = now()
    const verified = verifyToken(deps.signingKey, idOrToken, t)
    if (typeof verified === 'string') return tokenErrors[verified]
    const terms = parseTerms(verified.claims, { tokenClaims: true })
    if (typeof terms === 'string') return terms
    // Without a start in the token the agreement starts at its first use (as the original did).
    const record = agreementFrom(id, terms, t, idOrToken)
    if (typeof record === 'string') return record
    const { created, agreement } = await deps.store.insert(record)
    if (created) log.info({ agreement: id, pointer: pointerOf(agreement) }, 'offline pull pointer registered')
    return agreement
  }

  // ---- pulling over STREAM ------------------------------------------------------------------------

  const queues = new Map<string, Promise<void>>()
  const pulls = new Set<Promise<void>>()
  /** Runs pulls of one agreement one after the other: only one stream has a sendMax at a time. */
  function exclusive (id: string, fn: () => Promise<void>): void {
    const run = (queues.get(id) ?? Promise.resolve()).then(fn).catch((err: unknown) => log.error({ err, agreement: id }, 'pull failed'))
    queues.set(id, run)
    pulls.add(run)
    void run.finally(() => {
      pulls.delete(run)
      if (queues.get(id) === run) queues.delete(id)
    })
  }

  async function pullOn (id: string, connection: StreamConnection, stream: DataAndMoneyStream): Promise<void> {
    if (!stream.isOpen()) return
    const holder = randomUUID()
    const leased = await deps.store.acquireLease(id, holder, Date.now(), Date.now() + PULL_MAX_MS + SETTLE_MS + 5000)
    if (leased === undefined || leased === 'busy') {
      // Another process is sending for this agreement right now: this stream gets nothing.
      if (leased === 'busy') log.info({ agreement: id }, 'pull refused: another stream holds this agreement\'s sendMax')
      finish(stream)
      return
    }
    let charged = 0n
    let cycle = 0
    try {
      const t = now()
      const state = balanceAt(leased, t)
      cycle = state.cycle
      const factor = factorOf({ code: leased.assetCode, scale: leased.assetScale })
      // RFC 0036: sendMax = pull.balance.available converted to the server's asset. Rounded down, so
      // the payer never sends more than the agreement allows.
      let sendMax = factor ? floorTimes(state.available, factor) : 0n
      if (sendMax > U64_MAX) sendMax = U64_MAX
      if (!factor) log.warn({ agreement: id, asset: `${leased.assetCode}/${leased.assetScale}` }, 'no exchange rate for this agreement\'s asset any more; nothing sent')
      if (sendMax === 0n || !factor || !stream.isOpen()) {
        log.info({ agreement: id, status: state.status, cycle: state.cycle }, 'pull: nothing available')
        finish(stream)
        return
      }
      log.info({ agreement: id, cycle: state.cycle, available: state.available.toString(), sendMax: sendMax.toString() }, 'pull started')
      let recording = Promise.resolve()
      const done = new Promise<void>((resolve) => {
        // A payee that holds the sendMax too long (or never raises its receiveMax) is ended, so other
        // pulls of the agreement get their turn. The lease is kept until the stream has closed, i.e.
        // until packets in flight have settled, and at the latest SETTLE_MS later.
        let settle: NodeJS.Timeout | undefined
        const timer = setTimeout(() => {
          log.info({ agreement: id, sent: stream.totalSent }, 'pull held its sendMax too long; ending its stream')
          finish(stream)
          settle = setTimeout(() => { stream.destroy(); resolve() }, SETTLE_MS).unref()
        }, PULL_MAX_MS).unref()
        const end = () => { clearTimeout(timer); clearTimeout(settle); resolve() }
        stream.once('close', end)
        stream.once('end', end)
        connection.once('close', end)
        stream.on('outgoing_money', () => {
          const sent = BigInt(stream.totalSent)
          // What this pull has cost in the agreement's asset, rounded up: never below what was sent,
          // and never above what was available (sent ≤ floor(available × factor)).
          const due = ceilDivide(sent, factor)
          const delta = due - charged
          charged = due
          if (delta > 0n) {
            recording = recording.then(async () => { await deps.store.recordPulled(id, delta, cycle, now()) })
              .catch((err: unknown) => log.error({ err, agreement: id, amount: delta.toString() }, 'could not record a pulled amount'))
          }
          if (sent >= sendMax) finish(stream)
        })
        stream.setSendMax(sendMax.toString())
      })
      await done
      await recording
    } finally {
      await deps.store.releaseLease(id, holder).catch((err: unknown) => log.error({ err, agreement: id }, 'could not release a pull lease'))
    }
    if (charged === 0n) return
    const after = await deps.store.get(id)
    if (!after) return
    const b = balanceAt(after, now())
    log.info({ agreement: id, amount: charged.toString(), total: b.total.toString(), cycle }, 'pulled')
    if (after.webhook) {
      await webhooks.enqueue(id, after.webhook, {
        id,
        pointer: pointerOf(after),
        amount: charged.toString(),
        asset: { code: after.assetCode, scale: after.assetScale },
        balance: { total: b.total.toString(), interval: b.interval.toString(), available: cappedU64(b.available) },
        cycle,
        pulledAt: iso(now())
      })
    }
  }

  /**
   * RFC 0036 has the server end the stream and the connection once its sendMax is reached. Only the
   * stream is ended here: the client (ilp-protocol-spsp's pull()) ends the connection itself as soon as
   * its receiveTotal settles, and when both sides close at once its `connection.end()` can wait for a
   * packet that is never answered (35 s, the BTP timeout). An idle connection closes on its own.
   */
  function finish (stream: DataAndMoneyStream): void {
    try { if (stream.isOpen()) stream.end() } catch {}
  }

  server.on('connection', (connection: StreamConnection) => {
    const id = openConnectionTag(tagKey, connection.connectionTag)
    if (id === undefined) {
      connection.destroy().catch(() => {})
      return
    }
    connection.on('stream', (stream: DataAndMoneyStream) => {
      stream.on('error', (err: Error) => log.debug({ err: err.message, agreement: id }, 'pull stream error'))
      exclusive(id, () => pullOn(id, connection, stream))
    })
    connection.on('error', (err: Error) => log.debug({ err: err.message, agreement: id }, 'pull connection error'))
  })

  // ---- HTTP-facing operations ---------------------------------------------------------------------

  return {
    asset,

    async create (body) {
      const terms = parseTerms(body)
      if (typeof terms === 'string') return terms
      const record = agreementFrom(randomBytes(16).toString('base64url'), terms, now())
      if (typeof record === 'string') return record
      const { agreement } = await deps.store.insert(record)
      log.info({ agreement: agreement.id, pointer: pointerOf(agreement), amount: agreement.amount.toString(), asset: `${agreement.assetCode}/${agreement.assetScale}`, interval: agreement.interval, cycles: agreement.cycles, cap: agreement.cap }, 'pull agreement created')
      return view(agreement)
    },

    async mintToken (body) {
      const terms = parseTerms(body)
      if (typeof terms === 'string') return terms
      // Checked now so that a minted pointer is one this server will honour.
      const check = agreementFrom('check', terms, now())
      if (typeof check === 'string') return check
      const claims: Record<string, unknown> = {
        amount: terms.amount.toString(),
        assetCode: terms.assetCode,
        assetScale: terms.assetScale,
        interval: terms.interval,
        cycles: terms.cycles,
        cap: terms.cap,
        ...(terms.start === undefined ? {} : { start: iso(terms.start) }),
        ...(terms.expiry === undefined ? {} : { expiry: iso(terms.expiry), exp: Math.floor(terms.expiry / 1000) }),
        ...(terms.webhook === undefined ? {} : { webhook: terms.webhook }),
        iat: Math.floor(now() / 1000),
        jti: randomBytes(9).toString('base64url')
      }
      const token = signToken(deps.signingKey, claims)
      return { id: tokenAgreementId(token), token, pointer: `${deps.publicUrl}/pull/${token}` }
    },

    async query (idOrToken) {
      const a = await resolve(idOrToken)
      if (typeof a === 'string') return a
      const b = balanceAt(a, now())
      if (b.status === 'cancelled') return PullError.Cancelled
      if (b.status === 'expired') return PullError.Expired
      const { destinationAccount, sharedSecret } = server.generateAddressAndSecret({ connectionTag: sealConnectionTag(tagKey, a.id) })
      return {
        destination_account: destinationAccount,
        shared_secret: sharedSecret.toString('base64'),
        pull: {
          balance: { total: b.total.toString(), interval: b.interval.toString(), available: cappedU64(b.available) },
          cycle: b.cycle,
          agreement: {
            amount: a.amount.toString(),
            start: iso(a.start),
            ...(a.expiry === undefined ? {} : { expiry: iso(a.expiry) }),
            interval: a.interval,
            cycles: a.cycles,
            cap: a.cap,
            asset: { code: a.assetCode, scale: a.assetScale }
          }
        }
      }
    },

    async list () {
      return (await deps.store.list()).map(view)
    },

    async get (idOrToken) {
      const a = await resolve(idOrToken)
      return typeof a === 'string' ? a : view(a)
    },

    async update (idOrToken, body) {
      const patch = parseUpdate(body)
      if (typeof patch === 'string') return patch
      if (patch.assetCode !== undefined && !factorOf({ code: patch.assetCode, scale: patch.assetScale! })) return PullError.NoExchangeRate
      const found = await resolve(idOrToken)
      if (typeof found === 'string') return found
      const t = now()
      const updated = await deps.store.update(found.id, (a): PullAgreement | PullError => {
        const before = balanceAt(a, t)
        if (before.status === 'cancelled') return PullError.Cancelled
        if (before.status === 'expired') return PullError.Expired
        const next: PullAgreement = { ...a, updatedAt: t }
        if (patch.amount !== undefined) next.amount = patch.amount
        if (patch.cap !== undefined) next.cap = patch.cap
        if (patch.cycles !== undefined) next.cycles = patch.cycles
        if (patch.removeExpiry) delete next.expiry
        if (patch.expiry !== undefined) {
          if (patch.expiry <= a.start) return PullError.InvalidExpiry
          next.expiry = patch.expiry
        }
        if (patch.assetCode !== undefined && (patch.assetCode !== a.assetCode || patch.assetScale !== a.assetScale)) {
          // The balances move to the new asset, rounded up: what was pulled never shrinks, so a
          // change of asset cannot make more available than the agreement allowed.
          const to = { code: patch.assetCode, scale: patch.assetScale! }
          const f = factorBetween({ code: a.assetCode, scale: a.assetScale }, to)
          if (!f) return PullError.NoExchangeRate
          next.assetCode = to.code
          next.assetScale = to.scale
          next.total = ceilTimes(a.total, f)
          next.intervalPulled = ceilTimes(a.intervalPulled, f)
        }
        const d: Duration = parseDuration(patch.interval ?? a.interval)!
        if (Number.isNaN(addDuration(a.start, d, next.cycles))) return PullError.AgreementTooLong
        if (patch.interval !== undefined && patch.interval !== a.interval) {
          // The cycles are renumbered under the new interval; what was pulled in the current cycle
          // still counts against the (new) current cycle.
          next.interval = patch.interval
          next.intervalCycle = Math.min(cycleAt(a.start, d, next.cycles, t), next.cycles)
          const current = cycleAt(a.start, parseDuration(a.interval)!, a.cycles, t)
          next.intervalPulled = current >= 1 && current <= a.cycles && a.intervalCycle === current ? next.intervalPulled : 0n
        }
        return next
      })
      if (updated === undefined) return PullError.UnknownPointer
      if (typeof updated === 'string') return updated
      log.info({ agreement: updated.id, changed: Object.keys(body as object) }, 'pull agreement updated')
      return view(updated)
    },

    async cancel (idOrToken) {
      const found = await resolve(idOrToken)
      if (typeof found === 'string') return found
      const t = now()
      const cancelled = await deps.store.update(found.id, (a): PullAgreement | PullError =>
        a.cancelledAt !== undefined ? PullError.Cancelled : { ...a, cancelledAt: t, updatedAt: t })
      if (cancelled === undefined) return PullError.UnknownPointer
      if (typeof cancelled === 'string') return cancelled
      log.info({ agreement: cancelled.id }, 'pull agreement cancelled')
      return view(cancelled)
    },

    async idle () {
      while (pulls.size > 0) await Promise.all([...pulls])
      await webhooks.idle()
    },

    async close () {
      await webhooks.close()
      // As the wallet: disconnecting the plugin ends every connection at once (server.close() stalls).
      await plugin.disconnect()
    }
  }
}
