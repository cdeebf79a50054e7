// Builds the companion server (never listens: server.ts does). Tests build it with `inject`.
import cors from '@fastify/cors'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import { rejectUpgrade } from './tracker/websocket.ts'
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyServerOptions } from 'fastify'
import { Type } from 'typebox'
import type { Config } from './config.ts'
import { sendError } from './http-errors.ts'
import ilpNetworkPlugin from './plugins/ilp-network.ts'
import openapiPlugin from './plugins/openapi.ts'
import rateLimitPlugin from './plugins/rate-limit.ts'
import receiversPlugin from './receivers/plugin.ts'
import secretsPlugin from './plugins/secrets.ts'
import sealedPlugin from './sealed/plugin.ts'
import sealedRoutes from './sealed/routes.ts'
import seederPlugin from './seeder/plugin.ts'
import storePlugin from './plugins/store.ts'
import busPlugin from './plugins/bus.ts'
import pullPlugin from './pull/plugin.ts'
import landingRoutes from './landing/routes.ts'
import pullRoutes from './pull/routes.ts'
import { ErrorReply } from './schemas/common.ts'
import trackerPlugin from './tracker/plugin.ts'
import trackerRoutes from './tracker/routes.ts'
import verifierPlugin from './verifier/plugin.ts'
import verifierRoutes from './verifier/routes.ts'
import walletPlugin from './wallet/plugin.ts'
import walletRoutes from './wallet/routes.ts'
import openPaymentsPlugin from './open-payments/plugin.ts'
import openPaymentsRoutes from './open-payments/routes.ts'
import incomingPaymentsPlugin from './incoming-payments/plugin.ts'
import callsPlugin from './calls/plugin.ts'
import callsRoutes from './calls/routes.ts'

export const VERSION = '0.1.0'

export interface BuildOptions {
  logger?: FastifyServerOptions['logger']
  /** Clock for receipt TTLs; tests move it instead of sleeping. */
  now?: () => number
}

export interface DemoInfo {
  account: string
  paymentPointer: string
  proxyPointer: string
}

/** Answers a GET request straight from node:http (see `rawGet`). */
export type RawGetHandler = (req: IncomingMessage, res: ServerResponse) => void

declare module 'fastify' {
  interface FastifyInstance {
    config: Config
    demo?: DemoInfo
    /**
     * Answers GET requests for this path straight from node:http, before Fastify sees them: for the
     * BitTorrent announce and scrape only, which every client of every torrent sends every few minutes,
     * which read their own query (raw bytes), and whose replies are bencoded, not JSON. Fastify's
     * request and reply objects, query parsing and hooks cost more than the announce itself (about
     * 40 µs of 85 on this machine). The same path stays a Fastify route too, for the OpenAPI document
     * and for `inject`; only a listening server takes the short way.
     */
    rawGet (path: string, handler: RawGetHandler): void
    /**
     * Answers WebSocket upgrades of this path (the tracker's /announce, the calls' /calls/signal);
     * upgrades of any other path are refused with 404.
     */
    onUpgrade (path: string, handler: UpgradeHandler): void
  }
}

export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => void

export function loggerOptions (config: Config): FastifyServerOptions['logger'] {
  if (config.logFormat === 'json') return { level: config.logLevel }
  return {
    level: config.logLevel,
    transport: { target: 'pino-pretty', options: { translateTime: 'HH:MM:ss', ignore: 'pid,hostname,reqId', singleLine: true } }
  }
}

/** Whether the one-line-per-request log is on (debug and below). */
const logsEachRequest = (log: FastifyBaseLogger) => log.level === 'debug' || log.level === 'trace'
/** That line, for Fastify's routes (onResponse hook) and `rawGet` ones alike. */
const requestLine = (method: string | undefined, url: string | undefined, status: number, ms: number) =>
  ({ method, url, status, ms: Math.round(ms) })

