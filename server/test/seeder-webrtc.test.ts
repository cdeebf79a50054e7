// WebRTC seeding from Node, for real: node-datachannel never offers loopback candidates, so the test
// makes its own network namespace with a veth pair, runs the companion and
// a WebTorrent client inside it (fixtures/webrtc-download.ts), and removes the namespace afterwards.
// Nothing leaves the namespace. Skipped where namespaces cannot be made (not root, no `ip`).
import assert from 'node:assert/strict'
import { execFile, execFileSync } from 'node:child_process'
import { randomInt } from 'node:crypto'
import path from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../../', import.meta.url))
const ns = `trickle-rtc-${process.pid}`
const subnet = `10.254.${randomInt(1, 254)}`

function ip (...args: string[]) {
  execFileSync('ip', args, { stdio: 'pipe' })
}

function canMakeNamespaces (): string | undefined {
  if (process.getuid?.() !== 0) return 'network namespaces need root'
  try {
    execFileSync('ip', ['netns', 'list'], { stdio: 'pipe' })
  } catch {
    return 'the ip command (iproute2) is missing'
  }
  return undefined
}

const skip = canMakeNamespaces()

test('WebRTC: a paying WebTorrent client downloads from the companion\'s Node seeder inside a private namespace', { skip }, async (t) => {
  ip('netns', 'add', ns)
  t.after(() => { try { ip('netns', 'del', ns) } catch {} })
  ip('netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up')
  ip('link', 'add', `${ns.slice(-8)}a`, 'netns', ns, 'type', 'veth', 'peer', 'name', `${ns.slice(-8)}b`, 'netns', ns)
  ip('netns', 'exec', ns, 'ip', 'addr', 'add', `${subnet}.1/24`, 'dev', `${ns.slice(-8)}a`)
  ip('netns', 'exec', ns, 'ip', 'addr', 'add', `${subnet}.2/24`, 'dev', `${ns.slice(-8)}b`)
  ip('netns', 'exec', ns, 'ip', 'link', 'set', `${ns.slice(-8)}a`, 'up')
  ip('netns', 'exec', ns, 'ip', 'link', 'set', `${ns.slice(-8)}b`, 'up')

  const output = await new Promise<string>((resolve, reject) => {
    execFile('ip', ['netns', 'exec', ns, path.join(root, 'node_modules/.bin/node'), path.join(root, 'server/test/fixtures/webrtc-download.ts')],
      { cwd: root, timeout: 90_000 }, (err, stdout, stderr) => err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout))
  })
  const result = JSON.parse(output.trim().split('\n').at(-1)!) as Record<string, unknown>
  assert.equal(result.error, undefined, String(result.error))
  assert.match(String(result.unpaidRefusal), /^Payment required: "film\.webm" costs 1\.00 USD/)
  assert.equal(result.unpaidPeers, 0)
  // A reader with a ticket but webtorrent unmodified (no lt_trickle) reaches the seeder over WebRTC and gets nothing.
  const noProof = result.noProof as { wires: number, closed: number, ready: boolean, downloaded: number, wireTypes: string[] }
  assert.ok(noProof.wires >= 1, 'the seeder\'s WebRTC connection reached it')
  assert.deepEqual(noProof.wireTypes.filter((w) => w !== 'webrtc'), [])
  assert.equal(noProof.closed, noProof.wires, 'and was dropped')
  assert.equal(noProof.ready, false, 'no metadata')
  assert.equal(noProof.downloaded, 0, 'no byte')
  assert.deepEqual(result.wireTypes, ['webrtc'], 'the bytes came over WebRTC')
  assert.equal(result.bytesMatch, true)
  assert.equal(result.walletReceived, '1000000000')
})
