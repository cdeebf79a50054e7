import { randomBytes } from 'node:crypto'
import fp from 'fastify-plugin'
import type { ExchangeRate } from '../prices/rates.ts'
import { createPullService, type PullService } from './service.ts'
import { openSqlitePullStore } from './store.ts'

declare module 'fastify' {
  interface FastifyInstance { pull: PullService }
}

export interface PullPluginOptions {
  publicUrl: string
  /** HS256 key for offline tokens (TRICKLE_PULL_SIGNING_KEY); generated and kept in the store when unset. */
  signingKey?: Buffer
  rates: readonly ExchangeRate[]
  webhookBackoffMs: readonly number[]
  now?: () => number
}

export default fp(async function pullPlugin (app, opts: PullPluginOptions) {
  const key = async (name: string) => Buffer.from(await app.store.metaGetOrSet(name, randomBytes(32).toString('base64')), 'base64')
  const pull = await createPullService({
    store: app.featureStores.pull(),
    network: app.ilpNetwork,
    publicUrl: opts.publicUrl,
    secret: await key('pull_secret'),
    signingKey: opts.signingKey ?? await key('pull_signing_key'),
    rates: opts.rates,
    webhookBackoffMs: opts.webhookBackoffMs,
    log: app.log,
    now: opts.now
  })
  app.decorate('pull', pull)
  // Runs before ilp-network's and the store's onClose (hooks run in reverse order).
  app.addHook('onClose', async () => { await pull.close() })
}, { name: 'pull', fastify: '5.x', dependencies: ['store', 'secrets', 'ilp-network'] })
