// Seeding from the companion, and a paid Node-to-Node download over TCP with webtorrent and the
// lt_trickle gate: no peer before the spend, every byte after it, and the price in the creator's wallet.
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { once, type EventEmitter } from 'node:events'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import WebTorrent from 'webtorrent'
import { privateClientOptions } from '../src/seeder/service.ts'
import { addEndOfCandidates, installEndOfCandidatesFix } from '../src/seeder/webrtc-fix.ts'
import { adminAuth, build } from './helper.ts'
import { balanceOf, licensedTorrent, newReader, paidClient, payAndCredit, registerTorrent } from './tracker-helper.ts'

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')

function tempDir (t: { after (fn: () => void): void }): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'trickle-seed-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** The first `event` whose first argument passes `test`. */
function waitFor<T> (emitter: EventEmitter, event: string, test: (value: T) => boolean): Promise<T> {
  return new Promise((resolve) => {
    const listener = (value: T) => {
      if (!test(value)) return
      emitter.off(event, listener)
      resolve(value)
    }
    emitter.on(event, listener)
  })
}

test('a paid Node-to-Node download over TCP: refused before paying, then the bytes match and the wallet has the price', async (t) => {
  const dir = tempDir(t)
  const file = path.join(dir, 'site', 'guide.pdf')
  const data = randomBytes(3 * 1024 * 1024 + 12345)
  await import('node:fs/promises').then((fs) => fs.mkdir(path.dirname(file)))
  writeFileSync(file, data)

  // The site publishes its file through the settings: seeded at start, with its license.
  const { app, url, btpPort } = await build(t, { TRICKLE_SEED: file, TRICKLE_SEED_PRICE: '250 USD/2', TRICKLE_SEED_WEBRTC: 'false' })
  await app.seeder.started()
  const torrents = await (await fetch(`${url}/torrents`)).json() as Array<{ infoHash: string, magnet: string, price: string, spendAmount: string }>
  assert.equal(torrents.length, 1)
  const [published] = torrents as [typeof torrents[0]]
  assert.equal(published.price, '2.50 USD')
  assert.equal(published.spendAmount, '2500000000')
  assert.deepEqual(app.seeder.list().map((s) => [s.infoHash, s.file]), [[published.infoHash, file]])
  const before = (await (await fetch(`${url}/wallet/accounts/demo`, { headers: adminAuth })).json() as { received: string }).received

  const out = path.join(dir, 'downloads')
  const leecher = new WebTorrent(privateClientOptions(false))
  t.after(() => new Promise<void>((resolve) => { leecher.destroy(() => resolve()) }))
  leecher.on('error', () => {})
  const opts = { path: out, announce: [app.tracker.announceUrls.http] }

  // Without a balance id the tracker says why, and hands out no peer: the torrent cannot even get its metadata.
  const unpaid = leecher.add(published.magnet, opts)
  const refusal = await waitFor<Error>(unpaid, 'warning', (err) => /\(payment_required\)$/.test(err.message))
  assert.match(refusal.message, /^Payment required: "guide\.pdf" costs 2\.50 USD/)
  assert.equal(unpaid.numPeers, 0)
  assert.equal(unpaid.ready, false, 'no metadata without a peer')
  await leecher.remove(unpaid)

  // Pay through the demo proxy pointer, credit the receipt to the public id, buy a ticket (and a proof
  // of payment for a fresh key) for this client's peer id with the secret, announce with it, and
  // present the proof to the seeder.
  const reader = newReader()
  await payAndCredit(app, url, btpPort, reader.id, 2_500_000_000n)
  const access = await paidClient(url, published.infoHash, reader, leecher.peerId)
  const paid = leecher.add(published.magnet, { ...opts, private: true, getAnnounceOpts: () => ({ ticket: access.ticket }) })
  access.gate(paid)
  await once(paid, 'done')
  assert.equal(paid.wires.length >= 1, true)
  const received = readFileSync(path.join(out, 'guide.pdf'))
  assert.equal(received.length, data.length)
  assert.equal(sha256(received), sha256(data), 'the bytes match')
  assert.deepEqual(readFileSync(file), data, 'seeding never wrote into the creator\'s file')

  const after = (await (await fetch(`${url}/wallet/accounts/demo`, { headers: adminAuth })).json() as { received: string }).received
  assert.equal(BigInt(after) - BigInt(before), 2_500_000_000n, 'the wallet received the price')
  assert.equal(await balanceOf(url, reader.id), '0', 'and the tracker spent exactly the price')
})