export async function buildApp (config: Config, opts: BuildOptions = {}): Promise<FastifyInstance> {
  const rawGets = new Map<string, RawGetHandler>()
  const app = Fastify({
    // As Fastify's own HTTP/1 server (lib/server.js), with the paths of `rawGet` answered first.
    serverFactory: (handler, options) => {
      // Node checks request and header timeouts every connectionsCheckingInterval (30 s by default),
      // which would let a slow client keep a request open up to 30 s past its deadline.
      const server = createServer({ connectionsCheckingInterval: 1000 }, (req, res) => {
        if (rawGets.size > 0 && req.method === 'GET') {
          const url = req.url ?? ''
          const q = url.indexOf('?')
          const raw = rawGets.get(q < 0 ? url : url.slice(0, q))
          if (raw) return answerRaw(raw, req, res)
        }
        handler(req, res)
      })
      // Fastify fills these in with its defaults (72 s keep-alive, no request or connection timeout).
      const timeouts = options as { keepAliveTimeout?: number, requestTimeout?: number, connectionTimeout?: number }
      if (timeouts.keepAliveTimeout !== undefined) server.keepAliveTimeout = timeouts.keepAliveTimeout
      if (timeouts.requestTimeout !== undefined) {
        server.requestTimeout = timeouts.requestTimeout
        // A slowloris sends headers a byte at a time: they get a third of the request's time, at most 10 s.
        server.headersTimeout = Math.min(10_000, Math.ceil(timeouts.requestTimeout / 3))
      }
      if (timeouts.connectionTimeout !== undefined) server.setTimeout(timeouts.connectionTimeout)
      return server
    },
    logger: opts.logger ?? loggerOptions(config),
    // A request's headers and body must arrive within this (Fastify's default, 0, never cuts off a
    // client that sends one byte every few seconds); 408 and the connection closes.
    requestTimeout: config.httpRequestTimeoutSeconds * 1000,
    trustProxy: config.trustProxy,
    // Receipts and amounts are tiny; nothing this server accepts is larger than this.
    bodyLimit: 64 * 1024,
    // One line per request at info drowns what matters (payments, registrations); see the onResponse hook.
    logController: new LogController({ disableRequestLogging: true }),
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } }
  }).withTypeProvider<TypeBoxTypeProvider>()

  /** A `rawGet` route, with what Fastify would add: a 500 instead of a crash, and a debug line per request. */
  function answerRaw (raw: RawGetHandler, req: IncomingMessage, res: ServerResponse) {
    if (logsEachRequest(app.log)) {
      const start = performance.now()
      res.once('finish', () => { app.log.debug(requestLine(req.method, req.url, res.statusCode, performance.now() - start), 'request') })
    }
    try {
      raw(req, res)
    } catch (err) {
      app.log.error({ err, url: req.url }, 'request failed')
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' })
      res.end('internal server error\n')
    }
  }

  app.decorate('config', config)
  app.decorate('rawGet', (path: string, handler: RawGetHandler) => { rawGets.set(path, handler) })
  const upgrades = new Map<string, UpgradeHandler>()
  app.decorate('onUpgrade', (path: string, handler: UpgradeHandler) => { upgrades.set(path, handler) })
  app.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const handler = upgrades.get((req.url ?? '').split('?')[0]!)
    if (handler) return handler(req, socket, head)
    rejectUpgrade(socket, 404, `WebSocket connections are served at ${[...upgrades.keys()].join(' and ')} only.`)
  })
  app.addSchema(ErrorReply)

  app.setErrorHandler((err: Error & { statusCode?: number, code?: string, validation?: unknown }, req, reply) => {
    const status = err.statusCode ?? 500
    if (status >= 500) {
      req.log.error({ err }, 'request failed')
      return sendError(reply, status, 'internal_error', 'internal server error')
    }
    const code = err.validation ? 'invalid_request' : (err.code ?? 'bad_request').toLowerCase()
    return sendError(reply, status, code, err.message)
  })
  // One line per request, at debug (warn for 5xx). A callback hook, and the line is built only when
  // it is written: at the default level this runs for every request and should cost next to nothing.
  app.addHook('onResponse', (req, reply, done) => {
    const failed = reply.statusCode >= 500
    if (failed || logsEachRequest(req.log)) {
      const line = requestLine(req.method, req.url, reply.statusCode, reply.elapsedTime)
      if (failed) req.log.warn(line, 'request failed')
      else req.log.debug(line, 'request')
    }
    done()
  })
  app.setNotFoundHandler((req, reply) => sendError(reply, 404, 'not_found', `no route ${req.method} ${req.url.split('?')[0]}`))

  await app.register(cors, {
    origin: config.corsOrigin === '*' ? '*' : config.corsOrigin.split(',').map((s) => s.trim()),
    methods: ['GET', 'POST', 'PATCH', 'DELETE'],
    allowedHeaders: ['content-type', 'authorization', 'idempotency-key', 'receipt-nonce', 'receipt-secret', 'web-monetization-id', 'signature', 'signature-input', 'content-digest']
  })
  await app.register(rateLimitPlugin, { perMinute: config.httpRateLimitPerMinute, spspPerAddress: config.spspRateLimitPerAddress, spspPerProxy: config.spspRateLimitPerProxy })
  await app.register(openapiPlugin, { publicUrl: config.publicUrl, version: VERSION })
  await app.register(storePlugin, { database: config.database })
  await app.register(busPlugin, { ...(config.bus ? { url: config.bus } : {}), prefix: config.busSubject })
  await app.register(secretsPlugin, { adminToken: config.adminToken, spendToken: config.spendToken, receiptSeed: config.receiptSeed })
  await app.register(ilpNetworkPlugin, {
    uplink: config.uplink,
    ilpAddress: config.ilpAddress,
    assetCode: config.assetCode,
    assetScale: config.assetScale,
    btpHost: config.btpHost,
    btpPort: config.btpPort,
    allowedOrigins: config.btpAllowedOrigins,
    maxPacketAmount: config.maxPacketAmount,
    rateLimitPerMinute: config.rateLimitPerMinute
  })
  await app.register(walletPlugin, { publicUrl: config.publicUrl })
  await app.register(openPaymentsPlugin, { publicUrl: config.publicUrl, ...(opts.now ? { now: opts.now } : {}) })
  await app.register(verifierPlugin, { publicUrl: config.publicUrl, ttlSeconds: config.receiptTtlSeconds, now: opts.now })
  await app.register(receiversPlugin, { publicUrl: config.publicUrl, rates: config.pullRates })
  await app.register(incomingPaymentsPlugin, { ...(config.opClientWallet ? { clientWallet: config.opClientWallet } : {}), ...(opts.now ? { now: opts.now } : {}) })
  await app.register(pullPlugin, { publicUrl: config.publicUrl, signingKey: config.pullSigningKey, rates: config.pullRates, webhookBackoffMs: config.pullWebhookBackoffMs, now: opts.now })
  await app.register(trackerPlugin, {
    publicUrl: config.publicUrl,
    open: config.trackerOpen,
    intervalMs: config.trackerIntervalSeconds * 1000,
    grantTtlSeconds: config.downloadGrantTtlSeconds,
    ticketTtlSeconds: config.downloadTicketTtlSeconds,
    maxPeersPerGrant: config.downloadMaxPeers,
    limits: config.trackerLimits,
    now: opts.now
  })
  await app.register(seederPlugin, { publicUrl: config.publicUrl, seeds: config.seeds, pointer: config.seedPointer, webrtc: config.seedWebrtc, host: config.seedHost, torrentPort: config.seedPort })
  await app.register(sealedPlugin, { sealSecret: config.sealSecret, grantTtlSeconds: config.sealGrantTtlSeconds, now: opts.now })
  await app.register(callsPlugin, {
    settings: {
      periodMs: config.calls.periodSeconds * 1000,
      graceMs: config.calls.graceSeconds * 1000,
      maxMesh: config.calls.maxMesh,
      iceServers: config.calls.iceServers,
      ...(config.calls.jitsi ? { jitsi: config.calls.jitsi } : {})
    },
    ...(opts.now ? { now: opts.now } : {})
  })
  await app.register(walletRoutes)
  await app.register(openPaymentsRoutes)
  await app.register(verifierRoutes)
  await app.register(sealedRoutes)
  await app.register(trackerRoutes)
  await app.register(pullRoutes)
  await app.register(callsRoutes)
  await app.register(landingRoutes, { publicUrl: config.publicUrl, version: VERSION })

  app.get('/health', {
    schema: {
      tags: ['server'],
      summary: 'Liveness and what this server is connected to',
      response: {
        200: Type.Object({
          status: Type.Literal('ok'),
          version: Type.String(),
          instance: Type.String({ description: 'This process\'s name in logs and on the bus (new at every start)' }),
          network: Type.Object({ mode: Type.String(), btpUrl: Type.String() }),
          tracker: Type.Object({
            connections: Type.Integer({ description: 'WebSocket tracker connections open on this instance' }),
            swarms: Type.Integer({ description: 'Swarms with peers, on any instance' })
          }),
          cluster: Type.Optional(Type.Object({
            instances: Type.Array(Type.String(), { description: 'Other companions heard on the bus within the last few seconds' })
          }, { description: 'Only with TRICKLE_BUS' }))
        })
      }
    }
  }, async () => ({
    status: 'ok' as const,
    version: VERSION,
    instance: app.instanceId,
    network: { mode: app.ilpNetwork.mode, btpUrl: app.ilpNetwork.btpUrl },
    tracker: { connections: app.tracker.protocol.connections, swarms: app.tracker.protocol.swarms },
    ...(app.tracker.federation ? { cluster: { instances: app.tracker.federation.peers().sort() } } : {})
  }))

  await app.ready()
  if (config.demoAccount) {
    const account = await app.wallet.ensureAccount(config.demoAccount)
    const proxy = await app.verifier.registerProxy(account.paymentPointer)
    if (typeof proxy === 'string') throw new Error(`could not register the demo proxy pointer: ${proxy}`)
    app.demo = { account: account.name, paymentPointer: account.paymentPointer, proxyPointer: proxy.proxy.proxyPointer }
  }
  return app
}
