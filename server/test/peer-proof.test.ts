// Proof of payment at the peers (README, "Proof of payment"): the seeder's port serves a paid torrent
// only to a peer that presents a proof the companion signed and answers its challenge. Each attack is
// made with webtorrent's unmodified client (connecting straight to the port, no tracker), and each is
// paired with the same move on a case that must work, so a check that let everything through (or
// nothing) would fail here.
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { networkInterfaces, tmpdir } from 'node:os'
import path from 'node:path'
import { test, type TestContext } from 'node:test'
import DHT from 'bittorrent-dht'
import WebTorrent, { type Torrent } from 'webtorrent'
import { createProofIssuer } from '../src/proof/issuer.ts'
import { privateClientOptions } from '../src/seeder/service.ts'
import { base64url, decodeProof, encodeProof, newPayerKey, type PayerKey } from '../../theme/assets/ts/proof/codec.ts'
import { gateTorrent, type GateEvent } from '../../theme/assets/ts/proof/gate.ts'
import { build } from './helper.ts'
import { client, seeding, tempDir } from './peer-helper.ts'
import { newReader, paidClient, payAndCredit } from './tracker-helper.ts'

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

interface Probe { ready: boolean, downloaded: number, wires: number, closed: number, events: GateEvent[] }

/**
 * Adds `infoHash` with no tracker, connects straight to 127.0.0.1:`port`, and reports after `ms` (or
 * once the download is done) what it got. `present` makes it a Trickle client presenting that proof.
 */
async function probe (c: WebTorrent, dir: string, infoHash: string, port: number, present?: { proof: Uint8Array, sign: PayerKey['sign'] }, ms = 2500): Promise<Probe & { torrent: Torrent }> {
  const torrent = c.add(infoHash, { path: dir, announce: [] })
  const events: GateEvent[] = []
  if (present) gateTorrent(torrent as never, { credentials: () => present, onEvent: (e) => events.push(e) })
  let wires = 0
  let closed = 0
  torrent.on('wire', (wire: { once (e: string, fn: () => void): void }) => { wires++; wire.once('close', () => { closed++ }) })
  if (!(torrent as Torrent & { infoHash?: string }).infoHash) await once(torrent, 'infoHash')
  torrent.addPeer(`127.0.0.1:${port}`)
  await Promise.race([once(torrent, 'done'), sleep(ms)])
  return { torrent, ready: torrent.ready, downloaded: torrent.downloaded, wires, closed, events }
}

test('a stranger who knows the seeder\'s port gets no metadata and no byte of a paid torrent, though a free one on the same port downloads', async (t) => {
  const s = await seeding(t)
  assert.equal(s.paid.license?.proofKey, s.app.tracker.proofs.proofKey, 'the license names the companion\'s proof key')
  assert.match(s.paid.magnet, new RegExp(`&pk=${s.app.tracker.proofs.proofKey}`))

  // The control: the same move on the free torrent gets the whole file.
  const free = await probe(client(t), path.join(s.dir, 'free'), s.free.infoHash, s.port, undefined, 15_000)
  assert.equal(free.torrent.done, true, 'the free torrent downloads straight from the port')

  const paid = await probe(client(t), path.join(s.dir, 'stranger'), s.paid.infoHash, s.port)
  assert.ok(paid.wires >= 1, 'it connected (webtorrent tries again after each drop)')
  assert.equal(paid.closed, paid.wires, 'and was dropped every time')
  assert.equal(paid.ready, false, 'no metadata')
  assert.equal(paid.downloaded, 0, 'no byte')
})

