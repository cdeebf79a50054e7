// A sealed site in Chromium: the example site built by Hugo, sealed by rehype-trickle-seal, paid by the
// development agent. A paying reader gets the key and sees the section; a reader who does not pay never
// receives a key and the page never holds the text. The balance secret stays in the browser: it is in
// localStorage and in key request bodies, never in a URL.
import { SITE, siteSeal, siteSectionKey, siteToken } from '../server/test/seal-helper.ts'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import type { Response } from 'playwright-core'
import { sealSite } from '../plugins/rehype-trickle-seal/lib/site.ts'
import { buildDevAgent } from '../scripts/build-dev-agent.ts'
import { build, creatorLines } from '../server/test/helper.ts'
import { launchChromium, screenshot, watchErrors } from './support/browser.ts'
import { hugoBuild, repoRoot } from '../scripts/hugo.ts'
import { serveStatic } from '../scripts/static-server.ts'

const SECRET = 'This paragraph was behind the one-line marker'

test('sealed sections open for a paying reader only', async (t) => {
  const { app, url, btpPort } = await build(t)
  const dir = mkdtempSync(path.join(tmpdir(), 'trickle-sealed-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  await buildDevAgent()
  // Every page's pointer is a proxy pointer of this companion (the sealing step takes its receiver from it).
  const creators = await creatorLines(app)
  const override = path.join(dir, 'trickle.toml')
  writeFileSync(override, `[params]\n  monetization = "${app.demo!.proxyPointer}"\n  [params.creators]\n${creators.join('\n')}\n  [params.trickle.devAgent]\n    mode = "receipts"\n    btp = "btp+ws://127.0.0.1:${btpPort}"\n    amount = "100000"\n    intervalMs = 150\n`)
  const site = await serveStatic(dir)
  t.after(() => site.close())
  for (const env of ['production', 'development'] as const) {
    const out = path.join(dir, env)
    await hugoBuild({ source: `${repoRoot}site-example`, destination: out, configs: [override], baseURL: `${site.url}/${env}/`, environment: env })
    await sealSite(out, { ...siteSeal(app.sealKey), companion: url })
  }
  const browser = await launchChromium()
  t.after(() => browser.close())

  // A reader without an agent: the call to action and the price, never a key, never the text.
  const unpaid = await browser.newPage()
  const unpaidErrors = watchErrors(unpaid)
  const keyReplies: Response[] = []
  unpaid.on('response', (r) => { if (r.url().endsWith('/sealed/keys')) keyReplies.push(r) })
  await unpaid.goto(`${site.url}/production/posts/exclusive-marker/`)
  await unpaid.waitForTimeout(1500)
  assert.match(await unpaid.textContent('[data-trickle-cta]') ?? '', /Price: \$0\.0005\./)
  assert.equal(await unpaid.isVisible('[data-trickle-content]'), false)
  assert.ok(!(await unpaid.content()).includes(SECRET), 'the text is nowhere in the page')
  assert.deepEqual(keyReplies.filter((r) => r.status() === 200), [], 'no key was released')
  assert.deepEqual(unpaidErrors, [])

  // A paying reader: receipts credited, the price spent once, the section decrypted.
  const paid = await browser.newPage()
  const errors = watchErrors(paid)
  const charges: string[] = []
  const urls: string[] = []
  const keyBodies: string[] = []
  paid.on('request', (r) => { urls.push(r.url()); if (r.url().endsWith('/sealed/keys')) keyBodies.push(r.postData() ?? '') })
  paid.on('response', async (r) => {
    if (r.url().endsWith('/sealed/keys') && r.status() === 200) charges.push((await r.json() as { charged: string }).charged)
  })
  await paid.goto(`${site.url}/development/posts/exclusive-marker/`)
  await paid.waitForSelector('[data-trickle-content]:not([hidden])', { timeout: 30_000 })
  assert.match(await paid.textContent('[data-trickle-content]') ?? '', new RegExp(SECRET))
  assert.equal(await paid.isVisible('[data-trickle-thanks]'), true)
  assert.match(await paid.textContent('[data-trickle-thanks]') ?? '', /You bought this part: it is yours to read/, 'a bought section says so, not "while you stream"')
  await screenshot(paid, 'sealed-paid')
  assert.deepEqual(charges, ['500000'], 'the price was spent once')

  // A reload within the grant opens the section again without paying.
  await paid.reload()
  await paid.waitForSelector('[data-trickle-content]:not([hidden])', { timeout: 30_000 })
  assert.deepEqual(charges, ['500000', '0'], 'the reload was free')
  assert.deepEqual(errors, [], 'no console errors: the page asks for the key only once the balance covers the price')

  // The secret: 32 random bytes in localStorage; credits went to the id derived from it, and the
  // secret itself travelled only in the key requests' bodies.
  const secret = await paid.evaluate(() => localStorage.getItem('trickle-balance-secret'))
  assert.match(String(secret), /^[A-Za-z0-9_-]{43}$/)
  const id = createHash('sha256').update(`trickle-balance-v1\n${secret}`).digest('base64url')
  assert.ok(urls.some((u) => u === `${url}/balances/${id}:creditReceipt`), 'receipts are credited to the public id')
  assert.deepEqual(urls.filter((u) => u.includes(secret!)), [], 'no URL carries the secret')
  assert.ok(keyBodies.length >= 2 && keyBodies.every((b) => (JSON.parse(b) as { secret: string }).secret === secret))
  assert.ok(await app.store.getBalance(id, /\/p\/([0-9a-f]{32})$/.exec(app.demo!.proxyPointer)![1]!) !== undefined)
})
