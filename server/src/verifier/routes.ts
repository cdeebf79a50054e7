import { facts, htmlPage, wantsHtml } from '../landing/html.ts'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply } from 'fastify'
import { Type } from 'typebox'
import { sendError } from '../http-errors.ts'
import { RECEIPT_LENGTH_BASE64 } from '../receipts/codec.ts'
import { Amount, bearer, errorRef, textReply } from '../schemas/common.ts'
import { isVerifierError, verifierErrorMessage, verifierErrorStatus, type VerifierError } from './errors.ts'

const fail = (reply: FastifyReply, e: VerifierError) => sendError(reply, verifierErrorStatus[e], e, verifierErrorMessage[e])

const ProxyId = Type.String({ pattern: '^[0-9a-f]{32}$', description: 'Proxy id (hash of the SPSP endpoint)' })
const Proxy = Type.Object({
  id: ProxyId,
  paymentPointer: Type.String({ description: 'What was registered' }),
  spspEndpoint: Type.String({ description: 'The receiver SPSP queries are forwarded to' }),
  proxyPointer: Type.String({ description: 'Pointer to publish: SPSP queries to it get receipts this verifier can check' }),
  createdAt: Type.String({ format: 'date-time' })
})
// find-my-way reads `::` as a literal colon; the regex keeps `abc:spend` from matching the id alone.
const BALANCE_PARAM = ':id([A-Za-z0-9._~-]{1,128})'
const BalanceParams = Type.Object({ id: Type.String({ description: 'Balance id chosen by the payer (e.g. a session id)', pattern: '^[A-Za-z0-9._~-]{1,128}$' }) })
const ReceiverQuery = Type.Object({
  receiver: Type.Optional(Type.String({ pattern: '^([0-9a-f]{32})?$', description: 'Proxy id of the receiver (the id in /p/{id}); empty: money whose receiver is unknown' }))
}, { additionalProperties: false })
const receiptBody = {
  description: 'The base64 STREAM receipt (80 characters), as plain text',
  content: { 'text/plain': { schema: { type: 'string', maxLength: 100, examples: ['AQAAAAAAAAAAAAAAAAAAAAABAAAAAAAAA+g…'] } } }
}

/** Routes whose bodies are plain text, as in receipt-verifier: any content type is read as a string. */
const textRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => { done(null, body) })

  app.post(`/balances/${BALANCE_PARAM}::creditReceipt`, {
    bodyLimit: RECEIPT_LENGTH_BASE64 + 20,
    schema: {
      tags: ['verifier'],
      summary: 'Verify a STREAM receipt and credit what it adds to a balance',
      description: 'Wire-compatible with @coil/receipt-verifier v1.0.5. Credits only the increase over the last receipt seen for the same nonce and stream. Replies with the new balance as text.',
      params: BalanceParams,
      body: receiptBody,
      response: { 200: textReply('The new balance'), 400: errorRef, 409: errorRef, 413: errorRef }
    }
  }, async (req, reply) => {
    const result = await app.verifier.creditReceipt(req.params.id, req.body)
    if (isVerifierError(result)) return fail(reply, result)
    return reply.type('text/plain; charset=utf-8').send(result.balance.toString())
  })

  app.post(`/balances/${BALANCE_PARAM}::spend`, {
    bodyLimit: 64,
    preHandler: app.requireToken('spend', 'admin'),
    schema: {
      tags: ['verifier'],
      summary: 'Spend from a balance',
      description: 'Body: the amount as decimal text. Needs the spend (or admin) token; the original had no authentication, so anyone knowing a balance id could drain it. ' +
        'Balances are kept per receiver (the proxy pointer a payment reached): this spends from `receiver`, or, when none is named, from the only receiver the balance holds money for (a site with one receiver, as receipt-verifier served, never names one); 409 `receiver_required` when it holds money for several. ' +
        'With an `Idempotency-Key` header, a retry with the same key and amount within a day spends nothing again (it answers the balance left, and `Idempotent-Replay: true`): retry a spend that got no answer, from any instance, without paying twice.',
      security: bearer,
      params: BalanceParams,
      querystring: ReceiverQuery,
      headers: Type.Object({ 'idempotency-key': Type.Optional(Type.String({ maxLength: 200, description: 'Up to 128 letters, digits, "-", "_", "." or ":"' })) }),
      body: { description: 'Amount, decimal text', content: { 'text/plain': { schema: { type: 'string', examples: ['100'] } } } },
      response: { 200: textReply('The balance left'), 400: errorRef, 401: errorRef, 404: errorRef, 409: errorRef, 413: errorRef }
    }
  }, async (req, reply) => {
    const key = req.headers['idempotency-key']
    const result = await app.verifier.spend(req.params.id, req.body, req.query.receiver, typeof key === 'string' ? key : undefined)
    if (isVerifierError(result)) return fail(reply, result)
    if (key !== undefined && result.charged === 0n) reply.header('idempotent-replay', 'true')
    return reply.type('text/plain; charset=utf-8').send(result.balance.toString())
  })

  app.post('/verify', {
    bodyLimit: RECEIPT_LENGTH_BASE64 + 20,
    schema: {
      tags: ['verifier'],
      summary: 'Verify a STREAM receipt without a balance',
      description: 'As receipt-verifier after v1.0.5: replies with the amount this receipt adds over the last one seen for its nonce and stream, and the receiver it was issued for.',
      body: receiptBody,
      response: {
        200: Type.Object({ amount: Amount, spspEndpoint: Type.String() }),
        400: errorRef,
        413: errorRef
      }
    }
  }, async (req, reply) => {
    const result = await app.verifier.verify(req.body)
    if (isVerifierError(result)) return fail(reply, result)
    return { amount: result.amount.toString(), spspEndpoint: result.spspEndpoint }
  })
}

const verifierRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const admin = app.requireToken('admin')
  await app.register(textRoutes)

  app.get('/balances/:id', {
    schema: {
      tags: ['verifier'],
      summary: 'Read a balance',
      description: 'What the balance holds for `receiver` (a proxy id), or for every receiver together. Reading is public: a balance id alone spends nothing (see the README, "Who can spend what").',
      params: BalanceParams,
      querystring: ReceiverQuery,
      response: { 200: textReply('The balance'), 400: errorRef, 404: errorRef }
    }
  }, async (req, reply) => {
    const result = await app.verifier.getBalance(req.params.id, req.query.receiver)
    if (isVerifierError(result)) return fail(reply, result)
    return reply.type('text/plain; charset=utf-8').send(result.toString())
  })

  app.post('/proxies', {
    preHandler: admin,
    schema: {
      tags: ['verifier'],
      summary: 'Register a payment pointer; returns its proxy payment pointer',
      description: 'Idempotent: registering the same receiver again returns the same proxy (200 instead of 201).',
      security: bearer,
      body: Type.Object({ paymentPointer: Type.String({ minLength: 2, maxLength: 2048, examples: ['$wallet.example/alice', 'http://localhost:3000/wallet/demo'] }) }, { additionalProperties: false }),
      response: { 200: Proxy, 201: Proxy, 400: errorRef, 401: errorRef }
    }
  }, async (req, reply) => {
    const result = await app.verifier.registerProxy(req.body.paymentPointer)
    if (isVerifierError(result)) return fail(reply, result)
    return reply.code(result.created ? 201 : 200).send(result.proxy)
  })

  app.get('/proxies', {
    preHandler: admin,
    schema: { tags: ['verifier'], summary: 'List proxy payment pointers', security: bearer, response: { 200: Type.Array(Proxy), 401: errorRef } }
  }, async () => app.verifier.listProxies())

  app.get('/proxies/:id', {
    preHandler: admin,
    schema: { tags: ['verifier'], summary: 'One proxy payment pointer', security: bearer, params: Type.Object({ id: ProxyId }), response: { 200: Proxy, 401: errorRef, 404: errorRef } }
  }, async (req, reply) => {
    const result = await app.verifier.getProxy(req.params.id)
    if (isVerifierError(result)) return fail(reply, result)
    return result
  })

  app.delete('/proxies/:id', {
    preHandler: admin,
    schema: { tags: ['verifier'], summary: 'Deregister a proxy payment pointer', security: bearer, params: Type.Object({ id: ProxyId }), response: { 204: Type.Null({ description: 'Removed' }), 401: errorRef, 404: errorRef } }
  }, async (req, reply) => {
    const result = await app.verifier.deregisterProxy(req.params.id)
    if (isVerifierError(result)) return fail(reply, result)
    return reply.code(204).send(null)
  })

  app.get('/p/:id', {
    onRequest: app.spspRateLimits,
    schema: {
      tags: ['verifier'],
      summary: 'SPSP query to a proxy payment pointer',
      description: 'Forwarded to the real receiver with a fresh Receipt-Nonce and Receipt-Secret (derived from the server seed). 409 when the receiver does not enable receipts.',
      params: Type.Object({ id: ProxyId }),
      headers: Type.Object({ accept: Type.Optional(Type.String()) }),
      response: {
        200: Type.Object({ destination_account: Type.String(), shared_secret: Type.String(), receipts_enabled: Type.Literal(true) }, { additionalProperties: true }),
        404: errorRef, 406: errorRef, 409: errorRef, 429: errorRef, 502: errorRef
      }
    }
  }, async (req, reply) => {
    // A person following the link: what this pointer is, instead of a 406.
    if (wantsHtml(req.headers.accept)) {
      const proxy = await app.verifier.getProxy(req.params.id)
      if (typeof proxy === 'string') return fail(reply, proxy)
      reply.type('text/html; charset=utf-8')
      return htmlPage('A proxy payment pointer', `<p>Web Monetization agents pay this address: the companion forwards their SPSP query (<code>Accept: application/spsp4+json</code>) to the creator's wallet and adds receipt details, so every payment comes back with a STREAM receipt it can verify.</p>${facts([{ label: 'Forwards to', value: proxy.paymentPointer }, { label: 'API docs', value: '/docs', href: '/docs' }])}`)
    }
    const result = await app.verifier.querySpsp(req.params.id, req.headers.accept)
    if (isVerifierError(result)) return fail(reply, result)
    reply.header('cache-control', 'no-store').type('application/spsp4+json')
    return result
  })
}

export default verifierRoutes
