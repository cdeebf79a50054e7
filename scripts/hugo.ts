// Runs Hugo for tests and scripts: hugo-bin's binary when npm could install it (online machines), else
// the `hugo` on PATH (Debian's 0.111.3, which .ci/run installs).
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const run = promisify(execFile)
export const repoRoot = fileURLToPath(new URL('../', import.meta.url))

export function hugoBinary (): string {
  const local = `${repoRoot}node_modules/hugo-bin/vendor/hugo`
  return existsSync(local) ? local : 'hugo'
}

const SITE_CONFIGS = ['hugo.toml', 'hugo.yaml', 'hugo.yml', 'hugo.json', 'config.toml', 'config.yaml', 'config.yml', 'config.json']

export interface HugoBuild {
  source: string
  destination: string
  environment?: 'production' | 'development'
  /** Extra config files merged over the site's own (later wins). */
  configs?: string[]
  baseURL?: string
}

/** Builds a site; rejects with Hugo's own output when the build fails. Resolves to Hugo's log. */
export async function hugoBuild (b: HugoBuild): Promise<string> {
  // The site's own config file, whichever name it uses (hugo.toml since Hugo 0.110, config.toml before).
  const own = SITE_CONFIGS.find((name) => existsSync(`${b.source}/${name}`))
  const configs = [...(own ? [own] : []), ...(b.configs ?? [])].join(',')
  const args = ['--source', b.source, '--destination', b.destination, ...(configs ? ['--config', configs] : []),
    '--environment', b.environment ?? 'production', '--cleanDestinationDir']
  if (b.baseURL) args.push('--baseURL', b.baseURL)
  try {
    const { stdout, stderr } = await run(hugoBinary(), args, { cwd: b.source })
    return stdout + stderr
  } catch (err) {
    const e = err as { stdout?: string, stderr?: string, message: string }
    throw new Error(`hugo failed: ${e.stderr || e.stdout || e.message}`)
  }
}

export async function hugoVersion (): Promise<string> {
  const { stdout } = await run(hugoBinary(), ['version'])
  return stdout.trim()
}
