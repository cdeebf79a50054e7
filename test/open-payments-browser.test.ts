// Today's Web Monetization in Chromium: a sealed section of the example site opens for a reader whose
// agent pays through Open Payments, as the Interledger Foundation's extension does. The event comes
// first (with amountSent and the incoming payment, nothing received yet), the money after; the page
// credits the incoming payment and the section opens once the creator's wallet has received the price.
// The extension's side is the official SDK in Node (its events are dispatched into the page as the
// extension dispatches them); the wallet is the companion's embedded one.
import { siteSeal } from '../server/test/seal-helper.ts'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import { sealSite } from '../plugins/rehype-trickle-seal/lib/site.ts'
import { build, creatorLines } from '../server/test/helper.ts'
import { extension } from '../server/test/op-helper.ts'
import { payIncomingPayment } from '../server/test/pay.ts'
import { launchChromium, screenshot, watchErrors } from './support/browser.ts'
import { hugoBuild, repoRoot } from '../scripts/hugo.ts'
import { serveStatic } from '../scripts/static-server.ts'

const SECRET = 'This paragraph was behind the one-line marker'

test('a sealed section opens for an Open Payments payment: event first, money after, credited from the creator\'s wallet', async (t) => {
  const { app, url, btpPort } = await build(t)
  const dir = mkdtempSync(path.join(tmpdir(), 'trickle-op-browser-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const creators = await creatorLines(app)
  const override = path.join(dir, 'trickle.toml')
  writeFileSync(override, `[params]\n  monetization = "${app.demo!.proxyPointer}"\n  [params.creators]\n${creators.join('\n')}\n`)
  const site = await serveStatic(dir)
  t.after(() => site.close())
  await hugoBuild({ source: `${repoRoot}site-example`, destination: path.join(dir, 'production'), configs: [override], baseURL: `${site.url}/production/`, environment: 'production' })
  await sealSite(path.join(dir, 'production'), { ...siteSeal(app.sealKey), companion: url })
  const browser = await launchChromium()
  t.after(() => browser.close())
  const page = await browser.newPage()
  const errors = watchErrors(page)
  await page.goto(`${site.url}/production/posts/exclusive-marker/`)
  await page.waitForSelector('[data-trickle-cta] .trickle-exclusive__status')
  assert.equal(await page.isVisible('[data-trickle-content]'), false)

  // The extension: an incoming payment at the creator's wallet, then the event, before any money.
  const ext = await extension(url)
  const walletAddress = `${url}/wallet/demo`
  const ip = await ext.incomingPayment(walletAddress)
  await page.evaluate(({ incomingPayment, paymentPointer }) => {
    const link = document.querySelector('link[rel="monetization"]')!
    const event = Object.assign(new Event('monetization', { bubbles: true }), { amountSent: { currency: 'USD', value: '0.0005' }, incomingPayment, paymentPointer })
    link.dispatchEvent(event)
  }, { incomingPayment: ip.id, paymentPointer: walletAddress })
  await page.waitForTimeout(700)
  assert.equal(await page.isVisible('[data-trickle-content]'), false, 'an event alone opens nothing: no money arrived')

  // The reader's wallet pays it; the companion reads the payment at the wallet, the page sees the credit.
  const paidAt = Date.now()
  await payIncomingPayment(btpPort, ip.methods[0]!, 600_000)
  await page.waitForSelector('[data-trickle-content]:not([data-trickle-sealed])', { timeout: 20_000 })
  const openedMs = Date.now() - paidAt
  assert.match(await page.textContent('[data-trickle-content]') ?? '', new RegExp(SECRET))
  assert.deepEqual(errors, [])
  await screenshot(page, 'open-payments-sealed')
  t.diagnostic(`opened ${openedMs} ms after the payment was sent`)
})
