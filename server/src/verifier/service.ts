// The STREAM receipt verifier (RFC 0039), with the API of @coil/receipt-verifier v1.0.5 (balances,
// credit, spend) and its later POST /verify, plus proxy payment pointers as ILP Torrent's fork had them.
// Plain factory over explicit deps; expected failures are returned as VerifierError values.
import { randomBytes, timingSafeEqual } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import {
  decodeReceipt, NONCE_LENGTH, ReceiptError, receiptFromBase64, receiptSecret, U64_MAX
} from '../receipts/codec.ts'
import type { ProxyRecord, Store } from '../store/types.ts'
import { receiverIdOfEndpoint, resolvePaymentPointer } from '../../../packages/trickle-core/src/pointers.ts'
import { VerifierError } from './errors.ts'
import { hmacKey, hmacSha256 } from './hmac.ts'

export const I64_MAX = (1n << 63n) - 1n
export const BALANCE_ID = /^[A-Za-z0-9._~-]{1,128}$/
/** A receiver, as balances are kept per receiver: a proxy id, or '' for money of unknown receivers. */
export const RECEIVER = /^([0-9a-f]{32})?$/
const SPSP_TIMEOUT_MS = 5000

export interface ProxyView {
  id: string
  paymentPointer: string
  spspEndpoint: string
  proxyPointer: string
  createdAt: string
}

export interface SpspReply {
  destination_account: string
  shared_secret: string
  receipts_enabled: true
  [other: string]: unknown
}

export interface VerifierService {
  registerProxy (paymentPointer: string): Promise<{ created: boolean, proxy: ProxyView } | VerifierError>
  deregisterProxy (id: string): Promise<true | VerifierError>
  listProxies (): Promise<ProxyView[]>
  getProxy (id: string): Promise<ProxyView | VerifierError>
  /** The proxy registered for this payment pointer or wallet address, if any (the receiver it stands for). */
  proxyFor (paymentPointer: string): Promise<ProxyView | undefined>
  /** Forwards an SPSP query to the real receiver with a fresh Receipt-Nonce and Receipt-Secret. */
  querySpsp (proxyId: string, accept: string | undefined): Promise<SpspReply | VerifierError>
  /** Credits what a receipt adds to what the balance holds for the receipt's receiver (its proxy id). */
  creditReceipt (balanceId: string, body: unknown): Promise<{ balance: bigint, amount: bigint, receiver: string } | VerifierError>
  verify (body: unknown): Promise<{ amount: bigint, spspEndpoint: string } | VerifierError>
  /**
   * receipt-verifier's spend (an operator's, with the spend token): from what the balance holds for
   * `receiver`, or, when none is named, for the only receiver it holds money for.
   */
  spend (balanceId: string, amount: unknown, receiver?: string, idempotencyKey?: string): Promise<{ balance: bigint, charged: bigint } | VerifierError>
  /** What the balance holds for one receiver, or for all together. */
  getBalance (balanceId: string, receiver?: string): Promise<bigint | VerifierError>
  /** Logs (info) what was credited since the last call, in one line: receipts, balances, amounts per receiver. */
  logCredits (): void
  /** Forget nonces past their TTL (their receipts are refused anyway). */
  purgeExpired (): Promise<number>
  proxyPointerOf (id: string): string
}

export interface VerifierDeps {
  store: Store
  /** HMAC(seed, "receipt_secret"): see receipts/codec.ts */
  receiptKey: Buffer
  ttlMs: number
  publicUrl: string
  log: FastifyBaseLogger
  now?: () => number
}


