// Production in one command: the site's seal key from the companion (admin token, no database read),
// Hugo's production build sealed for that companion, then a reader in Chromium paying with the
// development agent and opening the section. And the command's errors, in one line each.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import { buildAndSeal } from '../scripts/build.ts'
import { buildDevAgent } from '../scripts/build-dev-agent.ts'
import { repoRoot } from '../scripts/hugo.ts'
import { serveStatic } from '../scripts/static-server.ts'
import { siteKeyFor } from '../plugins/rehype-trickle-seal/lib/keys.ts'
import { decodeSealToken } from '../packages/trickle-core/src/seal.ts'
import { ADMIN, build, creatorLines } from '../server/test/helper.ts'
import { launchChromium, watchErrors } from './support/browser.ts'

const SECRET = 'This paragraph was behind the one-line marker'
const allFiles = (dir: string): string[] => readdirSync(dir).flatMap((f) => statSync(path.join(dir, f)).isDirectory() ? allFiles(path.join(dir, f)) : [path.join(dir, f)])

test('POST /sealed/sites gives a site its own key, with the admin token only', async (t) => {
  const { app } = await build(t, {}, { listen: false })
  assert.equal((await app.inject({ method: 'POST', url: '/sealed/sites', payload: { site: 'https://blog.test/' } })).statusCode, 401)
  const reply = (site: string) => app.inject({ method: 'POST', url: '/sealed/sites', headers: { authorization: `Bearer ${ADMIN}` }, payload: { site } })
  const a = (await reply('https://blog.test')).json() as { site: string, sealKey: string }
  assert.equal(a.site, 'https://blog.test/')
  assert.equal(Buffer.from(a.sealKey, 'base64').length, 32)
  assert.equal((await reply('https://blog.test/')).json().sealKey, a.sealKey, 'the same site, the same key')
  assert.notEqual((await reply('https://other.test/')).json().sealKey, a.sealKey)
  assert.equal((await reply('ftp://blog.test/')).json().code, 'invalid_site')
})

test('npm run build: production build, sealed for a running companion, opens for a paying reader in Chromium', { timeout: 120_000 }, async (t) => {
  const { app, url, btpPort } = await build(t)
  const dir = mkdtempSync(path.join(tmpdir(), 'trickle-prod-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  await buildDevAgent()
  const creators = await creatorLines(app)
  const served = await serveStatic(dir)
  t.after(() => served.close())
  const siteUrl = `${served.url}/public/`
  // The writer's own settings: pointers of this companion, and (for this test only) the development
  // agent in a production build, since no Web Monetization extension runs in a test browser.
  const override = path.join(dir, 'writer.toml')
  writeFileSync(override, `[params]\n  monetization = "${app.demo!.proxyPointer}"\n  [params.creators]\n${creators.join('\n')}\n  [params.trickle.devAgent]\n    enabled = true\n    mode = "receipts"\n    btp = "btp+ws://127.0.0.1:${btpPort}"\n    amount = "100000"\n    intervalMs = 150\n`)

  // The key, as the command gets it: asked of the companion with its admin token.
  const sealKey = await siteKeyFor(siteUrl, url, { TRICKLE_ADMIN_TOKEN: ADMIN })
  const out = path.join(dir, 'public')
  const lines: string[] = []
  const report = await buildAndSeal({ source: `${repoRoot}site-example`, out, site: siteUrl, companion: url, sealKey, configs: [override], say: (l) => lines.push(l) })
  assert.ok(report.sections.length >= 2)
  assert.ok(lines.some((l) => /no exclusive text outside them/.test(l)), lines.join('\n'))
  for (const file of allFiles(out)) assert.ok(!readFileSync(file, 'utf8').includes(SECRET), `${path.relative(out, file)} holds exclusive text`)
  const token = /data-trickle-token="([^"]+)"/.exec(readFileSync(path.join(out, 'posts/exclusive-marker/index.html'), 'utf8'))![1]!
  assert.equal(decodeSealToken(token, app.sealKey).site, siteUrl, 'the token names the site its key is bound to')

  const browser = await launchChromium()
  t.after(() => browser.close())
  const page = await browser.newPage()
  const errors = watchErrors(page)
  await page.goto(`${siteUrl}posts/exclusive-marker/`)
  await page.waitForSelector('[data-trickle-content]:not([hidden])', { timeout: 30_000 })
  assert.match(await page.textContent('[data-trickle-content]') ?? '', new RegExp(SECRET))
  assert.deepEqual(errors, [])
})

test('the build command says in one line what is missing or wrong', async () => {
  const run = (args: string[], env: Record<string, string> = {}) => spawnSync(path.join(repoRoot, 'node_modules/.bin/node'), [path.join(repoRoot, 'scripts/build.ts'), ...args], {
    encoding: 'utf8', env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env }, timeout: 60_000
  })
  const cases: Array<[string[], Record<string, string>, number, RegExp]> = [
    [[], {}, 2, /--companion .* must be the companion's public http\(s\) URL/],
    [['--companion', 'http://127.0.0.1:9'], {}, 2, /--site .* must be the site's public base URL/],
    [['--companion', 'http://127.0.0.1:9', '--site', 'https://blog.test/'], {}, 1, /no seal key: set TRICKLE_ADMIN_TOKEN/],
    [['--companion', 'http://127.0.0.1:9', '--site', 'https://blog.test/'], { TRICKLE_ADMIN_TOKEN: 'x' }, 1, /could not reach the companion at http:\/\/127\.0\.0\.1:9/]
  ]
  for (const [args, env, code, message] of cases) {
    const r = run(args, env)
    assert.equal(r.status, code, `${args.join(' ')}: ${r.stderr}`)
    assert.match(r.stderr, message)
    assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`)
    assert.ok(!/\n\s+at /.test(r.stderr), 'no stack trace')
  }
})
