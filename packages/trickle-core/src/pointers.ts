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

/**
 * What a page's <link rel="monetization" href> holds for a pointer (Web Monetization wants a URL):
 * `$host/path` is https://host/path, `$host` and `$host/` are https://host/.well-known/pay, an http(s)
 * URL stays as written (trimmed). Undefined for anything else. The Hugo theme's pointer partial does
 * the same (theme/layouts/partials/trickle/pointer.html); the tests hold both to this table.
 */
export function pointerHref (pointer: string): string | undefined {
  const p = pointer.trim()
  if (p.startsWith('$')) {
    const rest = p.slice(1)
    if (rest === '' || /\s/.test(rest) || rest.startsWith('/')) return undefined
    const slash = rest.indexOf('/')
    return slash < 0 || slash === rest.length - 1 ? `https://${slash < 0 ? rest : rest.slice(0, -1)}/.well-known/pay` : `https://${rest}`
  }
  if (/^https?:\/\/[^\s/]/.test(p) && !/\s/.test(p)) return p
  return undefined
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
