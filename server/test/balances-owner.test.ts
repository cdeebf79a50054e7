// A reader's money buys only what they paid that creator for, and only the reader can spend it. Each
// case was an attack that worked on the first round's companion, with several creators behind it.
import { SITE, siteSeal, siteSectionKey, siteToken } from './seal-helper.ts'
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { randomBytes } from 'node:crypto'
import { createServer } from 'node:http'
import { Writable } from 'node:stream'
import { test } from 'node:test'
import { encodeReceipt } from '../src/receipts/codec.ts'
import { encodeSealToken } from '../../packages/trickle-core/src/seal.ts'
import { adminAuth, build, spendAuth } from './helper.ts'
import { pay } from './pay.ts'
import { announceHttp, balanceOf, buyAccess, licensedTorrent, newReader, payAndCredit, registerTorrent, WsPeer, type Reader } from './tracker-helper.ts'

const env = { TRICKLE_SEED_WEBRTC: 'false' }
const PRICE = 1_000_000_000n // 1.00 USD at USD/9
const peer = () => randomBytes(20).toString('hex')
const proxyIdOf = (pointer: string) => new URL(pointer).pathname.split('/').pop()!

/** A wallet account of the companion with a proxy pointer: another creator. */
async function creator (app: Awaited<ReturnType<typeof build>>['app'], name: string) {
  const account = await app.wallet.ensureAccount(name)
  const proxy = await app.verifier.registerProxy(account.paymentPointer)
  assert.ok(typeof proxy !== 'string')
  return { pointer: proxy.proxy.proxyPointer, receiver: proxy.proxy.id }
}

/** Pays `pointer` and credits every receipt to the reader's public id. */
async function payTo (url: string, btpPort: number, pointer: string, reader: Reader, amount: bigint) {
  const paid = await pay(btpPort, pointer, amount.toString())
  const res = await fetch(`${url}/balances/${reader.id}:creditReceipt`, { method: 'POST', body: paid.receipts.at(-1) })
  assert.equal(res.status, 200, await res.clone().text())
  return BigInt(await res.text())
}

