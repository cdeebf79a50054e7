import type { IncomingMessage } from 'node:http'

/**
 * The client's IP address as per-address limits count it: the socket's, or behind a trusted reverse
 * proxy (TRICKLE_TRUST_PROXY) the last address the proxy appended to X-Forwarded-For (every
 * connection then comes from the proxy; earlier entries are the client's own word).
 */
export function clientAddress (req: IncomingMessage, trustProxy: boolean): string {
  const forwarded = trustProxy ? req.headers['x-forwarded-for'] : undefined
  const last = typeof forwarded === 'string' ? forwarded.split(',').at(-1)!.trim() : ''
  return (last || (req.socket.remoteAddress ?? '')).replace(/^::ffff:/, '')
}
