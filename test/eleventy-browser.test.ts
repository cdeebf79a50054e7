// Eleventy 3 with eleventy-plugin-trickle, as a writer uses it: the example site's config adds the
// plugin in one line; `eleventy` builds it (Markdown through Trickle's unified plugins, the link and
// scripts on every page, per-page price and wallet from front matter) and seals it against a running
// companion. Then Chromium, with the development agent in extension mode, pays and reads both sealed
// posts; axe finds nothing on any page.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { execFile } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import { buildAssets } from '../packages/trickle-site/build-assets.ts'
import { buildDevAgent } from '../scripts/build-dev-agent.ts'
import { repoRoot } from '../scripts/hugo.ts'
import { serveStatic } from '../scripts/static-server.ts'
import { ADMIN, build } from '../server/test/helper.ts'
import { licensedTorrent, registerTorrent } from '../server/test/tracker-helper.ts'
import { launchChromium, watchErrors } from './support/browser.ts'

const example = path.join(repoRoot, 'plugins/eleventy-plugin-trickle/example')
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8')

function files (dir: string): string[] {
  return readdirSync(dir).flatMap((f) => statSync(path.join(dir, f)).isDirectory() ? files(path.join(dir, f)) : [path.join(dir, f)])
}

test('an Eleventy site with the plugin in one line: built, sealed, paid and read in Chromium', async (t) => {
  const { app, url, btpPort } = await build(t)
  for (const name of ['alice']) await app.verifier.registerProxy((await app.wallet.ensureAccount(name)).paymentPointer)
  // A file the companion sells, paid to the demo wallet address.
  const created = await licensedTorrent(app, url, randomBytes(20_000), { name: 'notes.txt', license: { paymentPointer: app.demo!.paymentPointer, amount: '500000', assetScale: 9 } })
  const registered = await registerTorrent(url, created.torrent)
  assert.equal(registered.status, 201)
  const out = mkdtempSync(path.join(tmpdir(), 'trickle-eleventy-'))
  t.after(() => rmSync(out, { recursive: true, force: true }))
  await buildDevAgent()
  await buildAssets()
  const site = await serveStatic(out)
  t.after(() => site.close())
  const env = {
    ...process.env,
    TRICKLE_POINTER: `${url}/wallet/demo`,
    TRICKLE_GUEST_POINTER: `${url}/wallet/alice`,
    TRICKLE_BTP: `btp+ws://127.0.0.1:${btpPort}`,
    TRICKLE_COMPANION: url,
    TRICKLE_SITE_URL: `${site.url}/`,
    TRICKLE_ADMIN_TOKEN: ADMIN,
    TRICKLE_OUT: out,
    TRICKLE_MAGNET: registered.body.magnet
  }
  const log = await new Promise<string>((resolve, reject) => {
    execFile(path.join(repoRoot, 'node_modules/.bin/node'), [path.join(repoRoot, 'node_modules/@11ty/eleventy/cmd.cjs')], { cwd: example, env, timeout: 120_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`eleventy failed: ${stderr}${stdout}`)); else resolve(stdout + stderr)
    })
  })
  assert.match(log, /\[trickle\] sealed 2 exclusive section\(s\) on 2 page\(s\)/)
  for (const f of files(out)) {
    if (/\.(html|xml|json)$/.test(f)) assert.ok(!readFileSync(f, 'utf8').includes('behind the one-line marker'), `${path.relative(out, f)} holds no exclusive text`)
  }
  const guestHtml = readFileSync(path.join(out, 'posts/guest/index.html'), 'utf8')
  assert.ok(guestHtml.includes(`<link rel="monetization" href="${url}/wallet/alice">`), 'front matter names the guest\'s wallet')
  assert.match(guestHtml, /data-trickle-price-amount="300000"/, 'and its own price')

  const browser = await launchChromium()
  t.after(() => browser.close())
  const page = await browser.newPage()
  const errors = watchErrors(page)
  const aliceBefore = BigInt((await app.wallet.getAccount('alice') as { received: string }).received)
  for (const [p, text] of [['/posts/exclusive/', 'behind the one-line marker'], ['/posts/guest/', 'tip for supporters']] as const) {
    await page.goto(`${site.url}${p}`)
    await page.waitForSelector('[data-trickle-content]:not([data-trickle-sealed])', { timeout: 30_000 })
    assert.match(await page.textContent('[data-trickle-content]') ?? '', new RegExp(text))
    await page.evaluate(() => window.trickleDevAgent!.stop())
  }
  assert.ok(BigInt((await app.wallet.getAccount('alice') as { received: string }).received) > aliceBefore, 'the guest\'s wallet was paid')

  // The download block: its script and strings are there; it shows the price and buys a ticket.
  await page.goto(`${site.url}/posts/download/`)
  assert.equal(await page.textContent('[data-trickle-download-price]'), '$0.0005')
  await page.click('[data-trickle-download-start]')
  await page.waitForFunction(() => /Paid|Connecting|peers/i.test(document.querySelector('[data-trickle-download-status]')?.textContent ?? ''), undefined, { timeout: 20_000 }).catch(async (err: Error) => {
    throw new Error(`${err.message}: the block says ${await page.textContent('[data-trickle-download]')}`)
  })
  await page.evaluate(() => window.trickleDevAgent!.stop())
  assert.deepEqual(errors, [])

  // Accessibility of the example's pages, as the Hugo example's (test/accessibility.test.ts).
  const found: string[] = []
  for (const p of ['/', '/posts/exclusive/', '/posts/guest/', '/posts/download/']) {
    await page.goto(`${site.url}${p}`)
    await page.addScriptTag({ content: axeSource })
    const v = await page.evaluate(async () => (await (window as unknown as { axe: { run (d: Document): Promise<{ violations: Array<{ id: string }> }> } }).axe.run(document)).violations.map((x) => x.id))
    for (const id of v) found.push(`${p}: ${id}`)
  }
  assert.deepEqual(found, [])
})
