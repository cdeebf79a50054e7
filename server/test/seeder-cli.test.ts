// `npm run trickle -- seed` and `-- download` as a creator and a reader run them: separate processes
// against a companion, paying over its BTP endpoint and downloading over TCP.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { ADMIN, adminAuth, build } from './helper.ts'

const root = fileURLToPath(new URL('../../', import.meta.url))
const node = path.join(root, 'node_modules/.bin/node')

function trickle (...args: string[]): Promise<{ code: number, stdout: string, stderr: string }> {
  return new Promise((resolve) => {
    // No inherited admin token: the CLI must get it from --token.
    const env = { ...process.env, TRICKLE_ADMIN_TOKEN: '' }
    execFile(node, [path.join(root, 'scripts/trickle.ts'), ...args], { cwd: root, env, timeout: 50_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr })
    })
  })
}

test('trickle seed registers and lets the companion seed; trickle download pays, credits and downloads', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'trickle-cli-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const file = path.join(dir, 'album.zip')
  const data = randomBytes(1024 * 1024 + 777)
  writeFileSync(file, data)
  const { app, url } = await build(t, { TRICKLE_SEED_WEBRTC: 'false' })

  const noToken = await trickle('seed', file, '--price', '100', '--companion', url)
  assert.equal(noToken.code, 1)
  assert.match(noToken.stderr, /needs its admin token to register a file: pass --token or set TRICKLE_ADMIN_TOKEN/)
  const badPrice = await trickle('seed', file, '--price', '1.5', '--companion', url, '--token', ADMIN)
  assert.equal(badPrice.code, 1)
  assert.match(badPrice.stderr, /--price\/--asset\/--scale amount must be a whole number/)

  const seeded = await trickle('seed', file, '--price', '100', '--asset', 'USD', '--scale', '2', '--companion', url, '--token', ADMIN)
  assert.equal(seeded.code, 0, seeded.stderr)
  assert.match(seeded.stdout, /Registered "album\.zip" for 1\.00 USD/)
  assert.match(seeded.stdout, /The companion seeds it/)
  const magnet = /Magnet: (magnet:\S+)/.exec(seeded.stdout)![1]!
  assert.match(magnet, /&pa=100&pc=USD&ps=2$/)
  assert.equal(app.seeder.list().length, 1)

  const before = (await (await fetch(`${url}/wallet/accounts/demo`, { headers: adminAuth })).json() as { received: string }).received
  const out = path.join(dir, 'out')
  const downloaded = await trickle('download', magnet, '--out', out)
  assert.equal(downloaded.code, 0, downloaded.stderr + downloaded.stdout)
  assert.match(downloaded.stdout, /Paying 1\.00 USD \(1000000000 units\) to http:\/\/127\.0\.0\.1:\d+\/p\/[0-9a-f]{32}/)
  assert.match(downloaded.stdout, /Paid\. Balance id: (dl-[0-9a-f-]{36})/)
  assert.match(downloaded.stdout, /Done: every piece matched/)
  assert.ok(downloaded.stdout.includes(`sha-256 ${createHash('sha256').update(data).digest('hex')}`))
  assert.deepEqual(readFileSync(path.join(out, 'album.zip')), data)
  const after = (await (await fetch(`${url}/wallet/accounts/demo`, { headers: adminAuth })).json() as { received: string }).received
  assert.equal(BigInt(after) - BigInt(before), 1_000_000_000n, 'the wallet received the price')

  // The same balance downloads again without paying again.
  const balance = /Balance id: (dl-[0-9a-f-]{36})/.exec(downloaded.stdout)![1]!
  const again = await trickle('download', magnet, '--out', path.join(dir, 'again'), '--balance', balance)
  assert.equal(again.code, 0, again.stderr)
  assert.doesNotMatch(again.stdout, /Paying/)

  // A magnet with a lower price than registered: refused before any payment.
  const cheap = await trickle('download', magnet.replace('&pa=100', '&pa=1'), '--out', out)
  assert.equal(cheap.code, 1)
  assert.match(cheap.stderr, /differs from what the creator registered \(1\.00 USD to http/)
  // Another infohash: not registered.
  const unknown = await trickle('download', magnet.replace(/btih:[0-9a-f]{40}/, `btih:${'0'.repeat(40)}`), '--out', out)
  assert.equal(unknown.code, 1)
  assert.match(unknown.stderr, /not registered at http:\/\/127\.0\.0\.1:\d+: nobody can sell it to you there/)
  // A balance that paid nothing: the tracker's own words.
  const freeRider = await trickle('download', magnet, '--out', out, '--balance', 'nobody')
  assert.equal(freeRider.code, 1)
  assert.match(freeRider.stderr, /The tracker refused: No balance "nobody" at the verifier yet/)
  const usage = await trickle('fetch', 'x')
  assert.equal(usage.code, 2)
})
