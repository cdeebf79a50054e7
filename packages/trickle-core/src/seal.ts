// Sealed sections: each exclusive section is encrypted at build time (AES-256-GCM) under a key that only
// the companion (and the build of that one site) can derive. The page carries a token that names the
// site, the page, the section, its price and the receiver its readers pay (the proxy id of the page's
// monetization pointer); the token is MACed, so the companion spends only prices the build wrote
// (a token it did not issue is refused before any money moves), and the companion needs no
// per-section state.
//
//   sealKey    = HMAC-SHA256(sealSecret, "trickle-seal-v1")              (the companion's, never leaves it)
//   siteKey    = HMAC-SHA256(sealKey, "trickle-seal-site-v1\n" site)     (what a site's build gets: POST /sealed/sites)
//   payload    = base64url(JSON {v: 3, site, page, id, amount, assetCode, assetScale, receiver})
//   token      = payload "." base64url(HMAC-SHA256(siteKey, "trickle-seal-token-v3\n" payload))
//   sectionKey = HMAC-SHA256(siteKey, token)                             (32 bytes, AES-256-GCM)
//   ciphertext = AES-256-GCM(sectionKey, iv = 12 random bytes, aad = token, plaintext HTML)
//
// `site` is the site's base URL (origin and path, ending in "/"): two sites sealed with one companion
// never share a key, and a site's build holds its own key only, which opens nothing of another site's.
// The browser decrypts with WebCrypto (theme/assets/ts/sealed.ts), which expects the 16-byte tag
// appended to the ciphertext, as below.
import { createCipheriv, createDecipheriv, createHmac, randomBytes, timingSafeEqual } from 'node:crypto'

export interface SectionPrice {
  /** Whole units at assetScale, decimal text */
  amount: string
  assetCode: string
  assetScale: number
}

export interface SealToken extends SectionPrice {
  v: 3
  /** The site's base URL, normalised (siteOf): the site key is derived from it */
  site: string
  /** Site-relative path of the page, e.g. /posts/hello/ */
  page: string
  /** Section id within the page (data-trickle-exclusive) */
  id: string
  /** Proxy id of the receiver the page's readers pay (its monetization pointer, /p/{id}) */
  receiver: string
}

export class SealTokenError extends Error {
  /** 'invalid': not a token at all; 'not_issued': well-formed, but no build with this seal key wrote it */
  readonly kind: 'invalid' | 'not_issued'
  constructor (message: string, kind: 'invalid' | 'not_issued' = 'invalid') {
    super(message)
    this.name = 'SealTokenError'
    this.kind = kind
  }
}

const TOKEN_MAC = 'trickle-seal-token-v3\n'
const tokenMac = (siteKey: Uint8Array, payload: string) => createHmac('sha256', siteKey).update(TOKEN_MAC).update(payload).digest()

/** A site's base URL as tokens name it: http(s), no query or fragment, path ending in "/"; undefined if not one. */
export function siteOf (url: string): string | undefined {
  let u: URL
  try { u = new URL(url) } catch { return undefined }
  if ((u.protocol !== 'https:' && u.protocol !== 'http:') || u.username || u.password) return undefined
  return `${u.origin}${u.pathname.endsWith('/') ? u.pathname : `${u.pathname}/`}`
}

/** The key one site's build seals with (and the companion derives again from a token's site). */
export function siteSealKey (sealKey: Uint8Array, site: string): Buffer {
  return createHmac('sha256', sealKey).update('trickle-seal-site-v1\n').update(site).digest()
}

const AMOUNT = /^(0|[1-9]\d{0,19})$/
const U64_MAX = (1n << 64n) - 1n

export function sealKeyFrom (sealSecret: Uint8Array): Buffer {
  return createHmac('sha256', sealSecret).update('trickle-seal-v1').digest()
}

/** A token for a section, MACed with the site's key (the sealing step writes it into the page). */
export function encodeSealToken (siteKey: Uint8Array, t: Omit<SealToken, 'v'>): string {
  const payload = Buffer.from(JSON.stringify({ v: 3, site: t.site, page: t.page, id: t.id, amount: t.amount, assetCode: t.assetCode, assetScale: t.assetScale, receiver: t.receiver })).toString('base64url')
  return `${payload}.${tokenMac(siteKey, payload).toString('base64url')}`
}

