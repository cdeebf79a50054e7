// Bundles the development payment agent (theme/dev-agent/agent.ts) for the browser with esbuild:
// ilp-protocol-stream + ilp-plugin-btp + the few Node polyfills they need (buffer, process, events, util, stream).
// Output: theme/assets/trickle/dev-agent.js, which the theme fingerprints and includes only in
// development builds, and theme/assets/trickle/webtorrent.min.js for paid downloads. Runs on `npm install` (prepare), `npm start` and before the browser tests.
import { build } from 'esbuild'
import { copyFileSync, mkdirSync, statSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'
import { readFileSync } from 'node:fs'

const root = fileURLToPath(new URL('..', import.meta.url))
const outfile = `${root}theme/assets/trickle/dev-agent.js`

export async function buildDevAgent (): Promise<string> {
  mkdirSync(`${root}theme/assets/trickle`, { recursive: true })
  await build({
    entryPoints: [`${root}theme/dev-agent/agent.ts`],
    outfile,
    bundle: true,
    minify: true,
    format: 'iife',
    platform: 'browser',
    target: 'es2020',
    legalComments: 'none',
    logLevel: 'warning',
    alias: {
      stream: 'stream-browserify',
      events: 'events',
      buffer: 'buffer',
      util: 'util',
      process: `${root}node_modules/process/browser.js`,
      assert: `${root}theme/dev-agent/assert-shim.cjs`
    },
    inject: [`${root}theme/dev-agent/shims.ts`],
    define: { global: 'globalThis', 'process.env.NODE_ENV': '"production"' }
  })
  // WebTorrent's own browser build, which the theme's download script imports on demand. Hugo 0.111's
  // esbuild cannot bundle webtorrent from source (its Node-only dependencies need shims it cannot express), its dist file works as is.
  copyFileSync(`${root}node_modules/webtorrent/dist/webtorrent.min.js`, `${root}theme/assets/trickle/webtorrent.min.js`)
  return outfile
}

if (import.meta.main) {
  const file = await buildDevAgent()
  const bytes = statSync(file).size
  const gz = gzipSync(readFileSync(file), { level: 9 }).length
  console.log(`dev agent: ${file.replace(root, '')} ${(bytes / 1024).toFixed(1)} KiB (${(gz / 1024).toFixed(1)} KiB gzip)`)
}
