// `npm run trickle -- seed` and `-- download` as a creator and a reader run them: separate processes
// against a companion, paying over its BTP endpoint and downloading over TCP. The reader's balance
// secret lives in the CLI's data folder (a temporary one here, TRICKLE_DATA_DIR).
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { receiverIdOfPointer } from '../../packages/trickle-core/src/pointers.ts'
import { ADMIN, adminAuth, build } from './helper.ts'
import { announceHttp } from './tracker-helper.ts'

const root = fileURLToPath(new URL('../../', import.meta.url))
const node = path.join(root, 'node_modules/.bin/node')

function trickle (...args: string[]): Promise<{ code: number, stdout: string, stderr: string }> {
  return trickleWith({}, ...args)
}

function trickleWith (extraEnv: Record<string, string>, ...args: string[]): Promise<{ code: number, stdout: string, stderr: string }> {
  return new Promise((resolve) => {
    // No inherited admin token: the CLI must get it from --token.
    const env = { ...process.env, TRICKLE_ADMIN_TOKEN: '', ...extraEnv }
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
  assert.match(badPrice.stderr, /--price amount must be a whole number/)

  const seeded = await trickle('seed', file, '--price', '100', '--asset', 'USD', '--scale', '2', '--companion', url, '--token', ADMIN)
  assert.equal(seeded.code, 0, seeded.stderr)
  assert.match(seeded.stdout, /Registered "album\.zip" for 1\.00 USD/)
  assert.match(seeded.stdout, /The companion seeds it/)
  const magnet = /Magnet: (magnet:\S+)/.exec(seeded.stdout)![1]!
  assert.match(magnet, /&pa=100&pc=USD&ps=2&pk=[A-Za-z0-9_-]{43}$/)
  assert.equal(app.seeder.list().length, 1)

  const received = async () => BigInt((await (await fetch(`${url}/wallet/accounts/demo`, { headers: adminAuth })).json() as { received: string }).received)
  const before = await received()
  const out = path.join(dir, 'out')
  const reader = { TRICKLE_DATA_DIR: path.join(dir, 'reader') }
  const downloaded = await trickleWith(reader, 'download', magnet, '--out', out)
  assert.equal(downloaded.code, 0, downloaded.stderr + downloaded.stdout)
  // The license names the demo wallet address: paid through an incoming payment the companion reads.
  assert.match(downloaded.stdout, /Paying 1\.00 USD \(1000000000 units\) to http:\/\/127\.0\.0\.1:\d+\/wallet\/demo…/)
  assert.match(downloaded.stdout, /Bought: 1000000000 units spent from balance/)
  assert.match(downloaded.stdout, /Done: every piece matched/)
  assert.ok(downloaded.stdout.includes(`sha-256 ${createHash('sha256').update(data).digest('hex')}`))
  assert.deepEqual(readFileSync(path.join(out, 'album.zip')), data)
  assert.equal(await received() - before, 1_000_000_000n, 'the wallet received the price')

  // The secret is kept for the reader alone and never printed; only the id derived from it is.
  const secretFile = path.join(reader.TRICKLE_DATA_DIR, 'reader-balance.secret')
  assert.equal(statSync(secretFile).mode & 0o777, 0o600)
  const secret = readFileSync(secretFile, 'utf8').trim()
  assert.match(secret, /^[A-Za-z0-9_-]{43}$/)
  const id = /Balance id: ([A-Za-z0-9_-]{43}) /.exec(downloaded.stdout)![1]!
  assert.equal(id, createHash('sha256').update(`trickle-balance-v1\n${secret}`).digest('base64url'))
  assert.ok(!(downloaded.stdout + downloaded.stderr).includes(secret), 'the secret is in no output')

  // The same reader downloads again within the purchase (a new run, a new peer id): nothing is paid.
  const again = await trickleWith(reader, 'download', magnet, '--out', path.join(dir, 'again'))
  assert.equal(again.code, 0, again.stderr + again.stdout)
  assert.doesNotMatch(again.stdout, /Paying/)
  assert.match(again.stdout, /Already bought: this download costs nothing more/)
  assert.match(again.stdout, new RegExp(`Balance id: ${id} `))
  assert.deepEqual(readFileSync(path.join(dir, 'again', 'album.zip')), data)
  assert.equal(await received() - before, 1_000_000_000n, 'still only the one price')
  assert.equal(await (await fetch(`${url}/balances/${id}`)).text(), '0', 'and the balance was spent once')

  // A stranger who knows only the (public) balance id gets no peers and no ticket.
  const infoHash = /btih:([0-9a-f]{40})/.exec(magnet)![1]!
  const announced = await announceHttp(url, infoHash, { balance: id })
  assert.match(String(announced.failure), /\(ticket_required\)$/)
  assert.equal(announced.peers, undefined)
  const stranger = await fetch(`${url}/torrents/${infoHash}/access`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ secret: id, peerId: 'ab'.repeat(20) }) })
  assert.equal(stranger.status, 402, 'the id taken as a secret names another, empty balance')
  assert.equal((await stranger.json() as { code: string }).code, 'unknown_balance')
  const old = await trickleWith(reader, 'download', magnet, '--out', out, '--balance', id)
  assert.equal(old.code, 1)
  assert.match(old.stderr, /--balance is no more: a balance id is public and pays nothing by itself/)

  // A magnet with a lower price than registered: refused before any payment.
  const cheap = await trickleWith(reader, 'download', magnet.replace('&pa=100', '&pa=1'), '--out', out)
  assert.equal(cheap.code, 1)
  assert.match(cheap.stderr, /differs from what the creator registered \(1\.00 USD to http/)
  // Another infohash: not registered.
  const unknown = await trickleWith(reader, 'download', magnet.replace(/btih:[0-9a-f]{40}/, `btih:${'0'.repeat(40)}`), '--out', out)
  assert.equal(unknown.code, 1)
  assert.match(unknown.stderr, /not registered at http:\/\/127\.0\.0\.1:\d+: nobody can sell it to you there/)
  assert.equal(await received() - before, 1_000_000_000n)
  const usage = await trickle('fetch', 'x')
  assert.equal(usage.code, 2)

  // A license naming the proxy pointer: the same purchase with STREAM receipts.
  const proxy = `${url}/p/${receiverIdOfPointer(`${url}/wallet/demo`)}`
  const second = path.join(dir, 'second.zip')
  writeFileSync(second, randomBytes(300_000))
  const legacy = await trickle('seed', second, '--price', '50', '--asset', 'USD', '--scale', '2', '--companion', url, '--token', ADMIN, '--pointer', proxy)
  assert.equal(legacy.code, 0, legacy.stderr)
  const receipts = await trickleWith(reader, 'download', /Magnet: (magnet:\S+)/.exec(legacy.stdout)![1]!, '--out', path.join(dir, 'legacy'))
  assert.equal(receipts.code, 0, receipts.stderr + receipts.stdout)
  assert.ok(receipts.stdout.includes(`Paying 0.50 USD (500000000 units) to ${proxy}…`), receipts.stdout)
  assert.deepEqual(readFileSync(path.join(dir, 'legacy', 'second.zip')), readFileSync(second))
  assert.equal(await received() - before, 1_500_000_000n)
})

