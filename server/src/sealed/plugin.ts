import { randomBytes } from 'node:crypto'
import fp from 'fastify-plugin'
import { sealKeyFrom } from '../../../packages/trickle-core/src/seal.ts'
import { createSealedService, type SealedService } from './service.ts'

declare module 'fastify' {
  interface FastifyInstance {
    sealed: SealedService
    /** HMAC(sealSecret, "trickle-seal-v1"): the build's sealing step needs the same (see crypto.ts) */
    sealKey: Buffer
  }
}

export default fp(async function sealedPlugin (app, opts: { sealSecret?: Buffer, grantTtlSeconds: number, now?: () => number }) {
  const secret = opts.sealSecret ?? Buffer.from(await app.store.metaGetOrSet('seal_secret', randomBytes(32).toString('base64')), 'base64')
  const sealKey = sealKeyFrom(secret)
  app.decorate('sealKey', sealKey)
  app.decorate('sealed', createSealedService({
    store: app.store,
    sealKey,
    receivers: app.receivers,
    grantTtlMs: opts.grantTtlSeconds * 1000,
    log: app.log,
    now: opts.now
  }))
}, { name: 'sealed', fastify: '5.x', dependencies: ['store', 'receivers'] })
