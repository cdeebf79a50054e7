// The license and magnet library: round trips, the infohash committing to the license, and a clear
// error for every kind of malformed input.
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { test } from 'node:test'
import bencode from 'bencode'
import {
  checkLicense, convertScale, createTorrent, formatPrice, parsePrice, parseTorrent, TorrentError, torrentFromBase64, torrentToBase64, type License
} from '../src/torrent/license.ts'
import { decodeMagnet, encodeMagnet, magnetOf } from '../../packages/trickle-core/src/magnet.ts'

const license: License = {
  paymentPointer: 'http://127.0.0.1:3000/p/0123456789abcdef0123456789abcdef',
  verifier: 'http://127.0.0.1:3000',
  amount: '100',
  assetCode: 'USD',
  assetScale: 2,
  proofKey: 'O2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ik'
}
const announce = 'ws://127.0.0.1:3000/announce'

const refuses = (fn: () => unknown, message: RegExp) => assert.throws(fn, (err: Error) => err instanceof TorrentError && message.test(err.message), String(message))
const refusesAsync = (p: Promise<unknown>, message: RegExp) => assert.rejects(p, (err: Error) => err instanceof TorrentError && message.test(err.message), String(message))

/** Re-encodes a torrent after `edit` changed its decoded form (bencode keeps it canonical). */
function edited (torrent: Uint8Array, edit: (t: Record<string, any>) => void): Uint8Array {
  const t = bencode.decode(torrent) as Record<string, any>
  edit(t)
  return bencode.encode(t)
}

test('a licensed torrent round-trips; the license is inside the info dict and the infohash covers it', async () => {
  const data = randomBytes(100_000)
  const created = await createTorrent({ name: 'guide.pdf', data, announce, license, pieceLength: 16384 })
  assert.equal(created.name, 'guide.pdf')
  assert.equal(created.length, 100_000)
  assert.equal(created.pieceCount, 7)
  assert.equal(created.private, true)
  assert.deepEqual(created.announce, [announce])
  assert.deepEqual(created.license, license)

  const decoded = bencode.decode(created.torrent) as { info: Record<string, unknown>, license?: unknown }
  assert.equal(decoded.license, undefined, 'no top-level license (ILP Torrent kept it outside the hash)')
  assert.ok(decoded.info.license, 'license inside info')
  assert.equal(decoded.info.private, 1)
  const infoHash = createHash('sha1').update(bencode.encode(decoded.info)).digest('hex')
  assert.equal(created.infoHash, infoHash, 'infohash = SHA-1 of the bencoded info dict, license included')

  const parsed = await parseTorrent(created.torrent)
  const { torrent: _bytes, ...fields } = created
  assert.deepEqual(parsed, fields, 'parsing gives back what creation reported')

  // Every piece hash is the SHA-1 of that piece of the file.
  const pieces = decoded.info.pieces as Uint8Array
  for (let i = 0; i < 7; i++) {
    const expected = createHash('sha1').update(data.subarray(i * 16384, (i + 1) * 16384)).digest()
    assert.deepEqual(Buffer.from(pieces.subarray(i * 20, i * 20 + 20)), expected)
  }

  // Another price is another torrent.
  const cheaper = await createTorrent({ name: 'guide.pdf', data, announce, license: { ...license, amount: '1' }, pieceLength: 16384 })
  assert.notEqual(cheaper.infoHash, created.infoHash)
  // Deterministic: the same inputs give the same bytes.
  const again = await createTorrent({ name: 'guide.pdf', data, announce, license, pieceLength: 16384 })
  assert.deepEqual(again.torrent, created.torrent)
  assert.deepEqual(torrentFromBase64(torrentToBase64(created.torrent)), created.torrent)
})

test('streamed chunks of any size hash like the whole file; free torrents need no license', async () => {
  const data = randomBytes(70_001)
  const whole = await createTorrent({ name: 'a.bin', data, announce })
  async function * chunks () { for (let i = 0; i < data.length; i += 999) yield data.subarray(i, i + 999) }
  const streamed = await createTorrent({ name: 'a.bin', data: chunks(), length: data.length, announce })
  assert.equal(streamed.infoHash, whole.infoHash)
  assert.equal(whole.private, false)
  assert.equal(whole.license, undefined)
  const priv = await createTorrent({ name: 'a.bin', data, announce, private: true })
  assert.equal(priv.private, true)
  assert.notEqual(priv.infoHash, whole.infoHash)
})

