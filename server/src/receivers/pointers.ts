// Payment pointers and receiver ids: the one place that says how a pointer or wallet address becomes
// the URL it is queried at, and which receiver (proxy id) its payments count for. The verifier
// registers proxies with these ids, the tracker and the sealing step name receivers with them, so a
// sealed page whose link is a creator's wallet address is paid to the same receiver the admin
// registered for that address (POST /proxies).
import { createHash } from 'node:crypto'

/**
 * The URL a payment pointer or wallet address is queried at: `$host/path` is https://host/path, a
 * bare `$host` its well-known SPSP endpoint (as receipt-verifier's resolvePointer), a URL itself.
 * Undefined for anything else (credentials, fragments, a query on a `$` pointer).
 */
export function resolvePaymentPointer (pointer: string): string | undefined {
  const text = pointer.trim()
  let url: URL
  try {
    url = new URL(text.startsWith('$') ? `https://${text.slice(1)}` : text)
  } catch {
    return undefined
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return undefined
  if (url.username || url.password || url.hash || !url.hostname) return undefined
  if (text.startsWith('$') && url.search) return undefined
  if (url.pathname === '/') url.pathname = '/.well-known/pay'
  return url.href
}

/** The receiver id (proxy id) of what a pointer resolves to: 32 hex digits, the same on every instance. */
export function receiverIdOfEndpoint (endpoint: string): string {
  return createHash('sha256').update(endpoint).digest('hex').slice(0, 32)
}

/** The receiver id a pointer's payments would count for once it is registered, or undefined when it is no pointer. */
export function receiverIdOfPointer (pointer: string): string | undefined {
  const endpoint = resolvePaymentPointer(pointer)
  return endpoint === undefined ? undefined : receiverIdOfEndpoint(endpoint)
}
