// `npm start`: everything a newcomer needs on embedded defaults. The companion (local Interledger
// network, wallet, verifier), wallet accounts and proxy pointers for the example site's writers, the
// development payment agent, and the example site built by Hugo, sealed and served, pointed at all of
// it and rebuilt when its files change. Open a post and watch payments flow: this script prints what
// each account receives.
import { existsSync, mkdirSync, watch, writeFileSync, type FSWatcher } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import closeWithGrace from 'close-with-grace'
import { banner, exitOnStartFailure, loadConfigOrExit, startServer } from '../server/src/server.ts'
import { asPortInUse, checkPortsFree, companionPorts, portInUseLine, type PortNeed } from '../server/src/ports.ts'
import { buildDevAgent } from './build-dev-agent.ts'
import { formatAmount } from '../theme/assets/ts/amounts.ts'
import { sealSite } from '../plugins/rehype-trickle-seal/lib/site.ts'
import { siteOf, siteSealKey } from '../packages/trickle-core/src/seal.ts'
import { hugoBuild } from './hugo.ts'
import { isPostgresUrl } from '../server/src/store/database-url.ts'
import { serveStatic, type StaticSite } from './static-server.ts'

const root = fileURLToPath(new URL('..', import.meta.url))
const SITE_DIR = path.resolve(root, process.env.TRICKLE_SITE_DIR ?? 'site-example')
const SITE_PORT = Number(process.env.TRICKLE_SITE_PORT ?? 1313)
if (!Number.isInteger(SITE_PORT) || SITE_PORT < 0 || SITE_PORT > 65535) {
  console.error(`trickle: bad setting TRICKLE_SITE_PORT: expected a port (0-65535), got ${JSON.stringify(process.env.TRICKLE_SITE_PORT)}`)
  process.exit(2)
}
const SITE: PortNeed = { host: '127.0.0.1', port: SITE_PORT, setting: 'TRICKLE_SITE_PORT' }
const CREATORS = ['alice', 'bob', 'carol']

// The example site sells one file: seed its files/ folder unless told otherwise ($0.001 each).
const FILES_DIR = path.join(SITE_DIR, 'files')
if (process.env.TRICKLE_SEED === undefined && existsSync(FILES_DIR)) {
  process.env.TRICKLE_SEED = FILES_DIR
  process.env.TRICKLE_SEED_PRICE ??= '1000000 USD/9'
}

const config = loadConfigOrExit()

// Every port this start needs, the site's included, before anything listens or says so: the site is
// served only after the companion has started and Hugo has built, too late to fail cleanly.
await checkPortsFree([...companionPorts(config), SITE]).catch(exitOnStartFailure)
const app = await startServer(config).catch(exitOnStartFailure)

// The example site's gallery names three creators; give each a wallet account, registered as a
// receiver. Pages link to the wallet addresses themselves, as a production site does: the agent pays
// them through Open Payments, as the Web Monetization extension does (TRICKLE_AGENT_MODE=receipts
// links the proxy pointers instead, for the Coil-era agent with STREAM receipts).
const legacy = process.env.TRICKLE_AGENT_MODE === 'receipts'
const creators: Record<string, string> = {}
for (const name of CREATORS) {
  const account = await app.wallet.ensureAccount(name)
  const proxy = await app.verifier.registerProxy(account.paymentPointer)
  if (typeof proxy !== 'string') creators[name] = legacy ? proxy.proxy.proxyPointer : account.paymentPointer
}

// The example site's call page ({{< call room="office-hours" >}}): a room paid to the demo account,
// 0.001 USD a minute (the development agent streams 0.012 USD a minute, so the first minute is paid
// within 5 s of pressing join). The host joins it free with
// the room's host token in the page's address (#host=…), which the banner prints.
const CALL_ROOM = 'office-hours'
if (app.demo) {
  const created = await app.calls.createRoom({ id: CALL_ROOM, title: 'Office hours', pointer: legacy ? app.demo.proxyPointer : app.demo.paymentPointer, rate: { amount: '1', assetCode: 'USD', assetScale: 3 } })
  if ('error' in created && created.error !== 'room_exists') app.log.warn({ error: created.error, detail: created.detail }, 'could not create the example call room')
}

