// The tracker against hostile clients: messages built to crash it, floods of swarms and messages,
// someone else's peer id, connection hoarding, and scrapes of swarms nobody asked about. Each case
// was an attack that worked on the first round's tracker.
import assert from 'node:assert/strict'
import { once } from 'node:events'
import test from 'node:test'
import bencode from 'bencode'
import pino from 'pino'
import { Writable } from 'node:stream'
import WebSocket from 'ws'
import { defaultMaxConnections } from '../src/config.ts'
import { createTrackerProtocol, type Gate } from '../src/tracker/protocol.ts'
import { announce, binary, host, IH, pct, peerHex, text, wsClient } from './protocol-host.ts'

const ih = (n: number) => n.toString(16).padStart(40, '0')
const nested = (depth: number) => '['.repeat(depth) + ']'.repeat(depth)
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Sends a raw JSON text (built by hand: JSON.stringify of these values would itself overflow). */
function sendRaw (client: { socket: WebSocket }, json: string) { client.socket.send(json) }

test('deeply nested JSON in action, offers, answer, left or a scrape gets a failure reason, never a crash', async (t) => {
  const { ws, protocol } = await host(t)
  const seeder = await wsClient(ws)
  seeder.send({ action: 'announce', info_hash: binary(IH), peer_id: binary(peerHex(1)), left: 0, offers: [] })
  assert.equal((await seeder.next()).complete, 1)
  const attacker = await wsClient(ws)
  const base = `"info_hash":${JSON.stringify(binary(IH))},"peer_id":${JSON.stringify(binary(peerHex(2)))}`
  const deep = nested(20_000)

  sendRaw(attacker, `{"action":${deep}}`)
  assert.match(String((await attacker.next())['failure reason']), /invalid action/)
  sendRaw(attacker, `{"action":"announce",${base},"left":${deep}}`)
  assert.match(String((await attacker.next())['failure reason']), /invalid left/)
  sendRaw(attacker, `{"action":"announce",${base},"event":${deep}}`)
  assert.match(String((await attacker.next())['failure reason']), /invalid event/)
  sendRaw(attacker, `{"action":"scrape","info_hash":${deep}}`)
  assert.match(String((await attacker.next())['failure reason']), /invalid info_hash/)
  // An offer or answer nested deep would be re-serialised into the seeder's socket.
  sendRaw(attacker, `{"action":"announce",${base},"left":1,"offers":[{"offer_id":"${'a'.repeat(40)}","offer":${deep}}]}`)
  assert.equal((await attacker.next()).interval, 20, 'the announce itself is fine')
  sendRaw(attacker, `{"action":"announce",${base},"to_peer_id":${JSON.stringify(binary(peerHex(1)))},"offer_id":"${'a'.repeat(40)}","answer":{"type":"answer","sdp":${deep}}}`)
  assert.match(String((await attacker.next())['failure reason']), /invalid `answer`/)
  sendRaw(attacker, `{"action":"announce",${base},"to_peer_id":${JSON.stringify(binary(peerHex(1)))},"offer_id":${deep},"answer":{"type":"answer","sdp":"v=0"}}`)
  assert.match(String((await attacker.next())['failure reason']), /invalid `offer_id`/)
  // Offers of the wrong shape are not relayed; a well-formed one is, rebuilt to its two fields.
  attacker.send({ action: 'announce', info_hash: binary(IH), peer_id: binary(peerHex(2)), left: 1, offers: [
    { offer_id: 'b'.repeat(40), offer: { type: 'offer', sdp: 'v=0', extra: { deep: [[[1]]] } } }
  ] })
  await attacker.next()
  const relayed = await seeder.next()
  assert.deepEqual(relayed.offer, { type: 'offer', sdp: 'v=0' }, 'only type and sdp travel')
  assert.equal(seeder.inbox.length, 0, 'the malformed offer never reached the seeder')
  sendRaw(attacker, `{"action":"announce",${base},"offers":${JSON.stringify(Array(21).fill({ offer_id: 'c', offer: { sdp: 'x' } }))}}`)
  assert.match(String((await attacker.next())['failure reason']), /at most 20/)
  assert.equal(protocol.connections, 2, 'both connections are still open: nothing crashed')
})

test('a message the handler cannot take closes its connection, and only that one', async (t) => {
  // A gate that throws stands for any bug a message might reach.
  const gate: Gate = () => { throw new Error('boom') }
  const { ws, protocol } = await host(t, gate)
  const bystander = await wsClient(ws)
  const client = await wsClient(ws)
  client.send({ action: 'announce', info_hash: binary(IH), peer_id: binary(peerHex(3)), left: 1 })
  const [code] = await once(client.socket, 'close') as [number]
  assert.equal(code, 1011)
  assert.equal(bystander.socket.readyState, WebSocket.OPEN)
  for (let i = 0; i < 50 && protocol.connections > 1; i++) await sleep(10)
  assert.equal(protocol.connections, 1)
})

