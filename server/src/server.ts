// The only entry point that reads the environment and listens. `npm start` runs it (through
// scripts/start.ts); `node server/src/server.ts` runs the companion alone.
import closeWithGrace from 'close-with-grace'
import { buildApp } from './app.ts'
import { ConfigError, loadConfig, type Config } from './config.ts'
import { asPortInUse, checkPortsFree, companionPorts, portInUseLine } from './ports.ts'
import type { FastifyInstance } from 'fastify'

/**
 * Checks the companion's ports, builds it and listens. A port in use rejects with PortInUseError:
 * before anything is built (or logs that it listens) when the check sees it, from the real listen
 * when the port was taken in between.
 */
export async function startServer (config: Config): Promise<FastifyInstance> {
  await checkPortsFree(companionPorts(config))
  const app = await buildApp(config)
  await listenApp(app, config)
  return app
}

/** The HTTP listen of a built app; on failure the app (and its BTP endpoint) is closed again. */
export async function listenApp (app: FastifyInstance, config: Pick<Config, 'host' | 'port'>): Promise<void> {
  try {
    await app.listen({ host: config.host, port: config.port })
  } catch (err) {
    await app.close().catch(() => {})
    throw asPortInUse(err, { host: config.host, port: config.port, setting: 'PORT' })
  }
}

/**
 * Ends a start that failed: a port in use is one line (exit code 1) naming the setting to change;
 * anything else is unexpected and keeps its stack trace.
 */
export function exitOnStartFailure (err: unknown): never {
  const line = portInUseLine(err)
  if (line !== undefined) console.error(line)
  // A store that could not be opened says which and why; anything else is shown whole.
  else if (err instanceof Error && (err.name === 'StoreOpenError' || err.name === 'BusOpenError')) console.error(`trickle: could not start: ${err.message}`)
  else console.error('trickle: could not start:', err)
  process.exit(1)
}

/** What a newcomer needs, in a few lines. */
export function banner (app: FastifyInstance, extra: string[] = []): string {
  const c = app.config
  const lines = [
    '',
    '  Trickle companion is running',
    `  HTTP API        ${c.publicUrl}   (OpenAPI docs: ${c.publicUrl}/docs)`,
    `  BTP endpoint    ${app.ilpNetwork.btpUrl}   (${app.ilpNetwork.mode === 'embedded' ? 'embedded connector' : 'uplink'})`,
    `  Verifier        ${c.publicUrl}   (POST /balances/{id}:creditReceipt, POST /verify)`
  ]
  if (app.demo) {
    lines.push(`  Wallet address  ${app.demo.paymentPointer}   (account "${app.demo.account}"; put this in config.toml: Open Payments)`)
    lines.push(`  Proxy pointer   ${app.demo.proxyPointer}   (for agents that send STREAM receipts)`)
  }
  const s = app.secrets
  if (s.generated.adminToken) lines.push(`  Admin token     ${s.adminToken}   (kept in ${c.database}; set TRICKLE_ADMIN_TOKEN to choose)`)
  if (s.generated.spendToken) lines.push(`  Spend token     ${s.spendToken}`)
  lines.push(...extra, '  Stop with Ctrl+C.', '')
  return lines.join('\n')
}

/** The settings, or exit with a message that names the bad one (exit code 2). */
export function loadConfigOrExit (): Config {
  try {
    return loadConfig()
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`trickle: bad setting ${err.message}`)
      process.exit(2)
    }
    throw err
  }
}

async function main () {
  const config = loadConfigOrExit()
  const app = await startServer(config).catch(exitOnStartFailure)
  process.stdout.write(banner(app) + '\n')
  closeWithGrace({ delay: 10_000 }, async ({ signal, err }) => {
    if (err) app.log.error({ err }, 'shutting down after an error')
    else app.log.info({ signal }, 'shutting down')
    await app.close()
  })
}

if (import.meta.main) await main()
