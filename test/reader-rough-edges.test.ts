// What a reader of the Hugo theme hit, each as a check that fails on the old behaviour: the dark-mode
// toggle under a dark system preference, the parameters page on a 390 px phone, the download block
// before a click and when no payment arrives (retry without reloading), a second tab on a section the
// companion already granted (no waiting for a payment), and two sealed sections on one page bought one
// after the other without a refused key request.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, test } from 'node:test'
import type { Browser } from 'playwright-core'
import type { StaticSite } from '../scripts/static-server.ts'
import { licensedTorrent, registerTorrent } from '../server/test/tracker-helper.ts'
import { launchChromium, watchErrors } from './support/browser.ts'
import { sealedExampleSite, type ExampleSite } from './support/example-site.ts'

let example: ExampleSite
let site: StaticSite
let browser: Browser

before(async () => {
  example = await sealedExampleSite(async ({ app, url }) => {
    // A registered paid file (nobody seeds it: the block never gets past paying here).
    const created = await licensedTorrent(app, url, randomBytes(5000), { name: 'guide.txt', license: { paymentPointer: app.demo!.paymentPointer } })
    const registered = await registerTorrent(url, created.torrent)
    assert.equal(registered.status, 201)
    return `  [params.downloads]\n    trickle-field-guide = "${registered.body.magnet}"\n`
  })
  site = example.site
  browser = await launchChromium()
})

after(async () => {
  await browser?.close()
  await example?.close()
})

test('dark mode under a dark system preference: the toggle says it is on, and its first press turns it off', async () => {
  const context = await browser.newContext({ colorScheme: 'dark' })
  const page = await context.newPage()
  await page.goto(`${site.url}/production/posts/hello/`)
  const toggle = page.locator('[data-trickle-theme-toggle]')
  await page.waitForFunction(() => document.querySelector('[data-trickle-theme-toggle]')?.getAttribute('aria-pressed') === 'true')
  await toggle.click()
  assert.equal(await toggle.getAttribute('aria-pressed'), 'false')
  assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), 'light')
  await page.reload()
  await page.waitForFunction(() => document.documentElement.dataset.theme === 'light')
  assert.equal(await toggle.getAttribute('aria-pressed'), 'false', 'the choice is kept')
  await context.close()
  // And under a light preference the toggle starts off.
  const light = await browser.newContext({ colorScheme: 'light' })
  const lightPage = await light.newPage()
  await lightPage.goto(`${site.url}/production/posts/hello/`)
  await lightPage.waitForFunction(() => document.querySelector('[data-trickle-theme-toggle]')?.getAttribute('aria-pressed') === 'false')
  await light.close()
})

test('every page fits a 390 px screen: no horizontal scrolling, the parameters table scrolls inside its column', async () => {
  const page = await browser.newPage({ viewport: { width: 390, height: 800 } })
  for (const p of ['/docs/parameters/', '/posts/hello/', '/posts/download/', '/posts/gallery/', '/']) {
    await page.goto(`${site.url}/production${p}`)
    const width = await page.evaluate(() => document.documentElement.scrollWidth)
    assert.ok(width <= 390, `${p} is ${width} px wide`)
  }
  await page.close()
})

test('the download block: no progress bar and no NaN before the click; with no payment arriving it says so and can be tried again', async () => {
  const page = await browser.newPage()
  const errors = watchErrors(page)
  await page.goto(`${site.url}/production/posts/download/`)
  assert.equal(await page.isVisible('[data-trickle-download-progress]'), false, 'no empty progress bar before the click')
  assert.doesNotMatch(await page.textContent('[data-trickle-download]') ?? '', /NaN/)
  const button = page.locator('[data-trickle-download-start]')
  await button.click()
  // No agent in a production build: no payment comes; after 10 s the block says so, and the button is back.
  await page.waitForFunction(() => !(document.querySelector('[data-trickle-download-start]') as HTMLButtonElement).disabled, undefined, { timeout: 20_000 })
  assert.match(await page.textContent('[data-trickle-download-status]') ?? '', /No payment is arriving/)
  assert.doesNotMatch(await page.textContent('[data-trickle-download]') ?? '', /NaN/)
  await button.click()
  assert.equal(await button.isDisabled(), true, 'a second try starts again')
  assert.deepEqual(errors.filter((e) => !/402/.test(e)), [])
  await page.close()
})

test('a second tab opens a granted section at once; two sections on one page are bought one after the other, no key request refused', async () => {
  const context = await browser.newContext()
  const first = await context.newPage()
  const errors = watchErrors(first)
  const keyStatuses: number[] = []
  first.on('response', (r) => { if (r.url().endsWith('/sealed/keys')) keyStatuses.push(r.status()) })
  // exclusive-shortcode has two sections, both paid to Alice's wallet.
  await first.goto(`${site.url}/development/posts/exclusive-shortcode/`)
  await first.waitForFunction(() => document.querySelectorAll('[data-trickle-content][data-trickle-sealed]').length === 0 && document.querySelectorAll('[data-trickle-content]').length === 2, undefined, { timeout: 40_000 })
  assert.deepEqual(keyStatuses, [200, 200], 'each section asked for once, when covered')
  assert.deepEqual(errors, [])
  await first.evaluate(() => window.trickleDevAgent!.stop())

  // Another tab of the same browser, with no agent at all (the production build of the same pages,
  // whose tokens are the same): the grants are known, the keys are asked for without any payment.
  const second = await context.newPage()
  const order: string[] = []
  second.on('request', (r) => { if (/sealed\/keys$|:credit\w+$/.test(r.url())) order.push(r.url().endsWith('/sealed/keys') ? 'key' : 'credit') })
  await second.goto(`${site.url}/production/posts/exclusive-shortcode/`)
  await second.waitForFunction(() => document.querySelectorAll('[data-trickle-content][data-trickle-sealed]').length === 0, undefined, { timeout: 10_000 })
  assert.deepEqual(order, ['key', 'key'], 'opened from the grants alone: no payment, no credit')
  await context.close()
})
