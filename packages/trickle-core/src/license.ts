// Licenses, prices and their checks: what a paid torrent's info dictionary, its magnet and its
// registration say about who is paid how much, checked the same way by the companion, the CLI, the
// browser and the unified plugins. Isomorphic (no node: imports) and free of dependencies; the
// torrent files themselves (bencode, hashing) are the companion's (server/src/torrent/license.ts).
//
// Amounts are decimal strings of whole units and bigint in arithmetic, never floats.

export interface License {
  /** Pointer readers pay: a proxy pointer at `verifier`, so the receipts it yields are verifiable there. */
  paymentPointer: string
  /** Base URL of the STREAM receipt verifier (the companion), e.g. https://pay.example.com */
  verifier: string
  /** Price in whole units of assetCode at assetScale, as decimal text ("100" at scale 2 is 1.00) */
  amount: string
  assetCode: string
  /** 0 to 255 */
  assetScale: number
  /**
   * base64url of the Ed25519 key that signs proofs of payment for this torrent (the companion's,
   * GET /torrents/proof-key): peers admit only who presents a proof it signed (theme/assets/ts/proof).
   */
  proofKey: string
}

export interface Price {
  amount: string
  assetCode: string
  assetScale: number
}

/** Every malformed torrent, license, price or magnet is refused with one of these; `message` says why. */
export class TorrentError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'TorrentError'
  }
}

export const LICENSE_FIELDS = ['paymentPointer', 'verifier', 'amount', 'assetCode', 'assetScale', 'proofKey'] as const
export const U64_MAX = (1n << 64n) - 1n
const MAX_URL = 2048
const ASSET_CODE = /^[A-Za-z0-9]{1,16}$/
const AMOUNT = /^[0-9]+$/

export const describe = (v: unknown) => v === null ? 'null' : Array.isArray(v) ? 'a list' : v instanceof Uint8Array ? 'bytes' : typeof v === 'string' ? `"${v.length > 40 ? v.slice(0, 40) + '…' : v}"` : typeof v === 'object' ? 'an object' : `${typeof v} ${String(v)}`

/** Checks a whole-unit amount given as decimal text: "100" yes; 100, "1.5", "-1", "0", "1e3" no. */
export function checkAmount (value: unknown, where: string): string {
  if (typeof value === 'number' || typeof value === 'bigint') {
    throw new TorrentError(`${where} must be a decimal string such as "100", not a number (numbers lose precision)`)
  }
  if (typeof value !== 'string') throw new TorrentError(`${where} must be a decimal string such as "100", got ${describe(value)}`)
  if (!AMOUNT.test(value)) {
    throw new TorrentError(`${where} must be a whole number of the smallest unit in decimal digits (e.g. "150" at scale 2 for 1.50), got ${describe(value)}`)
  }
  if (value.length > 1 && value.startsWith('0')) throw new TorrentError(`${where} must not have leading zeros, got ${describe(value)}`)
  const n = BigInt(value)
  if (n === 0n) throw new TorrentError(`${where} must be at least 1 (a free file has no license)`)
  if (n > U64_MAX) throw new TorrentError(`${where} must be at most 2^64-1, got ${describe(value)}`)
  return value
}

export function checkAssetScale (value: unknown, where: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 255) {
    throw new TorrentError(`${where} must be an integer from 0 to 255, got ${describe(value)}`)
  }
  return value
}

export function checkAssetCode (value: unknown, where: string): string {
  if (typeof value !== 'string' || !ASSET_CODE.test(value)) {
    throw new TorrentError(`${where} must be 1-16 letters or digits (e.g. "USD"), got ${describe(value)}`)
  }
  return value
}