test('forged, expired, other-torrent and replayed proofs are refused; a proof the companion signed for this key opens the download', async (t) => {
  const s = await seeding(t)
  const key = await newPayerKey()
  const later = Math.floor(Date.now() / 1000) + 3600
  const answerWith = (proof: Uint8Array, k: PayerKey = key) => ({ proof, sign: k.sign })
  // webtorrent connects again after each drop: every try is refused for the same reason.
  const refusedBy = (p: Probe) => [...new Set(p.events.filter((e) => e.kind === 'refused-by').map((e) => (e as { reason: string }).reason))]

  const cases: Array<[string, { proof: Uint8Array, sign: PayerKey['sign'] }, string]> = [
    // Signed by a key that is not the license's.
    ['forged', answerWith(createProofIssuer('another companion').issue(s.paid.infoHash, key.publicKey, later)), 'Forged'],
    ['expired', answerWith(s.app.tracker.proofs.issue(s.paid.infoHash, key.publicKey, Math.floor(Date.now() / 1000) - 5)), 'Expired'],
    ['other torrent', answerWith(s.app.tracker.proofs.issue(s.free.infoHash, key.publicKey, later)), 'OtherTorrent'],
    // A real proof for someone else's key: the challenge is answered with the wrong key.
    ['someone else\'s', answerWith(s.app.tracker.proofs.issue(s.paid.infoHash, (await newPayerKey()).publicKey, later)), 'BadAnswer'],
    ['malformed', answerWith(randomBytes(125)), 'Malformed']
  ]
  for (const [name, present, reason] of cases) {
    const p = await probe(client(t), path.join(s.dir, name), s.paid.infoHash, s.port, present)
    assert.deepEqual(refusedBy(p), [reason], name)
    assert.equal(p.ready, false, `${name}: no metadata`)
    assert.equal(p.downloaded, 0, `${name}: no byte`)
  }

  // Replay: a proof and challenge answer seen on one connection, sent again on another.
  const genuine = s.app.tracker.proofs.issue(s.paid.infoHash, key.publicKey, later)
  let seen: Uint8Array | undefined
  const recording = { proof: genuine, sign: async (data: Uint8Array<ArrayBuffer>) => (seen = await key.sign(data)) }
  const first = await probe(client(t), path.join(s.dir, 'first'), s.paid.infoHash, s.port, recording, 15_000)
  assert.equal(first.torrent.done, true, 'the genuine proof opens the download')
  assert.equal(sha256(readFileSync(path.join(s.dir, 'first', 'album.flac'))), sha256(s.data))
  const replay = await probe(client(t), path.join(s.dir, 'replay'), s.paid.infoHash, s.port, { proof: genuine, sign: async () => seen! })
  assert.deepEqual(refusedBy(replay), ['BadAnswer'], 'a replayed answer is refused')
  assert.equal(replay.downloaded, 0)
  assert.equal(decodeProof(genuine)!.expiresAt, later)
  // And the proof's bytes are what the README says: version, infohash, key, expiry, signature.
  assert.deepEqual(genuine.subarray(0, 61), encodeProof(s.paid.infoHash, key.publicKey, later, new Uint8Array(64)).subarray(0, 61))
})

test('a paying reader downloads from the seeder, keeps seeding, and serves another paying reader but not a stranger', async (t) => {
  const s = await seeding(t)
  const out = tempDir(t)
  // Reader A buys through the tracker and downloads from the companion's seeder (the tracker's peers).
  const a = client(t, privateClientOptions(false))
  await once(a, 'listening')
  const readerA = newReader()
  await payAndCredit(s.app, s.url, s.btpPort, readerA.id, 1_000_000_000n)
  const accessA = await paidClient(s.url, s.paid.infoHash, readerA, a.peerId)
  const torrentA = a.add(s.paid.magnet, { path: path.join(out, 'a'), announce: [s.app.tracker.announceUrls.http], private: true, getAnnounceOpts: () => ({ ticket: accessA.ticket }) })
  accessA.gate(torrentA)
  await once(torrentA, 'done')
  assert.equal(sha256(readFileSync(path.join(out, 'a', 'album.flac'))), sha256(s.data))

  // The companion stops seeding: A is the only source left.
  await s.app.seeder.stop(s.paid.infoHash)
  const portA = a.address()!.port

  const stranger = await probe(client(t), path.join(out, 'stranger'), s.paid.infoHash, portA)
  assert.equal(stranger.ready, false, 'the re-seeding reader gives a stranger no metadata')
  assert.equal(stranger.downloaded, 0)

  const b = client(t, privateClientOptions(false))
  const readerB = newReader()
  await payAndCredit(s.app, s.url, s.btpPort, readerB.id, 1_000_000_000n)
  const accessB = await paidClient(s.url, s.paid.infoHash, readerB, b.peerId)
  const fromA = await probe(b, path.join(out, 'b'), s.paid.infoHash, portA, { proof: accessB.proof, sign: accessB.key.sign }, 20_000)
  assert.equal(fromA.torrent.done, true, 'reader B downloads from reader A')
  assert.equal(sha256(readFileSync(path.join(out, 'b', 'album.flac'))), sha256(s.data))
  assert.ok(fromA.events.some((e) => e.kind === 'accepted'), 'B checked A\'s proof too')
})

