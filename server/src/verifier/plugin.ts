import fp from 'fastify-plugin'
import { createVerifierService, type VerifierService } from './service.ts'

declare module 'fastify' {
  interface FastifyInstance { verifier: VerifierService }
}

/** How often what was credited is logged at info, in one line. */
const CREDIT_SUMMARY_MS = 60_000

export default fp(async function verifierPlugin (app, opts: { publicUrl: string, ttlSeconds: number, now?: () => number }) {
  const verifier = createVerifierService({
    store: app.store,
    receiptKey: app.secrets.receiptKey,
    ttlMs: opts.ttlSeconds * 1000,
    publicUrl: opts.publicUrl,
    log: app.log,
    now: opts.now
  })
  app.decorate('verifier', verifier)
  const purgeMs = Math.min(opts.ttlSeconds * 1000, 60_000)
  const purge = setInterval(() => {
    // Once per deployment and interval: several companions on one database take turns, the first
    // whose timer fires runs it (a little less than the interval, for timers' drift).
    app.store.exclusive('nonce-purge', () => verifier.purgeExpired(), { everyMs: purgeMs * 0.9 }).then((n) => { if (n) app.log.debug({ nonces: n }, 'expired receipt nonces purged') },
      (err: unknown) => app.log.warn({ err }, 'could not purge expired nonces'))
  }, purgeMs)
  purge.unref()
  const summary = setInterval(() => { verifier.logCredits() }, CREDIT_SUMMARY_MS)
  summary.unref()
  app.addHook('onClose', async () => {
    clearInterval(purge)
    clearInterval(summary)
    verifier.logCredits()
  })
}, { name: 'verifier', fastify: '5.x', dependencies: ['store', 'secrets'] })