test('POST /torrents with a path: the companion seeds the file, refuses a wrong one, and seeds it again after a restart', async (t) => {
  const dir = tempDir(t)
  const file = path.join(dir, 'song.ogg')
  const data = randomBytes(200_000)
  writeFileSync(file, data)
  const env = { TRICKLE_SEED_WEBRTC: 'false', TRICKLE_DATABASE: path.join(dir, 'trickle.sqlite') }
  const first = await build(undefined, env)
  const created = await licensedTorrent(first.app, first.url, data, { name: 'song.ogg' })

  const wrong: Array<[string, RegExp]> = [
    ['song.ogg', /path must be absolute/],
    [path.join(dir, 'missing.ogg'), /not a readable file/],
    [path.join(dir, 'trickle.sqlite'), /named "trickle.sqlite", the torrent "song.ogg"/]
  ]
  for (const [p, message] of wrong) {
    const r = await registerTorrent(first.url, created.torrent, { path: p })
    assert.equal(r.status, 400)
    assert.equal(r.body.code, 'invalid_seed_path')
    assert.match(String(r.body.message), message)
  }
  const changed = path.join(dir, 'other')
  await import('node:fs/promises').then((fs) => fs.mkdir(changed))
  writeFileSync(path.join(changed, 'song.ogg'), randomBytes(200_000))
  const r = await registerTorrent(first.url, created.torrent, { path: path.join(changed, 'song.ogg') })
  assert.match(String(r.body.message), /changed since the torrent was made/)
  assert.equal((await fetch(`${first.url}/torrents/${created.infoHash}`)).status, 404, 'a refused path registers nothing')

  const ok = await registerTorrent(first.url, created.torrent, { path: file })
  assert.equal(ok.status, 201)
  assert.equal(ok.body.seeding, true)
  assert.deepEqual(first.app.seeder.list().map((s) => s.infoHash), [created.infoHash])
  await first.app.close()

  const second = await build(t, env)
  await second.app.seeder.started()
  assert.deepEqual(second.app.seeder.list().map((s) => [s.infoHash, s.file]), [[created.infoHash, file]], 'seeded again after the restart')
  assert.equal((await fetch(`${second.url}/torrents/${created.infoHash}`, { method: 'DELETE', headers: adminAuth })).status, 204)
  assert.deepEqual(second.app.seeder.list(), [], 'deregistering stops seeding')
  assert.deepEqual(readFileSync(file), data, 'the file is left alone')
})

test('settings: a folder is seeded file by file, each with its price, free ones too', async (t) => {
  const dir = tempDir(t)
  const folder = path.join(dir, 'downloads')
  await import('node:fs/promises').then((fs) => fs.mkdir(folder))
  writeFileSync(path.join(folder, 'a.txt'), randomBytes(1000))
  writeFileSync(path.join(folder, 'b.txt'), randomBytes(2000))
  writeFileSync(path.join(folder, '.hidden'), 'not published')
  writeFileSync(path.join(dir, 'free.txt'), randomBytes(3000))
  const { app, url } = await build(t, {
    TRICKLE_SEED: `${folder}, ${path.join(dir, 'free.txt')}=free`,
    TRICKLE_SEED_PRICE: '5 USD/0',
    TRICKLE_SEED_WEBRTC: 'false'
  })
  await app.seeder.started()
  const torrents = await (await fetch(`${url}/torrents`)).json() as Array<{ name: string, price?: string, private: boolean }>
  assert.deepEqual(torrents.map((x) => [x.name, x.price ?? 'free', x.private]).sort(), [['a.txt', '5 USD', true], ['b.txt', '5 USD', true], ['free.txt', 'free', false]])
  assert.equal(app.seeder.list().length, 3)
})

test('the end-of-candidates fix: gathering complete is followed by one null icecandidate event', async () => {
  // On a stand-in class: exactly once per connection, and not when the polyfill sends its own.
  class FakePeerConnection extends EventTarget {
    iceGatheringState = 'new'
  }
  const events: string[] = []
  assert.equal(addEndOfCandidates(FakePeerConnection, () => Object.assign(new Event('icecandidate'), { candidate: null })), true)
  assert.equal(addEndOfCandidates(FakePeerConnection, () => new Event('x')), false, 'patched once')
  const pc = new FakePeerConnection()
  pc.addEventListener('icecandidate', (e) => events.push(`candidate ${String((e as Event & { candidate: unknown }).candidate)}`))
  pc.addEventListener('icegatheringstatechange', () => events.push(`gathering ${pc.iceGatheringState}`))
  pc.iceGatheringState = 'gathering'
  pc.dispatchEvent(new Event('icegatheringstatechange'))
  pc.iceGatheringState = 'complete'
  pc.dispatchEvent(new Event('icegatheringstatechange'))
  pc.dispatchEvent(new Event('icegatheringstatechange'))
  assert.deepEqual(events, ['gathering gathering', 'gathering complete', 'candidate null', 'gathering complete'])

  // On webrtc-polyfill's RTCPeerConnection (node-datachannel), with no ICE server: the offer's
  // gathering ends with the null candidate simple-peer waits for.
  await installEndOfCandidatesFix()
  const { RTCPeerConnection } = await import('webrtc-polyfill')
  const real = new RTCPeerConnection({ iceServers: [] })
  try {
    const ended = new Promise<void>((resolve) => {
      real.addEventListener('icecandidate', (e) => { if ((e as RTCPeerConnectionIceEvent).candidate === null) resolve() })
    })
    real.createDataChannel('probe')
    await real.setLocalDescription(await real.createOffer())
    await ended
    assert.equal(real.iceGatheringState, 'complete')
  } finally {
    real.close()
  }
})

