// Exact asset conversion, for every price the companion charges (torrents and sealed sections, through
// receivers/service.ts) and for pull payments. The original pull server multiplied by a float rate
// fetched from an exchange (`Math.floor(balanceAvailable * rate)` in ilp-spsp-pull-payment-server);
// here rates are rationals parsed from decimal text and every conversion is integer arithmetic on
// bigints, rounded in the favour of whoever is owed (the creator for prices, the sender for pulls).

export interface Asset { code: string, scale: number }

/** num / den, both positive. */
export interface Rational { num: bigint, den: bigint }

/** 1 unit of `from` is worth `rate` units of `to` (whole currency units, not scaled ones). */
export interface ExchangeRate { from: string, to: string, rate: Rational }

const ASSET_CODE = /^[A-Za-z0-9]{1,16}$/
const DECIMAL = /^(\d{1,30})(?:\.(\d{1,30}))?$/

function gcd (a: bigint, b: bigint): bigint {
  while (b !== 0n) [a, b] = [b, a % b]
  return a
}

export function rational (num: bigint, den: bigint): Rational {
  const g = gcd(num, den)
  return { num: num / g, den: den / g }
}

/** "0.92" -> 92/100 (reduced); undefined for anything but a positive plain decimal. */
export function parseDecimal (text: string): Rational | undefined {
  const m = DECIMAL.exec(text)
  if (!m) return undefined
  const fraction = m[2] ?? ''
  const num = BigInt(m[1]! + fraction)
  if (num === 0n) return undefined
  return rational(num, 10n ** BigInt(fraction.length))
}

/**
 * Parses TRICKLE_RATES (and the older TRICKLE_PULL_RATES): comma-separated `FROM:TO=rate`, e.g. `EUR:USD=1.08,XRP:USD=0.52`
 * (1 EUR = 1.08 USD). Each rate also serves the opposite direction. Throws with the bad entry.
 */
export function parseRates (text: string): ExchangeRate[] {
  const rates: ExchangeRate[] = []
  for (const entry of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^([^:=\s]+):([^:=\s]+)=(\S+)$/.exec(entry)
    if (!m || !ASSET_CODE.test(m[1]!) || !ASSET_CODE.test(m[2]!)) throw new Error(`expected FROM:TO=rate (e.g. EUR:USD=1.08), got "${entry}"`)
    const rate = parseDecimal(m[3]!)
    if (!rate) throw new Error(`the rate in "${entry}" must be a positive decimal number such as 1.08`)
    if (m[1] === m[2]) throw new Error(`"${entry}" converts an asset to itself`)
    rates.push({ from: m[1]!, to: m[2]!, rate })
  }
  return rates
}

/**
 * How many smallest units of `to` one smallest unit of `from` is worth, or undefined when no rate
 * is known. Same code: only the scales differ, no rate is needed.
 */
export function conversionFactor (from: Asset, to: Asset, rates: readonly ExchangeRate[]): Rational | undefined {
  let whole: Rational | undefined
  if (from.code === to.code) whole = { num: 1n, den: 1n }
  else {
    const direct = rates.find((r) => r.from === from.code && r.to === to.code)
    const inverse = rates.find((r) => r.from === to.code && r.to === from.code)
    if (direct) whole = direct.rate
    else if (inverse) whole = { num: inverse.rate.den, den: inverse.rate.num }
  }
  if (!whole) return undefined
  // One smallest unit of `from` is 10^-from.scale whole units.
  return rational(whole.num * 10n ** BigInt(to.scale), whole.den * 10n ** BigInt(from.scale))
}

export const floorTimes = (amount: bigint, r: Rational): bigint => (amount * r.num) / r.den
export const ceilTimes = (amount: bigint, r: Rational): bigint => (amount * r.num + r.den - 1n) / r.den
/** amount ÷ r, rounded up. */
export const ceilDivide = (amount: bigint, r: Rational): bigint => (amount * r.den + r.num - 1n) / r.num
