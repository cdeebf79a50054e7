import { facts, htmlPage, wantsHtml } from '../landing/html.ts'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { sendError } from '../http-errors.ts'
import { Amount, bearer, errorRef } from '../schemas/common.ts'
import { isWalletError, walletErrorMessage, walletErrorStatus, type WalletError } from './errors.ts'

const AccountName = Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$', description: 'Account name: 1-64 letters, digits, "-" or "_"', examples: ['alice'] })
const Account = Type.Object({
  name: Type.String(),
  paymentPointer: Type.String({ description: 'URL to put in `<link rel="monetization">` or config.toml' }),
  spspEndpoint: Type.String(),
  received: Amount,
  assetCode: Type.String(),
  assetScale: Type.Integer(),
  createdAt: Type.String({ format: 'date-time' })
})
const Spsp = Type.Object({
  destination_account: Type.String({ description: 'ILP address to send STREAM packets to' }),
  shared_secret: Type.String({ description: 'base64 STREAM shared secret' }),
  receipts_enabled: Type.Boolean({ description: 'true when the query carried Receipt-Nonce and Receipt-Secret' })
})
const Base64 = (bytes: number) => Type.String({ description: `base64 of ${bytes} bytes` })
const WalletAddress = Type.Object({
  id: Type.String(), publicName: Type.String(), assetCode: Type.String(), assetScale: Type.Integer(),
  authServer: Type.String(), resourceServer: Type.String()
}, { description: 'Open Payments wallet address (Accept: application/json)' })

const walletRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const fail = (reply: Parameters<typeof sendError>[0], e: WalletError) => sendError(reply, walletErrorStatus[e], e, walletErrorMessage[e])
  const admin = app.requireToken('admin')

  app.get('/wallet/:name', {
    schema: {
      tags: ['wallet'],
      summary: 'A wallet account: its Open Payments wallet address, or an SPSP query (its payment pointer)',
      description: 'With `Accept: application/json`: the Open Payments wallet address (id, publicName, asset, authServer, resourceServer), as the Web Monetization extension reads it. With `Accept: application/spsp4+json`: SPSP; when the query carries Receipt-Nonce and Receipt-Secret (as a receipt verifier adds them), every fulfilled packet carries a STREAM receipt (RFC 0039).',
      params: Type.Object({ name: AccountName }),
      headers: Type.Object({
        accept: Type.Optional(Type.String()),
        'receipt-nonce': Type.Optional(Base64(16)),
        'receipt-secret': Type.Optional(Base64(32))
      }),
      response: { 200: Type.Union([Spsp, WalletAddress]), 400: errorRef, 404: errorRef, 406: errorRef }
    }
  }, async (req, reply) => {
    const accept = req.headers.accept ?? ''
    // A person following the link: what this address is, instead of an SPSP document.
    if (wantsHtml(accept)) {
      const address = await app.openPayments.walletAddress(req.params.name)
      if ('error' in address) return sendError(reply, 404, 'unknown_account', address.description)
      reply.type('text/html; charset=utf-8')
      return htmlPage(`Wallet address of "${req.params.name}"`, `<p>This is an Open Payments wallet address of the companion's embedded wallet: the Web Monetization extension reads it (<code>Accept: application/json</code>) and pays it through Open Payments; older agents query it as a payment pointer (<code>Accept: application/spsp4+json</code>).</p>${facts([{ label: 'Currency', value: `${address.assetCode} (scale ${address.assetScale})` }, { label: 'Auth server', value: address.authServer }, { label: 'Resource server', value: address.resourceServer }, { label: 'API docs', value: '/docs', href: '/docs' }])}`)
    }
    if (/application\/json/.test(accept) && !/application\/spsp4\+json/.test(accept)) {
      const address = await app.openPayments.walletAddress(req.params.name)
      if ('error' in address) return sendError(reply, 404, 'unknown_account', address.description)
      reply.header('cache-control', 'max-age=60').header('access-control-allow-origin', '*')
      return address
    }
    if (!/application\/spsp4\+json|\*\/\*/.test(accept)) {
      return sendError(reply, 406, 'not_spsp_request', 'SPSP queries must accept application/spsp4+json')
    }
    const nonceText = req.headers['receipt-nonce']
    const secretText = req.headers['receipt-secret']
    let receipts: { nonce: Buffer, secret: Buffer } | undefined
    if (nonceText !== undefined || secretText !== undefined) {
      const nonce = Buffer.from(nonceText ?? '', 'base64')
      const secret = Buffer.from(secretText ?? '', 'base64')
      if (nonce.length !== 16 || secret.length !== 32) {
        return sendError(reply, 400, 'invalid_receipt_headers', 'Receipt-Nonce (16 bytes) and Receipt-Secret (32 bytes) must come together, base64-encoded')
      }
      receipts = { nonce, secret }
    }
    const details = await app.wallet.spsp(req.params.name, receipts)
    if (isWalletError(details)) return fail(reply, details)
    reply.header('cache-control', 'no-store').type('application/spsp4+json')
    return details
  })

  app.post('/wallet/accounts', {
    preHandler: admin,
    schema: {
      tags: ['wallet'],
      summary: 'Create a wallet account',
      security: bearer,
      body: Type.Object({ name: AccountName }, { additionalProperties: false }),
      response: { 201: Account, 400: errorRef, 401: errorRef, 409: errorRef }
    }
  }, async (req, reply) => {
    const account = await app.wallet.createAccount(req.body.name)
    if (isWalletError(account)) return fail(reply, account)
    return reply.code(201).send(account)
  })

  app.get('/wallet/accounts', {
    preHandler: admin,
    schema: {
      tags: ['wallet'],
      summary: 'List wallet accounts and what each has received',
      security: bearer,
      response: { 200: Type.Array(Account), 401: errorRef }
    }
  }, async () => app.wallet.listAccounts())

  app.get('/wallet/accounts/:name', {
    preHandler: admin,
    schema: {
      tags: ['wallet'],
      summary: 'One wallet account and what it has received',
      security: bearer,
      params: Type.Object({ name: AccountName }),
      response: { 200: Account, 401: errorRef, 404: errorRef }
    }
  }, async (req, reply) => {
    const account = await app.wallet.getAccount(req.params.name)
    if (isWalletError(account)) return fail(reply, account)
    return account
  })
}

export default walletRoutes
