// The theme in Debian's Chromium: the example site built by real Hugo, paid by the development agent
// over the companion's real Interledger network, checked against the wallet.
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, test } from 'node:test'
import { gzipSync } from 'node:zlib'
import type { Browser, Page } from 'playwright-core'
import type { FastifyInstance } from 'fastify'
import { buildDevAgent } from '../scripts/build-dev-agent.ts'
import { build } from '../server/test/helper.ts'
import { launchChromium, screenshot, watchErrors } from './support/browser.ts'
import { hugoBuild, repoRoot } from '../scripts/hugo.ts'
import { serveStatic, type StaticSite } from '../scripts/static-server.ts'

let app: FastifyInstance
let browser: Browser
let prod: StaticSite
let dev: StaticSite
const proxies: Record<string, string> = {}
const dir = mkdtempSync(path.join(tmpdir(), 'trickle-browser-'))

async function received (account: string): Promise<bigint> {
  const a = await app.wallet.getAccount(account)
  if (typeof a === 'string') throw new Error(a)
  return BigInt(a.received)
}

async function waitFor<T> (what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 45_000): Promise<T> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const v = await fn()
    if (v) return v
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

before(async () => {
  const built = await build(undefined)
  app = built.app
  for (const name of ['demo', 'alice', 'bob', 'carol']) {
    const account = await app.wallet.ensureAccount(name)
    const proxy = await app.verifier.registerProxy(account.paymentPointer)
    if (typeof proxy === 'string') throw new Error(proxy)
    proxies[name] = proxy.proxy.proxyPointer
  }
  await buildDevAgent()
  // The example site, pointed at this test's companion.
  const override = path.join(dir, 'trickle.toml')
  writeFileSync(override, `[params]
  monetization = "${proxies.demo}"
  [params.creators]
    alice = "${proxies.alice}"
    bob = "${proxies.bob}"
    carol = "${proxies.carol}"
  [params.trickle.devAgent]
    mode = "receipts"
    btp = "btp+ws://127.0.0.1:${built.btpPort}"
    amount = "50000"
    intervalMs = 150
`)
  prod = await serveStatic(path.join(dir, 'prod'))
  dev = await serveStatic(path.join(dir, 'dev'))
  await hugoBuild({ source: `${repoRoot}site-example`, destination: path.join(dir, 'prod'), configs: [override], baseURL: `${prod.url}/` })
  await hugoBuild({ source: `${repoRoot}site-example`, destination: path.join(dir, 'dev'), configs: [override], baseURL: `${dev.url}/`, environment: 'development' })
  browser = await launchChromium()
})

after(async () => {
  await browser?.close()
  await prod?.close()
  await dev?.close()
  await app?.close()
  rmSync(dir, { recursive: true, force: true })
})

async function open (site: StaticSite, pathname: string): Promise<{ page: Page, errors: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1100, height: 800 } })
  const errors = watchErrors(page)
  await page.goto(`${site.url}${pathname}`)
  return { page, errors }
}

test('built pages carry the site pointer, or the page pointer from front matter', async () => {
  const { page, errors } = await open(prod, '/posts/hello/')
  assert.equal(await page.getAttribute('link[rel="monetization"]', 'href'), proxies.demo)
  assert.equal(await page.getAttribute('meta[name="monetization"]', 'content'), proxies.demo)
  await page.goto(`${prod.url}/posts/exclusive-shortcode/`)
  assert.equal(await page.getAttribute('link[rel="monetization"]', 'href'), proxies.alice, 'front matter override')
  await page.goto(`${prod.url}/docs/parameters/`)
  assert.equal(await page.locator('link[rel="monetization"]').count(), 0, 'monetization: false')
  assert.deepEqual(errors, [])
  await page.close()
})

test('without payment the exclusive part stays hidden and the call to action shows', async () => {
  const before = await received('demo')
  const { page, errors } = await open(prod, '/posts/exclusive-marker/')
  await page.waitForTimeout(1500)
  assert.equal(await page.isVisible('[data-trickle-cta]'), true)
  assert.equal(await page.isVisible('[data-trickle-content]'), false)
  assert.equal(await page.isVisible('[data-trickle-thanks]'), false)
  assert.equal(await page.evaluate(() => 'trickleDevAgent' in window), false, 'no agent in a production build')
  assert.equal(await received('demo'), before, 'nothing was paid')
  await screenshot(page, 'exclusive-unpaid')
  assert.deepEqual(errors, [])
  await page.close()
})

