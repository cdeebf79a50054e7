// One tracker swarm across several companions on one NATS bus and one PostgreSQL schema: HTTP
// announces return the peers of every instance, WebRTC offers and answers cross to the instance
// holding their target, registrations made on one are enforced on all, a peer id stays with the
// connection that has it wherever it announces, and nothing a broken or hostile bus message carries
// reaches a swarm or stops an instance.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { test } from 'node:test'
import { connect } from '@nats-io/transport-node'
import { cluster, eventually, NATS, sleep } from './cluster-helper.ts'
import { announceHttp, buyAccess, licensedTorrent, newReader, payAndCredit, registerTorrent, WsPeer } from './tracker-helper.ts'

const infoHash = () => randomBytes(20).toString('hex')
const offer = (n: number) => ({ offer: { type: 'offer', sdp: `v=0\r\no=- ${n} 2 IN IP4 127.0.0.1\r\n` }, offer_id: randomBytes(20).toString('hex') })
const binary = (hex: string) => Buffer.from(hex, 'hex').toString('latin1')

test('an HTTP announce to one instance returns the peers that announced to the others', async (t) => {
  const [a, b, c] = await cluster(t, 3)
  const h = infoHash()
  assert.equal((await announceHttp(a!.url, h, { port: 7001, peer_id: '-TT0001-aaaaaaaaaaaa' })).failure, undefined)
  assert.equal((await announceHttp(b!.url, h, { port: 7002, peer_id: '-TT0001-bbbbbbbbbbbb', left: 0 })).failure, undefined)
  const seen = await eventually('C to see the peers of A and B', async () => {
    const r = await announceHttp(c!.url, h, { port: 7003, peer_id: '-TT0001-cccccccccccc' })
    return r.peers!.length === 2 ? r : undefined
  })
  assert.deepEqual(seen.peers!.sort(), ['127.0.0.1:7001', '127.0.0.1:7002'])
  assert.equal(seen.complete, 1, 'B\'s seeder counts as complete everywhere')
  assert.equal(seen.incomplete, 2)
  // A peer that stops on B is gone from A's answers too.
  await announceHttp(b!.url, h, { port: 7002, peer_id: '-TT0001-bbbbbbbbbbbb', event: 'stopped' })
  await eventually('A to forget B\'s stopped peer', async () => {
    const r = await announceHttp(a!.url, h, { port: 7001, peer_id: '-TT0001-aaaaaaaaaaaa' })
    return r.peers!.length === 1 && r.peers![0] === '127.0.0.1:7003'
  })
  // Behind a load balancer the same peer announces to another instance next time: it is one peer, not two.
  await announceHttp(c!.url, h, { port: 7001, peer_id: '-TT0001-aaaaaaaaaaaa' })
  await sleep(200)
  const stats = [a, b, c].map((x) => x!.app.tracker.protocol.stats(h)!.http)
  assert.deepEqual(stats, [2, 2, 2])
})

test('a WebRTC offer from a peer on one instance reaches a peer on another, and the answer comes back', async (t) => {
  const [a, b] = await cluster(t, 2)
  const h = infoHash()
  const onB = await WsPeer.open(b!.url, 'seeder-b')
  t.after(() => { onB.close() })
  onB.send(h, { numwant: 0, left: 0, event: 'started' })
  assert.equal((await onB.next()).interval !== undefined, true)
  await eventually('A to know B\'s peer', () => a!.app.tracker.protocol.stats(h)?.ws === 1)

  const onA = await WsPeer.open(a!.url, 'reader-a')
  t.after(() => { onA.close() })
  const o = offer(1)
  onA.send(h, { numwant: 1, left: 1000, event: 'started', offers: [o] })
  assert.equal((await onA.next()).action, 'announce')
  const got = await onB.next()
  assert.deepEqual(got, { action: 'announce', offer: o.offer, offer_id: o.offer_id, peer_id: onA.peerId, info_hash: binary(h) })

  const answer = { type: 'answer', sdp: 'v=0\r\no=- 9 2 IN IP4 127.0.0.1\r\n' }
  onB.send(h, { to_peer_id: onA.peerId, answer, offer_id: o.offer_id })
  assert.deepEqual(await onA.next(), { action: 'announce', answer, offer_id: o.offer_id, peer_id: onB.peerId, info_hash: binary(h) })

  // The peer id B's connection holds cannot be taken on A (it would receive the offers meant for it).
  const thief = await WsPeer.open(a!.url, 'seeder-b')
  t.after(() => { thief.close() })
  thief.send(h, { numwant: 5, left: 0, event: 'started' })
  assert.match(String((await thief.next())['failure reason']), /peer_id_in_use/)

  // B's peer closes: A forgets it, and A's next offers go nowhere.
  onB.close()
  await eventually('A to forget B\'s closed peer', () => a!.app.tracker.protocol.stats(h)?.ws === 1)
})