test('checkLicense refuses each malformed field by name', () => {
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ ...license, amount: '1.5' }, /license\.amount must be a whole number/],
    [{ ...license, amount: '-1' }, /license\.amount must be a whole number/],
    [{ ...license, amount: '1e3' }, /license\.amount must be a whole number/],
    [{ ...license, amount: 100 }, /license\.amount must be a decimal string .* not a number/],
    [{ ...license, amount: '0' }, /license\.amount must be at least 1/],
    [{ ...license, amount: '007' }, /leading zeros/],
    [{ ...license, amount: '18446744073709551616' }, /at most 2\^64-1/],
    [{ ...license, assetScale: '2' }, /license\.assetScale must be an integer from 0 to 255, got "2"/],
    [{ ...license, assetScale: 256 }, /license\.assetScale must be an integer from 0 to 255/],
    [{ ...license, assetScale: 1.5 }, /license\.assetScale/],
    [{ ...license, assetCode: 'US D' }, /license\.assetCode/],
    [{ ...license, assetCode: 840 }, /license\.assetCode/],
    [{ ...license, paymentPointer: 'ftp://x/y' }, /license\.paymentPointer/],
    [{ ...license, paymentPointer: 'http://user:pw@x/y' }, /credentials/],
    [{ ...license, verifier: 'not a url' }, /license\.verifier/],
    [{ ...license, verifier: 'http://x/?a=1' }, /without a query/],
    [{ ...license, extra: 'x' }, /license\.extra is not a license field/],
    [(({ verifier: _v, ...rest }) => rest)(license), /license\.verifier is missing/]
  ]
  for (const [value, message] of cases) refuses(() => checkLicense(value), message)
  refuses(() => checkLicense('100 USD'), /license must be a dictionary/)
  refuses(() => checkLicense(null), /license must be a dictionary/)
  assert.deepEqual(checkLicense({ ...license, paymentPointer: '$wallet.example/alice' }).paymentPointer, '$wallet.example/alice')
})

test('parseTorrent refuses malformed .torrent files with clear errors', async () => {
  const { torrent } = await createTorrent({ name: 'guide.pdf', data: randomBytes(40_000), announce, license, pieceLength: 16384 })
  const enc = (s: string) => new TextEncoder().encode(s)
  await refusesAsync(parseTorrent(new Uint8Array()), /no bytes/)
  await refusesAsync(parseTorrent(enc('hello')), /not valid bencode|top level/)
  await refusesAsync(parseTorrent(enc('li1ee')), /top level must be a dictionary/)
  await refusesAsync(parseTorrent(enc('d8:announce3:abce')), /no info dictionary/)
  // Non-canonical encodings: unsorted keys, a fractional integer, trailing garbage.
  await refusesAsync(parseTorrent(enc('d4:infod4:name1:ae8:announce3:abce')), /not canonical/)
  await refusesAsync(parseTorrent(new Uint8Array([...torrent, 0x78])), /not canonical|bencode/)
  const text = new TextDecoder('latin1').decode(torrent)
  await refusesAsync(parseTorrent(Uint8Array.from(text.replace('10:assetScalei2e', '10:assetScalei2.7e'), (c) => c.charCodeAt(0))), /not canonical/)

  const cases: Array<[(t: Record<string, any>) => void, RegExp]> = [
    [(t) => { t.info.license.amount = enc('1.5') }, /info\.license\.amount must be a whole number/],
    [(t) => { t.info.license.amount = enc('-1') }, /info\.license\.amount must be a whole number/],
    [(t) => { t.info.license.amount = 100 }, /info\.license\.amount must be a decimal string .* not a number/],
    [(t) => { t.info.license.assetScale = enc('2') }, /info\.license\.assetScale must be an integer/],
    [(t) => { t.info.license.assetScale = 300 }, /info\.license\.assetScale must be an integer from 0 to 255/],
    [(t) => { delete t.info.license.paymentPointer }, /info\.license\.paymentPointer is missing/],
    [(t) => { t.info.license.verifier = new Uint8Array([0xff, 0xfe]) }, /info\.license\.verifier is not valid UTF-8/],
    [(t) => { t.info.license = enc('100 USD') }, /info\.license must be a dictionary/],
    [(t) => { delete t.info.private }, /must be private/],
    [(t) => { t.info.private = 0 }, /must be private/],
    [(t) => { t.info.private = 2 }, /info\.private must be 0 or 1/],
    [(t) => { t['announce-list'] = [[enc(announce)], [enc('udp://tracker.example:80')]] }, /tracker URL|exactly one tracker/],
    [(t) => { t['announce-list'] = [[enc(announce), enc('wss://tracker.example')]] }, /exactly one tracker/],
    [(t) => { delete t.announce }, /exactly one tracker .*it names 0/],
    [(t) => { t.info.name = enc('../etc/passwd') }, /info\.name must be one file name/],
    [(t) => { t.info.length = -5 }, /info\.length must be a non-negative integer/],
    [(t) => { t.info.length = 1_000_000 }, /info\.pieces has 3 hashes/],
    [(t) => { t.info.pieces = new Uint8Array(7) }, /20-byte SHA-1/],
    [(t) => { t.info['piece length'] = 0 }, /piece length/],
    [(t) => { t.announce = enc('ftp://x') }, /announce must be a ws, wss, http or https tracker URL/]
  ]
  for (const [edit, message] of cases) await refusesAsync(parseTorrent(edited(torrent, edit)), message)
})

