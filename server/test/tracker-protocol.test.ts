// The tracker's wire protocols on their own: the hand-written WebSocket transport against the `ws`
// client and raw frames, and the BitTorrent HTTP reply formats (compact IPv4 and IPv6, non-compact,
// stopped, numwant, eviction, expiry, scrape). The paid gate on the full stack is tracker.test.ts.
import assert from 'node:assert/strict'
import { once } from 'node:events'
import test from 'node:test'
import bencode from 'bencode'
import { bencode as encode } from '../src/tracker/bencode.ts'
import { binaryParamHex, parseHttpAnnounce, type Gate } from '../src/tracker/protocol.ts'
import { announce, binary, frame, host, IH, pct, peerHex, rawSocket, text, wsClient } from './protocol-host.ts'

test('parsing an HTTP announce: binary params, defaults, and what is refused', () => {
  assert.equal(binaryParamHex(pct(IH)), IH)
  assert.equal(binaryParamHex('%aa'.repeat(19) + '+'), 'aa'.repeat(19) + '20', '+ is a space byte, as in any query string')
  assert.equal(binaryParamHex('%aa'.repeat(19)), undefined, '19 bytes')
  assert.equal(binaryParamHex('%zz' + '%aa'.repeat(19)), undefined)
  const ok = parseHttpAnnounce(`/announce?info_hash=${pct(IH)}&peer_id=${pct(peerHex(1))}&port=6881&left=0&balance=a%2Bb&compact=1`)
  assert.deepEqual(ok, { infoHash: IH, peerId: peerHex(1), port: 6881, left: 0, event: '', numwant: 50, compact: true, balance: 'a+b' })
  assert.equal(parseHttpAnnounce('/announce'), 'invalid info_hash')
  assert.equal(parseHttpAnnounce(`/announce?info_hash=${pct(IH)}&port=1`), 'invalid peer_id')
  assert.equal(parseHttpAnnounce(`/announce?info_hash=${pct(IH)}&peer_id=${pct(peerHex(1))}&port=70000`), 'invalid port')
  assert.equal(parseHttpAnnounce(`/announce?info_hash=${pct(IH)}&peer_id=${pct(peerHex(1))}&port=1&event=exploded`), 'invalid event')
  const capped = parseHttpAnnounce(`/announce?info_hash=${pct(IH)}&peer_id=${pct(peerHex(1))}&port=1&numwant=5000&left=abc`)
  assert.ok(typeof capped !== 'string' && capped.numwant === 82 && capped.left === Infinity)
  const none = parseHttpAnnounce(`/announce?info_hash=${pct(IH)}&peer_id=${pct(peerHex(1))}&port=1&numwant=0`)
  assert.ok(typeof none !== 'string' && none.numwant === 0, 'a seeder asks for no peers')
})

test('bencode: sorted byte-string keys, integers, nested values', () => {
  assert.equal(encode({ b: 1, a: [1, 'x'], c: { z: 'é' } }).toString('latin1'), 'd1:ali1e1:xe1:bi1e1:cd1:z2:Ã©ee')
  assert.equal(encode(2n ** 64n).toString(), 'i18446744073709551616e')
  assert.throws(() => encode(1.5), /not an integer/)
})

