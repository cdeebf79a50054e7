// HTTP message signatures on Open Payments requests (RFC 9421, as the Open Payments SDK makes them:
// label sig1, Ed25519, components @method @target-uri [authorization] [content-digest content-length
// content-type], params keyid and created). @interledger/http-signature-utils rebuilds the signature
// base and checks the content digest; here we add what it leaves out: the key id must be the key's,
// and `created` must be recent, so a captured request cannot be replayed later.
// https://openpayments.dev/identity/http-signatures/
import { validateSignature, validateSignatureHeaders } from '@interledger/http-signature-utils'

/** How far `created` may be from our clock, either way. */
export const MAX_SIGNATURE_AGE_S = 300

export interface SignedRequest {
  method: string
  /** The URL as the client addressed it (the public URL of this server) */
  url: string
  headers: Record<string, string | undefined>
  /** The body as received, for the content digest */
  body?: string
}

export type Jwk = Record<string, unknown> & { kid?: string }

/** The keyid of a request's Signature-Input, or undefined when it has none (or no signature at all). */
export function signatureKeyId (headers: Record<string, string | undefined>): string | undefined {
  const input = headers['signature-input']
  if (typeof input !== 'string' || input.length > 2048) return undefined
  return /;keyid="([^"]{1,256})"/.exec(input)?.[1]
}

function created (headers: Record<string, string | undefined>): number | undefined {
  const m = /;created=([0-9]{1,12})(?:;|$)/.exec(headers['signature-input'] ?? '')
  return m ? Number(m[1]) : undefined
}

/** Whether `request` is signed by one of `keys` (the one its keyid names), recently. */
export async function verifySignature (request: SignedRequest, keys: Jwk[], now: number): Promise<boolean> {
  const headers: Record<string, string> = {}
  for (const [k, v] of Object.entries(request.headers)) if (typeof v === 'string') headers[k.toLowerCase()] = v
  if (typeof headers.signature !== 'string' || headers.signature.length > 1024) return false
  const keyId = signatureKeyId(headers)
  const key = keys.find((k) => k.kid === keyId && k.kty === 'OKP' && k.crv === 'Ed25519')
  if (!key) return false
  const at = created(headers)
  if (at === undefined || Math.abs(at - now / 1000) > MAX_SIGNATURE_AGE_S) return false
  // A body counts only if the signature covers its digest: @interledger/http-signature-utils checks
  // the digest only when `content-digest` is a signed component.
  const components = /^sig1=\(([^)]*)\)/.exec(headers['signature-input'] ?? '')?.[1]?.split(' ').map((c) => c.replace(/"/g, '')) ?? []
  if (request.body !== undefined && request.body !== '' && !['content-digest', 'content-length', 'content-type'].every((c) => components.includes(c))) return false
  const like = { method: request.method, url: request.url, headers, ...(request.body !== undefined && request.body !== '' ? { body: request.body } : {}) }
  try {
    if (!validateSignatureHeaders(like)) return false
    return await validateSignature(key as never, like)
  } catch {
    return false
  }
}
