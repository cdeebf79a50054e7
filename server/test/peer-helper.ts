// Shared by the proof-of-payment tests: a companion seeding one paid and one free file over TCP, and
// webtorrent clients as anyone installs them.
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import type { TestContext } from 'node:test'
import WebTorrent from 'webtorrent'
import { build } from './helper.ts'

export function tempDir (t: TestContext): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'trickle-proof-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** webtorrent as anyone installs it, minus what would reach outside this machine. */
export function client (t: TestContext, opts: ConstructorParameters<typeof WebTorrent>[0] = {}): WebTorrent {
  const c = new WebTorrent({ dht: false, lsd: false, natUpnp: false, natPmp: false, utp: false, ...opts })
  c.on('error', () => {})
  t.after(() => new Promise<void>((resolve) => { c.destroy(() => resolve()) }))
  return c
}

/** A companion seeding one paid and one free file over TCP. */
export async function seeding (t: TestContext) {
  const dir = tempDir(t)
  const paidFile = path.join(dir, 'album.flac')
  const freeFile = path.join(dir, 'sample.txt')
  const data = randomBytes(1024 * 1024 + 777)
  writeFileSync(paidFile, data)
  writeFileSync(freeFile, randomBytes(40_000))
  const built = await build(t, { TRICKLE_SEED: `${paidFile}=100 USD/2,${freeFile}=free`, TRICKLE_SEED_WEBRTC: 'false' })
  await built.app.seeder.started()
  const torrents = await (await fetch(`${built.url}/torrents`)).json() as Array<{ infoHash: string, name: string, magnet: string, license?: { proofKey: string } }>
  const paid = torrents.find((x) => x.name === 'album.flac')!
  const free = torrents.find((x) => x.name === 'sample.txt')!
  const port = built.app.seeder.port()
  assert.ok(port > 0)
  return { ...built, dir, data, paid, free, port }
}