test('the development agent pays for real: the wallet rises, the part opens, the thank-you shows, the counter agrees', async () => {
  const before = await received('demo')
  const { page, errors } = await open(dev, '/posts/exclusive-marker/')
  await page.waitForSelector('[data-trickle-content]:not([hidden])', { timeout: 20_000 })
  assert.equal(await page.isVisible('[data-trickle-thanks]'), true)
  assert.equal(await page.isVisible('[data-trickle-cta]'), false)
  assert.match(await page.textContent('[data-trickle-status]') ?? '', /part for supporters is now open/, 'announced through the live region')
  await waitFor('the wallet to receive', async () => (await received('demo')) > before)
  await waitFor('a few payments', async () => (await received('demo')) - before >= 200_000n)
  await page.evaluate(() => window.trickleDevAgent!.stop())
  const paid = (await received('demo')) - before
  const shown = await page.getAttribute('[data-trickle-total-value]', 'data-amount')
  assert.equal(shown, paid.toString(), 'the page total equals what the wallet received')
  assert.match(await page.textContent('[data-trickle-total-value]') ?? '', /^\$0\.000\d+/, 'formatted as dollars')
  await screenshot(page, 'exclusive-paid')
  assert.deepEqual(errors, [])
  await page.close()
})

test('scrolling the gallery changes which creator gets paid', async () => {
  const start = { alice: await received('alice'), bob: await received('bob'), carol: await received('carol') }
  const { page, errors } = await open(dev, '/posts/gallery/')
  const figures = page.locator('[data-trickle-creator]')
  for (const [i, name] of (['bob', 'carol', 'alice'] as const).entries()) {
    const index = { alice: 0, bob: 1, carol: 2 }[name]
    await figures.nth(index).scrollIntoViewIfNeeded()
    await page.evaluate((n) => document.querySelectorAll('[data-trickle-creator]')[n]!.scrollIntoView({ block: 'center' }), index)
    await waitFor(`the link to switch to ${name}`, async () => (await page.getAttribute('link[rel="monetization"]', 'href')) === proxies[name])
    await waitFor(`${name} to be paid`, async () => (await received(name)) > start[name])
    await waitFor(`${name}'s counter`, async () => BigInt(await page.getAttribute(`[data-trickle-counter="${proxies[name]}"]`, 'data-amount') ?? '0') > 0n)
    if (i === 0) await screenshot(page, 'gallery-bob')
  }
  await page.evaluate(() => window.trickleDevAgent!.stop())
  for (const name of ['alice', 'bob', 'carol'] as const) {
    const counted = await page.getAttribute(`[data-trickle-counter="${proxies[name]}"]`, 'data-amount')
    assert.equal(counted, ((await received(name)) - start[name]).toString(), `${name}'s counter equals what ${name} received`)
  }
  assert.deepEqual(errors, [])
  await page.close()
})

test('both event families open exclusive content: legacy document.monetization and today\'s link event', async () => {
  for (const family of ['legacy', 'link'] as const) {
    const { page, errors } = await open(prod, '/posts/exclusive-shortcode/')
    await page.evaluate((f) => {
      if (f === 'legacy') {
        const m = new EventTarget() as EventTarget & { state?: string }
        Object.defineProperty(document, 'monetization', { value: m })
        m.state = 'started'
        // The reader script polls for document.monetization installed after it ran.
        setTimeout(() => {
          m.dispatchEvent(new CustomEvent('monetizationstart', { detail: { paymentPointer: 'p', requestId: 'r' } }))
          m.dispatchEvent(new CustomEvent('monetizationprogress', { detail: { paymentPointer: 'p', requestId: 'r', amount: '123', assetCode: 'USD', assetScale: 2 } }))
        }, 300)
      } else {
        const e = new Event('monetization', { bubbles: true }) as Event & Record<string, unknown>
        e.amountSent = { currency: 'EUR', value: '0.05' }
        e.paymentPointer = 'https://wallet.example/alice'
        document.querySelector('link[rel="monetization"]')!.dispatchEvent(e)
      }
    }, family)
    await page.waitForSelector('[data-trickle-content]:not([hidden])', { timeout: 5000 })
    const total = await page.textContent('[data-trickle-total-value]')
    assert.equal(total, family === 'legacy' ? '$1.23' : '€0.05', `${family}: amount formatted with the asset's code and scale`)
    assert.deepEqual(errors, [])
    await page.close()
  }
})

test('a plain post ships a small script; exclusive content is keyboard reachable', async () => {
  const js = readdirSync(path.join(dir, 'prod', 'js')).filter((f) => f.startsWith('trickle.'))
  assert.equal(js.length, 1)
  const gzipped = gzipSync(readFileSync(path.join(dir, 'prod', 'js', js[0]!)), { level: 9 }).length
  assert.ok(gzipped <= 5 * 1024, `reader script is ${gzipped} bytes gzipped`)
  const { page } = await open(prod, '/posts/exclusive-marker/')
  await page.keyboard.press('Tab')
  assert.equal(await page.evaluate(() => document.activeElement?.className), 'skip-link', 'skip link first')
  const link = page.locator('[data-trickle-cta] a')
  await link.focus()
  await page.evaluate(() => document.dispatchEvent(Object.assign(new Event('monetization'), { amountSent: { currency: 'USD', value: '0.01' } })))
  await page.waitForSelector('[data-trickle-content]:not([hidden])')
  assert.equal(await page.evaluate(() => document.activeElement?.hasAttribute('data-trickle-content')), true,
    'focus moves from the vanished call to action to the opened content')
  await page.close()
})
