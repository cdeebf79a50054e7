import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { sendError } from '../http-errors.ts'
import { Amount, bearer, errorRef } from '../schemas/common.ts'
import { siteOf, siteSealKey } from '../../../packages/trickle-core/src/seal.ts'
import { isSealError, sealErrorMessage, sealErrorStatus } from './errors.ts'

const sealedRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post('/sealed/sites', {
    preHandler: app.requireToken('admin'),
    schema: {
      tags: ['sealed'],
      summary: 'The seal key of one site, for its build\'s sealing step',
      description: 'What a site\'s build needs to seal its exclusive sections for this companion, without the companion\'s seal secret: a key derived from it and bound to the site\'s base URL (README, "Sealed exclusive content"). ' +
        'It opens only this site\'s sections; keep it as secret as the sections themselves (a CI secret). Idempotent: the same site always gets the same key.',
      security: bearer,
      body: Type.Object({ site: Type.String({ minLength: 8, maxLength: 512, description: 'The site\'s base URL, e.g. https://blog.example/ (Hugo\'s baseURL)' }) }, { additionalProperties: false }),
      response: {
        200: Type.Object({
          site: Type.String({ description: 'The base URL as tokens name it (origin and path, ending in "/")' }),
          sealKey: Type.String({ description: 'base64, 32 bytes: the sealing step\'s key for this site (TRICKLE_SITE_SEAL_KEY)' }),
          companion: Type.String({ description: 'This companion\'s public URL: the sealing step\'s --companion' })
        }),
        400: errorRef,
        401: errorRef
      }
    }
  }, async (req, reply) => {
    const site = siteOf(req.body.site)
    if (!site) return sendError(reply, 400, 'invalid_site', 'site must be the site\'s http(s) base URL, without credentials')
    reply.header('cache-control', 'no-store')
    req.log.info({ site }, 'site seal key handed out')
    return { site, sealKey: siteSealKey(app.sealKey, site).toString('base64'), companion: app.config.publicUrl }
  })

  app.get('/sealed/price', {
    schema: {
      tags: ['sealed'],
      summary: 'Price of a sealed section in the units balances are kept in',
      description: 'Pages compare it with the balance their credits return, and ask for the key once it is covered.',
      querystring: Type.Object({ token: Type.String({ minLength: 1, maxLength: 2048 }) }, { additionalProperties: false }),
      response: {
        200: Type.Object({
          price: Amount,
          assetCode: Type.String(),
          assetScale: Type.Integer(),
          receiver: Type.String({ description: 'Proxy id the section\'s readers pay: only credits of payments to it count' })
        }),
        400: errorRef,
        409: errorRef
      }
    }
  }, async (req, reply) => {
    const result = await app.sealed.priceOf(req.query.token)
    if (isSealError(result)) return sendError(reply, sealErrorStatus[result], result, sealErrorMessage[result])
    return { price: result.price.toString(), assetCode: result.assetCode, assetScale: result.assetScale, receiver: result.receiver }
  })

  app.post('/sealed/keys', {
    schema: {
      tags: ['sealed'],
      summary: 'Key of a sealed exclusive section, after paying its price',
      description: 'Spends the section\'s price (from its token, which the build wrote and MACed) from what the reader\'s balance holds for the section\'s receiver, once per balance and section; within the grant a reload pays nothing. ' +
        'Only the holder of the balance\'s secret can spend it: the balance id is derived from the secret (README, "Who can spend what"). 400 `token_not_issued` for a token the build did not write, 402 until the balance covers the price.',
      body: Type.Object({
        token: Type.String({ minLength: 1, maxLength: 2048, description: 'data-trickle-token of the section' }),
        secret: Type.String({ minLength: 43, maxLength: 43, description: 'The reader\'s balance secret (32 bytes, base64url); its balance id is base64url(SHA-256("trickle-balance-v1\\n" + secret))' })
      }, { additionalProperties: false }),
      response: {
        200: Type.Object({
          key: Type.String({ description: 'base64 AES-256-GCM key of the section' }),
          expiresAt: Type.String({ format: 'date-time', description: 'End of the grant: until then this balance gets the key again for free' }),
          charged: Amount,
          price: Amount,
          balance: Amount
        }),
        400: errorRef,
        402: Type.Object({ statusCode: Type.Integer(), error: Type.String(), code: Type.String(), message: Type.String(), price: Type.Optional(Amount), balance: Type.Optional(Amount) }),
        409: errorRef
      }
    }
  }, async (req, reply) => {
    const result = await app.sealed.releaseKey(req.body.token, req.body.secret)
    if (isSealError(result)) return sendError(reply, sealErrorStatus[result], result, sealErrorMessage[result])
    if ('error' in result) {
      return reply.code(402).send({
        statusCode: 402,
        error: 'Payment Required',
        code: result.error,
        message: sealErrorMessage[result.error],
        ...(result.price !== undefined ? { price: result.price.toString() } : {}),
        ...(result.balance !== undefined ? { balance: result.balance.toString() } : {})
      })
    }
    reply.header('cache-control', 'no-store')
    return { key: result.key, expiresAt: new Date(result.expiresAt).toISOString(), charged: result.charged.toString(), price: result.price.toString(), balance: result.balance.toString() }
  })
}

export default sealedRoutes
