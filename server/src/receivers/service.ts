// Receivers: who a payment reaches, and what their content costs in the units balances hold for them.
// Balances are kept per receiver (the proxy id behind a receipt's nonce, store/types.ts), so every
// feature that sells something (the tracker's licenses, sealed sections) asks this one module which
// receiver its content pays, in which asset, and what its price is in that asset's units.
//
// A receiver's asset is known only when the companion can vouch for it: its proxy forwards to one of
// this companion's own wallet accounts, however the URL spells this companion (localhost,
// 127.0.0.1, [::1] and the public URL are one server), or to an Open Payments wallet address, whose
// document states its asset (https, or http on loopback; the admin registered it). For an SPSP
// pointer elsewhere, receipts count what that wallet received in an asset nobody told us; taking a
// price as if it were in those units undercharges by orders of magnitude (a "1.00 USD" license cost
// 100 units of USD/9), so such a receiver sells nothing here.
import { convertScale } from '../torrent/license.ts'
import type { VerifierService } from '../verifier/service.ts'
import { I64_MAX } from '../verifier/service.ts'
import { receiverIdOfPointer } from '../../../packages/trickle-core/src/pointers.ts'
import { ceilTimes, conversionFactor, type ExchangeRate } from '../prices/rates.ts'

export interface Asset {
  assetCode: string
  assetScale: number
}

export interface PriceInput {
  /** Whole units at assetScale, decimal text */
  amount: string
  assetCode: string
  assetScale: number
}

export type PriceProblem =
  | { problem: 'unknown_receiver', detail: string }
  | { problem: 'unknown_asset', detail: string }
  | { problem: 'asset_mismatch', detail: string }
  | { problem: 'price_too_high', detail: string }
  | { problem: 'invalid_price', detail: string }

export interface ReceiverPrice {
  /** The proxy id the content's payments go to */
  receiver: string
  /** The price in the receiver's units: what a balance must hold for this receiver */
  amount: bigint
  asset: Asset
}

export interface ReceiverService {
  /** The proxy id of a proxy pointer of this companion (any spelling of its host), or undefined. */
  proxyIdOf (pointer: string): string | undefined
  /**
   * The receiver a pointer's payments count for: a proxy pointer's id, or for any other pointer or
   * wallet address the id its registration has (POST /proxies), so a page or license may name a
   * creator's Open Payments wallet address itself. Undefined when it is no pointer at all.
   */
  receiverOf (pointer: string): string | undefined
  /** The asset a receiver (proxy id) receives in, when this companion can vouch for it. */
  assetOf (receiver: string): Promise<Asset | PriceProblem>
  /**
   * A price converted into the receiver's units, rounded up (the creator's favour): another scale of
   * the same asset exactly, another asset by TRICKLE_RATES; or why it cannot be charged.
   */
  priceFor (receiver: string, price: PriceInput): Promise<ReceiverPrice | PriceProblem>
}

export interface ReceiverDeps {
  publicUrl: string
  verifier: Pick<VerifierService, 'getProxy'>
  /** This companion's wallet: the asset of an account, or undefined when there is no such account. */
  walletAsset (account: string): Promise<Asset | undefined>
  /** Exchange rates (TRICKLE_RATES) for prices in another asset than the receiver's */
  rates?: readonly ExchangeRate[]
  /** The asset of an Open Payments wallet address elsewhere (its GET with Accept: application/json), or undefined */
  walletAddressAsset? (url: string): Promise<Asset | undefined>
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]', '::1'])
const AMOUNT = /^(0|[1-9][0-9]{0,19})$/
const ASSET_CODE = /^[A-Za-z0-9]{1,12}$/

/** One origin, or two loopback spellings of one port: the same server. */
export function sameServer (a: URL, b: URL): boolean {
  if (a.protocol !== b.protocol) return false
  if (a.host === b.host) return true
  return a.port === b.port && LOOPBACK.has(a.hostname) && LOOPBACK.has(b.hostname)
}

