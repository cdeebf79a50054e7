// `npm run build`: the production build of a Hugo site (the example site by default), sealed for a
// running companion, in one command. Also `npm run trickle -- build SITE_DIR …` for a writer's site.
//
//   npm run build -- --companion https://pay.example.com --site https://blog.example/ [--out DIR] [SITE_DIR]
//
// The seal key is the site's own, bound to --site: from TRICKLE_SITE_SEAL_KEY (base64, kept e.g. as a
// CI secret), or asked of the companion with its admin token (TRICKLE_ADMIN_TOKEN, POST
// /sealed/sites), or derived from TRICKLE_SEAL_SECRET where the companion's secret is at hand. Hugo
// builds with params.trickle.sealed = true (no plain-text warning), then the sealing step encrypts
// every exclusive section and checks every output file; nothing is written when a check fails.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { SealKeyError, siteKeyFor } from '../plugins/rehype-trickle-seal/lib/keys.ts'
import { PlaintextLeakError, sealSite, UnconvertedMarkerError } from '../plugins/rehype-trickle-seal/lib/site.ts'
import { siteOf } from '../packages/trickle-core/src/seal.ts'
import { hugoBuild, repoRoot } from './hugo.ts'

export interface BuildOptions {
  source: string
  out: string
  site: string
  companion: string
  /** Extra Hugo config files (later wins), e.g. one pointing the site at this companion's pointers */
  configs?: string[]
  environment?: 'production' | 'development'
  sealKey: Uint8Array
  say?: (line: string) => void
}

/** Builds with Hugo and seals; resolves to what was sealed. */
export async function buildAndSeal (o: BuildOptions) {
  const say = o.say ?? (() => {})
  const dir = mkdtempSync(path.join(tmpdir(), 'trickle-build-'))
  try {
    // Tells the theme this build is sealed: no warning about plain-text exclusive sections.
    const sealedConfig = path.join(dir, 'sealed.toml')
    writeFileSync(sealedConfig, '[params.trickle]\n  sealed = true\n')
    say(`building ${o.source} with Hugo (${o.environment ?? 'production'}, baseURL ${o.site})`)
    await hugoBuild({ source: o.source, destination: o.out, environment: o.environment ?? 'production', baseURL: o.site, configs: [...(o.configs ?? []), sealedConfig] })
    say(`sealing ${o.out} for ${o.companion}`)
    const report = await sealSite(o.out, { sealKey: o.sealKey, site: o.site, companion: o.companion, onPage: (page, n) => say(`  sealed ${n} section(s) of ${page}`) })
    say(`${report.sections.length} section(s) on ${report.pages} page(s) sealed; ${report.files} files checked, no exclusive text outside them`)
    return report
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** Parses the command line and runs the build; CLI errors are one line, exit code 2 (usage) or 1. */
export async function buildCommand (argv: string[], defaults: { source?: string } = {}): Promise<number> {
  const fail = (code: number, message: string) => { console.error(`trickle build: ${message}`); return code }
  let parsed
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: { companion: { type: 'string' }, site: { type: 'string' }, out: { type: 'string' } } })
  } catch (err) {
    return fail(2, (err as Error).message)
  }
  const { values, positionals } = parsed
  const companion = (values.companion ?? process.env.TRICKLE_COMPANION_URL ?? '').replace(/\/+$/, '')
  if (!/^https?:\/\/[^/]/.test(companion)) return fail(2, '--companion (or TRICKLE_COMPANION_URL) must be the companion\'s public http(s) URL, e.g. https://pay.example.com')
  const site = siteOf(values.site ?? process.env.TRICKLE_SITE_URL ?? '')
  if (!site) return fail(2, '--site (or TRICKLE_SITE_URL) must be the site\'s public base URL, e.g. https://blog.example/ (its seal key is bound to it)')
  const source = path.resolve(positionals[0] ?? defaults.source ?? '.')
  const out = path.resolve(values.out ?? path.join(source, 'public'))
  try {
    const sealKey = await siteKeyFor(site, companion)
    await buildAndSeal({ source, out, site, companion, sealKey, say: (l) => console.log(l) })
    console.log(`done: deploy ${out} to ${site}; the companion must run at ${companion} (behind TLS) to sell the sealed sections`)
    return 0
  } catch (err) {
    if (err instanceof SealKeyError || err instanceof PlaintextLeakError || err instanceof UnconvertedMarkerError) return fail(1, err.message)
    return fail(1, (err as Error).message.replace(/^Error: /, ''))
  }
}

if (import.meta.main) process.exit(await buildCommand(process.argv.slice(2), { source: path.join(repoRoot, 'site-example') }))
