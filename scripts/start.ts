// `npm start`: everything a newcomer needs on embedded defaults. The companion (local Interledger
// network, wallet, verifier), wallet accounts and proxy pointers for the example site's writers, the
// development payment agent, and the example site under `hugo server`, pointed at all of it. Open a
// post and watch payments flow: this script prints what each account receives.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import closeWithGrace from 'close-with-grace'
import { banner, startServer } from '../server/src/server.ts'
import { ConfigError, loadConfig, type Config } from '../server/src/config.ts'
import { buildDevAgent } from './build-dev-agent.ts'
import { formatAmount } from '../theme/assets/ts/amounts.ts'

const root = fileURLToPath(new URL('..', import.meta.url))
const SITE_DIR = path.resolve(root, process.env.TRICKLE_SITE_DIR ?? 'site-example')
const SITE_PORT = Number(process.env.TRICKLE_SITE_PORT ?? 1313)
const CREATORS = ['alice', 'bob', 'carol']

let config: Config
try {
  config = loadConfig()
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(`trickle: bad setting ${err.message}`)
    process.exit(2)
  }
  throw err
}

const app = await startServer(config).catch((err: NodeJS.ErrnoException) => {
  console.error(err.code === 'EADDRINUSE' ? `trickle: a port is in use (${err.message}); set PORT or TRICKLE_BTP_PORT` : err)
  process.exit(1)
})

// The example site's gallery names three creators; give each a wallet account and a proxy pointer.
const creators: Record<string, string> = {}
for (const name of CREATORS) {
  const account = await app.wallet.ensureAccount(name)
  const proxy = await app.verifier.registerProxy(account.paymentPointer)
  if (typeof proxy !== 'string') creators[name] = proxy.proxy.proxyPointer
}

let hugo: ChildProcess | undefined
let siteLine = ''
try {
  await buildDevAgent()
  const dataDir = path.dirname(config.database === ':memory:' ? path.join(root, 'data', 'x') : config.database)
  mkdirSync(dataDir, { recursive: true })
  const override = path.join(dataDir, 'site-override.toml')
  writeFileSync(override, [
    '# Written by npm start: points the site at this companion. Do not edit; it is rewritten each start.',
    '[params]',
    app.demo ? `  monetization = ${JSON.stringify(app.demo.proxyPointer)}` : '',
    '  [params.creators]',
    ...Object.entries(creators).map(([n, p]) => `    ${n} = ${JSON.stringify(p)}`),
    '  [params.trickle.devAgent]',
    `    btp = ${JSON.stringify(app.ilpNetwork.btpUrl)}`,
    ''
  ].join('\n'))
  const siteUrl = `http://localhost:${SITE_PORT}/`
  hugo = spawn('hugo', ['server', '--source', SITE_DIR, '--config', `config.toml,${override}`, '--port', String(SITE_PORT),
    '--bind', '127.0.0.1', '--baseURL', siteUrl, '--disableFastRender'], { stdio: ['ignore', 'pipe', 'pipe'] })
  hugo.on('error', (err) => {
    app.log.warn({ err: err.message }, 'could not run hugo: install it (Debian: apt-get install hugo) to serve the example site; the companion keeps running')
  })
  hugo.stderr?.on('data', (d: Buffer) => { for (const line of d.toString().split('\n')) if (line.trim()) app.log.warn({ hugo: line.trim() }, 'hugo') })
  hugo.stdout?.on('data', (d: Buffer) => {
    const text = d.toString()
    if (/Web Server is available/.test(text)) app.log.info({ site: siteUrl }, 'example site ready (hugo server, development build: the dev payment agent pays every page)')
  })
  siteLine = `  Example site    ${siteUrl}   (hugo server; open a post and watch payments arrive below)`
} catch (err) {
  app.log.warn({ err: (err as Error).message }, 'could not start the example site; the companion keeps running')
}

process.stdout.write(banner(app, siteLine ? [siteLine] : []) + '\n')

// Watch payments flow: one line per account whose total moved, every few seconds.
const seen = new Map<string, bigint>()
const watch = setInterval(() => {
  app.wallet.listAccounts().then((accounts) => {
    for (const a of accounts) {
      const now = BigInt(a.received)
      const before = seen.get(a.name) ?? now
      seen.set(a.name, now)
      if (now > before) {
        app.log.info(`wallet "${a.name}" received ${formatAmount(now - before, a.assetCode, a.assetScale, 'en')} (total ${formatAmount(now, a.assetCode, a.assetScale, 'en')})`)
      }
    }
  }, () => {})
}, 5000)
watch.unref()

closeWithGrace({ delay: 10_000 }, async ({ signal, err }) => {
  if (err) app.log.error({ err }, 'shutting down after an error')
  else app.log.info({ signal }, 'shutting down')
  clearInterval(watch)
  hugo?.kill('SIGTERM')
  await app.close()
})
