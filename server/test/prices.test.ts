// Prices in another asset than the receiving wallet's (TRICKLE_RATES): converted exactly when the
// content is registered, rounded up for the creator, and refused then when no rate is set, never when
// a reader pays: the tracker asks at registration, the sealing step asks the companion before it
// writes. One module (prices/rates.ts) with pull payments.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { test, type TestContext } from 'node:test'
import { sealSite, UnchargeablePriceError } from '../../plugins/rehype-trickle-seal/lib/site.ts'
import { receiverIdOfPointer } from '../../packages/trickle-core/src/pointers.ts'
import { siteSeal } from './seal-helper.ts'
import { ceilTimes, conversionFactor, parseRates } from '../src/prices/rates.ts'
import { build } from './helper.ts'
import { licensedTorrent, registerTorrent } from './tracker-helper.ts'

test('a torrent priced in EUR, paid to a USD wallet: the rate converts it at registration, rounded up', async (t) => {
  const { app, url } = await build(t, { TRICKLE_RATES: 'EUR:USD=1.0837' })
  const created = await licensedTorrent(app, url, randomBytes(20_000), { license: { amount: '333', assetCode: 'EUR', assetScale: 2 } })
  const r = await registerTorrent(url, created.torrent)
  assert.equal(r.status, 201, JSON.stringify(r.body))
  // 3.33 EUR × 1.0837 = 3.608721 USD = 3,608,721,000 at scale 9, exactly.
  assert.equal(r.body.spendAmount, '3608721000')
  const listed = await (await fetch(`${url}/torrents/${created.infoHash}`)).json() as { price: string, spendAmount: string }
  assert.equal(listed.price, '3.33 EUR')
})

test('no rate: the price is refused when the content is registered, naming the setting', async (t) => {
  const { app, url } = await build(t)
  const created = await licensedTorrent(app, url, randomBytes(20_000), { license: { amount: '100', assetCode: 'EUR', assetScale: 2 } })
  const r = await registerTorrent(url, created.torrent)
  assert.equal(r.status, 400)
  assert.equal(r.body.code, 'asset_mismatch')
  assert.match(String(r.body.message), /TRICKLE_RATES=EUR:USD=/)
})

test('conversion rounds up for prices, to the smallest unit, with no float anywhere', () => {
  const rates = parseRates('EUR:USD=1.08')
  const usdPerEurCent = conversionFactor({ code: 'EUR', scale: 2 }, { code: 'USD', scale: 2 }, rates)!
  assert.equal(ceilTimes(1n, usdPerEurCent), 2n, '0.01 EUR is 0.0108 USD: 2 cents, not 1')
  const eurPerUsd = conversionFactor({ code: 'USD', scale: 2 }, { code: 'EUR', scale: 2 }, rates)!
  assert.equal(ceilTimes(108n, eurPerUsd), 100n, 'the reverse rate is exact: 1.08 USD is 1.00 EUR')
  assert.equal(conversionFactor({ code: 'GBP', scale: 2 }, { code: 'USD', scale: 2 }, rates), undefined)
})

/** A built page whose monetization link is `href`, with one section priced `price`. */
function builtPage (t: TestContext, href: string, price: { amount: string, code: string, scale: number }): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'trickle-price-check-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  mkdirSync(path.join(dir, 'posts', 'a'), { recursive: true })
  writeFileSync(path.join(dir, 'posts', 'a', 'index.html'), `<!doctype html><html><head><link rel="monetization" href="${href}"></head><body><p>Public part.</p>` +
    `<section data-trickle-exclusive="rest" data-trickle-price-amount="${price.amount}" data-trickle-price-code="${price.code}" data-trickle-price-scale="${price.scale}"><div data-trickle-cta>Pay</div>` +
    '<div data-trickle-content hidden><p>Only for the readers who paid, this whole paragraph.</p></div></section></body></html>')
  return dir
}

test('sealing asks the companion: a price it cannot convert, or a wallet address it does not sell for, fails the build and writes nothing', async (t) => {
  const { app, url } = await build(t)
  const wallet = `${url}/wallet/demo`
  const eur = builtPage(t, wallet, { amount: '100', code: 'EUR', scale: 2 })
  const before = readFileSync(path.join(eur, 'posts/a/index.html'), 'utf8')
  await assert.rejects(sealSite(eur, { ...siteSeal(app.sealKey), companion: url }), (err: Error) => {
    assert.ok(err instanceof UnchargeablePriceError, err.message)
    assert.match(err.message, /section "rest" of \/posts\/a\/: .*another currency .*\(asset_mismatch\)/)
    return true
  })
  assert.equal(readFileSync(path.join(eur, 'posts/a/index.html'), 'utf8'), before, 'nothing written')
  // A wallet address nobody registered at this companion: its readers' payments could not be checked.
  const stranger = builtPage(t, `${url}/wallet/nobody`, { amount: '10', code: 'USD', scale: 2 })
  await assert.rejects(sealSite(stranger, { ...siteSeal(app.sealKey), companion: url }), /section "rest" of \/posts\/a\/: .*not registered here .*\(unknown_receiver\)/)
  // The companion down: said so, with the way to seal anyway.
  await assert.rejects(sealSite(stranger, { ...siteSeal(app.sealKey), companion: 'http://127.0.0.1:9' }), /could not ask the companion http:\/\/127\.0\.0\.1:9 .*--offline/)
  // The registered wallet address, priced in its currency: sealed, and quoted in the wallet's units.
  const ok = builtPage(t, wallet, { amount: '10', code: 'USD', scale: 2 })
  const report = await sealSite(ok, { ...siteSeal(app.sealKey), companion: url })
  assert.equal(report.sections.length, 1)
  assert.equal(report.sections[0]!.receiver, receiverIdOfPointer(wallet))
  const quote = await (await fetch(`${url}/sealed/price?token=${encodeURIComponent(report.sections[0]!.token)}`)).json() as { price: string, receiver: string }
  assert.deepEqual(quote, { price: '100000000', assetCode: 'USD', assetScale: 9, receiver: receiverIdOfPointer(wallet) })
})

test('a license may name the creator\'s wallet address itself: the receiver is that address\'s registration', async (t) => {
  const { app, url } = await build(t)
  const wallet = `${url}/wallet/demo`
  const created = await licensedTorrent(app, url, randomBytes(20_000), { license: { paymentPointer: wallet } })
  const r = await registerTorrent(url, created.torrent)
  assert.equal(r.status, 201, JSON.stringify(r.body))
  const listed = await (await fetch(`${url}/torrents/${created.infoHash}`)).json() as { receiver: string, spendAmount: string }
  assert.equal(listed.receiver, receiverIdOfPointer(wallet))
  assert.equal(listed.spendAmount, '1000000000')
  const other = await licensedTorrent(app, url, randomBytes(20_000), { license: { paymentPointer: `${url}/wallet/nobody` } })
  const refused = await registerTorrent(url, other.torrent)
  assert.equal(refused.status, 400)
  assert.equal(refused.body.code, 'unknown_payment_pointer')
})
