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
  limits?: Partial<TrackerLimits>
}

export default fp(async function trackerPlugin (app, opts: TrackerPluginOptions) {
  const publicUrl = opts.publicUrl.replace(/\/+$/, '')
  const walletPrefix = `${publicUrl}/wallet/`
  const tracker = await createTrackerService({
    store: openSqliteTrackerStore(app.sqlite),
    verifier: app.verifier,
    grants: app.store,
    // The companion's own wallet receives in the network's asset; for outside receivers we cannot know.
    async receiverAsset (spspEndpoint) {
      if (!spspEndpoint.startsWith(walletPrefix)) return undefined
      const account = await app.wallet.getAccount(decodeURIComponent(spspEndpoint.slice(walletPrefix.length)))
      return typeof account === 'string' ? undefined : { assetCode: account.assetCode, assetScale: account.assetScale }
    },
    publicUrl,
    adminToken: app.secrets.adminToken,
    open: opts.open,
    log: app.log,
    intervalMs: opts.intervalMs,
    ...(opts.limits ? { limits: opts.limits } : {})
  })
  app.decorate('tracker', tracker)
  app.addHook('onClose', async () => { tracker.close() })
}, { name: 'tracker', fastify: '5.x', dependencies: ['store', 'secrets', 'verifier', 'wallet'] })