async function keyRequest (url: string, body: Record<string, unknown>) {
  const res = await fetch(`${url}/sealed/keys`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  return { status: res.status, body: await res.json() as { code?: string, key?: string, charged?: string, balance?: string } }
}

test('money paid to one creator never buys another creator\'s download or sealed section', async (t) => {
  const { app, url, btpPort } = await build(t, env)
  const alice = await creator(app, 'alice')
  const demoTorrent = await licensedTorrent(app, url, randomBytes(20_000))
  assert.equal((await registerTorrent(url, demoTorrent.torrent)).status, 201)
  const reader = newReader()
  assert.equal(await payTo(url, btpPort, alice.pointer, reader, PRICE), PRICE, 'credited to what the reader holds for alice')

  const access = await buyAccess(url, demoTorrent.infoHash, reader, peer())
  assert.equal(access.status, 402)
  assert.equal(access.body.code, 'unknown_balance', 'nothing is held for the demo account')
  const demoSection = siteToken(app.sealKey, { page: '/posts/a/', id: 'rest', amount: '100', assetCode: 'USD', assetScale: 2, receiver: proxyIdOf(app.demo!.proxyPointer) })
  assert.equal((await keyRequest(url, { token: demoSection, secret: reader.secret })).body.code, 'no_payment')
  assert.equal(await balanceOf(url, reader.id), PRICE.toString(), 'nothing was spent')

  // Alice's own section sells.
  const aliceSection = siteToken(app.sealKey, { page: '/posts/b/', id: 'rest', amount: '100', assetCode: 'USD', assetScale: 2, receiver: alice.receiver })
  const bought = await keyRequest(url, { token: aliceSection, secret: reader.secret })
  assert.equal(bought.status, 200)
  assert.equal(bought.body.charged, PRICE.toString())
  const wallet = await (await fetch(`${url}/wallet/accounts/demo`, { headers: adminAuth })).json() as { received: string }
  assert.equal(wallet.received, '0', 'demo received nothing and sold nothing')
})

test('a receiver behind an outside proxy can mint receipts, but they buy nothing of anyone else\'s, and it sells nothing', async (t) => {
  const { app, url } = await build(t, env)
  // The attacker's own SPSP receiver: it learns each nonce's receipt secret from the proxy's query.
  let learned: { nonce: Buffer, secret: Buffer } | undefined
  const receiver = createServer((req, res) => {
    learned = { nonce: Buffer.from(String(req.headers['receipt-nonce']), 'base64'), secret: Buffer.from(String(req.headers['receipt-secret']), 'base64') }
    res.writeHead(200, { 'content-type': 'application/spsp4+json' }).end(JSON.stringify({ destination_account: 'test.attacker', shared_secret: randomBytes(32).toString('base64'), receipts_enabled: true }))
  })
  receiver.listen(0, '127.0.0.1')
  await once(receiver, 'listening')
  t.after(() => { receiver.close() })
  const proxy = await app.verifier.registerProxy(`http://127.0.0.1:${(receiver.address() as { port: number }).port}/spsp`)
  assert.ok(typeof proxy !== 'string')
  assert.equal((await fetch(proxy.proxy.proxyPointer, { headers: { accept: 'application/spsp4+json' } })).status, 200)
  const minted = encodeReceipt({ nonce: learned!.nonce, streamId: 1, totalReceived: (1n << 63n) - 1n, secret: learned!.secret }).toString('base64')
  const thief = newReader()
  const credited = await fetch(`${url}/balances/${thief.id}:creditReceipt`, { method: 'POST', body: minted })
  assert.equal(credited.status, 200, 'the receipt is genuine as far as any verifier can tell')

  // It counts only towards the attacker's own receiver: demo's torrent and sections stay unpaid.
  const demoTorrent = await licensedTorrent(app, url, randomBytes(20_000))
  assert.equal((await registerTorrent(url, demoTorrent.torrent)).status, 201)
  assert.equal((await buyAccess(url, demoTorrent.infoHash, thief, peer())).body.code, 'unknown_balance')
  const demoSection = siteToken(app.sealKey, { page: '/p/', id: 'x', amount: '1', assetCode: 'USD', assetScale: 2, receiver: proxyIdOf(app.demo!.proxyPointer) })
  assert.equal((await keyRequest(url, { token: demoSection, secret: thief.secret })).body.code, 'no_payment')
  // And a license paying the outside pointer is refused: its asset is unknown, its receipts prove nothing.
  const outside = await licensedTorrent(app, url, randomBytes(20_000), { license: { paymentPointer: proxy.proxy.proxyPointer } })
  const refused = await registerTorrent(url, outside.torrent)
  assert.equal(refused.status, 400)
  assert.equal(refused.body.code, 'unknown_asset')
  assert.match(String(refused.body.message), /neither a wallet account of this companion nor an Open Payments wallet address/)
})

test('a stranger who knows a reader\'s balance id can neither buy keys, nor use grants, nor drain it, nor announce with it', async (t) => {
  const { app, url, btpPort } = await build(t, env)
  const victim = newReader()
  const torrent = await licensedTorrent(app, url, randomBytes(20_000))
  assert.equal((await registerTorrent(url, torrent.torrent)).status, 201)
  await payAndCredit(app, url, btpPort, victim.id, 3n * PRICE)
  const receiver = proxyIdOf(app.demo!.proxyPointer)
  const section = siteToken(app.sealKey, { page: '/posts/a/', id: 'rest', amount: '100', assetCode: 'USD', assetScale: 2, receiver })
  // The victim buys a section and a download: grants exist for both.
  assert.equal((await keyRequest(url, { token: section, secret: victim.secret })).status, 200)
  assert.equal((await buyAccess(url, torrent.infoHash, victim, peer())).status, 200)

  // The old request shape (a balance id) is refused outright.
  const byId = await keyRequest(url, { token: section, balance: victim.id })
  assert.equal(byId.status, 400)
  // A made-up secret is someone else's (empty) balance: no key, no ticket.
  const stranger = newReader()
  assert.equal((await keyRequest(url, { token: section, secret: stranger.secret })).body.code, 'no_payment')
  assert.equal((await buyAccess(url, torrent.infoHash, stranger, peer())).status, 402)
  assert.equal((await buyAccess(url, torrent.infoHash, { secret: victim.id }, peer())).body.code, 'unknown_balance', 'the id taken as a secret is another, empty balance')
  // A forged token priced at what is left derives a key that opens nothing, and is refused before any spend.
  const forged = Buffer.from(JSON.stringify({ v: 3, site: SITE, page: '/posts/a/', id: 'drain', amount: '100', assetCode: 'USD', assetScale: 2, receiver })).toString('base64url') + '.' + 'A'.repeat(43)
  const drain = await keyRequest(url, { token: forged, secret: victim.secret })
  assert.equal(drain.status, 400)
  assert.equal(drain.body.code, 'token_not_issued')
  // A lowered price in a real token's payload breaks its MAC.
  const [payload, mac] = section.split('.') as [string, string]
  const lowered = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload, 'base64url').toString()), amount: '1' })).toString('base64url') + '.' + mac
  assert.equal((await keyRequest(url, { token: lowered, secret: victim.secret })).body.code, 'token_not_issued')
  // Announcing with the id: 200 HTTP peers and 50 WebSocket connections of strangers got in before.
  const http = await Promise.all(Array.from({ length: 20 }, () => announceHttp(url, torrent.infoHash, { balance: victim.id })))
  assert.ok(http.every((a) => /\(ticket_required\)$/.test(a.failure ?? '')))
  assert.equal(app.tracker.protocol.stats(torrent.infoHash), undefined, 'nobody joined the swarm')
  assert.equal(await balanceOf(url, victim.id), PRICE.toString(), 'the victim lost only what they bought')
})

