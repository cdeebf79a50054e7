// The embedded wallet's Open Payments servers (service.ts) as a named plugin: its store on the
// companion's SQLite file, and the wallet's STREAM server recording incoming payments' money.
import fp from 'fastify-plugin'
import { createOpenPaymentsService, type OpenPaymentsService } from './service.ts'
import { createOpenPaymentsStore } from './store.ts'

declare module 'fastify' {
  interface FastifyInstance { openPayments: OpenPaymentsService }
}

export default fp(async function openPaymentsPlugin (app, opts: { publicUrl: string, now?: () => number }) {
  const store = app.featureStores.openPayments()
  const service = createOpenPaymentsService({
    store,
    wallet: app.wallet,
    publicUrl: opts.publicUrl,
    log: app.log,
    ...(opts.now ? { now: opts.now } : {})
  })
  app.wallet.receiveIncomingPayments({ receive: (uuid, amount) => service.receive(uuid, amount), room: (uuid) => service.room(uuid) })
  app.decorate('openPayments', service)
  // Grants and incoming payments cost nothing to make (non-interactive): what can no longer be used is
  // forgotten hourly, so the tables do not grow for ever.
  const now = opts.now ?? Date.now
  const purge = setInterval(() => {
    // Once per deployment and hour, whichever instance's timer fires first.
    void app.store.exclusive('open-payments-purge', () => store.purge(now(), { grantTtlMs: 30 * 24 * 3600_000, paymentRetentionMs: 30 * 24 * 3600_000 }), { everyMs: 0.9 * 3600_000 })
      .then((n) => { if (n && n.tokens + n.grants + n.payments > 0) app.log.info({ service: 'open-payments', ...n }, 'expired Open Payments state forgotten') })
      .catch((err: unknown) => app.log.error({ err }, 'could not purge Open Payments state'))
  }, 3600_000).unref()
  app.addHook('onClose', async () => { clearInterval(purge) })
}, { name: 'open-payments', fastify: '5.x', dependencies: ['store', 'wallet'] })
