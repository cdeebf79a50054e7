import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { createHash, timingSafeEqual } from 'node:crypto'
import { STATUS_CODES } from 'node:http'
import { Type } from 'typebox'
import { sendError } from '../http-errors.ts'
import { bearer, errorRef } from '../schemas/common.ts'
import { isPullError, pullErrorMessage, pullErrorStatus, type PullError } from './errors.ts'
import { parseTerms, parseUpdate } from './service.ts'

const fail = (reply: FastifyReply, e: PullError) => sendError(reply, pullErrorStatus[e], e, pullErrorMessage[e])

/** RFC 0036's error (`{"id":"InvalidPointerError","message":"Pointer does not exist."}`) inside our usual shape. */
function failQuery (reply: FastifyReply, e: PullError) {
  const statusCode = pullErrorStatus[e]
  return reply.code(statusCode).type('application/json').send({
    statusCode, error: STATUS_CODES[statusCode] ?? 'Error', code: e, message: pullErrorMessage[e], id: 'InvalidPointerError'
  })
}

const U64 = Type.String({ pattern: '^[1-9][0-9]{0,19}$', description: 'Positive whole number of the smallest unit, decimal, at most 2^64-1', examples: ['1000'] })
const Balance = Type.String({ pattern: '^[0-9]{1,20}$', description: 'Whole number of the smallest unit of the agreement\'s asset' })
const Interval = Type.String({ maxLength: 64, description: 'ISO 8601 duration (calendar arithmetic in UTC)', examples: ['P1M', 'P1W', 'PT1H', 'P0Y1M0DT0H0M0S'] })
const DateTime = Type.String({ maxLength: 40, description: 'ISO 8601 date-time with a zone', examples: ['2026-01-31T00:00:00Z'] })
const AssetCode = Type.String({ pattern: '^[A-Za-z0-9]{1,16}$', examples: ['USD'] })
const AssetScale = Type.Integer({ minimum: 0, maximum: 255, examples: [2] })
const Cycles = Type.Integer({ minimum: 1, maximum: 1_000_000, description: 'How many intervals the agreement runs' })
const PointerId = Type.String({ pattern: '^[A-Za-z0-9_.-]{1,4096}$', description: 'Agreement id, or an offline token' })

const Terms = Type.Object({
  amount: U64,
  assetCode: AssetCode,
  assetScale: AssetScale,
  interval: Interval,
  cycles: Cycles,
  cap: Type.Boolean({ description: 'true: at most `amount` per interval; false: what is not pulled carries over' }),
  start: Type.Optional(DateTime),
  expiry: Type.Optional(DateTime),
  webhook: Type.Optional(Type.String({ maxLength: 2048, description: 'http(s) URL that gets a signed POST after each pull', examples: ['https://site.example/hooks/pull'] }))
}, { additionalProperties: false })

const Update = Type.Object({
  amount: Type.Optional(U64),
  interval: Type.Optional(Interval),
  cycles: Type.Optional(Cycles),
  cap: Type.Optional(Type.Boolean()),
  expiry: Type.Optional(Type.Union([DateTime, Type.Null()], { description: 'null removes the expiry' })),
  assetCode: Type.Optional(AssetCode),
  assetScale: Type.Optional(AssetScale)
}, { additionalProperties: false, minProperties: 1, description: 'assetCode and assetScale only together; balances are converted to the new asset (rounded up)' })

const BalanceObject = Type.Object({
  total: Balance,
  interval: Balance,
  available: Balance
})