test('createTorrent refuses bad names, trackers, piece lengths and empty files', async () => {
  const data = randomBytes(10)
  await refusesAsync(createTorrent({ name: 'a/b', data, announce }), /one file name/)
  await refusesAsync(createTorrent({ name: '', data, announce }), /non-empty file name/)
  await refusesAsync(createTorrent({ name: 'a', data, announce: 'udp://x:1' }), /ws, wss, http or https/)
  await refusesAsync(createTorrent({ name: 'a', data, announce, pieceLength: 10_000 }), /power of two/)
  await refusesAsync(createTorrent({ name: 'a', data: new Uint8Array(), announce }), /empty/)
  await refusesAsync(createTorrent({ name: 'a', data, announce, license: { ...license, amount: '2.50' } }), /license\.amount/)
})

test('magnet links carry pp, vr and the price, and decode back exactly', async () => {
  const created = await createTorrent({ name: 'my guide (v2)+.pdf', data: randomBytes(20_000), announce, license })
  const magnet = magnetOf(created)
  assert.match(magnet, /^magnet:\?xt=urn:btih:[0-9a-f]{40}&dn=/)
  assert.match(magnet, /&pp=http%3A%2F%2F127\.0\.0\.1%3A3000%2Fp%2F0123/)
  assert.match(magnet, /&vr=http%3A%2F%2F127\.0\.0\.1%3A3000&pa=100&pc=USD&ps=2&pk=O2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ik$/)
  assert.deepEqual(decodeMagnet(magnet), { infoHash: created.infoHash, name: 'my guide (v2)+.pdf', length: 20_000, trackers: [announce], license })

  const free = encodeMagnet({ infoHash: 'A'.repeat(40), trackers: [] })
  assert.deepEqual(decodeMagnet(free), { infoHash: 'a'.repeat(40), trackers: [] })
  // ILP Torrent's README example (pp and vr only) decodes, and says which price fields it lacks.
  const original = 'magnet:?xt=urn:btih:db84a5e3ae0a0e4e1dd4fb67cac1fc6c0f6dc031&dn=file.png&tr=ws%3A%2F%2Flocalhost%3A8000&pp=http%3A%2F%2Flocalhost%3A4001%2Fspsp%2F~niq&vr=http%3A%2F%2Flocalhost%3A4002'
  refuses(() => decodeMagnet(original), /partial license: missing pa \(amount\), pc \(assetCode\), ps \(assetScale\)/)
  // base32 infohashes (BEP 9) become hex.
  assert.equal(decodeMagnet('magnet:?xt=urn:btih:MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43U').infoHash, '6162636465666768696a6b6c6d6e6f7071727374')
})

