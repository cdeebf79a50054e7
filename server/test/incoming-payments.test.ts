// Open Payments incoming payments as proof of payment: a reader's wallet pays an incoming
// payment at the creator's wallet (the embedded one, through the official SDK, as the Web Monetization
// extension does), the page submits its URL, and the companion credits what the creator's wallet says
// it received, to the same balances receipts feed. And the cheats: a payment on another wallet of the
// same resource server, a URL shared with a second balance, an event whose payment never settles.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { adminAuth, build } from './helper.ts'
import { extension } from './op-helper.ts'
import { payIncomingPayment } from './pay.ts'
import { licensedTorrent, newReader, registerTorrent } from './tracker-helper.ts'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

async function setup (t: Parameters<typeof build>[0]) {
  const built = await build(t)
  const demo = `${built.url}/wallet/demo`
  // The creator's wallet address is a receiver here: the admin registers it, as any pointer.
  const proxy = await (await fetch(`${built.url}/proxies`, { method: 'POST', headers: { ...adminAuth, 'content-type': 'application/json' }, body: JSON.stringify({ paymentPointer: demo }) })).json() as { id: string, proxyPointer: string }
  return { ...built, demo, proxy, ext: await extension(built.url) }
}

const credit = async (url: string, balanceId: string, incomingPayment: string, walletAddress: string) => {
  const res = await fetch(`${url}/balances/${balanceId}:creditIncomingPayment`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ incomingPayment, walletAddress }) })
  return { status: res.status, body: await res.json() as { credited?: string, balance?: string, polling?: boolean, completed?: boolean, code?: string, message?: string } }
}
const balance = async (url: string, id: string, receiver: string) => (await fetch(`${url}/balances/${id}?receiver=${receiver}`)).text()

test('an event comes before the money: nothing is credited until the wallet received it, then the companion credits it as it arrives', async (t) => {
  const { url, btpPort, demo, proxy, ext } = await setup(t)
  const reader = newReader()
  const ip = await ext.incomingPayment(demo)
  // The extension fires `monetization` right after creating the outgoing payment: nothing arrived yet.
  const early = await credit(url, reader.id, ip.id, demo)
  assert.equal(early.status, 200, early.body.message)
  assert.equal(early.body.credited, '0')
  assert.equal(early.body.polling, true, 'the companion keeps reading it')

  assert.equal(await payIncomingPayment(btpPort, ip.methods[0]!, 3_000_000), '3000000')
  const deadline = Date.now() + 10_000
  while (await balance(url, reader.id, proxy.id) !== '3000000' && Date.now() < deadline) await sleep(100)
  assert.equal(await balance(url, reader.id, proxy.id), '3000000', 'credited by the poll once it settled')

  // Submitting it again (the next event for the same payment) credits nothing more.
  const again = await credit(url, reader.id, ip.id, demo)
  assert.equal(again.body.credited, '0')
  assert.equal(again.body.balance, '3000000')
})

test('the credit buys what receipts buy: a paid download of the same creator', async (t) => {
  const { app, url, btpPort, demo, proxy, ext } = await setup(t)
  const created = await licensedTorrent(app, url, new Uint8Array(40_000).fill(7), { cents: '1', license: { paymentPointer: proxy.proxyPointer } })
  assert.equal((await registerTorrent(url, created.torrent)).status, 201)
  const reader = newReader()
  const ip = await ext.incomingPayment(demo)
  await payIncomingPayment(btpPort, ip.methods[0]!, 10_000_000)
  const r = await credit(url, reader.id, ip.id, demo)
  assert.equal(r.body.credited, '10000000')
  const access = await fetch(`${url}/torrents/${created.infoHash}/access`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ secret: reader.secret, peerId: 'ab'.repeat(20) }) })
  assert.equal(access.status, 200, await access.clone().text())
  assert.equal((await access.json() as { charged: string }).charged, '10000000')
})