function checkHttpUrl (value: string, where: string, what: string): URL {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw new TorrentError(`${where} must be ${what}, got ${describe(value)}`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TorrentError(`${where} must be ${what} (http or https), got ${describe(value)}`)
  if (url.username || url.password || url.hash) throw new TorrentError(`${where} must not contain credentials or a fragment`)
  return url
}

/** A payment pointer (`$wallet.example/alice`) or the http(s) URL of an SPSP endpoint. */
export function checkPaymentPointer (value: unknown, where: string): string {
  if (typeof value !== 'string' || value.length === 0) throw new TorrentError(`${where} must be a payment pointer ($host/path) or an http(s) URL, got ${describe(value)}`)
  if (value.length > MAX_URL) throw new TorrentError(`${where} is longer than ${MAX_URL} characters`)
  const url = checkHttpUrl(value.startsWith('$') ? `https://${value.slice(1)}` : value, where, 'a payment pointer ($host/path) or an http(s) URL')
  if (value.startsWith('$') && url.search) throw new TorrentError(`${where}: a payment pointer has no query string`)
  return value
}

/** The verifier's base URL: http(s), no credentials, query or fragment. */
export function checkVerifierUrl (value: unknown, where: string): string {
  if (typeof value !== 'string' || value.length === 0) throw new TorrentError(`${where} must be the verifier's http(s) base URL, got ${describe(value)}`)
  if (value.length > MAX_URL) throw new TorrentError(`${where} is longer than ${MAX_URL} characters`)
  const url = checkHttpUrl(value, where, "the verifier's http(s) base URL")
  if (url.search) throw new TorrentError(`${where} must be a base URL without a query string`)
  return value
}

/** An Ed25519 public key in base64url: 43 characters, the last one's two spare bits zero. */
export function checkProofKey (value: unknown, where: string): string {
  if (typeof value !== 'string' || !/^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/.test(value)) {
    throw new TorrentError(`${where} must be an Ed25519 public key in base64url (43 characters, the companion's GET /torrents/proof-key), got ${describe(value)}`)
  }
  return value
}

/** Validates a license given as a plain object (JSON, a form, a magnet): every field, by name. */
export function checkLicense (value: unknown, where = 'license'): License {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) {
    throw new TorrentError(`${where} must be a dictionary with ${LICENSE_FIELDS.join(', ')}; got ${describe(value)}`)
  }
  const record = value as Record<string, unknown>
  for (const key of Object.keys(record)) {
    if (!(LICENSE_FIELDS as readonly string[]).includes(key)) throw new TorrentError(`${where}.${key} is not a license field (expected ${LICENSE_FIELDS.join(', ')})`)
  }
  for (const key of LICENSE_FIELDS) {
    if (record[key] === undefined) throw new TorrentError(`${where}.${key} is missing`)
  }
  return {
    paymentPointer: checkPaymentPointer(record.paymentPointer, `${where}.paymentPointer`),
    verifier: checkVerifierUrl(record.verifier, `${where}.verifier`),
    amount: checkAmount(record.amount, `${where}.amount`),
    assetCode: checkAssetCode(record.assetCode, `${where}.assetCode`),
    assetScale: checkAssetScale(record.assetScale, `${where}.assetScale`),
    proofKey: checkProofKey(record.proofKey, `${where}.proofKey`)
  }
}

// ---------------------------------------------------------------------------------------------------
// Prices

/** "100 USD/2" (1.00 USD), as settings and the CLI write prices. */
export function parsePrice (text: string, where = 'price'): Price {
  const m = /^\s*(\S+)\s+(\S+)\/(\S+)\s*$/.exec(text)
  if (!m) throw new TorrentError(`${where} must look like "100 USD/2" (amount, asset code, "/", asset scale), got "${text}"`)
  const scale = /^[0-9]{1,3}$/.test(m[3]!) ? Number(m[3]) : NaN
  return {
    amount: checkAmount(m[1], `${where} amount`),
    assetCode: checkAssetCode(m[2], `${where} asset code`),
    assetScale: checkAssetScale(Number.isNaN(scale) ? m[3] : scale, `${where} asset scale`)
  }
}

/** Decimal display of a price: {amount "150", scale 2, USD} -> "1.50 USD". Exact (bigint), no float. */
export function formatPrice (price: Price): string {
  const digits = price.amount.padStart(price.assetScale + 1, '0')
  const whole = digits.slice(0, digits.length - price.assetScale)
  const fraction = price.assetScale > 0 ? '.' + digits.slice(digits.length - price.assetScale) : ''
  return `${whole}${fraction} ${price.assetCode}`
}

/**
 * The same amount at another scale. Going to a coarser scale rounds UP, so a converted price never
 * comes out below what the license says.
 */
export function convertScale (amount: bigint, fromScale: number, toScale: number): bigint {
  if (toScale >= fromScale) return amount * 10n ** BigInt(toScale - fromScale)
  const divisor = 10n ** BigInt(fromScale - toScale)
  return (amount + divisor - 1n) / divisor
}

export interface TorrentFile {
  path: string
  length: number
}

export interface ParsedTorrent {
  /** SHA-1 of the bencoded info dictionary, lowercase hex */
  infoHash: string
  name: string
  /** Total length in bytes */
  length: number
  pieceLength: number
  pieceCount: number
  private: boolean
  /** Every tracker URL (announce, then announce-list), without duplicates */
  announce: string[]
  files: TorrentFile[]
  license?: License
}

/** Tracker URLs: ws(s) for the WebTorrent (WebRTC) tracker, http(s) for the classic one. */
export function checkTrackerUrl (value: unknown, where: string): string {
  if (typeof value !== 'string') throw new TorrentError(`${where} must be a tracker URL, got ${describe(value)}`)
  let url: URL
  try { url = new URL(value) } catch { throw new TorrentError(`${where} must be a tracker URL (ws, wss, http or https), got ${describe(value)}`) }
  if (!['ws:', 'wss:', 'http:', 'https:'].includes(url.protocol)) throw new TorrentError(`${where} must be a ws, wss, http or https tracker URL, got ${describe(value)}`)
  return value
}