/** Checks a price's fields as a balance can take them (whole amount, code, scale). */
export function checkPrice (price: PriceInput): PriceProblem | undefined {
  if (typeof price.amount !== 'string' || !AMOUNT.test(price.amount)) return { problem: 'invalid_price', detail: `amount "${String(price.amount)}" is not a whole number in decimal (it counts units at assetScale)` }
  if (typeof price.assetCode !== 'string' || !ASSET_CODE.test(price.assetCode)) return { problem: 'invalid_price', detail: `assetCode "${String(price.assetCode)}" is not 1-12 letters or digits` }
  if (!Number.isInteger(price.assetScale) || price.assetScale < 0 || price.assetScale > 255) return { problem: 'invalid_price', detail: `assetScale ${String(price.assetScale)} is not a whole number from 0 to 255` }
  return undefined
}

export function createReceiverService (deps: ReceiverDeps): ReceiverService {
  const base = new URL(deps.publicUrl)

  function proxyIdOf (pointer: string): string | undefined {
    let url: URL
    try { url = new URL(pointer.startsWith('$') ? `https://${pointer.slice(1)}` : pointer) } catch { return undefined }
    if (!sameServer(url, base)) return undefined
    const m = /^\/p\/([0-9a-f]{32})$/.exec(url.pathname)
    return m ? m[1] : undefined
  }

  async function assetOf (receiver: string): Promise<Asset | PriceProblem> {
    const proxy = await deps.verifier.getProxy(receiver)
    if (typeof proxy === 'string') return { problem: 'unknown_receiver', detail: `no proxy pointer ${receiver} is registered here` }
    let endpoint: URL
    try { endpoint = new URL(proxy.spspEndpoint) } catch { return { problem: 'unknown_asset', detail: `${proxy.spspEndpoint} is not a URL` } }
    const m = /^\/wallet\/([^/]+)$/.exec(endpoint.pathname)
    const local = sameServer(endpoint, base) && m
    const asset = local ? await deps.walletAsset(decodeURIComponent(m[1]!)) : await deps.walletAddressAsset?.(proxy.spspEndpoint)
    if (!asset) {
      return { problem: 'unknown_asset', detail: `the proxy pointer forwards to ${proxy.spspEndpoint}, neither a wallet account of this companion nor an Open Payments wallet address that states its asset, so the asset its payments count in is unknown here` }
    }
    return asset
  }

  return {
    proxyIdOf,
    receiverOf: (pointer) => proxyIdOf(pointer) ?? receiverIdOfPointer(pointer),
    assetOf,
    async priceFor (receiver, price) {
      const bad = checkPrice(price)
      if (bad) return bad
      const asset = await assetOf(receiver)
      if ('problem' in asset) return asset
      let amount: bigint
      if (asset.assetCode.toUpperCase() === price.assetCode.toUpperCase()) {
        amount = convertScale(BigInt(price.amount), price.assetScale, asset.assetScale)
      } else {
        // Refused here, when the content is registered or sealed, never when a reader pays.
        const factor = conversionFactor({ code: price.assetCode.toUpperCase(), scale: price.assetScale }, { code: asset.assetCode.toUpperCase(), scale: asset.assetScale }, deps.rates ?? [])
        if (!factor) return { problem: 'asset_mismatch', detail: `the price is in ${price.assetCode}, the receiver's wallet receives ${asset.assetCode}, and no rate between them is set (TRICKLE_RATES=${price.assetCode}:${asset.assetCode}=…)` }
        amount = ceilTimes(BigInt(price.amount), factor)
      }
      if (amount > I64_MAX) return { problem: 'price_too_high', detail: `${amount} units of ${asset.assetCode}/${asset.assetScale} is more than a balance can hold (2^63-1)` }
      return { receiver, amount, asset }
    }
  }
}