test('cheats: a payment on another wallet of the same resource server, a wallet that is no receiver here, one URL for two balances', async (t) => {
  const { url, btpPort, demo, proxy, ext } = await setup(t)
  await fetch(`${url}/wallet/accounts`, { method: 'POST', headers: { ...adminAuth, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'mallory' }) })
  const mallory = `${url}/wallet/mallory`
  // Mallory pays herself: an incoming payment at her own wallet, same resource server as the creator's.
  const own = await ext.incomingPayment(mallory)
  await payIncomingPayment(btpPort, own.methods[0]!, 5_000_000)
  assert.ok(own.id.startsWith(`${url}/op/incoming-payments/`), 'a prefix check would pass it')
  const cheat = newReader()
  const claimed = await credit(url, cheat.id, own.id, demo)
  assert.equal(claimed.status, 403)
  assert.equal(claimed.body.code, 'not_this_wallet')
  const asHers = await credit(url, cheat.id, own.id, mallory)
  assert.equal(asHers.status, 404, 'her wallet is no receiver of this companion')
  assert.equal(asHers.body.code, 'unknown_receiver')
  assert.equal((await fetch(`${url}/balances/${cheat.id}?receiver=${proxy.id}`)).status, 404, 'nothing credited: the balance does not even exist')

  // One real payment, submitted by two balances: it counts for the first only.
  const ip = await ext.incomingPayment(demo)
  await payIncomingPayment(btpPort, ip.methods[0]!, 2_000_000)
  const first = newReader()
  const second = newReader()
  assert.equal((await credit(url, first.id, ip.id, demo)).body.credited, '2000000')
  const shared = await credit(url, second.id, ip.id, demo)
  assert.equal(shared.status, 409)
  assert.equal(shared.body.code, 'incoming_payment_claimed')

  // Not a URL of the creator's wallet at all, or not https.
  for (const bad of ['http://example.com/op/incoming-payments/x', 'ftp://x/y', `${url}/op/incoming-payments/../../p/x`]) {
    const r = await credit(url, first.id, bad, demo)
    assert.ok(r.status === 400 || r.status === 403, `${bad}: ${r.status}`)
  }
})

test('a payment that never settles credits nothing, and the companion stops reading it when it expires', async (t) => {
  const { url, demo, proxy, ext } = await setup(t)
  const reader = newReader()
  const ip = await ext.incomingPayment(demo, 2000)
  const r = await credit(url, reader.id, ip.id, demo)
  assert.equal(r.body.credited, '0')
  assert.equal(r.body.polling, true)
  await sleep(3500)
  assert.equal(await balance(url, reader.id, proxy.id), '0')
  const late = await credit(url, reader.id, ip.id, demo)
  assert.equal(late.body.polling, false, 'an expired payment is not polled')
})

test('found by an attacker\'s second look: percent-escaped spellings of one payment credit nothing more; one balance cannot hold every polling slot', async (t) => {
  const { url, btpPort, demo, ext } = await setup(t)
  const ip = await ext.incomingPayment(demo)
  await payIncomingPayment(btpPort, ip.methods[0]!, 1000)
  const reader = newReader()
  assert.equal((await credit(url, reader.id, ip.id, demo)).body.credited, '1000')
  const uuid = ip.id.slice(ip.id.lastIndexOf('/') + 1)
  const escaped = [`%${uuid.charCodeAt(0).toString(16)}${uuid.slice(1)}`, uuid.replace(/-/g, '%2D')]
  for (const spelling of escaped) {
    const r = await credit(url, newReader().id, `${url}/op/incoming-payments/${spelling}`, demo)
    assert.equal(r.status, 400, spelling)
    assert.equal(r.body.code, 'invalid_incoming_payment')
  }
  assert.equal((await credit(url, reader.id, ip.id, demo)).body.credited, '0', 'the canonical URL still credits once')

  // Payments that never settle: 16 are polled for one balance, the next is not (the page submits again on its next event).
  const hoarder = newReader()
  const polled: boolean[] = []
  for (let i = 0; i < 17; i++) polled.push((await credit(url, hoarder.id, (await ext.incomingPayment(demo)).id, demo)).body.polling === true)
  assert.deepEqual(polled, [...Array(16).fill(true), false])
  assert.equal((await credit(url, newReader().id, (await ext.incomingPayment(demo)).id, demo)).body.polling, true, 'another reader is still polled')
})

test('a creator wallet on another server: its asset comes from its wallet address, its payments are read there, and they buy content here', async (t) => {
  // B is the creator's wallet (another companion's embedded Open Payments wallet, over HTTP); A sells.
  const a = await build(t)
  const b = await build(t)
  const creator = `${b.url}/wallet/demo`
  const proxy = await (await fetch(`${a.url}/proxies`, { method: 'POST', headers: { ...adminAuth, 'content-type': 'application/json' }, body: JSON.stringify({ paymentPointer: creator }) })).json() as { id: string, proxyPointer: string }
  const created = await licensedTorrent(a.app, a.url, new Uint8Array(30_000).fill(3), { cents: '1', license: { paymentPointer: proxy.proxyPointer } })
  const registered = await registerTorrent(a.url, created.torrent)
  assert.equal(registered.status, 201, JSON.stringify(registered.body))
  assert.equal(registered.body.spendAmount, '10000000', 'priced in the remote wallet\'s asset, USD/9, read from its wallet address')

  const ext = await extension(b.url)
  const ip = await ext.incomingPayment(creator)
  await payIncomingPayment(b.btpPort, ip.methods[0]!, 10_000_000)
  const reader = newReader()
  const r = await credit(a.url, reader.id, ip.id, creator)
  assert.equal(r.status, 200, r.body.message)
  assert.equal(r.body.credited, '10000000')
  const access = await fetch(`${a.url}/torrents/${created.infoHash}/access`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ secret: reader.secret, peerId: 'cd'.repeat(20) }) })
  assert.equal(access.status, 200)
  assert.equal((await access.json() as { charged: string }).charged, '10000000')
})