test('one connection cannot flood the tracker with swarms, nor keep them alive with pings', async (t) => {
  let clock = 1_000_000
  // 'open': infohashes nobody registered, as on a public tracker.
  const { ws, protocol, url } = await host(t, () => ({ ok: true, role: 'open' }), { now: () => clock, limits: { maxSwarmsPerConnection: 10, maxSwarms: 15 } })
  const flooder = await wsClient(ws)
  for (let i = 0; i < 12; i++) flooder.send({ action: 'announce', info_hash: binary(ih(i)), peer_id: binary(peerHex(1)), left: 1 })
  const replies = await Promise.all(Array.from({ length: 12 }, () => flooder.next()))
  assert.equal(replies.filter((r) => r.interval !== undefined).length, 10)
  assert.equal(replies.filter((r) => /too_many_swarms/.test(String(r['failure reason']))).length, 2)
  assert.equal(protocol.swarms, 10)
  // HTTP announces fill the tracker up to maxSwarms; then new unregistered infohashes are refused.
  for (let i = 100; i < 105; i++) assert.equal((await announce(url, { info_hash: ih(i), peer_id: peerHex(2), port: 6881, left: 1 })).interval, 100)
  const full = await announce(url, { info_hash: ih(200), peer_id: peerHex(2), port: 6881, left: 1 })
  assert.match(text(full['failure reason']), /too_many_swarms/)
  assert.equal(protocol.swarms, 15)

  // Pings keep a connection's bytes flowing but announce nothing: past the peer lifetime (2 intervals
  // + 60 s) its peers, its swarms and the connection itself are gone.
  const pinged = once(flooder.socket, 'close')
  clock += 200_000
  flooder.socket.ping()
  await sleep(20)
  protocol.sweep()
  assert.equal(protocol.swarms, 15, 'not yet expired')
  clock += 70_000
  flooder.socket.ping()
  await sleep(20)
  protocol.sweep()
  assert.equal(protocol.swarms, 0)
  const [code] = await pinged as [number]
  assert.equal(code, 1001)
})

test('registered torrents get their swarm even when the tracker is full of unregistered ones', async (t) => {
  const gate: Gate = (infoHash) => ({ ok: true, role: infoHash === IH ? 'free' : 'open' })
  const { url, protocol } = await host(t, gate, { limits: { maxSwarms: 2 } })
  for (let i = 0; i < 3; i++) await announce(url, { info_hash: ih(i), peer_id: peerHex(2), port: 6881, left: 1 })
  assert.equal(protocol.swarms, 2)
  assert.equal((await announce(url, { info_hash: IH, peer_id: peerHex(2), port: 6881, left: 1 })).interval, 100)
  assert.equal(protocol.swarms, 3)
})

test('a connection that sends more messages than a client would is closed (1008)', async (t) => {
  const { ws } = await host(t, undefined, { limits: { maxMessagesPerMinute: 10 } })
  const client = await wsClient(ws)
  const closed = once(client.socket, 'close')
  for (let i = 0; i < 30; i++) client.send({ action: 'scrape', info_hash: binary(IH) })
  const [code] = await closed as [number]
  assert.equal(code, 1008)
  assert.equal(client.inbox.length, 10, 'the first ten were answered')
})

test('a peer id belongs to the connection that first announced it, until it leaves', async (t) => {
  const gate: Gate = (_ih, c) => c.balance === 'paid' || c.seederToken === 'seed' ? { ok: true, role: c.seederToken ? 'seeder' : 'paid' } : { ok: false, reason: 'Payment required (payment_required)' }
  const { ws, protocol } = await host(t, gate)
  const seeder = await wsClient(ws)
  seeder.send({ action: 'announce', info_hash: binary(IH), peer_id: binary(peerHex(1)), left: 0, seeder_token: 'seed', offers: [] })
  await seeder.next()
  // A paying attacker claims the seeder's (public) peer id from a new connection.
  const attacker = await wsClient(ws)
  attacker.send({ action: 'announce', info_hash: binary(IH), peer_id: binary(peerHex(1)), left: 0, balance: 'paid', offers: [] })
  assert.match(String((await attacker.next())['failure reason']), /peer_id_in_use/)
  // A reader's offer still reaches the real seeder.
  const reader = await wsClient(ws)
  reader.send({ action: 'announce', info_hash: binary(IH), peer_id: binary(peerHex(2)), left: 10, balance: 'paid', offers: [{ offer_id: 'd'.repeat(40), offer: { type: 'offer', sdp: 'v=0' } }] })
  await reader.next()
  assert.equal((await seeder.next()).offer_id, 'd'.repeat(40))
  assert.equal(attacker.inbox.length, 0, 'the attacker got nothing meant for the seeder')
  // Once the seeder's connection is gone, the id is free again (a client that reconnects gets it back).
  seeder.socket.close()
  await once(seeder.socket, 'close')
  for (let i = 0; i < 50 && protocol.stats(IH)!.ws > 1; i++) await sleep(10)
  attacker.send({ action: 'announce', info_hash: binary(IH), peer_id: binary(peerHex(1)), left: 0, balance: 'paid', offers: [] })
  assert.equal((await attacker.next()).interval, 20)
})