/**
 * Parses and checks a token, and its MAC under the key of the site it names (derived from the
 * companion's seal key): a token that the sealing step of that site did not write (a price lowered,
 * another receiver or site, made up) throws SealTokenError of kind 'not_issued'.
 */
export function decodeSealToken (token: unknown, sealKey: Uint8Array): SealToken {
  if (typeof token !== 'string' || token.length === 0 || token.length > 2048 || !/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/.test(token)) {
    throw new SealTokenError('token must be base64url payload "." MAC, at most 2048 characters')
  }
  const dot = token.indexOf('.')
  const payload = token.slice(0, dot)
  let t: Record<string, unknown>
  try {
    t = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>
  } catch {
    throw new SealTokenError('token is not base64url JSON')
  }
  if (typeof t !== 'object' || t === null) throw new SealTokenError('token is not a JSON object')
  if (t.v !== 3) throw new SealTokenError('unsupported token version')
  if (typeof t.site !== 'string' || t.site.length > 512 || siteOf(t.site) !== t.site) throw new SealTokenError('token site must be a site\'s base URL (http(s), ending in "/")')
  // The MAC first: nothing else of an unissued token is worth reading.
  if (!timingSafeEqual(Buffer.from(token.slice(dot + 1), 'base64url'), tokenMac(siteSealKey(sealKey, t.site), payload))) {
    throw new SealTokenError('token was not issued by the sealing step of its site with this companion\'s key', 'not_issued')
  }
  if (typeof t.page !== 'string' || !t.page.startsWith('/') || t.page.length > 1024) throw new SealTokenError('token page must be a site-relative path')
  if (typeof t.id !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(t.id)) throw new SealTokenError('token id must be 1-64 letters, digits, "-" or "_"')
  if (typeof t.amount !== 'string' || !AMOUNT.test(t.amount) || BigInt(t.amount) > U64_MAX) throw new SealTokenError('token amount must be a whole number in decimal, at most 2^64-1')
  if (typeof t.assetCode !== 'string' || !/^[A-Za-z0-9]{1,12}$/.test(t.assetCode)) throw new SealTokenError('token assetCode must be 1-12 letters or digits')
  if (typeof t.assetScale !== 'number' || !Number.isInteger(t.assetScale) || t.assetScale < 0 || t.assetScale > 255) throw new SealTokenError('token assetScale must be an integer from 0 to 255')
  if (typeof t.receiver !== 'string' || !/^[0-9a-f]{32}$/.test(t.receiver)) throw new SealTokenError('token receiver must be a proxy id (32 hex digits)')
  return { v: 3, site: t.site, page: t.page, id: t.id, amount: t.amount, assetCode: t.assetCode, assetScale: t.assetScale, receiver: t.receiver }
}

/** A section's key, from its site's key. */
export function sectionKey (siteKey: Uint8Array, token: string): Buffer {
  return createHmac('sha256', siteKey).update(token).digest()
}

export interface Sealed {
  /** base64 of ciphertext || 16-byte GCM tag */
  ciphertext: string
  /** base64 of the 12-byte IV */
  iv: string
}

export function sealSection (siteKey: Uint8Array, token: string, plaintext: string): Sealed {
  const iv = randomBytes(12)
  const cipher = createCipheriv('aes-256-gcm', sectionKey(siteKey, token), iv)
  cipher.setAAD(Buffer.from(token))
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()])
  return { ciphertext: body.toString('base64'), iv: iv.toString('base64') }
}

/** The inverse, for tests and tools; browsers use WebCrypto. */
export function openSection (key: Uint8Array, token: string, sealed: Sealed): string {
  const body = Buffer.from(sealed.ciphertext, 'base64')
  const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(sealed.iv, 'base64'))
  decipher.setAAD(Buffer.from(token))
  decipher.setAuthTag(body.subarray(body.length - 16))
  return Buffer.concat([decipher.update(body.subarray(0, body.length - 16)), decipher.final()]).toString('utf8')
}
