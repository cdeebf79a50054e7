// The local Interledger network: ilp-connector run as a library with one ilp-plugin-mini-accounts child
// account that serves BTP over WebSocket. This is what `moneyd local` does, without moneyd's
// leveldown dependency (a native build that fails on current Node) and with ports, limits and origins as settings.
// With an uplink (ILP_BTP_SERVER) no connector starts; Trickle's own clients join the uplink instead.
import { randomBytes } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { ConnectorApp } from 'ilp-connector'
import { createRequire } from 'node:module'
import { Writable } from 'node:stream'
import type { ServerOpts } from 'ilp-protocol-stream'
import { asPortInUse } from '../ports.ts'

// ilp-plugin-btp is CommonJS with `module.exports = Plugin`; its typings describe a namespace.
const BtpPlugin = createRequire(import.meta.url)('ilp-plugin-btp') as new (opts: { server: string }) => Plugin
export type Plugin = ServerOpts['plugin']
// Not `import 'ilp-connector'`: its index starts a connector from the environment whenever
// `module.parent` is unset, which is the case for every CommonJS module loaded from ESM.
const createConnectorApp = (createRequire(import.meta.url)('ilp-connector/dist/app') as { default: (opts: Record<string, unknown>) => ConnectorApp }).default

export interface NetworkLog {
  debug (obj: object, msg: string): void
  warn (obj: object, msg: string): void
}

/**
 * The BTP endpoint's HTTP server, listening, or a rejection (PortInUseError for a port in use).
 *
 * ilp-plugin-mini-accounts, left to itself, creates and listens on its server inside connect(): a port
 * in use then surfaces as an 'error' event on its WebSocket server that nobody listens to, which ends
 * the process, while ilp-connector's listen() (which catches and logs every failure) resolves as if all
 * went well. So this process listens first and hands the plugin a server that is already listening.
 */
async function listenBtp (host: string, port: number, log?: NetworkLog): Promise<Server> {
  const server = createServer()
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => { server.off('error', reject); resolve() })
  }).catch((err: unknown) => { throw asPortInUse(err, { host, port, setting: 'TRICKLE_BTP_PORT' }) })
  // Given a server, mini-accounts calls its listen(port) (without the host); it already listens here.
  server.listen = (() => server) as unknown as Server['listen']
  // The WebSocket server forwards this server's errors to its own 'error' event and stops doing so
  // when it closes; either way an error after listening is logged, not thrown.
  server.on('error', (err) => log?.warn({ err: err.message }, 'BTP server error'))
  return server
}

// ilp-connector writes riverpig lines straight to stdout; route them into our logger instead, at
// debug level (warnings and errors at warn), so `npm start` prints what matters and nothing twice.
const connectorLog = createRequire(import.meta.url)('ilp-connector/dist/common/log') as { setOutputStream (s: NodeJS.WritableStream): void }
function routeConnectorLogs (log: NetworkLog): void {
  let pending = ''
  connectorLog.setOutputStream(new Writable({
    write (chunk: Buffer, _enc, done) {
      pending += chunk.toString('utf8')
      const lines = pending.split('\n')
      pending = lines.pop() ?? ''
      for (const raw of lines) {
        // eslint-disable-next-line no-control-regex
        const line = raw.replace(/\u001b\[[0-9;]*m/g, '').replace(/^\S+Z\s+/, '').trim()
        if (line === '') continue
        if (/\b(warn|error)\b/.test(line) && !/NOT persist|not sending\/receiving routes/.test(line)) log.warn({ connector: line }, 'connector')
        else log.debug({ connector: line }, 'connector')
      }
      done()
    }
  }))
}

export interface NetworkOptions {
  log?: NetworkLog
  uplink?: string
  ilpAddress: string
  assetCode: string
  assetScale: number
  btpHost: string
  btpPort: number
  allowedOrigins: string[]
  maxPacketAmount?: string
  /** packets per minute for all BTP clients together; 0 = no limit */
  rateLimitPerMinute: number
}

export interface IlpNetwork {
  /** 'embedded' when this process runs the connector, 'uplink' when it joins ILP_BTP_SERVER. */
  mode: 'embedded' | 'uplink'
  /** BTP URL without credentials that clients (Node or browser) use to join, e.g. btp+ws://127.0.0.1:7768 */
  btpUrl: string
  /** A fresh BTP client plugin for one connection; `name` becomes the last ILP address segment. */
  createPlugin (name?: string): Plugin
  close (): Promise<void>
}

export async function startNetwork (opts: NetworkOptions): Promise<IlpNetwork> {
  const uplinkUrl = opts.uplink
  if (uplinkUrl) {
    const uplink = new URL(uplinkUrl)
    const btpUrl = `${uplink.protocol}//${uplink.host}${uplink.pathname === '/' ? '' : uplink.pathname}`
    return {
      mode: 'uplink',
      btpUrl,
      // The uplink's credentials belong to this companion; every plugin shares its account.
      createPlugin: () => new BtpPlugin({ server: uplinkUrl }),
      async close () {}
    }
  }

  const btpServer = await listenBtp(opts.btpHost, opts.btpPort, opts.log)
  // TRICKLE_BTP_PORT=0 picks a free port; clients need the one picked.
  const btpPort = (btpServer.address() as AddressInfo).port
  const closeBtpServer = () => new Promise<void>((resolve) => {
    // Usually mini-accounts has closed it on disconnect; not when the connector never connected it.
    if (!btpServer.listening) { resolve(); return }
    btpServer.closeAllConnections()
    btpServer.close(() => resolve())
  })

  if (opts.log) routeConnectorLogs(opts.log)
  const local: Record<string, unknown> = {
    relation: 'child',
    plugin: 'ilp-plugin-mini-accounts',
    assetCode: opts.assetCode,
    assetScale: opts.assetScale,
    // A development network: no balance limits and no settlement.
    balance: { minimum: '-Infinity', maximum: 'Infinity', settleThreshold: '-Infinity' },
    // `port` only names the port in mini-accounts' own log line; the server already listens on it.
    options: { wsOpts: { server: btpServer }, port: btpPort, allowedOrigins: opts.allowedOrigins }
  }
  if (opts.maxPacketAmount) local.maxPacketAmount = opts.maxPacketAmount
  const disableMiddleware: string[] = []
  if (opts.rateLimitPerMinute > 0) {
    local.rateLimit = { refillPeriod: 60_000, refillCount: opts.rateLimitPerMinute, capacity: opts.rateLimitPerMinute }
  } else {
    // The default (10,000 packets a minute) applies to the one mini-accounts account, i.e. to every
    // client together, and throttles a whole test network to ~166 packets/s after one burst.
    disableMiddleware.push('rateLimit')
  }
  let app: ConnectorApp
  try {
    app = createConnectorApp({
      ilpAddress: opts.ilpAddress,
      backend: 'one-to-one',
      spread: 0,
      store: 'memory',
      env: 'test',
      disableMiddleware,
      accounts: { local }
    })
    await app.listen()
  } catch (err) {
    await closeBtpServer()
    throw err
  }
  const host = opts.btpHost.includes(':') ? `[${opts.btpHost}]` : opts.btpHost
  const btpUrl = `btp+ws://${host}:${btpPort}`
  return {
    mode: 'embedded',
    btpUrl,
    createPlugin (name = '') {
      const secret = randomBytes(16).toString('hex')
      return new BtpPlugin({ server: `btp+ws://${name}:${secret}@${host}:${btpPort}` })
    },
    async close () {
      await app.shutdown()
      await closeBtpServer()
    }
  }
}