test('decodeMagnet refuses malformed links with clear errors', () => {
  const base = `magnet:?xt=urn:btih:${'ab'.repeat(20)}&tr=${encodeURIComponent(announce)}&pp=${encodeURIComponent(license.paymentPointer)}&vr=${encodeURIComponent(license.verifier)}`
  const cases: Array<[string, RegExp]> = [
    ['https://example.com', /must start with "magnet:\?"/],
    ['magnet:?dn=x', /exactly one xt=urn:btih/],
    [`magnet:?xt=urn:btih:${'a'.repeat(40)}&xt=urn:btih:${'b'.repeat(40)}`, /exactly one xt/],
    ['magnet:?xt=urn:btih:xyz', /40 hex or 32 base32/],
    [`${base}&pa=1.5&pc=USD&ps=2&pk=O2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ik`, /magnet license\.amount must be a whole number/],
    [`${base}&pa=-1&pc=USD&ps=2&pk=O2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ik`, /magnet license\.amount must be a whole number/],
    [`${base}&pa=100&pc=USD&ps=two&pk=O2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ik`, /magnet license\.assetScale must be an integer from 0 to 255, got "two"/],
    [`${base}&pa=100&pc=USD&ps=999&pk=O2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ik`, /assetScale must be an integer from 0 to 255/],
    [`${base}&pa=100&pc=USD`, /partial license: missing ps/],
    [`${base}&pa=100&pa=200&pc=USD&ps=2&pk=O2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ik`, /2 "pa" parameters/],
    [`magnet:?xt=urn:btih:${'a'.repeat(40)}&xl=12.5`, /xl \(length\) must be a whole number/],
    [`magnet:?xt=urn:btih:${'a'.repeat(40)}&tr=udp%3A%2F%2Fx%3A1`, /tr #1 must be a ws, wss, http or https tracker URL/],
    [`magnet:?xt=urn:btih:${'a'.repeat(40)}&pp=ftp%3A%2F%2Fx&vr=http%3A%2F%2Fv&pa=1&pc=USD&ps=2&pk=O2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ik`, /magnet license\.paymentPointer/]
  ]
  for (const [uri, message] of cases) refuses(() => decodeMagnet(uri), message)
  refuses(() => encodeMagnet({ infoHash: 'nothex', trackers: [] }), /40 hex digits/)
})

test('prices: parsed from "AMOUNT CODE/SCALE", shown exactly, converted between scales rounding up', () => {
  assert.deepEqual(parsePrice('100 USD/2'), { amount: '100', assetCode: 'USD', assetScale: 2 })
  refuses(() => parsePrice('1.00 USD/2'), /price amount must be a whole number/)
  refuses(() => parsePrice('100 USD'), /must look like "100 USD\/2"/)
  refuses(() => parsePrice('100 USD/x'), /price asset scale must be an integer/)
  assert.equal(formatPrice({ amount: '150', assetCode: 'USD', assetScale: 2 }), '1.50 USD')
  assert.equal(formatPrice({ amount: '5', assetCode: 'USD', assetScale: 9 }), '0.000000005 USD')
  assert.equal(formatPrice({ amount: '42', assetCode: 'XRP', assetScale: 0 }), '42 XRP')
  assert.equal(convertScale(100n, 2, 9), 1_000_000_000n)
  assert.equal(convertScale(1_000_000_001n, 9, 2), 101n, 'a coarser scale rounds up: the creator never gets less')
  assert.equal(convertScale(123_000n, 9, 6), 123n)
})

test('licenses, magnets and amounts (trickle-core) and torrents bundle for the browser as they are (no node: imports, no Buffer)', async () => {
  const esbuild = await import('esbuild')
  const core = new URL('../../packages/trickle-core/src/', import.meta.url).pathname
  const result = await esbuild.build({
    entryPoints: [new URL('../src/torrent/license.ts', import.meta.url).pathname, `${core}license.ts`, `${core}magnet.ts`, `${core}amounts.ts`], bundle: true, platform: 'browser', format: 'esm', write: false, outdir: 'bundle', logLevel: 'silent'
  })
  assert.deepEqual(result.errors, [])
  for (const file of result.outputFiles) {
    assert.doesNotMatch(file.text, /\brequire\(|from ["']node:|\bBuffer\./, file.path)
  }
})
