// The paid-download tracker on the real stack: an unmodified bittorrent-tracker Client, raw WebSocket
// peers speaking the WebTorrent tracker protocol, and money paid through the demo proxy pointer with
// receipts credited at the verifier (server/test/pay.ts), never a balance written by hand.
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import bencode from 'bencode'
import { Client } from 'bittorrent-tracker'
import { createTorrent } from '../src/torrent/license.ts'
import { adminAuth, build } from './helper.ts'
import { announceHttp, balanceOf, binaryParam, buyAccess, licensedTorrent, newReader, payAndCredit, registerTorrent, WsPeer } from './tracker-helper.ts'

const PRICE = 1_000_000_000n // 100 USD/2 = 1.00 USD, in the wallet's units (USD/9)
const env = { TRICKLE_SEED_WEBRTC: 'false' }

/** An unmodified bittorrent-tracker Client on the HTTP announce URL; collects its events. */
function trackerClient (announce: string, infoHash: string, port: number, extra: () => Record<string, unknown>) {
  const peerId = randomBytes(20)
  const client = new Client({ infoHash, peerId, announce: [announce], port, getAnnounceOpts: extra })
  const peers: string[] = []
  client.on('peer', (peer: string) => peers.push(peer))
  client.on('error', () => {})
  return { client, peers, peerId: peerId.toString('hex') }
}

test('an unmodified bittorrent-tracker Client gets no peers for a paid torrent until its reader bought a ticket, once', async (t) => {
  const { app, url, btpPort } = await build(t, env)
  const created = await licensedTorrent(app, url, randomBytes(50_000))
  const reg = await registerTorrent(url, created.torrent)
  assert.equal(reg.status, 201)
  assert.equal(reg.body.spendAmount, PRICE.toString(), '1.00 USD at the wallet\'s scale 9')
  const http = app.tracker.announceUrls.http
  const reader = newReader()

  // The creator's seeder announces with its token, without paying.
  const seeder = trackerClient(http, created.infoHash, 7001, () => ({ seeder_token: reg.body.seederToken, left: 0 }))
  t.after(() => seeder.client.destroy())
  seeder.client.start()
  await once(seeder.client, 'update')

  // A leecher without a ticket: a failure reason it can show, and no peers.
  const unpaid = trackerClient(http, created.infoHash, 7002, () => ({}))
  t.after(() => unpaid.client.destroy())
  unpaid.client.start()
  const [refusal] = await once(unpaid.client, 'warning') as [Error]
  assert.match(refusal.message, /^Payment required: "guide\.pdf" costs 1\.00 USD\. Pay http:\/\/127\.0\.0\.1:\d+\/p\/[0-9a-f]{32}, credit the receipts .* announce with ticket=\{ticket\}\. \(payment_required\)$/)
  assert.deepEqual(unpaid.peers, [])

  // Nothing credited yet: no ticket.
  const early = trackerClient(http, created.infoHash, 7003, () => ({}))
  let access = await buyAccess(url, created.infoHash, reader, early.peerId)
  assert.equal(access.status, 402)
  assert.equal(access.body.code, 'unknown_balance')
  assert.equal(access.body.price, PRICE.toString())

  // Too little: 0.40 USD credited.
  await payAndCredit(app, url, btpPort, reader.id, 400_000_000n)
  access = await buyAccess(url, created.infoHash, reader, early.peerId)
  assert.equal(access.status, 402)
  assert.equal(access.body.code, 'insufficient_balance')
  assert.equal(access.body.balance, '400000000')
  assert.equal(await balanceOf(url, reader.id), '400000000', 'a failed spend takes nothing')

  // Paid in full (1.50 USD credited in all): the ticket admits this client, and the seeder is its one peer.
  await payAndCredit(app, url, btpPort, reader.id, 1_100_000_000n)
  const paid = trackerClient(http, created.infoHash, 7005, () => ({ ticket }))
  access = await buyAccess(url, created.infoHash, reader, paid.peerId)
  assert.equal(access.status, 200, JSON.stringify(access.body))
  assert.equal(access.body.charged, PRICE.toString())
  const ticket = access.body.ticket
  t.after(() => paid.client.destroy())
  paid.client.start()
  await once(paid.client, 'update')
  assert.deepEqual(paid.peers.filter((p) => p !== '127.0.0.1:7005'), ['127.0.0.1:7001'], 'the seeder (HTTP trackers also list the asker itself)')
  assert.equal(await balanceOf(url, reader.id), '500000000', 'the price was spent')

  // The ticket is this peer id's: another client announcing with it is refused.
  const borrower = trackerClient(http, created.infoHash, 7007, () => ({ ticket }))
  borrower.client.start()
  const [borrowed] = await once(borrower.client, 'warning') as [Error]
  assert.match(borrowed.message, /\(invalid_ticket\)$/)
  borrower.client.destroy()
  // Nor does the (public) balance id pay by itself.
  const stranger = trackerClient(http, created.infoHash, 7008, () => ({ balance: reader.id }))
  stranger.client.start()
  const [idOnly] = await once(stranger.client, 'warning') as [Error]
  assert.match(idOnly.message, /\(ticket_required\)$/)
  stranger.client.destroy()

  // Announcing again, and a new client of the same reader (a reload: another peer id), spend nothing more.
  for (let i = 0; i < 3; i++) {
    paid.client.update()
    await once(paid.client, 'update')
  }
  let againTicket = ''
  const again = trackerClient(http, created.infoHash, 7006, () => ({ ticket: againTicket }))
  access = await buyAccess(url, created.infoHash, reader, again.peerId)
  assert.equal(access.body.charged, '0', 'within the purchase, a new ticket is free')
  againTicket = access.body.ticket
  again.client.start()
  await once(again.client, 'update')
  again.client.destroy()
  assert.equal(await balanceOf(url, reader.id), '500000000', 'spent once per purchase')

  // The refused leechers never entered the swarm.
  const swarm = app.tracker.protocol.stats(created.infoHash)!
  assert.equal(swarm.http, 3, 'seeder, and the two clients of the paying reader')
})

