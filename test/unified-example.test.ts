// The plain unified example site (plugins/example) in Chromium: built with Trickle's remark/rehype
// plugins instead of Hugo, served with the theme's reader script, paid by the development agent over
// the companion's real network, and its exclusive parts open; sealed by rehype-trickle-seal, they open
// only once the companion sold the page's receiver's keys to this reader.
import { SITE, siteSeal, siteSectionKey, siteToken } from '../server/test/seal-helper.ts'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import { buildExample } from '../plugins/example/build.ts'
import { PlaintextLeakError, sealSite } from '../plugins/rehype-trickle-seal/lib/site.ts'
import { buildDevAgent } from '../scripts/build-dev-agent.ts'
import { build } from '../server/test/helper.ts'
import { launchChromium, screenshot, watchErrors } from './support/browser.ts'
import { serveStatic } from '../scripts/static-server.ts'

test('a unified-built page carries the monetization link and opens its exclusive parts when paid', async (t) => {
  const { app, btpPort } = await build(t)
  const dir = mkdtempSync(path.join(tmpdir(), 'trickle-unified-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  await buildDevAgent()
  await buildExample({ out: path.join(dir, 'unpaid'), pointer: app.demo!.proxyPointer })
  await buildExample({ out: path.join(dir, 'paid'), pointer: app.demo!.proxyPointer, devAgent: { btp: `btp+ws://127.0.0.1:${btpPort}`, amount: '50000', intervalMs: 150, mode: 'receipts' } })
  const site = await serveStatic(dir)
  t.after(() => site.close())
  const browser = await launchChromium()
  t.after(() => browser.close())

  const page = await browser.newPage()
  const errors = watchErrors(page)
  await page.goto(`${site.url}/unpaid/exclusive.html`)
  assert.equal(await page.getAttribute('link[rel="monetization"]', 'href'), app.demo!.proxyPointer)
  await page.waitForTimeout(800)
  assert.equal(await page.locator('[data-trickle-content]:visible').count(), 0, 'nothing open without payment')
  assert.equal(await page.locator('[data-trickle-cta]:visible').count(), 2, 'both calls to action show')

  const before = (await app.wallet.getAccount('demo') as { received: string }).received
  await page.goto(`${site.url}/paid/exclusive.html`)
  await page.waitForFunction(() => document.querySelectorAll('[data-trickle-content]:not([hidden])').length === 2, undefined, { timeout: 20_000 })
  assert.equal(await page.locator('[data-trickle-thanks]:visible').count(), 2)
  await page.evaluate(() => window.trickleDevAgent!.stop())
  const after = (await app.wallet.getAccount('demo') as { received: string }).received
  assert.ok(BigInt(after) > BigInt(before), 'the wallet received real money')
  assert.equal(await page.getAttribute('[data-trickle-total-value]', 'data-amount'), (BigInt(after) - BigInt(before)).toString())
  await screenshot(page, 'unified-example-paid')
  assert.deepEqual(errors, [])
})

test('a unified-built page sealed for the receiver of its monetization link opens for a paying reader', async (t) => {
  const { app, url, btpPort } = await build(t)
  const dir = mkdtempSync(path.join(tmpdir(), 'trickle-unified-sealed-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  await buildDevAgent()
  await buildExample({ out: dir, pointer: app.demo!.proxyPointer, devAgent: { btp: `btp+ws://127.0.0.1:${btpPort}`, amount: '50000', intervalMs: 150, mode: 'receipts' } })
  const report = await sealSite(dir, { ...siteSeal(app.sealKey), companion: url, defaultPrice: { amount: '100000', assetCode: 'USD', assetScale: 9 } })
  assert.equal(report.sections.length, 2)
  assert.ok(!readFileSync(path.join(dir, 'exclusive.html'), 'utf8').includes('Everything after the marker is exclusive'))
  const site = await serveStatic(dir)
  t.after(() => site.close())
  const browser = await launchChromium()
  t.after(() => browser.close())
  const page = await browser.newPage()
  const errors = watchErrors(page)
  const charges: string[] = []
  page.on('response', async (r) => { if (r.url().endsWith('/sealed/keys') && r.status() === 200) charges.push((await r.json() as { charged: string }).charged) })
  await page.goto(`${site.url}/exclusive.html`)
  await page.waitForFunction(() => document.querySelectorAll('[data-trickle-content]:not([hidden])').length === 2, undefined, { timeout: 30_000 })
  assert.match(await page.textContent('main') ?? '', /Everything after the marker is exclusive/)
  assert.deepEqual(charges, ['100000', '100000'], 'each section bought once, from the demo receiver\'s money')
  await page.evaluate(() => window.trickleDevAgent!.stop())
  assert.deepEqual(errors, [])
})

test('the canary on unified output: a summary of the exclusive part that another step wrote fails the sealing step, which writes nothing', async (t) => {
  const { app, url } = await build(t, {}, { listen: false })
  const dir = mkdtempSync(path.join(tmpdir(), 'trickle-unified-canary-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  await buildExample({ out: dir, pointer: app.demo!.proxyPointer })
  // What a generator's summary or search plugin makes of the page: the text, cut at 160 characters.
  const text = 'Everyone reads this. The block below is a :::exclusive directive. Supporters\u2019 block: written between :::exclusive and :::. The story goes on for everyone'
  writeFileSync(path.join(dir, 'search.json'), JSON.stringify([{ url: '/exclusive.html', summary: text.slice(0, 160) }]))
  const before = readFileSync(path.join(dir, 'exclusive.html'), 'utf8')
  await assert.rejects(sealSite(dir, { ...siteSeal(app.sealKey), companion: url, defaultPrice: { amount: '100000', assetCode: 'USD', assetScale: 9 } }),
    (err: Error) => err instanceof PlaintextLeakError && err.leaks.some((l) => l.file === 'search.json' && l.id !== ''))
  assert.equal(readFileSync(path.join(dir, 'exclusive.html'), 'utf8'), before, 'nothing was written')
})
