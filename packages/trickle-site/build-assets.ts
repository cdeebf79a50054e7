// Builds what a page of a generated site needs in the browser into assets/ (shipped in the package):
// the theme's reader script and download script (bundled with esbuild from theme/assets/ts), its CSS,
// the development payment agent, WebTorrent's browser build, and every visible string from the theme's
// i18n files, in the shapes the Hugo theme's partials write (config.html, scripts.html).
import { build } from 'esbuild'
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const repo = path.resolve(here, '../..')
const out = path.join(here, 'assets')

/** The theme's i18n file as key → string (its lines are `key = "value"`). */
function readStrings (file: string): Record<string, string> {
  const strings: Record<string, string> = {}
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^([A-Za-z0-9_]+)\s*=\s*("(?:[^"\\]|\\.)*")\s*$/.exec(line)
    if (m) strings[m[1]!] = JSON.parse(m[2]!) as string
  }
  return strings
}

/** The reader script's, the download script's and the call script's strings, keyed as the theme's partials key them. */
export function configStrings (s: Record<string, string>) {
  const t = (k: string) => { if (s[k] === undefined) throw new Error(`theme i18n has no ${k}`); return s[k]! }
  return {
    reader: { thanks: t('exclusiveOpened'), streaming: t('paymentStarted'), sealed: { price: t('sealedPrice'), waiting: t('sealedWaiting'), progress: t('sealedProgress'), unlocking: t('sealedUnlocking'), noReceipts: t('sealedNoReceipts'), unreachable: t('sealedUnreachable'), broken: t('sealedBroken'), refused: t('sealedRefused'), bought: t('sealedBought') } },
    download: { needAgent: t('downloadNeedAgent'), paying: t('downloadPaying'), paid: t('downloadPaid'), connecting: t('downloadConnecting'), downloading: t('downloadProgress'), done: t('downloadDone'), save: t('downloadSave'), noPeers: t('downloadNoPeers'), refused: t('downloadRefused'), failed: t('downloadFailed'), unreachable: t('downloadUnreachable'), seeding: t('downloadSeeding'), mismatch: t('downloadMismatch'), notRegistered: t('downloadNotRegistered'), notAsRegistered: t('downloadNotAsRegistered'), notCovered: t('downloadNotCovered'), tooManyPeers: t('downloadTooManyPeers'), noProofKey: t('downloadNoProofKey') },
    call: Object.fromEntries(['price', 'priceLoading', 'join', 'joinHost', 'waiting', 'needAgent', 'connecting', 'joined', 'paid', 'removedPayment', 'removedHost', 'left', 'closed', 'disconnected', 'full', 'notOpen', 'ended', 'unreachable', 'noCamera', 'you', 'host', 'remove', 'failed']
      .map((k) => [k, t(`call${k[0]!.toUpperCase()}${k.slice(1)}`)])),
    callBlock: { title: t('callTitle'), priceLoading: t('callPriceLoading'), join: t('callJoin'), leave: t('callLeave'), videos: t('callVideos') },
    exclusive: { title: t('exclusiveTitle'), titleNth: t('exclusiveTitleNth').replace('{{ .Count }}', '{n}'), ctaTitle: t('exclusiveCtaTitle'), cta: t('exclusiveCta'), learnMore: t('exclusiveLearnMore'), thanks: t('exclusiveThanks') }
  }
}

export async function buildAssets (): Promise<string> {
  mkdirSync(out, { recursive: true })
  const ts = path.join(repo, 'theme/assets/ts')
  await build({ entryPoints: [path.join(ts, 'trickle.ts')], outfile: path.join(out, 'trickle.js'), bundle: true, minify: true, format: 'iife', target: 'es2020', logLevel: 'warning' })
  await build({ entryPoints: [path.join(ts, 'download.ts')], outfile: path.join(out, 'download.js'), bundle: true, minify: true, format: 'esm', target: 'es2020', logLevel: 'warning' })
  await build({ entryPoints: [path.join(ts, 'call.ts')], outfile: path.join(out, 'call.js'), bundle: true, minify: true, format: 'esm', target: 'es2020', logLevel: 'warning' })
  copyFileSync(path.join(repo, 'theme/assets/css/main.css'), path.join(out, 'main.css'))
  const agent = path.join(repo, 'theme/assets/trickle/dev-agent.js')
  if (!existsSync(agent)) throw new Error('the development agent is not built: run `npm run build:agent` at the repository root')
  copyFileSync(agent, path.join(out, 'dev-agent.js'))
  copyFileSync(createRequire(import.meta.url).resolve('webtorrent/dist/webtorrent.min.js'), path.join(out, 'webtorrent.min.js'))
  const strings: Record<string, ReturnType<typeof configStrings>> = {}
  for (const f of readdirSync(path.join(repo, 'theme/i18n')).filter((f) => f.endsWith('.toml'))) {
    strings[f.replace(/\.toml$/, '')] = configStrings(readStrings(path.join(repo, 'theme/i18n', f)))
  }
  writeFileSync(path.join(out, 'strings.json'), JSON.stringify(strings))
  return out
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  console.log(`trickle-site assets: ${await buildAssets()}`)
}
