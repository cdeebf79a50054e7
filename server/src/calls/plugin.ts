import fp from 'fastify-plugin'
import { clientAddress } from '../client-address.ts'
import { createCallService, type CallService, type CallSettings } from './service.ts'
import { createCallSignalling, type CallSignalling } from './signalling.ts'

declare module 'fastify' {
  interface FastifyInstance {
    calls: CallService
    callSignalling: CallSignalling
  }
}

export default fp(async function callsPlugin (app, opts: { settings: Omit<CallSettings, 'connectMs'> & { connectMs?: number }, maxConnectionsPerAddress?: number, now?: () => number }) {
  const calls = createCallService({
    store: app.featureStores.calls(),
    grants: app.store,
    receivers: app.receivers,
    adminToken: app.secrets.adminToken,
    settings: { connectMs: 60_000, ...opts.settings },
    log: app.log,
    ...(opts.now ? { now: opts.now } : {})
  })
  const signalling = createCallSignalling({ calls, log: app.log, maxConnectionsPerAddress: opts.maxConnectionsPerAddress })
  app.decorate('calls', calls)
  app.decorate('callSignalling', signalling)
  app.onUpgrade('/calls/signal', (req, socket, head) => { signalling.upgrade(req, socket, head, clientAddress(req, app.config.trustProxy)) })
  // Before the HTTP server closes: upgraded connections never end by themselves.
  app.addHook('preClose', async () => { calls.close(); signalling.close() })
}, { name: 'calls', fastify: '5.x', dependencies: ['store', 'secrets', 'receivers'] })