test('a burst of large offers crosses to the other instance whole: bus messages are split by size, not only by count', async (t) => {
  const [a, b] = await cluster(t, 2)
  const h = infoHash()
  const onB: WsPeer[] = []
  for (let i = 0; i < 10; i++) {
    const p = await WsPeer.open(b!.url, `b-${i}`)
    t.after(() => { p.close() })
    p.send(h, { numwant: 0, left: 0, event: 'started' })
    await p.next()
    onB.push(p)
  }
  await eventually('A to know B\'s ten peers', () => a!.app.tracker.protocol.stats(h)?.ws === 10)
  // Five peers on A announce at once, each with ten offers of 17 KB (under the 256 KB message bound): about 600 KB for B in one turn, over 1 MB once escaped into bus messages.
  const big = (n: number) => ({ offer: { type: 'offer', sdp: `v=0\r\no=- ${n} 2 IN IP4 127.0.0.1\r\n${'a=x\r\n'.repeat(3500)}` }, offer_id: randomBytes(20).toString('hex') })
  const onA: WsPeer[] = []
  for (let i = 0; i < 5; i++) {
    const p = await WsPeer.open(a!.url, `a-${i}`)
    t.after(() => { p.close() })
    onA.push(p)
  }
  onA.forEach((p, i) => { p.send(h, { numwant: 10, left: 1000, event: 'started', offers: Array.from({ length: 10 }, (_, k) => big(i * 10 + k)) }) })
  const offersOn = (peers: WsPeer[]) => peers.reduce((n, p) => n + p.pending(), 0)
  // Every offer went to one of the other 14 peers; those on B came over the bus.
  await eventually('all 50 offers to arrive', () => offersOn(onB) + offersOn(onA) - onA.length >= 50, 10_000)
    .catch((err: Error) => { throw new Error(`${err.message}: on B ${offersOn(onB)}, on A ${offersOn(onA) - onA.length}`) })
})

test('a paid torrent registered on one instance is sold and enforced on the others; removing it empties its swarm everywhere', async (t) => {
  const [a, b, c] = await cluster(t, 3)
  const created = await licensedTorrent(a!.app, a!.url, randomBytes(5000), { name: 'cluster.pdf', cents: '100' })
  const reg = await registerTorrent(a!.url, created.torrent)
  assert.equal(reg.status, 201, JSON.stringify(reg.body))
  const h = created.infoHash
  await eventually('B and C to know the registration', async () => 'record' in await b!.app.tracker.get(h) && 'record' in await c!.app.tracker.get(h))

  // Unpaid on B: refused, never in the swarm anywhere.
  const free = await WsPeer.open(b!.url, 'freeloader')
  t.after(() => { free.close() })
  free.send(h, { numwant: 5, left: 1000, event: 'started', offers: [offer(2)] })
  assert.match(String((await free.next())['failure reason']), /payment_required/)

  // Credited on A (receipts through A's proxy pointer), bought on C, announced on B.
  const reader = newReader()
  await payAndCredit(a!.app, a!.url, a!.btpPort, reader.id, 2_000_000_000n)
  const peerHex = Buffer.from('-TT0001-paidreader00').toString('hex')
  const bought = await buyAccess(c!.url, h, reader, peerHex)
  assert.equal(bought.status, 200, bought.body.message)
  assert.equal(bought.body.charged, '1000000000')
  const again = await buyAccess(a!.url, h, reader, peerHex)
  assert.equal(again.body.charged, '0', 'one purchase across the instances')
  const paid = await WsPeer.open(b!.url, 'paidreader00')
  t.after(() => { paid.close() })
  paid.send(h, { numwant: 5, left: 1000, event: 'started', ticket: bought.body.ticket })
  assert.equal((await paid.next())['failure reason'], undefined)
  await eventually('A and C to see the paying peer', () => a!.app.tracker.protocol.stats(h)?.ws === 1 && c!.app.tracker.protocol.stats(h)?.ws === 1)

  const del = await fetch(`${a!.url}/torrents/${h}`, { method: 'DELETE', headers: { authorization: 'Bearer test-admin-token' } })
  assert.equal(del.status, 204)
  await eventually('every instance to forget the removed torrent and its swarm', async () =>
    [b, c].every((x) => x!.app.tracker.protocol.stats(h) === undefined) && 'error' in await b!.app.tracker.get(h))
})