test('WebSocket tracker: offers of unpaid peers never reach the seeder, answers flow only between paid peers and seeders', async (t) => {
  const { app, url, btpPort } = await build(t, env)
  const created = await licensedTorrent(app, url, randomBytes(30_000))
  const reg = await registerTorrent(url, created.torrent)
  const ih = created.infoHash
  const offer = (id: string) => ({ offer: { type: 'offer', sdp: `v=0 ${id}` }, offer_id: id.padEnd(20, '0') })

  const seeder = await WsPeer.open(url, 'seeder')
  const leecher = await WsPeer.open(url, 'unpaid')
  const paidPeer = await WsPeer.open(url, 'paid')
  t.after(() => { seeder.close(); leecher.close(); paidPeer.close() })

  seeder.send(ih, { event: 'started', left: 0, numwant: 0, offers: [], seeder_token: reg.body.seederToken })
  const welcome = await seeder.next()
  assert.equal(welcome['failure reason'], undefined)
  assert.equal(welcome.complete, 1)

  // Unpaid: refused, and its offer goes nowhere.
  leecher.send(ih, { event: 'started', left: 1000, numwant: 1, offers: [offer('unpaid-offer')] })
  const refused = await leecher.next()
  assert.match(String(refused['failure reason']), /\(payment_required\)$/)
  // Nor may it answer the seeder, or pretend to be it.
  leecher.send(ih, { answer: { type: 'answer', sdp: 'x' }, to_peer_id: seeder.peerId, offer_id: 'f'.repeat(20) })
  assert.match(String((await leecher.next())['failure reason']), /\(payment_required\)$/)
  leecher.send(ih, { event: 'started', left: 0, numwant: 1, offers: [offer('fake-seeder')], seeder_token: 'not-the-token' })
  assert.match(String((await leecher.next())['failure reason']), /seeder token is not valid .*\(bad_seeder_token\)$/)

  // Paid: its offer reaches the seeder, and it is the first thing the seeder receives after its own
  // welcome (bittorrent-tracker forwards offers while it handles the announce, so an offer of the
  // unpaid peer, sent earlier, would have arrived before it).
  const reader = newReader()
  await payAndCredit(app, url, btpPort, reader.id, 1_000_000_000n)
  const { body: { ticket } } = await buyAccess(url, ih, reader, Buffer.from(paidPeer.peerId, 'latin1').toString('hex'))
  paidPeer.send(ih, { event: 'started', left: 1000, numwant: 1, offers: [offer('paid-offer')], ticket })
  const accepted = await paidPeer.next()
  assert.equal(accepted['failure reason'], undefined)
  assert.equal(accepted.complete, 1)
  const relayed = await seeder.next()
  assert.deepEqual(relayed.offer, { type: 'offer', sdp: 'v=0 paid-offer' })
  assert.equal(relayed.peer_id, paidPeer.peerId)
  assert.equal(seeder.pending(), 0, 'nothing else reached the seeder')

  // The seeder's answer (no credentials: its socket earned them) reaches the paid peer.
  seeder.send(ih, { answer: { type: 'answer', sdp: 'v=0 answer' }, to_peer_id: paidPeer.peerId, offer_id: relayed.offer_id })
  const answer = await paidPeer.next()
  assert.deepEqual(answer.answer, { type: 'answer', sdp: 'v=0 answer' })
  assert.equal(answer.peer_id, seeder.peerId)

  // Another client sharing the paid peer's socket (one process shares one socket per tracker) is not
  // paid for: the authorization belongs to the socket and peer id that earned it.
  paidPeer.send(ih, { peer_id: '-TT0001-sameSocket00', event: 'started', left: 1000, numwant: 1, offers: [offer('same-socket')] })
  assert.match(String((await paidPeer.next())['failure reason']), /\(payment_required\)$/)

  // The unpaid peer still cannot answer the paid one; the paid peer's next announce spends nothing.
  leecher.send(ih, { answer: { type: 'answer', sdp: 'x' }, to_peer_id: paidPeer.peerId, offer_id: 'e'.repeat(20) })
  assert.match(String((await leecher.next())['failure reason']), /\(payment_required\)$/)
  paidPeer.send(ih, { event: 'update', left: 500, numwant: 0, offers: [] })
  assert.equal((await paidPeer.next())['failure reason'], undefined)
  assert.equal(paidPeer.pending(), 0, 'the unpaid answer never arrived')
  assert.equal(await balanceOf(url, reader.id), '0')
})

