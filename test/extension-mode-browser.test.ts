// The production-shaped example site in Chromium, paid as a 2026 reader pays: every link is a creator's
// Open Payments wallet address (the embedded wallet's), the site is sealed, and the development agent
// behaves like the Web Monetization extension (wallet address, grant, incoming payment, STREAM, a
// `monetization` event before each payment settles, no receipts). Sealed sections open, gallery
// counters move with what each creator's wallet receives, and several links share the payments.
// (The paid download in this mode: download-browser.test.ts. The legacy receipt path:
// sealed-browser, theme-browser, unified-example.)
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import { sealSite } from '../plugins/rehype-trickle-seal/lib/site.ts'
import { buildDevAgent } from '../scripts/build-dev-agent.ts'
import { hugoBuild, repoRoot } from '../scripts/hugo.ts'
import { serveStatic } from '../scripts/static-server.ts'
import { build } from '../server/test/helper.ts'
import { siteSeal } from '../server/test/seal-helper.ts'
import { launchChromium, screenshot, watchErrors } from './support/browser.ts'

const SECRET = 'This paragraph was behind the one-line marker'

async function waitFor (what: string, check: () => Promise<boolean>, timeoutMs = 20_000) {
  const end = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

test('the production-shaped site with the agent in extension mode: sealed sections open, gallery counters move, links share the money', async (t) => {
  const { app, url, btpPort } = await build(t)
  const dir = mkdtempSync(path.join(tmpdir(), 'trickle-extension-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  await buildDevAgent()
  // Each creator's link is their wallet address, registered at the companion as a receiver.
  const wallets: Record<string, string> = {}
  for (const name of ['demo', 'alice', 'bob', 'carol']) {
    const account = await app.wallet.ensureAccount(name)
    const registered = await app.verifier.registerProxy(account.paymentPointer)
    assert.notEqual(typeof registered, 'string')
    wallets[name] = account.paymentPointer
  }
  assert.equal(wallets.demo, `${url}/wallet/demo`)
  const received = async (name: string) => BigInt((await app.wallet.getAccount(name) as { received: string }).received)
  const override = path.join(dir, 'trickle.toml')
  writeFileSync(override, `[params]\n  monetization = "${wallets.demo}"\n  [params.creators]\n${['alice', 'bob', 'carol'].map((n) => `    ${n} = "${wallets[n]}"`).join('\n')}\n` +
    `  [params.trickle.devAgent]\n    btp = "btp+ws://127.0.0.1:${btpPort}"\n    amount = "100000"\n    intervalMs = 150\n`)
  const site = await serveStatic(dir)
  t.after(() => site.close())
  await hugoBuild({ source: `${repoRoot}site-example`, destination: path.join(dir, 'dev'), configs: [override], baseURL: `${site.url}/dev/`, environment: 'development' })
  // The sealing step asks the companion to quote every price: the wallet addresses are receivers there.
  const report = await sealSite(path.join(dir, 'dev'), { ...siteSeal(app.sealKey), companion: url })
  assert.ok(report.sections.length >= 2)
  const browser = await launchChromium()
  t.after(() => browser.close())

  // 1. A sealed section: the agent pays the wallet address through Open Payments, the page credits the incoming payment.
  const page = await browser.newPage()
  const errors = watchErrors(page)
  const credits: string[] = []
  page.on('request', (r) => { if (/:credit(Receipt|IncomingPayment)$/.test(r.url())) credits.push(r.url().replace(/.*:/, '')) })
  const events: Array<{ incomingPayment: string | null, receipt: unknown, amount: unknown, value: string, at: number }> = []
  await page.exposeFunction('trickleTestEvent', (e: typeof events[number]) => { events.push(e) })
  await page.addInitScript(() => {
    document.addEventListener('monetization', (e) => {
      const m = e as Event & { incomingPayment: string | null, receipt: unknown, amount: unknown, amountSent: { value: string } }
      void (window as unknown as { trickleTestEvent: (x: unknown) => void }).trickleTestEvent({ incomingPayment: m.incomingPayment, receipt: m.receipt, amount: m.amount, value: m.amountSent.value, at: Date.now() })
    }, true)
  })
  const before = await received('demo')
  await page.goto(`${site.url}/dev/posts/exclusive-marker/`)
  assert.equal(await page.evaluate(() => window.trickleDevAgent?.mode), 'extension')
  await page.waitForSelector('[data-trickle-content]:not([data-trickle-sealed])', { timeout: 30_000 })
  const openedAt = Date.now()
  assert.match(await page.textContent('[data-trickle-content]') ?? '', new RegExp(SECRET))
  assert.ok(await received('demo') > before, 'the creator\'s wallet received the money')
  assert.ok(events.length > 0)
  for (const e of events) {
    assert.match(String(e.incomingPayment), new RegExp(`^${url}/op/incoming-payments/[0-9a-f-]{36}$`), 'every event names its incoming payment')
    assert.equal(e.receipt, null, 'and carries no receipt, as the extension\'s')
    assert.equal(e.amount, undefined)
  }
  assert.equal(new Set(events.map((e) => e.incomingPayment)).size, 1, 'one incoming payment for the whole visit (a new one every 10 minutes)')
  assert.ok(credits.length > 0 && credits.every((c) => c === 'creditIncomingPayment'), credits.join(' '))
  assert.equal(await page.evaluate(() => 'monetization' in document), false, 'no Coil-era document.monetization')
  t.diagnostic(`section opened ${openedAt - events[0]!.at} ms after the first event (${events.length} events before it opened)`)
  await screenshot(page, 'extension-mode-sealed')

  // 2. Two links on one page: the agent pays both, sharing each payment.
  const shared = { demo: await received('demo'), alice: await received('alice') }
  await page.evaluate((href) => {
    const link = document.createElement('link')
    link.rel = 'monetization'
    link.href = href
    document.head.append(link)
  }, wallets.alice!)
  await waitFor('both links to be paid', async () => (await received('alice')) > shared.alice && (await received('demo')) > shared.demo)
  assert.deepEqual((await page.evaluate(() => window.trickleDevAgent!.pointers)).sort(), [wallets.alice, wallets.demo].sort())
  await page.evaluate(() => window.trickleDevAgent!.stop())
  assert.deepEqual(errors, [])
  await page.close()

  // 3. The gallery: the link follows the image in view, that creator's wallet receives, its counter moves.
  const gallery = await browser.newPage({ viewport: { width: 1100, height: 800 } })
  const galleryErrors = watchErrors(gallery)
  await gallery.goto(`${site.url}/dev/posts/gallery/`)
  const start = { bob: await received('bob'), carol: await received('carol') }
  for (const [name, index] of [['bob', 1], ['carol', 2]] as const) {
    await gallery.evaluate((n) => document.querySelectorAll('[data-trickle-creator]')[n]!.scrollIntoView({ block: 'center' }), index)
    await waitFor(`the link to switch to ${name}`, async () => (await gallery.getAttribute('link[rel="monetization"]', 'href')) === wallets[name])
    await waitFor(`${name} to be paid`, async () => (await received(name)) > start[name])
    await waitFor(`${name}'s counter`, async () => BigInt(await gallery.getAttribute(`[data-trickle-counter="${wallets[name]}"]`, 'data-amount') ?? '0') > 0n)
  }
  await gallery.evaluate(() => window.trickleDevAgent!.stop())
  await new Promise((resolve) => setTimeout(resolve, 500))
  for (const name of ['bob', 'carol'] as const) {
    // Counters show amountSent, announced before each payment settles: at least what arrived.
    const counter = `[data-trickle-counter="${wallets[name]}"]`
    const scale = Number(await gallery.getAttribute(counter, 'data-scale'))
    const counted = BigInt(await gallery.getAttribute(counter, 'data-amount') ?? '0') * 10n ** BigInt(9 - scale)
    const got = (await received(name)) - start[name]
    assert.ok(got > 0n && counted >= got, `${name}: counter ${counted}, wallet received ${got}`)
  }
  await screenshot(gallery, 'extension-mode-gallery')
  assert.deepEqual(galleryErrors, [])
  await gallery.close()

  // 4. Incoming payments are renewed before they expire (10 minutes by default; 10 s here, the
  // shortest the agent takes, written into the page's agent config as the parser inserts it).
  const renewing = await browser.newPage()
  await renewing.addInitScript(() => {
    new MutationObserver((_m, observer) => {
      const el = document.getElementById('trickle-dev-agent-config')
      if (!el?.textContent) return
      el.textContent = el.textContent.replace('"incomingPaymentMs":600000', '"incomingPaymentMs":10000')
      observer.disconnect()
    }).observe(document, { subtree: true, childList: true, characterData: true })
  })
  await renewing.goto(`${site.url}/dev/posts/hello/`)
  const seen = new Set<string>()
  await waitFor('a second incoming payment', async () => {
    const ip = (await renewing.evaluate(() => window.trickleDevAgent!.incomingPayments))[wallets.demo!]
    if (ip) seen.add(ip)
    return seen.size >= 2
  }, 30_000)
  await renewing.evaluate(() => window.trickleDevAgent!.stop())
  await renewing.close()
})
