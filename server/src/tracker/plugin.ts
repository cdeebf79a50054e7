import fp from 'fastify-plugin'
import { openSqliteTrackerStore } from './store.ts'
import { createTrackerService, type TrackerService } from './service.ts'
import type { TrackerLimits } from './protocol.ts'

declare module 'fastify' {
  interface FastifyInstance { tracker: TrackerService }
}

export interface TrackerPluginOptions {
  publicUrl: string
  /** Serve infohashes nobody registered (free torrents), as a public tracker does. */
  open: boolean
  intervalMs?: number
  /** How long a bought download lasts (new tickets free until then). */
  grantTtlSeconds?: number
  ticketTtlSeconds?: number
  maxPeersPerGrant?: number
  /** Clock for ticket and grant lifetimes; tests move it instead of sleeping. */
  now?: () => number
  limits?: Partial<TrackerLimits>
}

export default fp(async function trackerPlugin (app, opts: TrackerPluginOptions) {
  const publicUrl = opts.publicUrl.replace(/\/+$/, '')
  const tracker = await createTrackerService({
    store: app.featureStores.tracker(),
    receivers: app.receivers,
    grants: app.store,
    publicUrl,
    adminToken: app.secrets.adminToken,
    open: opts.open,
    log: app.log,
    ...(app.bus ? { bus: app.bus } : {}),
    intervalMs: opts.intervalMs,
    ...(opts.now ? { now: opts.now } : {}),
    ...(opts.grantTtlSeconds !== undefined ? { grantTtlMs: opts.grantTtlSeconds * 1000 } : {}),
    ...(opts.ticketTtlSeconds !== undefined ? { ticketTtlMs: opts.ticketTtlSeconds * 1000 } : {}),
    ...(opts.maxPeersPerGrant !== undefined ? { maxPeersPerGrant: opts.maxPeersPerGrant } : {}),
    ...(opts.limits ? { limits: opts.limits } : {})
  })
  app.decorate('tracker', tracker)
  app.addHook('onClose', async () => { tracker.close() })
}, { name: 'tracker', fastify: '5.x', dependencies: ['store', 'secrets', 'receivers', 'bus'] })
