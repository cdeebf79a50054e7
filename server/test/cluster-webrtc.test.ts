// A paid WebRTC download across two companions of one deployment: the seeder announces to A, the
// reader (who pays, credits and buys on B) announces to B only, and the bytes arrive over WebRTC.
// WebRTC in Node never offers loopback candidates, so the companions and the reader run in a network
// namespace (fixtures/cluster-webrtc-download.ts) joined to this one by a veth pair; PostgreSQL and
// NATS listen on loopback here, so this test forwards one port to each from its end of the pair.
// Skipped where namespaces cannot be made (not root, no `ip`).
import assert from 'node:assert/strict'
import { execFile, execFileSync } from 'node:child_process'
import { randomInt } from 'node:crypto'
import { createConnection, createServer, type Server } from 'node:net'
import path from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { deployment, NATS, POSTGRES } from './cluster-helper.ts'

const root = fileURLToPath(new URL('../../', import.meta.url))
const ns = `trickle-crtc-${process.pid}`
const subnet = `10.252.${randomInt(1, 254)}`
const ip = (...args: string[]) => { execFileSync('ip', args, { stdio: 'pipe' }) }

function canMakeNamespaces (): string | undefined {
  if (process.getuid?.() !== 0) return 'network namespaces need root'
  try { execFileSync('ip', ['netns', 'list'], { stdio: 'pipe' }) } catch { return 'the ip command (iproute2) is missing' }
  return undefined
}

/** Listens on `host` and pipes every connection to `to` (a service on this namespace's loopback). */
async function forward (host: string, to: URL): Promise<{ server: Server, port: number }> {
  const server = createServer((client) => {
    const upstream = createConnection({ host: to.hostname, port: Number(to.port) })
    client.pipe(upstream).pipe(client)
    client.on('error', () => upstream.destroy())
    upstream.on('error', () => client.destroy())
  })
  await new Promise<void>((resolve) => server.listen(0, host, resolve))
  return { server, port: (server.address() as { port: number }).port }
}

test('a paid WebRTC download whose seeder announces to companion A and whose reader announces to companion B', { skip: canMakeNamespaces(), timeout: 150_000 }, async (t) => {
  const d = await deployment(t)
  const hostSide = `${ns.slice(-8)}h`
  ip('netns', 'add', ns)
  t.after(() => { try { ip('netns', 'del', ns) } catch {} })
  ip('link', 'add', hostSide, 'type', 'veth', 'peer', 'name', `${ns.slice(-8)}n`, 'netns', ns)
  t.after(() => { try { ip('link', 'del', hostSide) } catch {} })
  ip('addr', 'add', `${subnet}.1/24`, 'dev', hostSide)
  ip('link', 'set', hostSide, 'up')
  ip('netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up')
  ip('netns', 'exec', ns, 'ip', 'addr', 'add', `${subnet}.2/24`, 'dev', `${ns.slice(-8)}n`)
  ip('netns', 'exec', ns, 'ip', 'link', 'set', `${ns.slice(-8)}n`, 'up')

  const pg = await forward(`${subnet}.1`, new URL(POSTGRES))
  const nats = await forward(`${subnet}.1`, new URL(NATS))
  t.after(() => { pg.server.close(); nats.server.close() })
  const database = new URL(d.env.TRICKLE_DATABASE!)
  database.host = `${subnet}.1:${pg.port}`

  const output = await new Promise<string>((resolve, reject) => {
    execFile('ip', ['netns', 'exec', ns, path.join(root, 'node_modules/.bin/node'), path.join(root, 'server/test/fixtures/cluster-webrtc-download.ts')], {
      cwd: root,
      timeout: 120_000,
      env: {
        ...process.env,
        TRICKLE_TEST_POSTGRES_URL: database.toString(),
        TRICKLE_TEST_NATS_URL: `nats://${subnet}.1:${nats.port}`,
        TRICKLE_TEST_BUS_SUBJECT: d.env.TRICKLE_BUS_SUBJECT!,
        TRICKLE_TEST_RECEIPT_SEED: d.env.RECEIPT_SEED!
      }
    }, (err, stdout, stderr) => err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout))
  })
  const result = JSON.parse(output.trim().split('\n').at(-1)!) as Record<string, unknown>
  assert.equal(result.error, undefined, String(result.error))
  assert.equal(result.networkOfB, 'uplink', 'B joined A\'s Interledger network through ILP_BTP_SERVER')
  assert.equal(result.seederSeenOnB, 1, 'B knew A\'s seeder from the bus')
  assert.match(String(result.unpaidRefusal), /^Payment required: "film\.webm" costs 1\.00 USD/)
  assert.equal(result.unpaidPeers, 0)
  assert.equal(result.charged, '1000000000')
  assert.deepEqual(result.wireTypes, ['webrtc'], 'the bytes came over WebRTC')
  assert.equal(result.bytesMatch, true)
  const onA = result.connectionsOnA as { before: number, after: number }
  assert.ok(onA.before >= 1 && onA.after === onA.before, `the reader never connected to A's tracker (${JSON.stringify(onA)}: the seeder's sockets only)`)
  assert.equal(result.walletReceived, '1000000000')
})
