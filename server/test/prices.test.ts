// Prices in another asset than the receiving wallet's (TRICKLE_RATES): converted exactly when the
// content is registered, rounded up for the creator, and refused then when no rate is set, never when
// a reader pays. One module (prices/rates.ts) with pull payments.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { test } from 'node:test'
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