test('downloads: a ticket admits one peer id for a while, renewable for free within the purchase, for a bounded set of peer ids', async (t) => {
  let clock = Date.now()
  const { app, url, btpPort } = await build(t, { ...env, TRICKLE_DOWNLOAD_TICKET_TTL: '600', TRICKLE_DOWNLOAD_GRANT_TTL: '86400', TRICKLE_DOWNLOAD_MAX_PEERS: '3' }, { now: () => clock })
  const torrent = await licensedTorrent(app, url, randomBytes(20_000))
  assert.equal((await registerTorrent(url, torrent.torrent)).status, 201)
  const reader = newReader()
  await payAndCredit(app, url, btpPort, reader.id, 2n * PRICE)
  const id = '-TT0001-ticketed0001'
  const hex = Buffer.from(id).toString('hex')
  const first = await buyAccess(url, torrent.infoHash, reader, hex)
  assert.equal(first.body.charged, PRICE.toString())
  assert.equal((await announceHttp(url, torrent.infoHash, { ticket: first.body.ticket, peer_id: id })).failure, undefined)

  // Past the ticket's lifetime it no longer admits; a new one is free while the purchase lasts.
  clock += 601_000
  assert.match((await announceHttp(url, torrent.infoHash, { ticket: first.body.ticket, peer_id: id })).failure!, /\(invalid_ticket\)$/)
  const renewed = await buyAccess(url, torrent.infoHash, reader, hex)
  assert.equal(renewed.body.charged, '0')
  assert.equal((await announceHttp(url, torrent.infoHash, { ticket: renewed.body.ticket, peer_id: id })).failure, undefined)

  // A bounded set of peer ids per ticket lifetime, not anyone the secret reaches.
  assert.equal((await buyAccess(url, torrent.infoHash, reader, peer())).status, 200)
  assert.equal((await buyAccess(url, torrent.infoHash, reader, peer())).status, 200)
  const fourth = await buyAccess(url, torrent.infoHash, reader, peer())
  assert.equal(fourth.status, 429)
  assert.equal(fourth.body.code, 'too_many_peers')
  assert.equal((await buyAccess(url, torrent.infoHash, reader, hex)).status, 200, 'a peer id it already has is renewed')

  // After the purchase ends, downloading again is buying again.
  clock += 86_400_000
  const again = await buyAccess(url, torrent.infoHash, reader, hex)
  assert.equal(again.body.charged, PRICE.toString())
  assert.equal(await balanceOf(url, reader.id), '0')
})

test('licenses: this companion\'s wallet however it is spelled, prices converted, unknown assets and unpayable prices refused', async (t) => {
  const { app, url } = await build(t, env)
  const port = new URL(url).port
  // The demo wallet spelled with localhost instead of 127.0.0.1, behind its own proxy.
  const spelled = await app.verifier.registerProxy(`http://localhost:${port}/wallet/demo`)
  assert.ok(typeof spelled !== 'string')
  const dollar = await licensedTorrent(app, url, randomBytes(10_000), { name: 'a.bin', license: { paymentPointer: spelled.proxy.proxyPointer.replace('127.0.0.1', 'localhost') } })
  const ok = await registerTorrent(url, dollar.torrent)
  assert.equal(ok.status, 201, JSON.stringify(ok.body))
  assert.equal(ok.body.spendAmount, PRICE.toString(), '1.00 USD is 10^9 units of USD/9, not 100')
  const euro = await licensedTorrent(app, url, randomBytes(10_000), { name: 'b.bin', license: { assetCode: 'EUR' } })
  assert.equal((await registerTorrent(url, euro.torrent)).body.code, 'asset_mismatch')
  const huge = await licensedTorrent(app, url, randomBytes(10_000), { name: 'c.bin', license: { amount: '18446744073709551615', assetScale: 0 } })
  const refused = await registerTorrent(url, huge.torrent)
  assert.equal(refused.body.code, 'unpayable_price')
  assert.match(String(refused.body.message), /more than a balance can hold/)
})

