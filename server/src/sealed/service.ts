// Releases the key of a sealed section after spending its price from the reader's balance (credited
// with verified receipts), once per balance and section: a grant lasts `grantTtlMs`, so a reload or a
// second tab within it pays nothing. The price comes from the token the build wrote, which the key
// derivation binds (crypto.ts); the verifier is this companion's own, never one a client names.
import { createHash } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import type { Store } from '../store/types.ts'
import { BALANCE_ID } from '../verifier/service.ts'
import { decodeSealToken, SealTokenError, sectionKey, type SealToken, type SectionPrice } from './crypto.ts'
import { SealError } from './errors.ts'

export interface KeyRelease {
  key: string
  expiresAt: number
  /** What this request spent: the price, or 0 within a grant */
  charged: bigint
  /** The price in the balance's units */
  price: bigint
  balance: bigint
}

export interface SealedService {
  /** What a section costs in the balance's units (pages ask before they ask for the key). */
  priceOf (token: unknown): { price: bigint, assetCode: string, assetScale: number } | SealError
  releaseKey (token: unknown, balanceId: string): Promise<KeyRelease | (SealError | { error: SealError, price?: bigint, balance?: bigint })>
}

export interface SealedDeps {
  store: Store
  sealKey: Buffer
  /** The asset balances are kept in (the wallet's, i.e. the receipts') */
  asset: () => { code: string, scale: number }
  grantTtlMs: number
  log: FastifyBaseLogger
  now?: () => number
}

/** A price in the balance's asset: same code only; scales converted exactly, rounding up for the payee. */
export function priceInAsset (price: SectionPrice, asset: { code: string, scale: number }): bigint | undefined {
  if (price.assetCode.toUpperCase() !== asset.code.toUpperCase()) return undefined
  const amount = BigInt(price.amount)
  if (asset.scale >= price.assetScale) return amount * 10n ** BigInt(asset.scale - price.assetScale)
  const divisor = 10n ** BigInt(price.assetScale - asset.scale)
  return (amount + divisor - 1n) / divisor
}

function parseToken (token: unknown): SealToken | SealError {
  try {
    return decodeSealToken(token)
  } catch (err) {
    if (err instanceof SealTokenError) return SealError.InvalidToken
    throw err
  }
}

export function createSealedService (deps: SealedDeps): SealedService {
  const log = deps.log.child({ service: 'sealed' })
  const now = deps.now ?? Date.now
  return {
    priceOf (token) {
      const parsed = parseToken(token)
      if (typeof parsed === 'string') return parsed
      const asset = deps.asset()
      const price = priceInAsset(parsed, asset)
      return price === undefined ? SealError.AssetMismatch : { price, assetCode: asset.code, assetScale: asset.scale }
    },
    async releaseKey (token, balanceId) {
      if (!BALANCE_ID.test(balanceId)) return SealError.InvalidBalanceId
      const parsed = parseToken(token)
      if (typeof parsed === 'string') return parsed
      const price = priceInAsset(parsed, deps.asset())
      if (price === undefined) return SealError.AssetMismatch
      const t = now()
      const result = await deps.store.spendForGrant({
        balanceId,
        grantKey: `seal:${createHash('sha256').update(token as string).digest('hex')}`,
        amount: price,
        now: t,
        expiresAt: t + deps.grantTtlMs
      })
      if (result.kind === 'unknown_balance') return { error: SealError.NoPayment, price }
      if (result.kind === 'insufficient') return { error: SealError.PaymentRequired, price, balance: result.balance }
      if (result.charged > 0n) log.info({ page: parsed.page, section: parsed.id, balance: balanceId, charged: result.charged.toString() }, 'sealed section bought')
      return {
        key: sectionKey(deps.sealKey, token as string).toString('base64'),
        expiresAt: result.expiresAt,
        charged: result.charged,
        price,
        balance: result.balance
      }
    }
  }
}
