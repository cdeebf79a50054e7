// The embedded wallet's Open Payments servers (service.ts) as a named plugin: its store on the
// companion's SQLite file, and the wallet's STREAM server recording incoming payments' money.
import fp from 'fastify-plugin'
import { createOpenPaymentsService, type OpenPaymentsService } from './service.ts'
import { createOpenPaymentsStore } from './store.ts'

declare module 'fastify' {
  interface FastifyInstance { openPayments: OpenPaymentsService }
}

export default fp(async function openPaymentsPlugin (app, opts: { publicUrl: string, now?: () => number }) {
  const service = createOpenPaymentsService({
    store: createOpenPaymentsStore(app.sqlite),
    wallet: app.wallet,
    publicUrl: opts.publicUrl,
    log: app.log,
    ...(opts.now ? { now: opts.now } : {})
  })
  app.wallet.receiveIncomingPayments({ receive: (uuid, amount) => service.receive(uuid, amount), room: (uuid) => service.room(uuid) })
  app.decorate('openPayments', service)
}, { name: 'open-payments', fastify: '5.x', dependencies: ['store', 'wallet'] })
