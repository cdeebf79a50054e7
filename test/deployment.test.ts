// docs/deployment.md, run: its nginx block (only addresses, ports and certificate paths substituted) in
// front of three companion processes on one PostgreSQL schema and one NATS bus, with TLS. Six
// unmodified WebTorrent tracker clients announce one torrent through it over wss:// and meet each
// other across instances. One instance is killed with SIGKILL: nginx skips it, the clients that were
// on it reconnect through nginx to the others, and they find their swarm again.
import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { request } from 'node:https'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { deployment, eventually, startCompanion } from '../server/test/cluster-helper.ts'
import { freePort } from '../server/test/helper.ts'

const root = fileURLToPath(new URL('../', import.meta.url))

function hasNginx (): string | undefined {
  try { execFileSync('nginx', ['-v'], { stdio: 'pipe' }) } catch { return 'nginx is not installed (.ci/run installs nginx-light)' }
  return undefined
}

/** The guide's nginx block, with only what must differ on this machine replaced (each replacement must match once). */
function guideConfig (upstreams: number[], httpPort: number, tlsPort: number, cert: string, key: string): string {
  const guide = readFileSync(path.join(root, 'docs/deployment.md'), 'utf8')
  const block = /```nginx\n([\s\S]*?)```/.exec(guide)?.[1]
  assert.ok(block, 'docs/deployment.md has an nginx block')
  let conf = block
  const replace = (from: RegExp, to: string) => {
    assert.equal((conf.match(new RegExp(from.source, 'g')) ?? []).length, 1, `the guide's nginx block has ${from}`)
    conf = conf.replace(from, to)
  }
  const servers = conf.match(/^ {2}server 10\.0\.0\.1\d:3000 (.*);$/gm) ?? []
  assert.equal(servers.length, 3, 'three upstream servers in the guide')
  servers.forEach((line, i) => { conf = conf.replace(line, line.replace(/10\.0\.0\.1\d:3000/, `127.0.0.1:${upstreams[i]}`)) })
  replace(/listen 80;/, `listen 127.0.0.1:${httpPort};`)
  replace(/listen 443 ssl http2;/, `listen 127.0.0.1:${tlsPort} ssl http2;`)
  replace(/ssl_certificate {5}\/etc\/letsencrypt\/live\/pay\.example\.com\/fullchain\.pem;/, `ssl_certificate ${cert};`)
  replace(/ssl_certificate_key \/etc\/letsencrypt\/live\/pay\.example\.com\/privkey\.pem;/, `ssl_certificate_key ${key};`)
  return conf.replaceAll('pay.example.com', 'localhost')
}

/** GET over HTTPS, trusting the test's own certificate. */
function httpsGet (url: string, ca: Buffer): Promise<{ status: number, body: string }> {
  return new Promise((resolve, reject) => {
    request(url, { ca }, (res) => {
      let body = ''
      res.on('data', (d: Buffer) => { body += d.toString() })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    }).on('error', reject).end()
  })
}