test('the DHT hears nothing of a paid torrent: added as Trickle adds it (private before its metadata), a DHT client sends no query', async (t) => {
  const s = await seeding(t)
  const node = new DHT({ bootstrap: false })
  t.after(() => new Promise<void>((resolve) => { node.destroy(() => resolve()) }))
  await new Promise<void>((resolve) => { node.listen(0, '127.0.0.1', () => resolve()) })
  const heard = new Set<string>()
  node.on('get_peers', (infoHash: Uint8Array) => heard.add(Buffer.from(infoHash).toString('hex')))
  node.on('announce', (_peer: unknown, infoHash: Uint8Array) => heard.add(Buffer.from(infoHash).toString('hex')))
  const bootstrap = [`127.0.0.1:${node.address().port}`]

  // The control: a client with the DHT on asks the bootstrap node about a torrent it adds by magnet.
  const control = client(t, { dht: { bootstrap } })
  control.add(s.free.magnet, { path: path.join(s.dir, 'control'), announce: [] })
  const deadline = Date.now() + 15_000
  while (!heard.has(s.free.infoHash) && Date.now() < deadline) await sleep(100)
  assert.ok(heard.has(s.free.infoHash), 'the bootstrap node hears of a torrent that is not private')

  // The same client, with its DHT on, adding the paid magnet as Trickle's clients do.
  control.add(s.paid.magnet, { path: path.join(s.dir, 'paid'), announce: [], private: true })
  // And Trickle's own clients, which have no DHT at all, downloading it for real.
  const reader = client(t, privateClientOptions(false))
  const buyer = newReader()
  await payAndCredit(s.app, s.url, s.btpPort, buyer.id, 1_000_000_000n)
  const access = await paidClient(s.url, s.paid.infoHash, buyer, reader.peerId)
  const torrent = reader.add(s.paid.magnet, { path: path.join(s.dir, 'reader'), announce: [s.app.tracker.announceUrls.http], private: true, getAnnounceOpts: () => ({ ticket: access.ticket }) })
  access.gate(torrent)
  await once(torrent, 'done')
  await sleep(3000)
  assert.equal(heard.has(s.paid.infoHash), false, 'no get_peers or announce for the paid infohash')
  assert.equal(base64url(access.key.publicKey).length, 43)
})

/** Whether a TCP connection to host:port is accepted. */
function connects (host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port })
    socket.setTimeout(3000)
    socket.once('connect', () => { socket.destroy(); resolve(true) })
    socket.once('error', () => resolve(false))
    socket.once('timeout', () => { socket.destroy(); resolve(false) })
  })
}

const external = Object.values(networkInterfaces()).flat().find((i) => i && i.family === 'IPv4' && !i.internal)?.address

test('the seeder\'s TCP port listens where HOST says (or TRICKLE_SEED_HOST), not on every interface', { skip: external ? undefined : 'this machine has no non-loopback IPv4 address' }, async (t) => {
  const dir = tempDir(t)
  const file = path.join(dir, 'a.bin')
  writeFileSync(file, randomBytes(20_000))
  const loopback = await build(t, { TRICKLE_SEED: `${file}=free`, TRICKLE_SEED_WEBRTC: 'false', HOST: '127.0.0.1' })
  await loopback.app.seeder.started()
  const port = loopback.app.seeder.port()
  assert.equal(await connects('127.0.0.1', port), true)
  assert.equal(await connects(external!, port), false, `HOST=127.0.0.1: not reachable at ${external}`)

  // The control: told to listen everywhere, the same check connects.
  const everywhere = await build(t, { TRICKLE_SEED: `${file}=free`, TRICKLE_SEED_WEBRTC: 'false', HOST: '127.0.0.1', TRICKLE_SEED_HOST: '0.0.0.0' })
  await everywhere.app.seeder.started()
  assert.equal(await connects(external!, everywhere.app.seeder.port()), true, 'TRICKLE_SEED_HOST=0.0.0.0 listens on every interface')
})