const Agreement = Type.Object({
  id: Type.String(),
  pointer: Type.String({ description: 'Pull pointer to give the payee (SPSP endpoint)' }),
  amount: U64,
  assetCode: Type.String(),
  assetScale: Type.Integer(),
  interval: Type.String(),
  cycles: Type.Integer(),
  cap: Type.Boolean(),
  start: Type.String({ format: 'date-time' }),
  expiry: Type.Optional(Type.String({ format: 'date-time' })),
  webhook: Type.Optional(Type.String()),
  webhookSecret: Type.Optional(Type.String({ description: 'Key of the HMAC-SHA256 in the webhook\'s Trickle-Signature header' })),
  offline: Type.Boolean({ description: 'Registered from an offline token' }),
  status: Type.Union([Type.Literal('pending'), Type.Literal('active'), Type.Literal('finished'), Type.Literal('expired'), Type.Literal('cancelled')]),
  cycle: Type.Integer({ description: '0 before start, then 1..cycles' }),
  balance: BalanceObject,
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
  cancelledAt: Type.Optional(Type.String({ format: 'date-time' }))
})

const SpspPull = Type.Object({
  destination_account: Type.String({ description: 'ILP address of the STREAM server that sends the pulled money' }),
  shared_secret: Type.String({ description: 'base64 STREAM shared secret' }),
  pull: Type.Object({
    balance: BalanceObject,
    cycle: Type.Integer(),
    agreement: Type.Object({
      amount: U64,
      start: Type.String(),
      expiry: Type.Optional(Type.String()),
      interval: Type.String(),
      cycles: Type.Integer(),
      cap: Type.Boolean(),
      asset: Type.Object({ code: Type.String(), scale: Type.Integer() })
    })
  })
})

const QueryError = Type.Object({
  statusCode: Type.Integer(),
  error: Type.String(),
  code: Type.String(),
  message: Type.String(),
  id: Type.Optional(Type.Literal('InvalidPointerError', { description: 'RFC 0036 error id' }))
}, { description: 'ErrorReply plus RFC 0036\'s `id`' })

const digest = (s: string) => createHash('sha256').update(s).digest()

const pullRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const admin = app.requireToken('admin')
  // TRICKLE_PULL_TOKEN lets a wallet front end manage agreements without the admin token.
  const pullToken = app.config.pullToken === undefined ? undefined : digest(app.config.pullToken)
  const manage = pullToken === undefined
    ? admin
    : async (req: FastifyRequest, reply: FastifyReply) => {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '')
      if (m && timingSafeEqual(digest(m[1]!), pullToken)) return
      await admin(req, reply)
    }

  /** Schema errors get the domain's own message (which field, what is expected) when there is one. */
  const invalid = (reply: FastifyReply, err: Error, domain: unknown) =>
    isPullError(domain) ? fail(reply, domain) : sendError(reply, 400, 'invalid_request', err.message)

  app.post('/pull', {
    preHandler: manage,
    attachValidation: true,
    schema: {
      tags: ['pull'],
      summary: 'Create a pull agreement; returns its pull pointer',
      description: 'RFC 0036 online creation. Cycles follow the calendar from `start` (default: now), in UTC. When the asset differs from the network\'s, a rate must be set in TRICKLE_RATES. Unknown fields are refused.',
      security: bearer,
      body: Terms,
      response: { 201: Agreement, 400: errorRef, 401: errorRef }
    }
  }, async (req, reply) => {
    if (req.validationError) return invalid(reply, req.validationError, parseTerms(req.body))
    const result = await app.pull.create(req.body)
    if (isPullError(result)) return fail(reply, result)
    return reply.code(201).send(result)
  })

  app.post('/pull/tokens', {
    preHandler: manage,
    attachValidation: true,
    schema: {
      tags: ['pull'],
      summary: 'Sign an offline pull pointer (nothing is stored until its first use)',
      description: 'The pointer embeds a compact JWS (HS256) carrying the terms; it registers on its first SPSP query, starting then unless `start` is given. Anyone holding TRICKLE_PULL_SIGNING_KEY can sign the same tokens without this server.',
      security: bearer,
      body: Terms,
      response: {
        201: Type.Object({ id: Type.String({ description: 'Id the agreement will have once registered' }), token: Type.String(), pointer: Type.String() }),
        400: errorRef,
        401: errorRef
      }
    }
  }, async (req, reply) => {
    if (req.validationError) return invalid(reply, req.validationError, parseTerms(req.body))
    const result = await app.pull.mintToken(req.body)
    if (isPullError(result)) return fail(reply, result)
    return reply.code(201).send(result)
  })

  app.get('/pull', {
    preHandler: manage,
    schema: { tags: ['pull'], summary: 'List pull agreements with their balances', security: bearer, response: { 200: Type.Array(Agreement), 401: errorRef } }
  }, async () => app.pull.list())

  const querySchema = {
    tags: ['pull'],
    summary: 'SPSP query of a pull pointer (RFC 0036)',
    description: 'With `Accept: application/spsp4+json`. Returns the STREAM details the payee pulls on (ilp-protocol-spsp `pull()`), the balance, the current cycle and the agreement. An offline token is verified and registered on its first query. Errors carry RFC 0036\'s `id: "InvalidPointerError"`.',
    headers: Type.Object({ accept: Type.Optional(Type.String()) }),
    response: { 200: SpspPull, 400: QueryError, 401: QueryError, 404: QueryError, 406: errorRef, 410: QueryError }
  }
  const query = async (pointer: string, accept: string | undefined, reply: FastifyReply) => {
    if (!/application\/spsp4\+json|\*\/\*/.test(accept ?? '')) return fail(reply, 'not_spsp_request')
    const result = await app.pull.query(pointer)
    if (isPullError(result)) return failQuery(reply, result)
    reply.header('cache-control', 'no-store').type('application/spsp4+json')
    return result
  }
  app.get('/pull/:id', { schema: { ...querySchema, params: Type.Object({ id: PointerId }) } },
    async (req, reply) => query(req.params.id, req.headers.accept, reply))
  // Offline tokens are longer than the router's 100-character limit for a parameter; a wildcard has none.
  app.get('/pull/*', { schema: { ...querySchema, hide: true, params: Type.Object({ '*': PointerId }) } },
    async (req, reply) => query(req.params['*'], req.headers.accept, reply))

  const updateSchema = {
    tags: ['pull'],
    summary: 'Update a pull agreement',
    description: 'Any of amount, interval, cycles, cap, expiry; assetCode and assetScale only together. The new terms apply to the whole agreement, as in RFC 0036\'s reference server.',
    security: bearer,
    params: Type.Object({ id: PointerId }),
    body: Update,
    response: { 200: Agreement, 400: errorRef, 401: errorRef, 404: errorRef, 410: errorRef }
  }
  const update = async (id: string, body: unknown, validationError: Error | undefined, reply: FastifyReply) => {
    if (validationError) return invalid(reply, validationError, parseUpdate(body))
    const result = await app.pull.update(id, body)
    if (isPullError(result)) return fail(reply, result)
    return result
  }
  app.patch('/pull/:id', { preHandler: manage, attachValidation: true, schema: updateSchema },
    async (req, reply) => update(req.params.id, req.body, req.validationError, reply))
  app.post('/pull/:id', { preHandler: manage, attachValidation: true, schema: { ...updateSchema, summary: 'Update a pull agreement (same as PATCH)' } },
    async (req, reply) => update(req.params.id, req.body, req.validationError, reply))

  const cancelSchema = {
    tags: ['pull'],
    summary: 'Cancel a pull agreement',
    description: 'Later queries of its pointer get 410. An offline token that was never used can be cancelled too (pass the token): it is revoked.',
    security: bearer,
    response: { 200: Agreement, 400: errorRef, 401: errorRef, 404: errorRef, 410: errorRef }
  }
  const cancel = async (pointer: string, reply: FastifyReply) => {
    const result = await app.pull.cancel(pointer)
    if (isPullError(result)) return fail(reply, result)
    return result
  }
  app.delete('/pull/:id', { preHandler: manage, schema: { ...cancelSchema, params: Type.Object({ id: PointerId }) } },
    async (req, reply) => cancel(req.params.id, reply))
  app.delete('/pull/*', { preHandler: manage, schema: { ...cancelSchema, hide: true, params: Type.Object({ '*': PointerId }) } },
    async (req, reply) => cancel(req.params['*'], reply))
}

export default pullRoutes