test('receipt-verifier\'s :spend keeps working for one receiver and must name the receiver when there are several', async (t) => {
  const { app, url, btpPort } = await build(t, env)
  const reader = newReader()
  await payAndCredit(app, url, btpPort, reader.id, 5000n)
  const spend = (query: string, amount: string) => fetch(`${url}/balances/${reader.id}:spend${query}`, { method: 'POST', headers: spendAuth, body: amount })
  let res = await spend('', '1000')
  assert.equal(res.status, 200)
  assert.equal(await res.text(), '4000')
  const alice = await creator(app, 'alice')
  await payTo(url, btpPort, alice.pointer, reader, 3000n)
  res = await spend('', '1000')
  assert.equal(res.status, 409)
  assert.equal((await res.json() as { code: string }).code, 'receiver_required')
  res = await spend(`?receiver=${alice.receiver}`, '1000')
  assert.equal(await res.text(), '2000')
  assert.equal(await balanceOf(url, reader.id), '6000', 'the total over receivers')
  assert.equal(await (await fetch(`${url}/balances/${reader.id}?receiver=${alice.receiver}`)).text(), '2000')
})

test('logs name balances by their public id only, never the secret', async (t) => {
  const lines: string[] = []
  const stream = new Writable({ write (chunk, _e, done) { lines.push(String(chunk)); done() } })
  const { app, url, btpPort } = await build(t, env, { logger: { level: 'debug', stream } })
  const reader = newReader()
  const torrent = await licensedTorrent(app, url, randomBytes(10_000))
  await registerTorrent(url, torrent.torrent)
  await payAndCredit(app, url, btpPort, reader.id, 2n * PRICE)
  await buyAccess(url, torrent.infoHash, reader, peer())
  const section = siteToken(app.sealKey, { page: '/a/', id: 'x', amount: '100', assetCode: 'USD', assetScale: 2, receiver: proxyIdOf(app.demo!.proxyPointer) })
  assert.equal((await keyRequest(url, { token: section, secret: reader.secret })).status, 200)
  const log = lines.join('')
  assert.ok(log.includes('download paid') && log.includes('sealed section bought'))
  // In the creator's units, naming the file: not "charged: 1000000000" and an infohash alone.
  assert.ok(log.includes('download paid: \\"guide.pdf\\" for 1.00 USD'), log)
  assert.ok(log.includes('sealed section bought: \\"x\\" of /a/ for 1.00 USD'))
  assert.ok(log.includes(reader.id))
  assert.ok(!log.includes(reader.secret), 'the secret is in no log line')
})

test('racing requests of one purchase cannot get tickets for more peer ids than the bound', async (t) => {
  const { app, url, btpPort } = await build(t, { ...env, TRICKLE_DOWNLOAD_MAX_PEERS: '8' })
  const torrent = await licensedTorrent(app, url, randomBytes(10_000))
  await registerTorrent(url, torrent.torrent)
  const reader = newReader()
  await payAndCredit(app, url, btpPort, reader.id, PRICE)
  const replies = await Promise.all(Array.from({ length: 60 }, () => buyAccess(url, torrent.infoHash, reader, peer())))
  assert.equal(replies.filter((r) => r.status === 200).length, 8)
  assert.equal(replies.filter((r) => r.status === 429).length, 52)
  assert.equal(await balanceOf(url, reader.id), '0', 'charged once')
})

test('a ticket read from an HTTP announce URL admits nobody else: the peer id belongs to its first address', async (t) => {
  const { app, url, btpPort } = await build(t, env)
  const torrent = await licensedTorrent(app, url, randomBytes(10_000))
  await registerTorrent(url, torrent.torrent)
  const reader = newReader()
  await payAndCredit(app, url, btpPort, reader.id, PRICE)
  const id = '-TT0001-httpowner001'
  const { body: { ticket } } = await buyAccess(url, torrent.infoHash, reader, Buffer.from(id).toString('hex'))
  assert.equal((await announceHttp(url, torrent.infoHash, { ticket, peer_id: id, port: 6881 })).failure, undefined)
  // The same ticket and peer id from another port (an address behind the same proxy, say), and over WebSocket.
  assert.match((await announceHttp(url, torrent.infoHash, { ticket, peer_id: id, port: 7000 })).failure!, /\(peer_id_in_use\)$/)
  const thief = await WsPeer.open(url, 'x')
  t.after(() => thief.close())
  thief.socket.send(JSON.stringify({ action: 'announce', info_hash: Buffer.from(torrent.infoHash, 'hex').toString('latin1'), peer_id: id, ticket, left: 1, offers: [] }))
  assert.match(String((await thief.next())['failure reason']), /\(peer_id_in_use\)$/)
  assert.equal(app.tracker.protocol.stats(torrent.infoHash)!.http, 1)
  // Lenient spellings of a ticket are no ticket.
  assert.match((await announceHttp(url, torrent.infoHash, { ticket: `0${ticket}`, peer_id: id, port: 6881 })).failure!, /\(invalid_ticket\)$/)
})