test('registration: only the creator registers, malformed or foreign licenses are refused; altered or unregistered paid torrents get no peers', async (t) => {
  const { app, url } = await build(t, env)
  const data = randomBytes(40_000)
  const created = await licensedTorrent(app, url, data)

  let r = await registerTorrent(url, created.torrent, {}, {})
  assert.equal(r.status, 401, 'no admin token')
  r = await registerTorrent(url, created.torrent, {}, { authorization: 'Bearer test-spend-token' })
  assert.equal(r.status, 401, 'the spend token is not the admin token')

  // A license inside the info dict with a float-like amount; a non-private paid torrent.
  const edit = (fn: (tor: Record<string, any>) => void) => { const tor = bencode.decode(created.torrent) as Record<string, any>; fn(tor); return bencode.encode(tor) }
  const cases: Array<[Uint8Array, string, RegExp]> = [
    [edit((tor) => { tor.info.license.amount = new TextEncoder().encode('1.5') }), 'invalid_torrent', /info\.license\.amount must be a whole number/],
    [edit((tor) => { delete tor.info.private }), 'invalid_torrent', /must be private/],
    [edit((tor) => { tor['announce-list'] = [[tor.announce], [new TextEncoder().encode('wss://tracker.example/announce')]] }), 'invalid_torrent', /exactly one tracker/],
    [(await licensedTorrent(app, url, data, { announce: 'wss://tracker.example/announce' })).torrent, 'wrong_tracker', /announce to this tracker only .*: it announces to wss:\/\/tracker\.example\/announce/],
    [(await licensedTorrent(app, url, data, { license: { verifier: 'https://verifier.example' } })).torrent, 'wrong_verifier', /verifier must be this server/],
    [(await licensedTorrent(app, url, data, { license: { paymentPointer: '$wallet.example/alice' } })).torrent, 'unknown_payment_pointer', /proxy pointer registered here/],
    [(await licensedTorrent(app, url, data, { license: { assetCode: 'EUR' } })).torrent, 'asset_mismatch', /the price is in EUR, the receiver's wallet receives USD/],
    [new TextEncoder().encode('not a torrent'), 'invalid_torrent', /not valid bencode|top level/]
  ]
  for (const [torrent, code, message] of cases) {
    r = await registerTorrent(url, torrent)
    assert.equal(r.status, 400, `${code}: ${JSON.stringify(r.body)}`)
    assert.equal(r.body.code, code, JSON.stringify(r.body))
    assert.match(String(r.body.message), message)
  }
  const res = await fetch(`${url}/torrents`, { method: 'POST', headers: { ...adminAuth, 'content-type': 'application/json' }, body: JSON.stringify({ torrent: '%%%%%' }) })
  assert.equal((await res.json() as { code: string }).code, 'invalid_torrent')

  // The real one registers (idempotently); its license is public.
  r = await registerTorrent(url, created.torrent)
  assert.equal(r.status, 201)
  assert.equal((await registerTorrent(url, created.torrent)).status, 200)
  const listed = await (await fetch(`${url}/torrents/${created.infoHash}`)).json() as { price: string, license: { amount: string } }
  assert.equal(listed.price, '1.00 USD')

  // The same file under an altered license (cheaper) is another infohash, which nobody registered.
  const altered = await licensedTorrent(app, url, data, { cents: '1' })
  assert.notEqual(altered.infoHash, created.infoHash)
  let a = await announceHttp(url, altered.infoHash, { ticket: 'cheapskate' })
  assert.match(a.failure!, /not registered at this tracker: its price is unknown here.*\(not_registered\)$/)
  a = await announceHttp(url, altered.infoHash, { seeder_token: r.body.seederToken, left: 0 })
  assert.match(a.failure!, /\(not_registered\)$/, 'the creator\'s token does not carry over either')
  a = await announceHttp(url, created.infoHash, { seeder_token: app.tracker.seederToken(altered.infoHash), left: 0 })
  assert.match(a.failure!, /\(bad_seeder_token\)$/, 'a seeder token is bound to its infohash')
  assert.equal((await fetch(`${url}/torrents/${altered.infoHash}`)).status, 404)

  // Deregistered: its swarm is gone and its seeders are refused.
  a = await announceHttp(url, created.infoHash, { seeder_token: r.body.seederToken, left: 0 })
  assert.equal(a.failure, undefined)
  assert.equal((await fetch(`${url}/torrents/${created.infoHash}`, { method: 'DELETE', headers: adminAuth })).status, 204)
  a = await announceHttp(url, created.infoHash, { seeder_token: r.body.seederToken, left: 0 })
  assert.match(a.failure!, /\(not_registered\)$/)
  assert.equal(app.tracker.protocol.stats(created.infoHash), undefined)
})

test('free torrents work as on any tracker; a closed tracker serves only registered ones', async (t) => {
  const { app, url } = await build(t, env)
  const free = await createTorrent({ name: 'free.txt', data: randomBytes(20_000), announce: app.tracker.announceUrls.http })
  const first = await announceHttp(url, free.infoHash, { peer_id: '-TT0001-aaaaaaaaaaaa', port: 7101, left: 0 })
  assert.equal(first.failure, undefined)
  const second = await announceHttp(url, free.infoHash, { peer_id: '-TT0001-bbbbbbbbbbbb' })
  assert.ok(second.peers?.includes('127.0.0.1:7101'), 'the first peer is handed out')
  const withTicket = await announceHttp(url, free.infoHash, { ticket: 'someone' })
  assert.match(withTicket.failure!, /\(not_registered\)$/, 'a ticket names a paid torrent: refused when nobody registered its price')

  const closed = await build(t, { ...env, TRICKLE_TRACKER_OPEN: 'false' })
  const refused = await announceHttp(closed.url, free.infoHash)
  assert.match(refused.failure!, /only serves torrents registered with it\. \(closed_tracker\)$/)
  const reg = await registerTorrent(closed.url, free.torrent)
  assert.equal(reg.status, 201)
  assert.equal(reg.body.spendAmount, undefined)
  assert.equal((await announceHttp(closed.url, free.infoHash)).failure, undefined, 'a registered free torrent needs no payment')

  // Scrape works for every torrent (counts only).
  const scrape = await fetch(`${url}/scrape?info_hash=${binaryParam(free.infoHash)}`)
  const files = (bencode.decode(new Uint8Array(await scrape.arrayBuffer())) as { files: Record<string, { complete: number, incomplete: number }> }).files
  assert.deepEqual(Object.values(files), [{ complete: 1, incomplete: 1, downloaded: 1 }], 'the refused announce never joined')
})

test('the price is spent once per purchase: concurrent requests, other torrents, a restart', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'trickle-tracker-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  // Same store; the restarted companion gets other ports, which changes nothing registered or paid.
  const fixed = { ...env, TRICKLE_DATABASE: path.join(dir, 'trickle.sqlite') }
  const peer = (i: number) => Buffer.from(`-TT0001-concurrent${i}`.padEnd(20, '0').slice(0, 20)).toString('hex')

  const first = await build(undefined, fixed)
  const { app, url, btpPort } = first
  const reader = newReader()
  const one = await licensedTorrent(app, url, randomBytes(20_000), { name: 'one.bin' })
  const two = await licensedTorrent(app, url, randomBytes(20_000), { name: 'two.bin' })
  assert.equal((await registerTorrent(url, one.torrent)).status, 201)
  assert.equal((await registerTorrent(url, two.torrent)).status, 201)
  await payAndCredit(app, url, btpPort, reader.id, 2_500_000_000n)

  const results = await Promise.all(Array.from({ length: 8 }, (_, i) => buyAccess(url, one.infoHash, reader, peer(i))))
  assert.deepEqual(results.map((r) => r.status), Array(8).fill(200))
  assert.equal(results.reduce((sum, r) => sum + BigInt(r.body.charged), 0n), PRICE, 'eight concurrent requests, one spend')
  assert.equal(await balanceOf(url, reader.id), '1500000000')
  const tickets = await Promise.all(results.map((r, i) => announceHttp(url, one.infoHash, { ticket: r.body.ticket, peer_id: Buffer.from(peer(i), 'hex').toString('latin1') })))
  assert.deepEqual(tickets.map((r) => r.failure), Array(8).fill(undefined))
  assert.equal((await buyAccess(url, two.infoHash, reader, peer(0))).body.charged, PRICE.toString(), 'another torrent costs again')
  assert.equal(await balanceOf(url, reader.id), '500000000')
  await app.close()

  // Restarted on the same store: the purchases are remembered.
  const second = await build(t, fixed)
  assert.equal((await buyAccess(second.url, one.infoHash, reader, peer(9))).body.charged, '0')
  assert.equal((await buyAccess(second.url, two.infoHash, reader, peer(9))).body.charged, '0')
  assert.equal(await balanceOf(second.url, reader.id), '500000000', 'nothing charged twice after a restart')
  const three = await licensedTorrent(second.app, second.url, randomBytes(20_000), { name: 'three.bin' })
  assert.equal((await registerTorrent(second.url, three.torrent)).status, 201)
  // The restarted companion has another URL, so its demo pointer is another receiver: the money left
  // belongs to the first one's and buys nothing of this one's.
  assert.equal((await buyAccess(second.url, three.infoHash, reader, peer(9))).body.code, 'unknown_balance')
})
