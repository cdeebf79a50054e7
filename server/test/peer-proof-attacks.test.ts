// Attacks on lt_trickle with a hand-written BitTorrent peer (raw-peer.ts), found by an attacker's
// second look: each gave a stranger the whole paid file, or ended the seeder, before the fix.
//   reflection  claim the seeder's own peer id, hand its challenge back, echo its answer
//   relay       in the middle of the seeder and a paying reader who seeds, claiming to each the other's id
//   crash       an extended handshake whose `m` is not a dictionary
//   flood       a message announced as 2 GiB
import assert from 'node:assert/strict'
import { once } from 'node:events'
import net from 'node:net'
import path from 'node:path'
import { test } from 'node:test'
import bencode from 'bencode'
import { privateClientOptions } from '../src/seeder/service.ts'
import { client, seeding, tempDir } from './peer-helper.ts'
import { gateMsg, LT, Raw, randomPeerId, seederPeerId, sleep, UM } from './raw-peer.ts'
import { newReader, paidClient, payAndCredit } from './tracker-helper.ts'

/** Claims `targetId` (the target's own peer id), hands the target's challenge back to it, and echoes any answer. */
async function reflect (port: number, infoHash: string, targetId: string): Promise<Raw> {
  const r = new Raw(port, infoHash, Buffer.from(targetId, 'hex'), { quiet: true })
  await r.until(() => r.gotHandshake)
  r.extHandshakeSend({ m: { lt_trickle: LT, ut_metadata: UM } })
  await r.until(() => !!gateMsg(r, 0) || r.closed, 3000)
  const challenge = gateMsg(r, 0)
  if (challenge) r.ext(r.remoteExt('lt_trickle')!, challenge)
  await r.until(() => !!gateMsg(r, 1) || r.closed, 3000)
  const answer = gateMsg(r, 1)
  if (answer) r.ext(r.remoteExt('lt_trickle')!, answer)
  await r.until(() => !!gateMsg(r, 2) || r.closed, 3000)
  return r
}

/** What a peer must never see before proving: metadata, a bitfield or an equivalent, a have, an unchoke. */
const leaked = (r: Raw) => r.log.filter((m) => ['bitfield', 'have', 'have_all', 'unchoke', 'piece'].includes(m.name) || m.name === `ext#${UM}`).map((m) => m.name)

test('reflection: a peer claiming the seeder\'s own peer id gets its challenge answered by nobody and is refused', async (t) => {
  const s = await seeding(t)
  const seederId = await seederPeerId(s.port, s.paid.infoHash)
  const r = await reflect(s.port, s.paid.infoHash, seederId)
  t.after(() => r.destroy())
  await r.until(() => r.closed, 3000)
  assert.equal(gateMsg(r, 2), undefined, 'not accepted')
  assert.equal(gateMsg(r, 1), undefined, 'the seeder answered no challenge for its own id')
  assert.deepEqual(leaked(r), [])
  assert.equal(r.closed, true, 'and dropped')
})

test('relay and reflection against a paying reader who seeds: a peer in the middle is never admitted', async (t) => {
  const s = await seeding(t)
  const a = client(t, privateClientOptions(false))
  await once(a, 'listening')
  const readerA = newReader()
  await payAndCredit(s.app, s.url, s.btpPort, readerA.id, 1_000_000_000n)
  const accessA = await paidClient(s.url, s.paid.infoHash, readerA, a.peerId)
  const torrentA = a.add(s.paid.magnet, { path: path.join(tempDir(t), 'a'), announce: [s.app.tracker.announceUrls.http], private: true, getAnnounceOpts: () => ({ ticket: accessA.ticket }) })
  accessA.gate(torrentA)
  await once(torrentA, 'done')
  const portA = a.address()!.port
  const seederId = await seederPeerId(s.port, s.paid.infoHash)

  // Toward the seeder it is A; toward A it is the seeder. A accepted this connection, so A answers
  // no challenge on it before the other side proved itself.
  const toSeeder = new Raw(s.port, s.paid.infoHash, Buffer.from(a.peerId, 'hex'), { quiet: true })
  const toA = new Raw(portA, s.paid.infoHash, Buffer.from(seederId, 'hex'), { quiet: true })
  t.after(() => { toSeeder.destroy(); toA.destroy() })
  await Promise.all([toSeeder.until(() => toSeeder.gotHandshake), toA.until(() => toA.gotHandshake)])
  toSeeder.extHandshakeSend({ m: { lt_trickle: LT, ut_metadata: UM } })
  toA.extHandshakeSend({ m: { lt_trickle: LT, ut_metadata: UM } })
  await toSeeder.until(() => !!gateMsg(toSeeder, 0))
  toA.ext(toA.remoteExt('lt_trickle')!, gateMsg(toSeeder, 0)!)
  await toA.until(() => !!gateMsg(toA, 1), 3000)
  assert.equal(gateMsg(toA, 1), undefined, 'A does not answer a challenge on a connection it accepted from an unproven peer')
  assert.deepEqual(leaked(toA), [])
  assert.deepEqual(leaked(toSeeder), [])

  // Reflection against A once the seeder is gone.
  await s.app.seeder.stop(s.paid.infoHash)
  const r = await reflect(portA, s.paid.infoHash, a.peerId)
  t.after(() => r.destroy())
  await r.until(() => r.closed, 3000)
  assert.equal(gateMsg(r, 2), undefined, 'A does not admit its own reflection')
  assert.deepEqual(leaked(r), [])
})

test('hostile wire messages end their own connection, never the seeder: a non-dictionary `m`, a 2 GiB message', async (t) => {
  const s = await seeding(t)
  for (const m of [5, 'lt_trickle', [1], bencode.encode({ lt_trickle: 1 })]) {
    const r = new Raw(s.port, s.paid.infoHash, randomPeerId(), { quiet: true })
    await r.until(() => r.gotHandshake)
    r.ext(0, bencode.encode({ m }))
    await r.until(() => r.closed, 3000)
    r.destroy()
  }
  // A message announced as 2 GiB, then zeros: dropped at its length, not buffered.
  const flood = new Raw(s.port, s.free.infoHash, randomPeerId(), { quiet: true })
  await flood.until(() => flood.gotHandshake)
  const header = Buffer.alloc(5); header.writeUInt32BE(2 ** 31); header[4] = 20
  flood.sendRaw(header)
  for (let i = 0; i < 8 && !flood.closed; i++) { flood.sendRaw(Buffer.alloc(64 * 1024)); await sleep(50) }
  await flood.until(() => flood.closed, 3000)
  assert.equal(flood.closed, true, 'the flooding peer is dropped')

  await sleep(1500)
  assert.equal(s.app.seeder.list().length, 2, 'the seeder still seeds both files')
  const alive = await new Promise<boolean>((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port: s.port })
    sock.once('connect', () => { sock.destroy(); resolve(true) })
    sock.once('error', () => resolve(false))
  })
  assert.equal(alive, true, 'on the same port (the process did not restart)')
})