test('the deployment guide\'s nginx in front of three companions: clients meet across instances, and find their swarm again after kill -9 of one', { skip: hasNginx(), timeout: 180_000 }, async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'trickle-deploy-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const cert = path.join(dir, 'cert.pem')
  const key = path.join(dir, 'key.pem')
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost', '-days', '1', '-keyout', key, '-out', cert], { stdio: 'pipe' })
  const ca = readFileSync(cert)

  const tlsPort = await freePort()
  const httpPort = await freePort()
  const publicUrl = `https://localhost:${tlsPort}`
  const d = await deployment(t)
  // As the guide says: one public URL, the proxy trusted for X-Forwarded-For, the rest shared.
  const env = { ...d.env, TRICKLE_PUBLIC_URL: publicUrl, TRICKLE_TRUST_PROXY: 'true', TRICKLE_TRACKER_INTERVAL: '30', TRICKLE_DEMO_ACCOUNT: '' }
  const ports = await Promise.all([0, 1, 2].map(() => freePort()))
  const instances = await Promise.all(ports.map((port) => startCompanion(t, env, { port })))

  const prefix = path.join(dir, 'nginx')
  mkdirSync(path.join(prefix, 'tmp'), { recursive: true })
  writeFileSync(path.join(prefix, 'trickle.conf'), guideConfig(ports, httpPort, tlsPort, cert, key))
  writeFileSync(path.join(prefix, 'nginx.conf'), [
    process.getuid?.() === 0 ? 'user root;' : '',
    'worker_processes 1;',
    `pid ${prefix}/nginx.pid;`,
    `error_log ${prefix}/error.log warn;`,
    'events { worker_connections 1024; }',
    'http {',
    '  access_log off;',
    ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((k) => `  ${k}_temp_path ${prefix}/tmp/${k};`),
    `  include ${prefix}/trickle.conf;`,
    '}'
  ].join('\n'))
  execFileSync('nginx', ['-t', '-p', prefix, '-c', path.join(prefix, 'nginx.conf')], { stdio: 'pipe' })
  const nginx = spawn('nginx', ['-p', prefix, '-c', path.join(prefix, 'nginx.conf'), '-g', 'daemon off;'], { stdio: 'ignore' })
  t.after(() => { nginx.kill('SIGKILL') })
  await eventually('nginx to answer', async () => (await httpsGet(`${publicUrl}/health`, ca).catch(() => ({ status: 0 }))).status === 200)
  // Plain HTTP is sent to HTTPS.
  const plain = await fetch(`http://localhost:${httpPort}/health`, { redirect: 'manual' })
  assert.equal(plain.status, 301)
  assert.equal(plain.headers.get('location'), `https://localhost/health`)

  const infoHash = randomBytes(20).toString('hex')
  type ClientState = { peers: number, disconnects: number, peersSinceBack: number, warnings: string[] }
  const states: ClientState[] = []
  for (let i = 0; i < 6; i++) {
    const client = spawn(process.execPath, [path.join(root, 'test/fixtures/tracker-clients.ts')], {
      env: { ...process.env, ANNOUNCE: `wss://localhost:${tlsPort}/announce`, INFOHASH: infoHash, INDEX: String(i), NODE_EXTRA_CA_CERTS: cert },
      stdio: ['ignore', 'pipe', 'inherit']
    })
    t.after(() => { client.kill('SIGKILL') })
    createInterface({ input: client.stdout! }).on('line', (line) => { try { states[i] = (JSON.parse(line) as ClientState[])[0]! } catch {} })
  }
  const health = async () => Promise.all(instances.map(async (c) => {
    try { return await (await fetch(`${c.url}/health`)).json() as { tracker: { connections: number }, cluster: { instances: string[] } } } catch { return undefined }
  }))

  // nginx spreads the six sockets over the three instances, and every client meets others.
  await eventually('two tracker connections on each instance', async () => (await health()).every((h) => h?.tracker.connections === 2), 30_000)
  await eventually('every client to meet a peer', () => states.filter(Boolean).length === 6 && states.every((s) => s.peers > 0), 60_000)

  // Whichever instance answers, the swarm is all six: each instance's scrape counts the others' peers.
  const sixPeers = /8:completei1e10:downloadedi1e10:incompletei5e/
  const scrapeUrl = `${publicUrl}/scrape?info_hash=${infoHash.replace(/../g, '%$&')}`
  for (let i = 0; i < 3; i++) assert.match((await httpsGet(scrapeUrl, ca)).body, sixPeers, 'one seeder and five leechers, on any instance')

  instances[0]!.child.kill('SIGKILL')
  // nginx skips the dead instance: requests through it keep being answered.
  for (let i = 0; i < 6; i++) assert.equal((await httpsGet(`${publicUrl}/health`, ca)).status, 200)
  // The dead one's two clients notice, wait the client's reconnect time, come back through nginx to
  // another instance, announce again, and meet peers there.
  await eventually('two clients to lose their tracker socket', () => states.filter((s) => s.disconnects > 0).length === 2, 15_000)
  await eventually('the six sockets on the two survivors', async () => {
    const [, b, c] = await health()
    return b!.tracker.connections + c!.tracker.connections === 6
  }, 60_000)
  await eventually('the reconnected clients to meet peers again', () => states.filter((s) => s.disconnects > 0).every((s) => s.peersSinceBack > 0), 60_000)
  for (let i = 0; i < 2; i++) assert.match((await httpsGet(scrapeUrl, ca)).body, sixPeers, 'the swarm holds all six again')
  const [, b] = await health()
  assert.equal(b!.cluster.instances.length, 1, 'the survivors no longer count the dead instance')
})
