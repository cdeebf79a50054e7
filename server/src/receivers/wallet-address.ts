// The asset of an Open Payments wallet address on another server, read from its document (GET with
// Accept: application/json: id, assetCode, assetScale, authServer, resourceServer). Only addresses an
// admin registered as receivers are asked, over https (http only on loopback, for development), with
// a timeout and a size limit; answers are kept five minutes, failures thirty seconds.
import type { Asset } from './service.ts'

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]'])
const MAX_BYTES = 64 * 1024

export function walletAddressAssets (opts: { now?: () => number, fetchImpl?: typeof fetch } = {}) {
  const now = opts.now ?? Date.now
  const fetchImpl = opts.fetchImpl ?? fetch
  const cache = new Map<string, { at: number, ttl: number, asset: Promise<Asset | undefined> }>()

  async function read (url: string): Promise<Asset | undefined> {
    let u: URL
    try { u = new URL(url) } catch { return undefined }
    if (u.protocol !== 'https:' && !(u.protocol === 'http:' && LOOPBACK.has(u.hostname))) return undefined
    const res = await fetchImpl(u, { headers: { accept: 'application/json' }, redirect: 'error', signal: AbortSignal.timeout(5000) }).catch(() => undefined)
    if (!res?.ok) return undefined
    const text = await res.text().catch(() => '')
    if (text.length > MAX_BYTES) return undefined
    let doc: Record<string, unknown>
    try { doc = JSON.parse(text) as Record<string, unknown> } catch { return undefined }
    if (typeof doc !== 'object' || doc === null || typeof doc.authServer !== 'string' || typeof doc.resourceServer !== 'string') return undefined
    if (typeof doc.assetCode !== 'string' || !/^[A-Za-z0-9]{1,12}$/.test(doc.assetCode)) return undefined
    if (typeof doc.assetScale !== 'number' || !Number.isInteger(doc.assetScale) || doc.assetScale < 0 || doc.assetScale > 255) return undefined
    return { assetCode: doc.assetCode, assetScale: doc.assetScale }
  }

  return function assetOf (url: string): Promise<Asset | undefined> {
    const hit = cache.get(url)
    if (hit && hit.at + hit.ttl > now()) return hit.asset
    const asset = read(url)
    const entry = { at: now(), ttl: 300_000, asset }
    cache.set(url, entry)
    void asset.then((a) => { if (!a) entry.ttl = 30_000 }, () => { entry.ttl = 30_000 })
    if (cache.size > 1000) cache.delete(cache.keys().next().value!)
    return asset
  }
}
