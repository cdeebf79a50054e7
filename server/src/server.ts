// The only entry point that reads the environment and listens. `npm start` runs it (through
// scripts/start.ts); `node server/src/server.ts` runs the companion alone.
import closeWithGrace from 'close-with-grace'
import { buildApp } from './app.ts'
import { ConfigError, loadConfig, type Config } from './config.ts'
import type { FastifyInstance } from 'fastify'

export async function startServer (config: Config): Promise<FastifyInstance> {
  const app = await buildApp(config)
  await app.listen({ host: config.host, port: config.port })
  return app
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
    lines.push(`  Wallet pointer  ${app.demo.paymentPointer}   (account "${app.demo.account}")`)
    lines.push(`  Proxy pointer   ${app.demo.proxyPointer}   (put this in config.toml: receipts verifiable here)`)
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
  const app = await startServer(config).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'EADDRINUSE') console.error(`trickle: a port is already in use (${err.message}); set PORT or TRICKLE_BTP_PORT`)
    else console.error('trickle: could not start:', err)
    process.exit(1)
  })
  process.stdout.write(banner(app) + '\n')
  closeWithGrace({ delay: 10_000 }, async ({ signal, err }) => {
    if (err) app.log.error({ err }, 'shutting down after an error')
    else app.log.info({ signal }, 'shutting down')
    await app.close()
  })
}

if (import.meta.main) await main()