let site: StaticSite | undefined
let watcher: FSWatcher | undefined
let siteLine = ''
try {
  await buildDevAgent()
  // Magnets of what the companion seeds, by file name, for the theme's {{< download name="…" >}}.
  await app.seeder.started()
  const downloads: Record<string, string> = {}
  for (const r of await app.tracker.list()) downloads[r.parsed.name.replace(/\.[^.]+$/, '')] = app.tracker.magnet(r)
  const dataDir = config.database === ':memory:' || isPostgresUrl(config.database) ? path.resolve(process.env.TRICKLE_DATA_DIR ?? path.join(root, 'data')) : path.dirname(config.database)
  mkdirSync(dataDir, { recursive: true })
  const override = path.join(dataDir, 'site-override.toml')
  writeFileSync(override, [
    '# Written by npm start: points the site at this companion. Do not edit; it is rewritten each start.',
    '[params]',
    app.demo ? `  monetization = ${JSON.stringify(legacy ? app.demo.proxyPointer : app.demo.paymentPointer)}` : '',
    '  [params.creators]',
    ...Object.entries(creators).map(([n, p]) => `    ${n} = ${JSON.stringify(p)}`),
    '  [params.downloads]',
    ...Object.entries(downloads).map(([n, m]) => `    ${JSON.stringify(n)} = ${JSON.stringify(m)}`),
    // This build is sealed right after (no warning about plain-text exclusive sections).
    '  [params.trickle]',
    '    sealed = true',
    `    companion = ${JSON.stringify(config.publicUrl)}`,
    '  [params.trickle.devAgent]',
    `    btp = ${JSON.stringify(app.ilpNetwork.btpUrl)}`,
    `    mode = ${JSON.stringify(legacy ? 'receipts' : 'extension')}`,
    ''
  ].join('\n'))
  const out = path.join(dataDir, 'site')
  const siteUrl = `http://localhost:${SITE_PORT}/`
  // Build (development: the dev payment agent pays every page), then seal: exclusive sections leave
  // the build encrypted, and only this companion releases their keys, after payment.
  const rebuild = async () => {
    const started = Date.now()
    await hugoBuild({ source: SITE_DIR, destination: out, configs: [override], baseURL: siteUrl, environment: 'development' })
    // The site's own key, as a production build gets it from POST /sealed/sites.
    const report = await sealSite(out, { sealKey: siteSealKey(app.sealKey, siteOf(siteUrl)!), site: siteUrl, companion: config.publicUrl })
    app.log.info(`site built and sealed in ${Date.now() - started} ms: ${report.sections.length} exclusive section(s) on ${report.pages} page(s) encrypted, ${report.files} files checked`)
  }
  await rebuild()
  site = await serveStatic(out, SITE.port, SITE.host).catch(async (err: unknown) => {
    // Taken since the check above: the same one line, not "is hugo installed?".
    const line = portInUseLine(asPortInUse(err, SITE))
    if (line === undefined) throw err
    console.error(line)
    await app.close()
    process.exit(1)
  })
  siteLine = `  Example site    ${siteUrl}   (built, sealed; open a post and watch payments arrive below)`
  const callRoom = app.demo ? await app.calls.getRoom(CALL_ROOM) : undefined
  if (callRoom) siteLine += `\n  Video call      ${siteUrl}posts/call/#host=${app.calls.hostToken(callRoom)}   (the host's link; readers pay ${formatAmount(BigInt(callRoom.rate.amount), callRoom.rate.assetCode, callRoom.rate.assetScale, 'en')} a minute)`
  let timer: NodeJS.Timeout | undefined
  watcher = watch(SITE_DIR, { recursive: true }, (_event, file) => {
    if (file && /^(public|resources)\//.test(String(file))) return
    clearTimeout(timer)
    timer = setTimeout(() => { rebuild().catch((err: Error) => app.log.warn({ err: err.message }, 'site rebuild failed')) }, 300)
  })
} catch (err) {
  app.log.warn({ err: (err as Error).message }, 'could not build the example site (is hugo installed? Debian: apt-get install hugo); the companion keeps running')
}

process.stdout.write(banner(app, siteLine ? [siteLine] : []) + '\n')

// Watch payments flow: one line per account whose total moved, every few seconds.
const seen = new Map<string, bigint>()
const payments = setInterval(() => {
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
payments.unref()

closeWithGrace({ delay: 10_000 }, async ({ signal, err }) => {
  if (err) app.log.error({ err }, 'shutting down after an error')
  else app.log.info({ signal }, 'shutting down')
  clearInterval(payments)
  watcher?.close()
  await site?.close()
  await app.close()
})
