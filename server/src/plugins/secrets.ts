// Credentials and seeds. Settings win; what is unset is generated once and kept in the store, so a
// restart keeps tokens, the wallet's STREAM secret and the receipt seed (and so every nonce and
// balance) valid.
import { randomBytes, timingSafeEqual, createHash } from 'node:crypto'
import type { FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { receiptKeyFromSeed } from '../receipts/codec.ts'

export interface Secrets {
  adminToken: string
  spendToken: string
  /** true when the token came from the store rather than a setting (the banner then shows it) */
  generated: { adminToken: boolean, spendToken: boolean }
  receiptKey: Buffer
  walletSecret: Buffer
}

declare module 'fastify' {
  interface FastifyInstance {
    secrets: Secrets
    /** preHandler that lets a request through only with `Authorization: Bearer <one of the tokens>` */
    requireToken (...which: Array<'admin' | 'spend'>): (req: FastifyRequest, reply: FastifyReply) => Promise<void>
  }
}

export interface SecretOptions {
  adminToken?: string
  spendToken?: string
  receiptSeed?: Buffer
}

const digest = (s: string) => createHash('sha256').update(s).digest()

export default fp(async function secretsPlugin (app, opts: SecretOptions) {
  const random = () => randomBytes(24).toString('base64url')
  const adminToken = opts.adminToken ?? await app.store.metaGetOrSet('admin_token', random())
  const spendToken = opts.spendToken ?? await app.store.metaGetOrSet('spend_token', random())
  const seed = opts.receiptSeed ?? Buffer.from(await app.store.metaGetOrSet('receipt_seed', randomBytes(32).toString('base64')), 'base64')
  const walletSecret = Buffer.from(await app.store.metaGetOrSet('wallet_secret', randomBytes(32).toString('base64')), 'base64')
  app.decorate('secrets', {
    adminToken,
    spendToken,
    generated: { adminToken: opts.adminToken === undefined, spendToken: opts.spendToken === undefined },
    receiptKey: receiptKeyFromSeed(seed),
    walletSecret
  })

  const digests = { admin: digest(adminToken), spend: digest(spendToken) }
  app.decorate('requireToken', (...which: Array<'admin' | 'spend'>) => async (req: FastifyRequest, reply: FastifyReply) => {
    const header = req.headers.authorization ?? ''
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header)
    // Compare digests so that neither the length nor the content of a token leaks through timing.
    const given = match ? digest(match[1]!) : undefined
    const ok = given !== undefined && which.some((w) => timingSafeEqual(given, digests[w]))
    if (!ok) {
      reply.header('www-authenticate', 'Bearer realm="trickle"')
      await reply.code(401).send({
        statusCode: 401,
        error: 'Unauthorized',
        code: match ? 'invalid_token' : 'missing_token',
        message: match ? 'the bearer token is not valid for this route' : `this route needs Authorization: Bearer <${which.join(' or ')} token>`
      })
    }
  })
}, { name: 'secrets', fastify: '5.x', dependencies: ['store'] })
