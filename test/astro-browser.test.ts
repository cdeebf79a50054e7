// Astro 7 with astro-trickle, as a writer uses it: the example's config adds the integration in one
// line; `astro build` renders its Markdown with Trickle's plugins (on Astro's unified processor),
// decorates every page (link, scripts, strings, CSS), and seals the output against a running
// companion. Then Chromium, with the development agent in extension mode, pays and reads the sealed
// post; axe finds nothing on any page.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import { buildAssets } from '../packages/trickle-site/build-assets.ts'
import { buildDevAgent } from '../scripts/build-dev-agent.ts'
import { repoRoot } from '../scripts/hugo.ts'
import { serveStatic } from '../scripts/static-server.ts'
import { ADMIN, build, freePort } from '../server/test/helper.ts'
import { launchChromium, watchErrors } from './support/browser.ts'

const example = path.join(repoRoot, 'plugins/astro-trickle/example')
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8')

test('an Astro site with the integration in one line: built, sealed, paid and read in Chromium', async (t) => {
  const { url, btpPort } = await build(t)
  const out = mkdtempSync(path.join(tmpdir(), 'trickle-astro-'))
  t.after(() => rmSync(out, { recursive: true, force: true }))
  await buildDevAgent()
  await buildAssets()
  const site = await serveStatic(out)
  t.after(() => site.close())
  const env = { ...process.env, TRICKLE_POINTER: `${url}/wallet/demo`, TRICKLE_BTP: `btp+ws://127.0.0.1:${btpPort}`, TRICKLE_COMPANION: url, TRICKLE_SITE_URL: `${site.url}/`, TRICKLE_ADMIN_TOKEN: ADMIN, TRICKLE_OUT: out, ASTRO_TELEMETRY_DISABLED: '1' }
  const log = await new Promise<string>((resolve, reject) => {
    execFile(path.join(repoRoot, 'node_modules/.bin/node'), [path.join(repoRoot, 'node_modules/astro/bin/astro.mjs'), 'build'], { cwd: example, env, timeout: 180_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`astro build failed: ${stderr}${stdout}`)); else resolve(stdout + stderr)
    })
  })
  assert.match(log, /sealed 1 exclusive section\(s\) on 1 page\(s\)/)
  const sealed = readFileSync(path.join(out, 'posts/exclusive/index.html'), 'utf8')
  assert.ok(!sealed.includes('for supporters only'), 'the exclusive text left the build encrypted')
  assert.match(sealed, /data-trickle-price-amount="400000"/, 'the price from front matter')
  assert.ok(readFileSync(path.join(out, 'posts/guest/index.html'), 'utf8').includes('<link rel="monetization" href="https://wallet.example/guest">'), 'front matter `monetization` names the page\'s wallet')

  const browser = await launchChromium()
  t.after(() => browser.close())
  const page = await browser.newPage()
  const errors = watchErrors(page)
  await page.goto(`${site.url}/posts/exclusive/`)
  await page.waitForSelector('[data-trickle-content]:not([data-trickle-sealed])', { timeout: 30_000 })
  assert.match(await page.textContent('[data-trickle-content]') ?? '', /for supporters only/)
  await page.evaluate(() => window.trickleDevAgent!.stop())
  assert.deepEqual(errors, [])
  const found: string[] = []
  for (const p of ['/', '/posts/exclusive/', '/posts/guest/']) {
    await page.goto(`${site.url}${p}`)
    await page.addScriptTag({ content: axeSource })
    const v = await page.evaluate(async () => (await (window as unknown as { axe: { run (d: Document): Promise<{ violations: Array<{ id: string }> }> } }).axe.run(document)).violations.map((x) => x.id))
    for (const id of v) found.push(`${p}: ${id}`)
  }
  assert.deepEqual(found, [])
})

test('astro dev: each page adds its link, the scripts and the development agent as it loads; a payment opens the part', async (t) => {
  const { url, btpPort } = await build(t)
  await buildDevAgent()
  await buildAssets()
  // A free ephemeral port (Chromium refuses some low ones, e.g. 5060-5061).
  const port = await freePort()
  const env = { ...process.env, TRICKLE_POINTER: `${url}/wallet/demo`, TRICKLE_BTP: `btp+ws://127.0.0.1:${btpPort}`, ASTRO_TELEMETRY_DISABLED: '1' }
  const { spawn } = await import('node:child_process')
  const dev = spawn(path.join(repoRoot, 'node_modules/.bin/node'), [path.join(repoRoot, 'node_modules/astro/bin/astro.mjs'), 'dev', '--port', String(port), '--host', '127.0.0.1'], { cwd: example, env, stdio: ['ignore', 'pipe', 'pipe'] })
  t.after(() => { dev.kill('SIGKILL') })
  await new Promise<void>((resolve, reject) => {
    let seen = ''
    const timer = setTimeout(() => reject(new Error(`astro dev did not start: ${seen}`)), 60_000)
    const on = (d: Buffer) => { seen += d.toString(); if (seen.includes(`127.0.0.1:${port}`)) { clearTimeout(timer); resolve() } }
    dev.stdout!.on('data', on)
    dev.stderr!.on('data', on)
  })
  const browser = await launchChromium()
  t.after(() => browser.close())
  const page = await browser.newPage()
  await page.goto(`http://127.0.0.1:${port}/posts/exclusive/`)
  assert.equal(await page.getAttribute('link[rel="monetization"]', 'href'), `${url}/wallet/demo`)
  await page.waitForFunction(() => window.trickleDevAgent?.mode === 'extension', undefined, { timeout: 20_000 })
  // Not sealed under the dev server: the reader script opens the part once a payment starts.
  await page.waitForSelector('[data-trickle-content]:not([hidden])', { timeout: 30_000 })
  assert.match(await page.textContent('[data-trickle-content]') ?? '', /for supporters only/)
  await page.evaluate(() => window.trickleDevAgent!.stop())
  await page.goto(`http://127.0.0.1:${port}/posts/guest/`)
  assert.equal(await page.getAttribute('link[rel="monetization"]', 'href'), 'https://wallet.example/guest', 'the page\'s own wallet from front matter')
})