test('HTTP: compact and full replies, IPv6 peers apart, stopped leaves, numwant, counts', async (t) => {
  const { url, protocol } = await host(t)
  // Peers from other addresses, as the protocol sees them (the HTTP layer passes the address in).
  for (let i = 0; i < 5; i++) protocol.announce(`/announce?info_hash=${pct(IH)}&peer_id=${pct(peerHex(i))}&port=${7000 + i}&left=${i === 0 ? 0 : 10}`, `10.0.0.${i + 1}`)
  protocol.announce(`/announce?info_hash=${pct(IH)}&peer_id=${pct(peerHex(9))}&port=7009&left=10`, '2001:db8::1')
  assert.deepEqual(protocol.stats(IH), { http: 6, ws: 0, complete: 1, incomplete: 5, downloaded: 0 })

  const compact = await announce(url, { info_hash: IH, peer_id: peerHex(20), port: 6881, left: 5, compact: 1, numwant: 10 })
  assert.equal(compact.complete, 1)
  assert.equal(compact.incomplete, 6)
  assert.equal(compact.interval, 100)
  const peers = Buffer.from(compact.peers as Uint8Array)
  assert.equal(peers.length, 5 * 6, 'the five IPv4 peers, not itself')
  const addrs = new Set<string>()
  for (let i = 0; i < peers.length; i += 6) addrs.add(`${peers.subarray(i, i + 4).join('.')}:${peers.readUInt16BE(i + 4)}`)
  assert.deepEqual([...addrs].sort(), ['10.0.0.1:7000', '10.0.0.2:7001', '10.0.0.3:7002', '10.0.0.4:7003', '10.0.0.5:7004'])
  const peers6 = Buffer.from(compact.peers6 as Uint8Array)
  assert.equal(peers6.length, 18)
  assert.equal(peers6.subarray(0, 16).toString('hex'), '20010db8000000000000000000000001')
  assert.equal(peers6.readUInt16BE(16), 7009)

  const full = await announce(url, { info_hash: IH, peer_id: peerHex(20), port: 6881, left: 5, numwant: 2 })
  const list = full.peers as Array<Record<string, unknown>>
  assert.equal(list.length, 2, 'numwant')
  assert.equal(Buffer.from(list[0]!['peer id'] as Uint8Array).length, 20)

  const stopped = await announce(url, { info_hash: IH, peer_id: peerHex(20), port: 6881, left: 5, event: 'stopped', compact: 1 })
  assert.equal((stopped.peers as Uint8Array).length, 0, 'a stopping peer gets no peers')
  assert.equal(protocol.stats(IH)!.http, 6)

  const completed = await announce(url, { info_hash: IH, peer_id: peerHex(21), port: 6882, left: 0, event: 'completed', compact: 1 })
  assert.equal(completed.complete, 2)
  const bad = await announce(url, { info_hash: 'ab', peer_id: peerHex(1), port: 1 })
  assert.equal(text(bad['failure reason']), 'invalid info_hash')

  const scrape = bencode.decode(new Uint8Array(await (await fetch(`${url}/scrape?info_hash=${pct(IH)}&info_hash=${pct('63'.repeat(20))}`)).arrayBuffer())) as { files: Record<string, Record<string, number>> }
  const files = Object.fromEntries(Object.entries(scrape.files).map(([k, v]) => [Buffer.from(k, 'latin1').toString('hex'), v]))
  assert.deepEqual(files[IH], { complete: 2, incomplete: 5, downloaded: 2 })
  assert.deepEqual(files['63'.repeat(20)], { complete: 0, incomplete: 0, downloaded: 0 })
})

test('swarms stay bounded: the least recently announced peer goes first, silent ones expire', async (t) => {
  let clock = 1_000_000
  const { protocol } = await host(t, undefined, { now: () => clock, maxSwarmPeers: 3 })
  const ann = (n: number) => protocol.announce(`/announce?info_hash=${pct(IH)}&peer_id=${pct(peerHex(n))}&port=${7000 + n}&compact=1`, '10.0.0.1')
  ann(1); ann(2); ann(3)
  clock += 1000
  ann(1) // 1 is now the most recent
  ann(4) // evicts 2, the least recent
  const peers = Buffer.from((bencode.decode(new Uint8Array(ann(5) as Buffer)) as { peers: Uint8Array }).peers)
  const ports = []
  for (let i = 0; i < peers.length; i += 6) ports.push(peers.readUInt16BE(i + 4))
  assert.deepEqual(ports.sort(), [7001, 7004], '2 and then 3 were evicted; 5 does not get itself')
  clock += 2 * 100_000 + 62_000
  protocol.sweep()
  assert.equal(protocol.stats(IH), undefined, 'every peer expired, and the empty swarm with them')
})