test('seed settings: files and folders with their prices; each mistake names its setting', async () => {
  const { loadConfig, ConfigError } = await import('../src/config.ts')
  const c = loadConfig({ TRICKLE_SEED: 'files/a.pdf=250 USD/2, downloads', TRICKLE_SEED_PRICE: 'free', TRICKLE_SEED_POINTER: '$wallet.example/alice' }, '/srv/site')
  assert.deepEqual(c.seeds, [
    { path: '/srv/site/files/a.pdf', price: { amount: '250', assetCode: 'USD', assetScale: 2 } },
    { path: '/srv/site/downloads', price: 'free' }
  ])
  assert.equal(c.seedPointer, '$wallet.example/alice')
  const defaults = loadConfig({}, '/srv/site')
  assert.deepEqual([defaults.seeds, defaults.trackerOpen, defaults.seedWebrtc, defaults.seedPointer], [[], true, true, undefined])
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ TRICKLE_SEED: 'a.pdf' }, /^TRICKLE_SEED: a\.pdf has no price: write a\.pdf=100 USD\/2 \(or =free\), or set TRICKLE_SEED_PRICE$/],
    [{ TRICKLE_SEED: 'a.pdf=1.5 USD/2' }, /^TRICKLE_SEED: price of a\.pdf amount must be a whole number/],
    [{ TRICKLE_SEED: 'a.pdf', TRICKLE_SEED_PRICE: '100 USD' }, /^TRICKLE_SEED_PRICE: price must look like "100 USD\/2"/],
    [{ TRICKLE_TRACKER_OPEN: 'maybe' }, /^TRICKLE_TRACKER_OPEN: expected true or false/],
    [{ TRICKLE_SEED_WEBRTC: '2' }, /^TRICKLE_SEED_WEBRTC: expected true or false/]
  ]
  for (const [env, message] of cases) {
    assert.throws(() => loadConfig(env), (err: Error) => err instanceof ConfigError && message.test(err.message), JSON.stringify(env))
  }
})

/** The live child processes of this process (the companion under test runs in it). */
function childPids (): number[] {
  const task = `/proc/${process.pid}/task`
  return readdirSync(task).flatMap((tid) => readFileSync(`${task}/${tid}/children`, 'utf8').trim().split(' ').filter(Boolean).map(Number))
}

test('the seeder runs in a process of its own; Ctrl+C leaves its stopping to the companion; when it dies, a new one seeds the same files again', async (t) => {
  const dir = tempDir(t)
  const file = path.join(dir, 'notes.txt')
  writeFileSync(file, randomBytes(5000))
  const before = new Set(childPids())
  const { app } = await build(t, { TRICKLE_SEED: `${file}=free`, TRICKLE_SEED_WEBRTC: 'false' })
  await app.seeder.started()
  const [seeded] = app.seeder.list()
  assert.equal(seeded?.name, 'notes.txt')
  const seederPid = childPids().find((pid) => !before.has(pid))
  assert.ok(seederPid, 'a child process seeds')
  const firstPort = app.seeder.port()
  assert.ok(firstPort > 0)

  // Ctrl+C signals the whole process group: the seeder leaves that to the companion, which stops it.
  process.kill(seederPid, 'SIGINT')
  process.kill(seederPid, 'SIGTERM')
  await new Promise((resolve) => setTimeout(resolve, 500))
  assert.ok(childPids().includes(seederPid), 'the seeder outlives a signal to the process group')

  process.kill(seederPid, 'SIGKILL')
  for (let i = 0; i < 100 && !(app.seeder.list().length === 1 && childPids().some((pid) => !before.has(pid) && pid !== seederPid)); i++) {
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  assert.deepEqual(app.seeder.list().map((s) => s.infoHash), [seeded.infoHash], 'seeding again')
  assert.ok(app.seeder.port() > 0)
  await app.close()
  for (let i = 0; i < 50 && childPids().some((pid) => !before.has(pid)); i++) await new Promise((resolve) => setTimeout(resolve, 100))
  assert.deepEqual(childPids().filter((pid) => !before.has(pid)), [], 'closing the companion ends the seeder process')
})
