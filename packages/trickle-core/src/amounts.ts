// Amounts arrive as whole numbers of an asset's smallest unit (decimal strings) with a scale. They are
// added as bigint and formatted from a decimal string, never through floating point.

/** "1234", 3 -> "1.234" */
export function toDecimal (amount: bigint, scale: number): string {
  const negative = amount < 0n
  const digits = (negative ? -amount : amount).toString()
  if (scale <= 0) return (negative ? '-' : '') + digits
  const padded = digits.padStart(scale + 1, '0')
  const fraction = padded.slice(-scale).replace(/0+$/, '')
  return (negative ? '-' : '') + padded.slice(0, -scale) + (fraction ? `.${fraction}` : '')
}

/**
 * Readable amount in the reader's locale: "$0.0042" for USD, "0.5 XRP" for codes that are not ISO
 * currencies. Intl.NumberFormat formats decimal strings exactly (ECMA-402 NumberFormat v3).
 */
export function formatAmount (amount: bigint, assetCode: string, assetScale: number, locale?: string): string {
  const value = toDecimal(amount, assetScale)
  const digits = Math.min(Math.max(assetScale, 0), 20)
  try {
    return new Intl.NumberFormat(locale, { style: 'currency', currency: assetCode, maximumFractionDigits: digits })
      .format(value as unknown as number)
  } catch {
    const number = new Intl.NumberFormat(locale, { maximumFractionDigits: digits }).format(value as unknown as number)
    return `${number} ${assetCode}`
  }
}
