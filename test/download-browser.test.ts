// End to end in Chromium: a reader pays through the development agent, the tracker spends the price and
// hands out the Node seeder, the file downloads over WebRTC and its bytes match; the wallet received the
// price. Browser WebRTC does not use loopback, so everything runs in a network namespace with a veth
// pair that this test creates and removes (addresses of this machine's own test hosts only).
import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import { test } from 'node:test'
import { repoRoot } from '../scripts/hugo.ts'

const ns = `trickle-dl-${process.pid}`
const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' })

test('a paid download in the browser: paid once, peers after payment, bytes intact', async (t) => {
  ip('netns', 'add', ns)
  t.after(() => { try { ip('netns', 'delete', ns) } catch {} })
  ip('netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up')
  ip('netns', 'exec', ns, 'ip', 'link', 'add', 'tdl0', 'type', 'veth', 'peer', 'name', 'tdl1')
  ip('netns', 'exec', ns, 'ip', 'addr', 'add', '10.253.7.1/24', 'dev', 'tdl0')
  ip('netns', 'exec', ns, 'ip', 'addr', 'add', '10.253.7.2/24', 'dev', 'tdl1')
  ip('netns', 'exec', ns, 'ip', 'link', 'set', 'tdl0', 'up')
  ip('netns', 'exec', ns, 'ip', 'link', 'set', 'tdl1', 'up')

  const output = await new Promise<string>((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, `${repoRoot}test/fixtures/download-scenario.ts`], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (d: Buffer) => { out += d.toString() })
    child.stderr.on('data', (d: Buffer) => { err += d.toString() })
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`scenario timed out\n${err}`)) }, 150_000)
    child.on('exit', () => { clearTimeout(timer); resolve(out + (out.includes('RESULT') ? '' : err)) })
  })
  const line = output.split('\n').find((l) => l.startsWith('RESULT '))
  assert.ok(line, `the scenario reported: ${output.slice(-2000)}`)
  const result = JSON.parse(line.slice(7)) as Record<string, unknown>
  assert.equal(result.ok, true, String(result.error ?? ''))
  assert.equal(result.bytesMatch, true, 'the downloaded bytes are the seeded file')
  assert.ok(BigInt(String(result.received)) >= BigInt(String(result.spendAmount)), `the wallet received at least the price (${String(result.received)} >= ${String(result.spendAmount)})`)
  assert.match(String(result.price), /\$0\.0003/)
  assert.match(String(result.status), /Downloaded and verified/)
  assert.deepEqual(result.errors, [])
})