test('WebSocket: announces, offers to other peers, answers back, stopped, and a closed socket leaves every swarm', async (t) => {
  const { ws, protocol } = await host(t)
  const a = await wsClient(ws)
  const b = await wsClient(ws)
  a.send({ action: 'announce', info_hash: binary(IH), peer_id: binary(peerHex(1)), left: 0, event: 'started', numwant: 0, offers: [] })
  assert.deepEqual(await a.next(), { action: 'announce', interval: 20, info_hash: binary(IH), complete: 1, incomplete: 0 })
  const offers = [{ offer: { type: 'offer', sdp: 'v=0 b' }, offer_id: 'o'.repeat(20) }, { offer: { type: 'offer', sdp: 'v=0 b2' }, offer_id: 'p'.repeat(20) }]
  b.send({ action: 'announce', info_hash: binary(IH), peer_id: binary(peerHex(2)), left: 10, event: 'started', numwant: 2, offers })
  assert.equal((await b.next()).incomplete, 1)
  const offer = await a.next()
  assert.deepEqual(offer, { action: 'announce', offer: offers[0]!.offer, offer_id: 'o'.repeat(20), peer_id: binary(peerHex(2)), info_hash: binary(IH) }, 'one offer per other peer')
  a.send({ action: 'announce', info_hash: binary(IH), peer_id: binary(peerHex(1)), to_peer_id: binary(peerHex(2)), answer: { type: 'answer', sdp: 'v=0 a' }, offer_id: 'o'.repeat(20) })
  assert.deepEqual(await b.next(), { action: 'announce', answer: { type: 'answer', sdp: 'v=0 a' }, offer_id: 'o'.repeat(20), peer_id: binary(peerHex(1)), info_hash: binary(IH) })
  assert.equal(a.inbox.length, 0, 'no reply to an answer')

  // One connection, two torrents (bittorrent-tracker's client shares a socket per tracker URL).
  const IH2 = 'cc'.repeat(20)
  a.send({ action: 'announce', info_hash: binary(IH2), peer_id: binary(peerHex(1)), left: 0, event: 'started', offers: [] })
  assert.equal((await a.next()).complete, 1)
  a.send({ action: 'scrape', info_hash: [binary(IH), binary(IH2)] })
  const scrape = await a.next() as { files: Record<string, { complete: number }> }
  assert.equal(scrape.files[binary(IH)]!.complete, 1)
  assert.equal(protocol.connections, 2)

  b.send({ action: 'announce', info_hash: binary(IH), peer_id: binary(peerHex(2)), left: 10, event: 'stopped' })
  await b.next()
  assert.equal(protocol.stats(IH)!.ws, 1)
  a.socket.close()
  await once(a.socket, 'close')
  await new Promise((resolve) => setTimeout(resolve, 50))
  assert.equal(protocol.stats(IH)!.ws, 0, 'its peers left both swarms')
  assert.equal(protocol.stats(IH2)!.ws, 0)
  assert.equal(protocol.connections, 1)
})

test('WebSocket: a refused announce gets its reason and nothing moves; a peer id cannot be borrowed from another connection', async (t) => {
  const gate: Gate = (_ih, c) => c.balance === 'paid' ? Promise.resolve({ ok: true, role: 'paid' }) : { ok: false, reason: 'Payment required (payment_required)' }
  const { ws, protocol } = await host(t, gate)
  const seeder = await wsClient(ws)
  seeder.send({ action: 'announce', info_hash: binary(IH), peer_id: binary(peerHex(1)), left: 0, balance: 'paid', offers: [] })
  assert.equal((await seeder.next()).complete, 1)
  const thief = await wsClient(ws)
  thief.send({ action: 'announce', info_hash: binary(IH), peer_id: binary(peerHex(2)), left: 10, offers: [{ offer: { sdp: 'x' }, offer_id: 'x'.repeat(20) }] })
  assert.deepEqual(await thief.next(), { action: 'announce', 'failure reason': 'Payment required (payment_required)', info_hash: binary(IH) })
  // The seeder's own peer id from another connection is refused before the gate is even asked.
  thief.send({ action: 'announce', info_hash: binary(IH), peer_id: binary(peerHex(1)), left: 10, offers: [{ offer: { sdp: 'x' }, offer_id: 'x'.repeat(20) }] })
  assert.match(String((await thief.next())['failure reason']), /peer_id_in_use/)
  thief.send({ action: 'announce', info_hash: binary(IH), peer_id: binary(peerHex(2)), to_peer_id: binary(peerHex(1)), answer: { sdp: 'y' }, offer_id: 'x'.repeat(20) })
  assert.match(String((await thief.next())['failure reason']), /payment_required/)
  await new Promise((resolve) => setTimeout(resolve, 50))
  assert.equal(seeder.inbox.length, 0, 'the seeder got no offer and no answer')
  assert.equal(protocol.stats(IH)!.ws, 1)
  thief.send({ action: 'announce', info_hash: 'short', peer_id: binary(peerHex(3)) })
  assert.equal((await thief.next())['failure reason'], 'invalid info_hash')
  thief.socket.send('not json')
  assert.equal((await thief.next())['failure reason'], 'invalid JSON')
})

