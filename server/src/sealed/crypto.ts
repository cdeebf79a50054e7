// Sealed sections: each exclusive section is encrypted at build time (AES-256-GCM) under a key that only
// the companion (and the build, which shares its seal secret) can derive. The page carries a token
// that names the section and its price; the key is HMAC(sealKey, token), so a token whose price was
// lowered derives another key and decrypts nothing, and the companion needs no per-section state.
//
//   sealKey    = HMAC-SHA256(sealSecret, "trickle-seal-v1")
//   token      = base64url(JSON {v: 1, page, id, amount, assetCode, assetScale})
//   sectionKey = HMAC-SHA256(sealKey, token)            (32 bytes, AES-256-GCM)
//   ciphertext = AES-256-GCM(sectionKey, iv = 12 random bytes, aad = token, plaintext HTML)
//
// The browser decrypts with WebCrypto (theme/assets/ts/sealed.ts), which expects the 16-byte tag
// appended to the ciphertext, as below.
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto'

export interface SectionPrice {
  /** Whole units at assetScale, decimal text */
  amount: string
  assetCode: string
  assetScale: number
}

export interface SealToken extends SectionPrice {
  v: 1
  /** Site-relative path of the page, e.g. /posts/hello/ */
  page: string
  /** Section id within the page (data-trickle-exclusive) */
  id: string
}

export class SealTokenError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'SealTokenError'
  }
}

const AMOUNT = /^(0|[1-9]\d{0,19})$/
const U64_MAX = (1n << 64n) - 1n

export function sealKeyFrom (sealSecret: Uint8Array): Buffer {
  return createHmac('sha256', sealSecret).update('trickle-seal-v1').digest()
}

export function encodeSealToken (t: Omit<SealToken, 'v'>): string {
  return Buffer.from(JSON.stringify({ v: 1, page: t.page, id: t.id, amount: t.amount, assetCode: t.assetCode, assetScale: t.assetScale })).toString('base64url')
}

/** Parses and checks a token; throws SealTokenError saying what is wrong. */
export function decodeSealToken (token: unknown): SealToken {
  if (typeof token !== 'string' || token.length === 0 || token.length > 2048 || !/^[A-Za-z0-9_-]+$/.test(token)) {
    throw new SealTokenError('token must be base64url text of at most 2048 characters')
  }
  let t: Record<string, unknown>
  try {
    t = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as Record<string, unknown>
  } catch {
    throw new SealTokenError('token is not base64url JSON')
  }
  if (t.v !== 1) throw new SealTokenError('unsupported token version')
  if (typeof t.page !== 'string' || !t.page.startsWith('/') || t.page.length > 1024) throw new SealTokenError('token page must be a site-relative path')
  if (typeof t.id !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(t.id)) throw new SealTokenError('token id must be 1-64 letters, digits, "-" or "_"')
  if (typeof t.amount !== 'string' || !AMOUNT.test(t.amount) || BigInt(t.amount) > U64_MAX) throw new SealTokenError('token amount must be a whole number in decimal, at most 2^64-1')
  if (typeof t.assetCode !== 'string' || !/^[A-Za-z0-9]{1,12}$/.test(t.assetCode)) throw new SealTokenError('token assetCode must be 1-12 letters or digits')
  if (typeof t.assetScale !== 'number' || !Number.isInteger(t.assetScale) || t.assetScale < 0 || t.assetScale > 255) throw new SealTokenError('token assetScale must be an integer from 0 to 255')
  return { v: 1, page: t.page, id: t.id, amount: t.amount, assetCode: t.assetCode, assetScale: t.assetScale }
}

export function sectionKey (sealKey: Uint8Array, token: string): Buffer {
  return createHmac('sha256', sealKey).update(token).digest()
}

export interface Sealed {
  /** base64 of ciphertext || 16-byte GCM tag */
  ciphertext: string
  /** base64 of the 12-byte IV */
  iv: string
}

export function sealSection (sealKey: Uint8Array, token: string, plaintext: string): Sealed {
  const iv = randomBytes(12)
  const cipher = createCipheriv('aes-256-gcm', sectionKey(sealKey, token), iv)
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