export function createVerifierService (deps: VerifierDeps): VerifierService {
  const log = deps.log.child({ service: 'verifier' })
  const now = deps.now ?? Date.now
  const proxyPointerOf = (id: string) => `${deps.publicUrl}/p/${id}`
  const view = (p: ProxyRecord): ProxyView => ({
    id: p.id,
    paymentPointer: p.paymentPointer,
    spspEndpoint: p.spspEndpoint,
    proxyPointer: proxyPointerOf(p.id),
    createdAt: new Date(p.createdAt).toISOString()
  })

  const debug = () => log.level === 'debug' || log.level === 'trace'
  // A paying reader's agent sends a receipt every second or two, so one info line per credit would
  // drown what an operator reads (as one per request would): each is at debug, info gets a summary.
  const credited = creditTally()

  // secret = HMAC(receiptKey, nonce) (receipts/codec.ts receiptSecret), with the key's pads made once.
  const receiptKey = hmacKey(deps.receiptKey)

  /**
   * Checks a receipt from an HTTP body: encoding, length, version, HMAC. Whether this verifier issued
   * its nonce, and when, is checked by the store in the same step as the credit (nonceIssuedAfter).
   */
  function checkReceipt (body: unknown) {
    if (typeof body !== 'string' || body.trim() === '') return VerifierError.MissingReceipt
    let receipt: ReturnType<typeof decodeReceipt>
    try {
      const buf = receiptFromBase64(body)
      receipt = decodeReceipt(buf)
      // As codec.ts verifyReceipt: the HMAC of the first 26 bytes, compared in constant time.
      const expected = hmacSha256(hmacSha256(receiptKey, receipt.nonce), buf.subarray(0, 26))
      if (!timingSafeEqual(expected, receipt.hmac)) return VerifierError.ReceiptBadHmac
    } catch (err) {
      if (!(err instanceof ReceiptError)) throw err
      return ({
        not_base64: VerifierError.ReceiptNotBase64,
        bad_length: VerifierError.ReceiptBadLength,
        bad_version: VerifierError.ReceiptBadVersion,
        bad_hmac: VerifierError.ReceiptBadHmac
      } as const)[err.problem]
    }
    return { receipt, nonce: receipt.nonce.toString('base64') }
  }

  /**
   * Moves the receipt's high-water mark and credits the difference (to `balanceId`, if any). The HMAC
   * alone proves the seed made the secret; the stored nonce proves this verifier handed it out, and
   * when: a nonce older than the TTL is refused.
   */
  async function credit (checked: Exclude<ReturnType<typeof checkReceipt>, VerifierError>, balanceId?: string) {
    const result = await deps.store.creditReceipt({
      nonce: checked.nonce,
      streamId: checked.receipt.streamId,
      totalReceived: checked.receipt.totalReceived,
      ...(balanceId === undefined ? {} : { balanceId }),
      maxBalance: I64_MAX,
      nonceIssuedAfter: now() - deps.ttlMs
    })
    switch (result.kind) {
      case 'unknown_nonce': return VerifierError.UnknownNonce
      case 'expired_nonce': return VerifierError.ExpiredNonce
      case 'not_newer': return VerifierError.ReceiptNotNewer
      case 'balance_overflow': return VerifierError.BalanceOverflow
      default: return result
    }
  }

  function parseAmount (amount: unknown): bigint | VerifierError {
    if (typeof amount !== 'string') return VerifierError.InvalidAmount
    const text = amount.trim()
    if (!/^\d{1,20}$/.test(text)) return VerifierError.InvalidAmount
    const value = BigInt(text)
    if (value === 0n || value > U64_MAX) return VerifierError.InvalidAmount
    return value
  }

  return {
    async registerProxy (paymentPointer) {
      const spspEndpoint = resolvePaymentPointer(paymentPointer)
      if (!spspEndpoint) return VerifierError.InvalidPointer
      const id = receiverIdOfEndpoint(spspEndpoint)
      const { created, proxy } = await deps.store.putProxy({ id, paymentPointer: paymentPointer.trim(), spspEndpoint, createdAt: now() })
      if (created) log.info({ proxy: id, spspEndpoint, proxyPointer: proxyPointerOf(id) }, 'proxy payment pointer registered')
      return { created, proxy: view(proxy) }
    },
    async deregisterProxy (id) {
      const deleted = await deps.store.deleteProxy(id)
      if (!deleted) return VerifierError.UnknownProxy
      log.info({ proxy: id }, 'proxy payment pointer deregistered')
      return true
    },
    async listProxies () {
      return (await deps.store.listProxies()).map(view)
    },
    async proxyFor (paymentPointer) {
      const spspEndpoint = resolvePaymentPointer(paymentPointer)
      if (!spspEndpoint) return undefined
      const proxy = await deps.store.getProxy(receiverIdOfEndpoint(spspEndpoint))
      return proxy ? view(proxy) : undefined
    },
    async getProxy (id) {
      const proxy = await deps.store.getProxy(id)
      return proxy ? view(proxy) : VerifierError.UnknownProxy
    },

    async querySpsp (proxyId, accept) {
      if (!accept || !/application\/spsp4\+json|\*\/\*/.test(accept)) return VerifierError.NotSpspRequest
      const proxy = await deps.store.getProxy(proxyId)
      if (!proxy) return VerifierError.UnknownProxy
      const nonce = randomBytes(NONCE_LENGTH)
      const secret = receiptSecret(deps.receiptKey, nonce)
      let res: Response
      try {
        res = await fetch(proxy.spspEndpoint, {
          headers: {
            accept: 'application/spsp4+json, application/spsp+json',
            'receipt-nonce': nonce.toString('base64'),
            'receipt-secret': secret.toString('base64')
          },
          redirect: 'error',
          signal: AbortSignal.timeout(SPSP_TIMEOUT_MS)
        })
      } catch (err) {
        log.warn({ proxy: proxyId, spspEndpoint: proxy.spspEndpoint, err: (err as Error).message }, 'receiver unreachable')
        return VerifierError.ReceiverUnreachable
      }
      let reply: Record<string, unknown>
      try {
        if (!res.ok) throw new Error(`HTTP ${res.status}`)
        reply = await res.json() as Record<string, unknown>
        if (typeof reply.destination_account !== 'string' || typeof reply.shared_secret !== 'string') throw new Error('not an SPSP response')
      } catch (err) {
        log.warn({ proxy: proxyId, spspEndpoint: proxy.spspEndpoint, err: (err as Error).message }, 'receiver answered without SPSP details')
        return VerifierError.ReceiverFailed
      }
      if (reply.receipts_enabled !== true) return VerifierError.ReceiptsNotEnabled
      await deps.store.putNonce({ nonce: nonce.toString('base64'), proxyId, spspEndpoint: proxy.spspEndpoint, issuedAt: now() })
      log.debug({ proxy: proxyId }, 'receipt nonce issued')
      return reply as SpspReply
    },

    async creditReceipt (balanceId, body) {
      if (!BALANCE_ID.test(balanceId)) return VerifierError.InvalidBalanceId
      const checked = checkReceipt(body)
      if (typeof checked === 'string') return checked
      const result = await credit(checked, balanceId)
      if (typeof result === 'string') return result
      if (debug()) log.debug({ balance: balanceId, receiver: result.receiver, amount: result.amount.toString(), total: result.balance.toString() }, 'receipt credited')
      credited.add(balanceId, result.nonce?.spspEndpoint, result.amount)
      return { balance: result.balance, amount: result.amount, receiver: result.receiver }
    },

    async verify (body) {
      const checked = checkReceipt(body)
      if (typeof checked === 'string') return checked
      const result = await credit(checked)
      if (typeof result === 'string') return result
      return { amount: result.amount, spspEndpoint: result.nonce!.spspEndpoint }
    },

    async spend (balanceId, amount, receiver, idempotencyKey) {
      if (!BALANCE_ID.test(balanceId)) return VerifierError.InvalidBalanceId
      if (receiver !== undefined && !RECEIVER.test(receiver)) return VerifierError.InvalidReceiver
      if (idempotencyKey !== undefined && !/^[A-Za-z0-9_.:-]{1,128}$/.test(idempotencyKey)) return VerifierError.InvalidIdempotencyKey
      const value = parseAmount(amount)
      if (typeof value === 'string') return value
      let from = receiver
      if (from === undefined) {
        // A site with one receiver (receipt-verifier's use) never needs to say which.
        const held = await deps.store.listBalances(balanceId)
        if (held.length === 0) return VerifierError.UnknownBalance
        if (held.length > 1) return VerifierError.ReceiverRequired
        from = held[0]!.receiver
      }
      if (idempotencyKey !== undefined) {
        // A retry with the same key (and amount) within a day spends nothing again: the spend is a
        // grant, one atomic step with the balance, as a purchase is (several instances included).
        const t = now()
        const granted = await deps.store.spendForGrant({ balanceId, receiver: from, grantKey: `spend:${value}:${idempotencyKey}`, amount: value, now: t, expiresAt: t + 24 * 3600_000 })
        if (granted.kind === 'unknown_balance') return VerifierError.UnknownBalance
        if (granted.kind === 'insufficient') return VerifierError.InsufficientBalance
        if (granted.charged > 0n) log.info({ balance: balanceId, receiver: from, amount: value.toString(), left: granted.balance.toString(), idempotencyKey }, 'balance spent')
        return { balance: granted.balance, charged: granted.charged }
      }
      const result = await deps.store.spend(balanceId, value, from)
      if (result.kind === 'unknown_balance') return VerifierError.UnknownBalance
      if (result.kind === 'insufficient') return VerifierError.InsufficientBalance
      log.info({ balance: balanceId, receiver: from, amount: value.toString(), left: result.balance.toString() }, 'balance spent')
      return { balance: result.balance, charged: value }
    },

    async getBalance (balanceId, receiver) {
      if (!BALANCE_ID.test(balanceId)) return VerifierError.InvalidBalanceId
      if (receiver !== undefined && !RECEIVER.test(receiver)) return VerifierError.InvalidReceiver
      const balance = await deps.store.getBalance(balanceId, receiver)
      return balance ?? VerifierError.UnknownBalance
    },

    logCredits () {
      const t = credited.take()
      if (t) log.info(t, `${t.receipts} receipt${t.receipts === 1 ? '' : 's'} credited`)
    },

    async purgeExpired () {
      // Keep nonces a little past their TTL so a late receipt gets "expired" rather than "unknown".
      return deps.store.purgeNonces(now() - 2 * deps.ttlMs)
    },
    proxyPointerOf
  }
}

/** Largest number of distinct balances a summary counts exactly (beyond it, "at least"). */
const TALLY_BALANCES = 10_000

/** What was credited since the last summary: receipts, distinct balances, and amounts per receiver (their units differ). */
function creditTally () {
  let receipts = 0
  let balances = new Set<string>()
  let received = new Map<string, bigint>()
  return {
    add (balanceId: string, receiver: string | undefined, amount: bigint) {
      receipts++
      if (balances.size < TALLY_BALANCES) balances.add(balanceId)
      const key = receiver ?? 'unknown'
      received.set(key, (received.get(key) ?? 0n) + amount)
    },
    take () {
      if (receipts === 0) return undefined
      const t = {
        receipts,
        balances: balances.size < TALLY_BALANCES ? balances.size : `${TALLY_BALANCES}+`,
        received: Object.fromEntries([...received].map(([k, v]) => [k, v.toString()]))
      }
      receipts = 0
      balances = new Set()
      received = new Map()
      return t
    }
  }
}