test('trickle download refuses a magnet whose tracker, pointer and verifier are not one companion, before any request', async (t) => {
  // A server that records every request: it stands for the pointer and verifier of a magnet.
  const seen: string[] = []
  const recorder = createServer((req, res) => { seen.push(`${req.method} ${req.url}`); res.writeHead(404, { 'content-type': 'application/json' }).end('{"message":"nothing here"}') })
  await new Promise<void>((resolve) => recorder.listen(0, '127.0.0.1', resolve))
  t.after(() => recorder.close())
  const here = `http://127.0.0.1:${(recorder.address() as { port: number }).port}`
  const elsewhere = 'http://127.0.0.1:9'
  const id = 'ab'.repeat(16)
  const magnetOf = (tr: string, pp: string, vr: string) =>
    `magnet:?xt=urn:btih:${'12'.repeat(20)}&dn=album.zip&xl=1000&tr=${encodeURIComponent(tr)}&pp=${encodeURIComponent(pp)}&vr=${encodeURIComponent(vr)}&pa=100&pc=USD&ps=2&pk=O2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ik`
  const reader = { TRICKLE_DATA_DIR: mkdtempSync(path.join(tmpdir(), 'trickle-cli-reader-')) }
  t.after(() => rmSync(reader.TRICKLE_DATA_DIR, { recursive: true, force: true }))

  for (const [tr, pp, vr, field] of [
    [`${elsewhere.replace('http', 'ws')}/announce`, `${here}/p/${id}`, here, 'tr'], // pp and vr of one host, tr of another
    [`${here.replace('http', 'ws')}/announce`, `${elsewhere}/p/${id}`, here, 'pp'],
    [`${here.replace('http', 'ws')}/announce`, `${here}/p/${id}`, 'http://127.0.0.2:9', 'pp'], // vr elsewhere: pp is not its pointer
    [`${here.replace('http', 'wss')}/announce`, `${here}/p/${id}`, here, 'tr'], // wss belongs with https
    [`${here.replace('http', 'ws')}/tracker`, `${here}/p/${id}`, here, 'tr']
  ] as const) {
    const r = await trickleWith(reader, 'download', magnetOf(tr, pp, vr), '--out', path.join(reader.TRICKLE_DATA_DIR, 'out'))
    assert.equal(r.code, 1, `${field}: ${r.stderr}${r.stdout}`)
    assert.match(r.stderr, new RegExp(`^trickle: The magnet's ${field} is "[^"]+", but it must be \\S+: its tracker \\(tr\\), payment pointer \\(pp\\) and verifier \\(vr\\) must be one companion\\. Nothing was paid or sent\\.\\n$`))
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace')
  }
  assert.deepEqual(seen, [], 'no request reached the pointer or the verifier')

  // Loopback spellings of one port are one companion: this magnet passes and asks the verifier.
  const port = new URL(here).port
  const r = await trickleWith(reader, 'download', magnetOf(`ws://[::1]:${port}/announce`, `http://localhost:${port}/p/${id}`, here), '--out', path.join(reader.TRICKLE_DATA_DIR, 'out'))
  assert.equal(r.code, 1)
  assert.match(r.stderr, /not registered at http:\/\/127\.0\.0\.1:\d+/)
  assert.deepEqual(seen, [`GET /torrents/${'12'.repeat(20)}`], 'only the registration was asked, without the secret')
})

