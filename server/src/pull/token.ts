// Offline pull pointers: a compact JWS (RFC 7515) carrying the agreement terms, signed with HS256 and
// nothing else. The algorithm is pinned on verification: the header must say HS256, so a token that
// claims `none` or an asymmetric algorithm is refused before any key is used (the classic JWT
// algorithm-confusion attacks). The original server used jsonwebtoken with a default secret of
// "test" (ilp-spsp-pull-payment-server's default); here the key is generated per companion and kept in its store.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto'

export const TokenProblem = {
  Malformed: 'malformed',
  BadAlgorithm: 'bad_algorithm',
  UnknownKey: 'unknown_key',
  BadSignature: 'bad_signature',
  Expired: 'expired',
  NotYetValid: 'not_yet_valid'
} as const
export type TokenProblem = typeof TokenProblem[keyof typeof TokenProblem]

const b64 = (data: string | Buffer) => Buffer.from(data).toString('base64url')

/** A short public name for a key, put in the header so "signed with another key" can be told apart from "altered". */
export function keyId (key: Buffer): string {
  return createHash('sha256').update(key).digest('base64url').slice(0, 12)
}

export function signToken (key: Buffer, claims: Record<string, unknown>): string {
  const input = `${b64(JSON.stringify({ alg: 'HS256', typ: 'JWT', kid: keyId(key) }))}.${b64(JSON.stringify(claims))}`
  return `${input}.${createHmac('sha256', key).update(input).digest('base64url')}`
}

const SEGMENT = /^[A-Za-z0-9_-]+$/

function decodeJson (segment: string): Record<string, unknown> | undefined {
  const raw = Buffer.from(segment, 'base64url')
  // Only the canonical encoding is accepted: otherwise one signed token would have several spellings,
  // and each spelling would register as a separate agreement.
  if (raw.toString('base64url') !== segment) return undefined
  try {
    const value: unknown = JSON.parse(raw.toString('utf8'))
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? value as Record<string, unknown> : undefined
  } catch {
    return undefined
  }
}

/** Verifies a compact JWS with the key; returns its claims or why it is refused. `now` in ms. */
export function verifyToken (key: Buffer, token: string, now: number): { claims: Record<string, unknown> } | TokenProblem {
  if (token.length > 4096) return TokenProblem.Malformed
  const parts = token.split('.')
  if (parts.length !== 3) return TokenProblem.Malformed
  const [headerText, payloadText, signatureText] = parts as [string, string, string]
  const header = SEGMENT.test(headerText) ? decodeJson(headerText) : undefined
  if (!header) return TokenProblem.Malformed
  // Pinned, before anything else is looked at: exactly HS256 (so `none`, with its empty signature,
  // and every other algorithm are refused as such), and no extensions we would have to understand
  // (RFC 7515 §4.1.11).
  if (header.alg !== 'HS256' || header.crit !== undefined) return TokenProblem.BadAlgorithm
  if (!SEGMENT.test(payloadText) || !SEGMENT.test(signatureText)) return TokenProblem.Malformed
  if (header.kid !== undefined && header.kid !== keyId(key)) return TokenProblem.UnknownKey
  const expected = createHmac('sha256', key).update(`${headerText}.${payloadText}`).digest()
  const signature = Buffer.from(signatureText, 'base64url')
  if (signature.toString('base64url') !== signatureText || signature.length !== expected.length || !timingSafeEqual(signature, expected)) {
    return TokenProblem.BadSignature
  }
  const claims = decodeJson(payloadText)
  if (!claims) return TokenProblem.Malformed
  if (claims.exp !== undefined) {
    if (typeof claims.exp !== 'number' || !Number.isFinite(claims.exp)) return TokenProblem.Malformed
    if (now >= claims.exp * 1000) return TokenProblem.Expired
  }
  if (claims.nbf !== undefined) {
    if (typeof claims.nbf !== 'number' || !Number.isFinite(claims.nbf)) return TokenProblem.Malformed
    if (now < claims.nbf * 1000) return TokenProblem.NotYetValid
  }
  return { claims }
}

/** The id an offline token registers under: its full (canonical) text hashed, so altering it gives another id. */
export function tokenAgreementId (token: string): string {
  return createHash('sha256').update(token).digest('base64url').slice(0, 32)
}

export function looksLikeToken (idOrToken: string): boolean {
  return idOrToken.includes('.')
}