test('an instance that closes takes its peers with it at once; one that joins late gets the swarms', async (t) => {
  const [a, b] = await cluster(t, 2)
  const h = infoHash()
  await announceHttp(a!.url, h, { port: 7101, peer_id: '-TT0001-aaaaaaaaaaaa' })
  await eventually('B to see A\'s peer', () => b!.app.tracker.protocol.stats(h)?.http === 1)
  // A third instance joining now asks the others for their swarms (no announce needed).
  const [late] = await cluster(t, 1, { TRICKLE_DATABASE: a!.app.config.database, TRICKLE_BUS_SUBJECT: a!.app.config.busSubject, RECEIPT_SEED: '' })
  await eventually('the late instance to get the snapshot', () => late!.app.tracker.protocol.stats(h)?.http === 1)
  await a!.app.close()
  await eventually('B to drop the closed instance\'s peers', () => b!.app.tracker.protocol.stats(h) === undefined, 3000)
})

test('hostile or broken bus messages reach no swarm and stop no instance', async (t) => {
  const [a, b] = await cluster(t, 2)
  const nc = await connect({ servers: NATS })
  t.after(() => nc.close())
  const subject = (s: string) => `${a!.app.config.busSubject}.${s}`
  const h = infoHash()
  const peerId = randomBytes(20).toString('hex')
  const bad: Array<[string, unknown]> = [
    ['tracker.peers', 'not json {'],
    ['tracker.peers', '['.repeat(100_000) + ']'.repeat(100_000)],
    ['tracker.peers', { v: 2, from: 'future', peers: [[0, h, peerId, 0, '10.0.0.1', 6881, 0]] }],
    ['tracker.peers', { v: 1, from: 'has spaces', peers: [[0, h, peerId, 0, '10.0.0.1', 6881, 0]] }],
    ['tracker.peers', { v: 1, from: 'x', peers: [[0, 'nothex', peerId, 0, '10.0.0.1', 6881, 0], [0, h, peerId, 0, '10.0.0.1', 70000, 0], [0, h, peerId, 0, { ip: 1 }, 6881, 0], [7, h, peerId, 0, '', 0, 0], [1, h, peerId, 0, '', 0, 9], 'junk', null] }],
    ['tracker.peers', { v: 1, from: 'x', peers: { length: 1e9 } }],
    [`tracker.to.${a!.app.instanceId}`, { v: 1, from: 'x', signals: [[h, peerId, 'x'.repeat(200_000)], [h, 'short', '{}'], null] }],
    ['tracker.torrent', { v: 1, from: 'x', infoHash: '../../etc' }],
    ['tracker.bye', { v: 1 }]
  ]
  for (const [s, m] of bad) nc.publish(subject(s), typeof m === 'string' ? m : JSON.stringify(m))
  await nc.flush()
  await sleep(300)
  assert.equal(a!.app.tracker.protocol.stats(h), undefined, 'no forged peer got in')
  // Both still serve, and still share swarms.
  await announceHttp(a!.url, h, { port: 7201, peer_id: '-TT0001-aaaaaaaaaaaa' })
  await eventually('B to still hear A', () => b!.app.tracker.protocol.stats(h)?.http === 1)
  assert.equal((await fetch(`${b!.url}/health`)).status, 200)
})
