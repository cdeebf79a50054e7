// Releases the key of a sealed section after spending its price from the reader's balance (credited
// with verified receipts paid to the section's receiver), once per balance and section: a grant lasts
// `grantTtlMs`, so a reload or a second tab within it pays nothing. Only the reader who holds the
// balance's secret can spend it (verifier/owner.ts). The price and the receiver come from the token
// the build wrote and MACed (crypto.ts); the verifier is this companion's own, never one a client names.
import { createHash } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import type { Store } from '../store/types.ts'
import type { ReceiverService } from '../receivers/service.ts'
import { ownedBalance } from '../verifier/owner.ts'
import { decodeSealToken, SealTokenError, sectionKey, siteSealKey, type SealToken } from '../../../packages/trickle-core/src/seal.ts'
import { SealError } from './errors.ts'
import { formatPrice } from '../torrent/license.ts'

export interface KeyRelease {
  key: string
  expiresAt: number
  /** What this request spent: the price, or 0 within a grant */
  charged: bigint
  /** The price in the balance's units (for the section's receiver) */
  price: bigint
  /** What the balance holds for the section's receiver, after this */
  balance: bigint
}

export interface SectionQuote {
  price: bigint
  assetCode: string
  assetScale: number
  /** Proxy id the page's readers pay: credits count towards the section only when they reached it */
  receiver: string
}

export type KeyRefusal = { error: SealError, price?: bigint, balance?: bigint }

export interface SealedService {
  /** What a section costs in the balance's units (pages ask before they ask for the key). */
  priceOf (token: unknown): Promise<SectionQuote | SealError>
  /** Spends the section's price from the balance whose secret the reader holds, and releases its key. */
  releaseKey (token: unknown, balanceSecret: unknown): Promise<KeyRelease | SealError | KeyRefusal>
}

export interface SealedDeps {
  store: Store
  sealKey: Buffer
  receivers: Pick<ReceiverService, 'priceFor'>
  grantTtlMs: number
  log: FastifyBaseLogger
  now?: () => number
}

export function createSealedService (deps: SealedDeps): SealedService {
  const log = deps.log.child({ service: 'sealed' })
  const now = deps.now ?? Date.now

  async function quote (token: unknown): Promise<{ parsed: SealToken, quote: SectionQuote } | SealError> {
    let parsed: SealToken
    try {
      parsed = decodeSealToken(token, deps.sealKey)
    } catch (err) {
      if (err instanceof SealTokenError) return err.kind === 'not_issued' ? SealError.TokenNotIssued : SealError.InvalidToken
      throw err
    }
    const price = await deps.receivers.priceFor(parsed.receiver, parsed)
    if ('problem' in price) return price.problem === 'asset_mismatch' ? SealError.AssetMismatch : SealError.UnknownReceiver
    return { parsed, quote: { price: price.amount, assetCode: price.asset.assetCode, assetScale: price.asset.assetScale, receiver: parsed.receiver } }
  }

  return {
    async priceOf (token) {
      const q = await quote(token)
      return typeof q === 'string' ? q : q.quote
    },
    async releaseKey (token, balanceSecret) {
      const balanceId = ownedBalance(balanceSecret)
      if (balanceId === undefined) return SealError.InvalidSecret
      const q = await quote(token)
      if (typeof q === 'string') return q
      const { parsed, quote: { price, receiver } } = q
      const t = now()
      const result = await deps.store.spendForGrant({
        balanceId,
        receiver,
        grantKey: `seal:${createHash('sha256').update(token as string).digest('hex')}`,
        amount: price,
        now: t,
        expiresAt: t + deps.grantTtlMs
      })
      if (result.kind === 'unknown_balance') return { error: SealError.NoPayment, price }
      if (result.kind === 'insufficient') return { error: SealError.PaymentRequired, price, balance: result.balance }
      // In the writer's units (the section's price), with the receiver's units beside it.
      if (result.charged > 0n) log.info({ site: parsed.site, page: parsed.page, section: parsed.id, price: formatPrice(parsed), receiver, balance: balanceId, chargedUnits: `${result.charged} ${q.quote.assetCode}/${q.quote.assetScale}` }, `sealed section bought: "${parsed.id}" of ${parsed.page} for ${formatPrice(parsed)}`)
      return {
        key: sectionKey(siteSealKey(deps.sealKey, parsed.site), token as string).toString('base64'),
        expiresAt: result.expiresAt,
        charged: result.charged,
        price,
        balance: result.balance
      }
    }
  }
}
