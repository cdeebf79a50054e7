// The Hugo example site in its production shape for browser tests: a companion whose creators are
// registered wallet addresses, the site linking those addresses, built for production and for
// development (the agent pays, in extension mode), both sealed, served; closed by `close()`.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { sealSite } from '../../plugins/rehype-trickle-seal/lib/site.ts'
import { buildDevAgent } from '../../scripts/build-dev-agent.ts'
import { hugoBuild, repoRoot } from '../../scripts/hugo.ts'
import { serveStatic, type StaticSite } from '../../scripts/static-server.ts'
import { build, type Built } from '../../server/test/helper.ts'
import { siteSeal } from '../../server/test/seal-helper.ts'

export interface ExampleSite {
  built: Built
  site: StaticSite
  /** Where the builds are: production/ and development/ */
  dir: string
  close (): Promise<void>
}

/** `params` adds TOML lines under [params] (e.g. downloads), given the companion once it runs. */
export async function sealedExampleSite (params: (built: Built) => Promise<string> | string = () => ''): Promise<ExampleSite> {
  const dir = mkdtempSync(path.join(tmpdir(), 'trickle-example-'))
  const built = await build(undefined)
  const { app, url, btpPort } = built
  const creators: string[] = []
  for (const name of ['alice', 'bob', 'carol']) {
    const account = await app.wallet.ensureAccount(name)
    await app.verifier.registerProxy(account.paymentPointer)
    creators.push(`    ${name} = "${account.paymentPointer}"`)
  }
  await buildDevAgent()
  const override = path.join(dir, 'trickle.toml')
  writeFileSync(override, `[params]\n  monetization = "${app.demo!.paymentPointer}"\n  [params.creators]\n${creators.join('\n')}\n${await params(built)}` +
    `  [params.trickle.devAgent]\n    btp = "btp+ws://127.0.0.1:${btpPort}"\n    amount = "100000"\n    intervalMs = 150\n`)
  const site = await serveStatic(dir)
  for (const env of ['production', 'development'] as const) {
    await hugoBuild({ source: `${repoRoot}site-example`, destination: path.join(dir, env), configs: [override], baseURL: `${site.url}/${env}/`, environment: env })
    await sealSite(path.join(dir, env), { ...siteSeal(app.sealKey), companion: url })
  }
  return {
    built,
    site,
    dir,
    async close () {
      await site.close()
      await app.close()
      rmSync(dir, { recursive: true, force: true })
    }
  }
}
