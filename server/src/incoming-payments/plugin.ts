// The companion's Open Payments client and incoming-payment verifier (client.ts, service.ts) as a named
// plugin, and its routes: POST /balances/{id}:creditIncomingPayment and GET /op/client-key.
import fp from 'fastify-plugin'
import { Type } from 'typebox'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { sendError } from '../http-errors.ts'
import { Amount, errorRef } from '../schemas/common.ts'
import { I64_MAX } from '../verifier/service.ts'
import { createOpenPaymentsClient } from './client.ts'
import { incomingPaymentErrorStatus } from './errors.ts'
import { createIncomingPaymentVerifier, type IncomingPaymentVerifier } from './service.ts'

declare module 'fastify' {
  interface FastifyInstance { incomingPayments: IncomingPaymentVerifier }
}

export interface IncomingPaymentsOptions {
  /** TRICKLE_OP_CLIENT_WALLET: the wallet address the companion identifies as (its key added there) */
  clientWallet?: string
  now?: () => number
  pollDelaysMs?: number[]
}

export default fp(async function incomingPaymentsPlugin (app, opts: IncomingPaymentsOptions) {
  const client = await createOpenPaymentsClient({
    adminToken: app.secrets.adminToken,
    ...(opts.clientWallet ? { clientWallet: opts.clientWallet } : {}),
    fallbackWallet: app.openPayments.walletAddressUrl('demo'),
    ...(opts.now ? { now: opts.now } : {})
  })
  const verifier = createIncomingPaymentVerifier({
    client,
    store: app.store,
    verifier: app.verifier,
    assetOf: (receiver) => app.receivers.assetOf(receiver),
    log: app.log,
    maxBalance: I64_MAX,
    ...(opts.now ? { now: opts.now } : {}),
    ...(opts.pollDelaysMs ? { pollDelaysMs: opts.pollDelaysMs } : {})
  })
  app.decorate('incomingPayments', verifier)
  app.addHook('onClose', async () => verifier.close())
  app.log.info({ kid: client.jwk.kid, identity: opts.clientWallet || 'directed (its JWK in each grant request)' }, 'Open Payments client key (GET /op/client-key)')

  const routes = app.withTypeProvider<TypeBoxTypeProvider>()
  routes.get('/op/client-key', {
    schema: {
      tags: ['open-payments'],
      summary: 'The companion\'s Open Payments client key',
      description: 'A public Ed25519 JWK: add it as a developer key at the wallet named by TRICKLE_OP_CLIENT_WALLET, so the companion can read the incoming payments of the creator wallets it sells for (README, "Web Monetization with Open Payments").',
      response: { 200: Type.Object({ jwk: Type.Object({ kid: Type.String(), kty: Type.String(), crv: Type.String(), x: Type.String(), alg: Type.String(), use: Type.String() }), clientWallet: Type.Optional(Type.String()) }) }
    }
  }, async () => ({ jwk: client.jwk, ...(opts.clientWallet ? { clientWallet: opts.clientWallet } : {}) }))

  routes.post('/balances/:id([A-Za-z0-9._~-]{1,128})::creditIncomingPayment', {
    bodyLimit: 8192,
    schema: {
      tags: ['verifier'],
      summary: 'Credit an Open Payments incoming payment to a balance',
      description: 'The `incomingPayment` of a `monetization` event and the wallet address it paid (a receiver registered with POST /proxies). The companion reads the payment at that wallet, authenticated (a read-all grant limited to that address), checks it is that wallet\'s, and credits what it received since the last read, to the first balance that submits it. The event comes before the payment settles: the companion keeps reading it with backoff until it completes or expires (`polling`).',
      params: Type.Object({ id: Type.String({ pattern: '^[A-Za-z0-9._~-]{1,128}$' }) }),
      body: Type.Object({ incomingPayment: Type.String({ maxLength: 2048 }), walletAddress: Type.String({ maxLength: 2048 }) }, { additionalProperties: false }),
      response: {
        200: Type.Object({ credited: Amount, balance: Amount, receiver: Type.String(), receivedAmount: Amount, completed: Type.Boolean(), polling: Type.Boolean() }),
        400: errorRef, 403: errorRef, 404: errorRef, 409: errorRef, 502: errorRef
      }
    }
  }, async (req, reply) => {
    const r = await verifier.credit(req.params.id, req.body.incomingPayment, req.body.walletAddress)
    if ('error' in r) return sendError(reply, incomingPaymentErrorStatus[r.error], r.error, r.message)
    reply.header('cache-control', 'no-store')
    return { credited: r.credited.toString(), balance: r.balance.toString(), receiver: r.receiver, receivedAmount: r.receivedAmount.toString(), completed: r.completed, polling: r.polling }
  })
}, { name: 'incoming-payments', fastify: '5.x', dependencies: ['store', 'secrets', 'wallet', 'verifier', 'receivers', 'open-payments'] })