test('WebSocket transport: handshake (RFC 6455 example key), fragments, ping, close; malformed frames close with the right code', { timeout: 20_000 }, async (t) => {
  const hosted = await host(t, undefined, { maxMessageBytes: 1024 })
  const { port } = hosted
  const { socket, read, closed } = await rawSocket(port)
  let got = await read((b) => b.includes('\r\n\r\n'))
  assert.match(got.toString(), /^HTTP\/1\.1 101 /)
  assert.match(got.toString(), /Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=/, 'RFC 6455 §1.3 example')
  const start = got.indexOf('\r\n\r\n') + 4
  // A scrape split over two fragments and three TCP writes, with a ping in between.
  const msg = Buffer.from(JSON.stringify({ action: 'scrape', info_hash: binary(IH) }))
  const first = frame(0x1, msg.subarray(0, 10), { fin: false })
  socket.write(first.subarray(0, 3))
  socket.write(Buffer.concat([first.subarray(3), frame(0x9, Buffer.from('hi'))]))
  socket.write(frame(0x0, msg.subarray(10)))
  got = await read((b) => b.length > start + 10)
  const rest = got.subarray(start)
  assert.deepEqual([...rest.subarray(0, 4)], [0x8a, 2, 0x68, 0x69], 'pong with the ping\'s payload')
  assert.equal(rest[4], 0x81)
  assert.match(rest.subarray(6).toString(), /"action":"scrape"/)
  socket.write(frame(0x8, Buffer.from([0x03, 0xe8])))
  await closed

  const cases: Array<[string, Buffer, number]> = [
    ['unmasked', frame(0x1, Buffer.from('{}'), { masked: false }), 1002],
    ['too big', frame(0x1, Buffer.alloc(2000, 0x20)), 1009],
    ['invalid UTF-8', frame(0x1, Buffer.from([0xff, 0xfe])), 1007],
    ['unknown opcode', frame(0x3, Buffer.from('x')), 1002],
    ['stray continuation', frame(0x0, Buffer.from('x')), 1002]
  ]
  for (const [name, bytes, code] of cases) {
    const raw = await rawSocket(port)
    const hs = await raw.read((b) => b.includes('\r\n\r\n'))
    const from = hs.indexOf('\r\n\r\n') + 4
    raw.socket.write(bytes)
    const out = await raw.read((b) => b.length >= from + 4)
    assert.equal(out[from], 0x88, `${name}: a close frame`)
    assert.equal(out.readUInt16BE(from + 2), code, name)
    await raw.closed
  }

  // A client that goes away without a close frame (a killed process: only a FIN) leaves at once.
  const { protocol } = hosted
  const gone = await rawSocket(port)
  await gone.read((b) => b.includes('\r\n\r\n'))
  gone.socket.write(frame(0x1, Buffer.from(JSON.stringify({ action: 'announce', info_hash: binary(IH), peer_id: binary(peerHex(7)), left: 1, offers: [] }))))
  await gone.read((b) => b.includes('"interval"'))
  assert.equal(protocol.stats(IH)!.ws, 1)
  gone.socket.end()
  await gone.closed
  for (let i = 0; i < 50 && protocol.stats(IH) !== undefined && protocol.stats(IH)!.ws > 0; i++) await new Promise((resolve) => setTimeout(resolve, 10))
  assert.equal(protocol.stats(IH)!.ws, 0, 'the half-closed connection was closed and its peer left')
  assert.equal(protocol.connections, 0)

  const wrongPath = await rawSocket(port, '/elsewhere')
  assert.match((await wrongPath.read((b) => b.length > 0)).toString(), /^HTTP\/1\.1 404 /)
  wrongPath.socket.destroy()
})
