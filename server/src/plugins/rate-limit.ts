// Request rate limits on the HTTP API (@fastify/rate-limit, in memory, per IP address; an IPv6 client
// is counted by its /56, as one household or VM gets one). One limit for every route, and two more
// for the SPSP query of a proxy pointer, which asks the receiver over the network and writes a
// receipt nonce on each call: per address and proxy, and per proxy from everyone.
//
// Announce and scrape are answered before Fastify (app.rawGet) and are bounded by the tracker's own
// limits (connections, swarms, messages per connection) instead.
import type { FastifyInstance, FastifyRequest, onRequestAsyncHookHandler } from 'fastify'
import fp from 'fastify-plugin'
import rateLimit from '@fastify/rate-limit'

declare module 'fastify' {
  interface FastifyInstance {
    /** onRequest hooks for `GET /p/{id}` (empty when both SPSP limits are off). */
    spspRateLimits: onRequestAsyncHookHandler[]
  }
}

export interface RateLimitPluginOptions {
  /** Requests per minute per address on every route; 0: off. */
  perMinute: number
  spspPerAddress: number
  spspPerProxy: number
}

const WINDOW_MS = 60_000

export default fp(async function rateLimitPlugin (app: FastifyInstance, opts: RateLimitPluginOptions) {
  // A limit that bites is logged once, then at most once a minute with how often it bit meanwhile.
  const bitten = new Map<string, { at: number, count: number }>()
  const exceeded = (limit: string) => (req: FastifyRequest) => {
    const t = Date.now()
    const b = bitten.get(limit)
    if (b && t - b.at < WINDOW_MS) { b.count++; return }
    app.log.warn({ limit, address: req.ip, url: req.url.split('?')[0], ...(b && b.count > 0 ? { timesSinceLastLine: b.count } : {}) }, `rate limit reached: ${limit}`)
    bitten.set(limit, { at: t, count: 0 })
  }
  // Thrown to Fastify's error handler (app.ts), which answers in the one error shape.
  const tooMany = (what: string) => (_req: FastifyRequest, ctx: { after: string, max: number }) =>
    Object.assign(new Error(`Too many requests: at most ${ctx.max} ${what} a minute; try again in ${ctx.after}.`), { statusCode: 429, code: 'rate_limited' })

  await app.register(rateLimit, {
    global: opts.perMinute > 0,
    max: opts.perMinute,
    timeWindow: WINDOW_MS,
    // The API docs are static pages and their assets; /health is what monitors poll.
    allowList: (req) => req.url.startsWith('/docs') || req.url === '/health',
    errorResponseBuilder: tooMany('requests from one address'),
    onExceeded: exceeded('TRICKLE_RATE_LIMIT')
  })

  // Each its own counter: the plugin's route hooks run one limiter per request at most (the global
  // one would hide these), so these are checked with createRateLimit, one after the other.
  const proxyId = (req: FastifyRequest) => String((req.params as { id?: unknown }).id)
  const hooks: onRequestAsyncHookHandler[] = []
  const limit = (setting: string, max: number, what: string, key: (req: FastifyRequest) => string) => {
    if (max <= 0) return
    const check = app.createRateLimit({ max, timeWindow: WINDOW_MS, keyGenerator: key })
    const onExceeded = exceeded(setting)
    const build = tooMany(what)
    hooks.push(async (req, reply) => {
      const r = await check(req)
      if (r.isAllowed || !r.isExceeded) return
      onExceeded(req)
      reply.header('retry-after', r.ttlInSeconds)
      throw build(req, { max: r.max, after: `${r.ttlInSeconds} s` })
    })
  }
  limit('TRICKLE_SPSP_RATE_LIMIT_PER_ADDRESS', opts.spspPerAddress, 'SPSP queries from one address to one payment pointer', (req) => `spsp-address|${req.ip}|${proxyId(req)}`)
  limit('TRICKLE_SPSP_RATE_LIMIT_PER_PROXY', opts.spspPerProxy, 'SPSP queries to this payment pointer', (req) => `spsp-proxy|${proxyId(req)}`)
  app.decorate('spspRateLimits', hooks)
}, { name: 'rate-limit', fastify: '5.x' })