test('every bad flag is one line naming it, before any request or payment; paths are the user\'s folder\'s', async (t) => {
  const seen: string[] = []
  const recorder = createServer((req, res) => { seen.push(`${req.method} ${req.url}`); res.writeHead(404, { 'content-type': 'application/json' }).end('{"message":"nothing here"}') })
  await new Promise<void>((resolve) => recorder.listen(0, '127.0.0.1', resolve))
  t.after(() => recorder.close())
  const here = `http://127.0.0.1:${(recorder.address() as { port: number }).port}`
  const dir = mkdtempSync(path.join(tmpdir(), 'trickle-cli-flags-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const aFile = path.join(dir, 'a-file')
  writeFileSync(aFile, 'x')
  const magnet = `magnet:?xt=urn:btih:${'12'.repeat(20)}&dn=album.zip&xl=1000&tr=${encodeURIComponent(`${here.replace('http', 'ws')}/announce`)}&pp=${encodeURIComponent(`${here}/p/${'ab'.repeat(16)}`)}&vr=${encodeURIComponent(here)}&pa=100&pc=USD&ps=2&pk=O2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ik`
  const reader = { TRICKLE_DATA_DIR: path.join(dir, 'reader') }
  for (const [args, said] of [
    [['download', magnet, '--out', aFile], /--out \S+a-file is a file; name a folder to save into\. Nothing was paid\./],
    [['download', magnet, '--out', path.join(aFile, 'under')], /--out \S+under cannot be made: \S+a-file is a file\. Nothing was paid\./],
    [['download', magnet, '--out', dir, '--btp', 'not-a-url'], /--btp "not-a-url" is not a BTP endpoint; it looks like btp\+ws:\/\/127\.0\.0\.1:7768/],
    [['download', magnet, '--out', dir, '--timeout', 'abc'], /--timeout "abc" is not a number of seconds/],
    [['download', `magnet:?xt=urn:btih:${'12'.repeat(20)}`, '--out', dir], /has its infohash and nothing else: a shell cuts an unquoted magnet at its first "&"\. Put the whole magnet in quotes/],
    [['seed', aFile, '--price', '100', '--companion', 'nonsense', '--token', 'x'], /--companion "nonsense" is not a URL/],
    [['seed', aFile, '--price', '100 USD/2', '--scale', '2', '--companion', here, '--token', 'x'], /--price "100 USD\/2" already names its asset and scale; drop --asset and --scale/]
  ] as const) {
    const r = await trickleWith(reader, ...args)
    assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`)
    assert.match(r.stderr, said)
    assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`)
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace')
  }
  assert.deepEqual(seen, [], 'no request was made')

  // Paths are the folder the user ran the command in (npm says where in INIT_CWD), not the repository's.
  const r = await trickleWith({ ...reader, INIT_CWD: dir }, 'download', magnet, '--out', 'a-file')
  assert.match(r.stderr, new RegExp(`--out ${dir.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}/a-file is a file`))
})

test('the one price syntax ("100 USD/2") registers; an unreachable --btp ends with a message, nothing paid', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'trickle-cli-price-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const file = path.join(dir, 'notes.txt')
  writeFileSync(file, randomBytes(50_000))
  const { url } = await build(t, { TRICKLE_SEED_WEBRTC: 'false' })
  const seeded = await trickle('seed', file, '--price', '100 USD/2', '--companion', url, '--token', ADMIN)
  assert.equal(seeded.code, 0, seeded.stderr)
  assert.match(seeded.stdout, /Registered "notes\.txt" for 1\.00 USD/)
  const magnet = /Magnet: (magnet:\S+)/.exec(seeded.stdout)![1]!
  const reader = { TRICKLE_DATA_DIR: path.join(dir, 'reader'), TRICKLE_CONNECT_TIMEOUT_MS: '1500' }
  const received = async () => (await (await fetch(`${url}/wallet/accounts/demo`, { headers: adminAuth })).json() as { received: string }).received
  const before = await received()
  const r = await trickleWith(reader, 'download', magnet, '--out', path.join(dir, 'out'), '--btp', 'btp+ws://127.0.0.1:9')
  assert.equal(r.code, 1, r.stdout + r.stderr)
  assert.match(r.stderr, /Could not reach the Interledger network at btp\+ws:\/\/127\.0\.0\.1:9 within 1\.5 s .*Nothing was paid\./)
  assert.equal(await received(), before)
})
