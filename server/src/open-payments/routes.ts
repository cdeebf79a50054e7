// Open Payments over HTTP: the auth server at /op/auth, the resource server at /op, and the wallet
// address documents at /wallet/{name} (wallet/routes.ts, by content negotiation) and
// /wallet/{name}/jwks.json. Bodies are read as text first: the signature covers the body's digest, so
// it is checked against the bytes that came, not a re-serialisation. Errors are GNAP's shape,
// {error: {code, description}}.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { Type } from 'typebox'
import { bearer, errorRef } from '../schemas/common.ts'
import { isOpFailure, openPaymentsErrorStatus, type OpenPaymentsFailure } from './errors.ts'
import type { SignedRequest } from './signatures.ts'

const OpError = Type.Object({ error: Type.Object({ code: Type.String(), description: Type.String() }) }, { description: 'GNAP error' })
const AmountObject = Type.Object({ value: Type.String({ pattern: '^[0-9]{1,20}$' }), assetCode: Type.String(), assetScale: Type.Integer() })
const AccessItem = Type.Object({ type: Type.Literal('incoming-payment'), actions: Type.Array(Type.String()), identifier: Type.Optional(Type.String()) })
const AccessToken = Type.Object({ value: Type.String(), manage: Type.String(), expires_in: Type.Integer(), access: Type.Array(AccessItem) })
const GrantReply = Type.Object({
  access_token: AccessToken,
  continue: Type.Object({ access_token: Type.Object({ value: Type.String() }), uri: Type.String() })
})
const IncomingPayment = Type.Object({
  id: Type.String(),
  walletAddress: Type.String(),
  incomingAmount: Type.Optional(AmountObject),
  receivedAmount: AmountObject,
  completed: Type.Boolean(),
  metadata: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  createdAt: Type.String({ format: 'date-time' }),
  expiresAt: Type.String({ format: 'date-time' }),
  methods: Type.Optional(Type.Array(Type.Object({ type: Type.Literal('ilp'), ilpAddress: Type.String(), sharedSecret: Type.String() }), { description: 'Where to pay it (create, and an authenticated get); empty once it takes no more' }))
})
const PublicIncomingPayment = Type.Object({ receivedAmount: AmountObject, authServer: Type.String() })
const Id = Type.String({ maxLength: 64 })
const AnyBody = Type.Unknown({ description: 'JSON, as the Open Payments specification says; signed (Content-Digest in the signature)' })
const signed = 'Authenticated with `Authorization: GNAP {token}` and an HTTP message signature by the grant\'s client key (RFC 9421, as the Open Payments SDK makes it).'

declare module 'fastify' {
  interface FastifyRequest { rawBody?: string }
}

const openPaymentsRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const op = app.openPayments
  const publicUrl = app.config.publicUrl.replace(/\/+$/, '')
  const origin = new URL(publicUrl).origin
  const basePath = new URL(publicUrl).pathname.replace(/\/+$/, '')
  // The JSON parser of this scope keeps the body's text for the signature's content digest.
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit: 16 * 1024 }, (req, body, done) => {
    const text = body as string
    req.rawBody = text
    if (text === '') return done(null, undefined)
    try {
      done(null, JSON.parse(text))
    } catch {
      const err = new Error('the body is not JSON') as Error & { statusCode: number }
      err.statusCode = 400
      done(err, undefined)
    }
  })

  // Validation and parse errors in GNAP's shape too (the routes' 4xx schemas are GNAP's).
  app.setErrorHandler((err: Error & { statusCode?: number, validation?: unknown }, _req, reply) => {
    const status = err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500
    if (status === 500) app.log.error({ err }, 'Open Payments request failed')
    return reply.code(status).send({ error: { code: status === 413 ? 'request_too_large' : status === 500 ? 'internal_error' : 'invalid_request', description: status === 500 ? 'the server failed; see its log' : err.message } })
  })

  const signedRequest = (req: FastifyRequest): SignedRequest => ({
    method: req.method,
    // What the client signed: the URL it addressed, i.e. this server's public URL.
    url: `${origin}${req.url.startsWith(basePath) ? '' : basePath}${req.url}`,
    headers: req.headers as Record<string, string | undefined>,
    ...(req.rawBody !== undefined ? { body: req.rawBody } : {})
  })
  const send = <T>(reply: FastifyReply, result: T | OpenPaymentsFailure, status = 200) => {
    if (isOpFailure(result)) return reply.code(openPaymentsErrorStatus[result.error]).send({ error: { code: result.error, description: result.description } })
    reply.header('cache-control', 'no-store')
    if (result === true) return reply.code(204).send()
    return reply.code(status).send(result)
  }
  const errors = { 400: OpError, 401: OpError, 403: OpError, 404: OpError, 413: OpError, 429: OpError }

  app.get('/wallet/:name/jwks.json', {
    schema: {
      tags: ['open-payments'],
      summary: 'The keys a wallet address\'s clients sign with',
      params: Type.Object({ name: Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' }) }),
      response: { 200: Type.Object({ keys: Type.Array(Type.Record(Type.String(), Type.Unknown())) }), 404: OpError }
    }
  }, async (req, reply) => send(reply, await op.jwks(req.params.name)))

  app.post('/wallet/accounts/:name/keys', {
    preHandler: app.requireToken('admin'),
    schema: {
      tags: ['open-payments'],
      summary: 'Register a client key for a wallet address',
      description: 'A public Ed25519 JWK (`kty` OKP, `crv` Ed25519, `x`, `kid`): clients that identify as this wallet address sign with it, and the auth server finds it in the address\'s jwks.json. As a developer key at a real wallet.',
      security: bearer,
      params: Type.Object({ name: Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' }) }),
      body: AnyBody,
      response: { 200: Type.Object({ created: Type.Boolean() }), 201: Type.Object({ created: Type.Boolean() }), 400: OpError, 401: errorRef, 404: OpError }
    }
  }, async (req, reply) => {
    const result = await op.addClientKey(req.params.name, req.body)
    return send(reply, result, !isOpFailure(result) && result.created ? 201 : 200)
  })

  for (const path of ['/op/auth', '/op/auth/']) {
    app.post(path, {
      schema: {
        tags: ['open-payments'],
        summary: 'GNAP grant request (auth server)',
        description: 'Non-interactive grants for incoming payments (`create`, `complete`, `read`, `read-all`, `list`, `list-all`, optionally limited by `identifier`). `client` is the client\'s wallet address (its keys at jwks.json) or `{jwk}`. Signed by the client\'s key.',
        hide: path.endsWith('/'),
        body: AnyBody,
        response: { 200: GrantReply, ...errors }
      }
    }, async (req, reply) => send(reply, await op.requestGrant(signedRequest(req), req.body)))
  }

  app.post('/op/auth/continue/:id', {
    schema: { tags: ['open-payments'], summary: 'Continue a grant (a fresh access token)', description: `With \`Authorization: GNAP {continuation token}\`, signed.`, params: Type.Object({ id: Id }), body: AnyBody, response: { 200: GrantReply, ...errors } }
  }, async (req, reply) => send(reply, await op.continueGrant(req.params.id, signedRequest(req))))

  app.delete('/op/auth/continue/:id', {
    schema: { tags: ['open-payments'], summary: 'Cancel a grant and revoke its tokens', description: `With \`Authorization: GNAP {continuation token}\`, signed.`, params: Type.Object({ id: Id }), response: { 204: Type.Null(), ...errors } }
  }, async (req, reply) => send(reply, await op.cancelGrant(req.params.id, signedRequest(req))))

  app.post('/op/auth/token/:id', {
    schema: { tags: ['open-payments'], summary: 'Rotate an access token', description: signed, params: Type.Object({ id: Id }), body: AnyBody, response: { 200: Type.Object({ access_token: AccessToken }), ...errors } }
  }, async (req, reply) => send(reply, await op.rotateToken(req.params.id, signedRequest(req))))

  app.delete('/op/auth/token/:id', {
    schema: { tags: ['open-payments'], summary: 'Revoke an access token', description: signed, params: Type.Object({ id: Id }), response: { 204: Type.Null(), ...errors } }
  }, async (req, reply) => send(reply, await op.revokeToken(req.params.id, signedRequest(req))))

  app.post('/op/incoming-payments', {
    schema: {
      tags: ['open-payments'],
      summary: 'Create an incoming payment (resource server)',
      description: `Body \`{walletAddress, incomingAmount?, expiresAt?, metadata?}\`; pay it over STREAM to its method's ilpAddress and sharedSecret. ${signed}`,
      body: AnyBody,
      response: { 201: IncomingPayment, ...errors }
    }
  }, async (req, reply) => send(reply, await op.createIncomingPayment(signedRequest(req), req.body), 201))

  app.get('/op/incoming-payments', {
    schema: {
      tags: ['open-payments'],
      summary: 'List a wallet address\'s incoming payments',
      description: `\`list\` shows the client's own, \`list-all\` every one. ${signed}`,
      querystring: Type.Object({ 'wallet-address': Type.String({ maxLength: 2048 }), first: Type.Optional(Type.String({ pattern: '^(100|[1-9][0-9]?)$', description: '1 to 100 (default 10)' })), cursor: Type.Optional(Id) }),
      response: { 200: Type.Object({ pagination: Type.Object({ startCursor: Type.Optional(Type.String()), endCursor: Type.Optional(Type.String()), hasNextPage: Type.Boolean(), hasPreviousPage: Type.Boolean() }), result: Type.Array(IncomingPayment) }), ...errors }
    }
  }, async (req, reply) => send(reply, await op.listIncomingPayments(signedRequest(req), {
    walletAddress: req.query['wallet-address'], ...(req.query.first !== undefined ? { first: Number(req.query.first) } : {}), ...(req.query.cursor !== undefined ? { cursor: req.query.cursor } : {})
  })))

  app.get('/op/incoming-payments/:id', {
    schema: {
      tags: ['open-payments'],
      summary: 'An incoming payment: in full with a token, else the public view',
      description: `With a token (\`read\`: the client's own; \`read-all\`: any of the wallet address) the whole payment, including whose it is (\`walletAddress\`). Without one, only \`receivedAmount\` and \`authServer\`, as Rafiki answers. ${signed}`,
      params: Type.Object({ id: Id }),
      response: { 200: Type.Union([IncomingPayment, PublicIncomingPayment]), ...errors }
    }
  }, async (req, reply) => send(reply, await op.getIncomingPayment(req.params.id, signedRequest(req))))

  app.post('/op/incoming-payments/:id/complete', {
    schema: { tags: ['open-payments'], summary: 'Complete an incoming payment: it takes no more money', description: signed, params: Type.Object({ id: Id }), body: AnyBody, response: { 200: IncomingPayment, ...errors } }
  }, async (req, reply) => send(reply, await op.completeIncomingPayment(req.params.id, signedRequest(req))))
}

export default openPaymentsRoutes