test('connections are capped in total and per address; a refused upgrade is an HTTP error, and the limit is logged once', async (t) => {
  const lines: string[] = []
  const log = pino({ level: 'warn' }, new Writable({ write (chunk, _e, done) { lines.push(String(chunk)); done() } }))
  const protocol = createTrackerProtocol({ authorize: () => ({ ok: true, role: 'free' }), log, intervalMs: 100_000, limits: { maxConnections: 3, maxConnectionsPerAddress: 2 } })
  const { createServer } = await import('node:http')
  const server = createServer()
  server.on('upgrade', (req, socket, head) => {
    // The forwarded address stands for distinct clients (as a trusted reverse proxy reports them).
    protocol.upgrade(req, socket, head, String(req.headers['x-test-address'] ?? '127.0.0.1'))
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.after(() => { protocol.close(); server.closeAllConnections(); server.close() })
  const url = `ws://127.0.0.1:${(server.address() as { port: number }).port}/announce`
  const open = (address: string) => new Promise<WebSocket | number>((resolve) => {
    const s = new WebSocket(url, { headers: { 'x-test-address': address } })
    s.once('open', () => resolve(s))
    s.once('unexpected-response', (_req, res) => { resolve(res.statusCode!) })
  })
  const a1 = await open('10.0.0.1')
  const a2 = await open('10.0.0.1')
  assert.equal(await open('10.0.0.1'), 429, 'a third from one address')
  assert.equal(await open('10.0.0.1'), 429)
  const b1 = await open('10.0.0.2')
  assert.ok(b1 instanceof WebSocket)
  assert.equal(await open('10.0.0.3'), 503, 'a fourth in all')
  assert.equal(protocol.connections, 3)
  ;(a1 as WebSocket).close()
  await once(a1 as WebSocket, 'close')
  await sleep(20)
  assert.ok(await open('10.0.0.1') instanceof WebSocket, 'room again once one closed')
  assert.equal(lines.filter((l) => l.includes('maxConnectionsPerAddress')).length, 1, 'logged once, not per refusal')
  assert.equal(lines.filter((l) => l.includes('maxConnections"')).length, 1)
  ;(a2 as WebSocket).close()
})

test('scrape answers only for the infohashes asked, unless a full scrape is allowed', async (t) => {
  const closed = await host(t)
  await announce(closed.url, { info_hash: IH, peer_id: peerHex(1), port: 6881, left: 0 })
  const all = bencode.decode(new Uint8Array(await (await fetch(`${closed.url}/scrape`)).arrayBuffer())) as { files: Record<string, unknown> }
  assert.deepEqual(Object.keys(all.files), [], 'no list of every swarm')
  const one = bencode.decode(new Uint8Array(await (await fetch(`${closed.url}/scrape?info_hash=${pct(IH)}`)).arrayBuffer())) as { files: Record<string, unknown> }
  assert.equal(Object.keys(one.files).length, 1)
  const client = await wsClient(closed.ws)
  client.send({ action: 'scrape' })
  assert.deepEqual((await client.next()).files, {})
  client.send({ action: 'scrape', info_hash: Array(101).fill(binary(IH)) })
  assert.match(String((await client.next())['failure reason']), /at most 100/)

  const open = await host(t, undefined, { limits: { fullScrape: true } })
  await announce(open.url, { info_hash: IH, peer_id: peerHex(1), port: 6881, left: 0 })
  const listed = bencode.decode(new Uint8Array(await (await fetch(`${open.url}/scrape`)).arrayBuffer())) as { files: Record<string, unknown> }
  assert.equal(Object.keys(listed.files).length, 1)
})

test('the default connection cap leaves descriptors for everything else', () => {
  assert.equal(defaultMaxConnections('Max open files            1024                 4096                 files'), 768)
  assert.equal(defaultMaxConnections('Max open files            1048576              1048576              files'), 50_000)
  assert.equal(defaultMaxConnections('Max open files            unlimited            unlimited            files'), 50_000)
  assert.equal(defaultMaxConnections('nothing useful'), 768, 'unknown: assume 1024')
})
