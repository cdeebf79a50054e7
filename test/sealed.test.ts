// Sealed exclusive content: the sealing step, the key endpoint, and the leak check over a whole site.
import assert from 'node:assert/strict'
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import { decodeSealToken, encodeSealToken, openSection, sealKeyFrom, sealSection, sectionKey } from '../server/src/sealed/crypto.ts'
import { priceInAsset } from '../server/src/sealed/service.ts'
import { PlaintextLeakError, sealSite } from '../plugins/rehype-trickle-seal/lib/site.ts'
import { build, issueNonce } from '../server/test/helper.ts'
import { hugoBuild, repoRoot } from '../scripts/hugo.ts'

const json = { 'content-type': 'application/json' }
const price = { amount: '5000', assetCode: 'USD', assetScale: 9 }

function allFiles (dir: string): string[] {
  return readdirSync(dir).flatMap((n) => statSync(path.join(dir, n)).isDirectory() ? allFiles(path.join(dir, n)) : [path.join(dir, n)])
}

test('tokens: round trip, and every malformed field is named', () => {
  const token = encodeSealToken({ page: '/posts/a/', id: 'rest', ...price })
  assert.deepEqual(decodeSealToken(token), { v: 1, page: '/posts/a/', id: 'rest', ...price })
  const bad = (o: Record<string, unknown>) => Buffer.from(JSON.stringify({ v: 1, page: '/p/', id: 'rest', ...price, ...o })).toString('base64url')
  for (const [token, message] of [
    ['', /base64url/], ['not base64!', /base64url/], [Buffer.from('nope').toString('base64url'), /JSON/],
    [bad({ v: 2 }), /version/], [bad({ page: 'relative' }), /page/], [bad({ id: 'a b' }), /id/],
    [bad({ amount: '1.5' }), /amount/], [bad({ amount: -1 }), /amount/], [bad({ amount: '18446744073709551616' }), /amount/],
    [bad({ assetCode: '' }), /assetCode/], [bad({ assetScale: 1.5 }), /assetScale/]
  ] as const) assert.throws(() => decodeSealToken(token), message, String(token))
})

test('sealing: only the key of this exact token opens a section; a cheaper token derives another key', () => {
  const sealKey = sealKeyFrom(Buffer.alloc(32, 1))
  const token = encodeSealToken({ page: '/p/', id: 'rest', ...price })
  const box = sealSection(sealKey, token, '<p>secret</p>')
  assert.equal(openSection(sectionKey(sealKey, token), token, box), '<p>secret</p>')
  const cheaper = encodeSealToken({ page: '/p/', id: 'rest', ...price, amount: '1' })
  assert.throws(() => openSection(sectionKey(sealKey, cheaper), token, box), 'a key for a lowered price does not decrypt')
  assert.throws(() => openSection(sectionKey(sealKey, token), cheaper, box), 'nor does the right key with altered additional data')
  assert.throws(() => openSection(sectionKey(sealKeyFrom(Buffer.alloc(32, 2)), token), token, box), 'nor another seal secret')
})

test('prices convert between scales exactly, never across currencies', () => {
  assert.equal(priceInAsset({ amount: '5', assetCode: 'USD', assetScale: 2 }, { code: 'USD', scale: 9 }), 50_000_000n)
  assert.equal(priceInAsset({ amount: '1000000001', assetCode: 'usd', assetScale: 9 }, { code: 'USD', scale: 2 }), 101n, '1.000000001 USD is 101 cents, rounded up for the payee')
  assert.equal(priceInAsset({ amount: '5', assetCode: 'EUR', assetScale: 2 }, { code: 'USD', scale: 9 }), undefined)
})

test('key release: paid once per balance and section, free within the grant, refused when forged or underpaid', async (t) => {
  let clock = Date.now()
  const { app } = await build(t, { TRICKLE_SEAL_GRANT_TTL: '60' }, { listen: false, now: () => clock })
  const token = encodeSealToken({ page: '/posts/a/', id: 'rest', ...price })
  const ask = (body: unknown) => app.inject({ method: 'POST', url: '/sealed/keys', headers: json, payload: body as object })

  let res = await ask({ token, balance: 'reader-1' })
  assert.equal(res.statusCode, 402)
  assert.equal(res.json().code, 'no_payment')

  const n = await issueNonce(app)
  await app.inject({ method: 'POST', url: '/balances/reader-1:creditReceipt', headers: { 'content-type': 'text/plain' }, payload: n.receipt(3000) })
  res = await ask({ token, balance: 'reader-1' })
  assert.equal(res.statusCode, 402)
  assert.deepEqual([res.json().code, res.json().price, res.json().balance], ['payment_required', '5000', '3000'])

  await app.inject({ method: 'POST', url: '/balances/reader-1:creditReceipt', headers: { 'content-type': 'text/plain' }, payload: n.receipt(12000) })
  const replies = await Promise.all([1, 2, 3].map(() => ask({ token, balance: 'reader-1' })))
  assert.deepEqual(replies.map((r) => r.statusCode), [200, 200, 200])
  assert.deepEqual(replies.map((r) => r.json().charged).sort(), ['0', '0', '5000'], 'concurrent requests are charged once')
  assert.equal(replies[0]!.json().key, sectionKey(app.sealKey, token).toString('base64'))
  assert.equal(await app.store.getBalance('reader-1'), 7000n)

  res = await ask({ token, balance: 'reader-1' })
  assert.equal(res.json().charged, '0', 'a reload within the grant is free')
  clock += 61_000
  res = await ask({ token, balance: 'reader-1' })
  assert.equal(res.json().charged, '5000', 'after the grant, the section is bought again')

  for (const [body, status, code] of [
    [{ token: token.slice(0, -3) + 'xyz', balance: 'reader-1' }, 400, 'invalid_token'],
    [{ token: encodeSealToken({ page: '/posts/a/', id: 'rest', amount: '5', assetCode: 'EUR', assetScale: 2 }), balance: 'reader-1' }, 409, 'asset_mismatch'],
    [{ token, balance: 'not ok!' }, 400, 'invalid_balance_id'],
    [{ token }, 400, 'invalid_request'],
    [{ token, balance: 'reader-1', verifier: 'https://evil.example' }, 400, 'invalid_request']
  ] as const) {
    res = await ask(body)
    assert.equal(res.statusCode, status, JSON.stringify(body))
    assert.equal(res.json().code, code)
  }
  // A forged cheaper token yields a key, but not one that opens the real section.
  const cheap = encodeSealToken({ page: '/posts/a/', id: 'rest', ...price, amount: '1' })
  res = await ask({ token: cheap, balance: 'reader-1' })
  assert.notEqual(res.json().key, sectionKey(app.sealKey, token).toString('base64'))
})

test('the example site seals: no plaintext of any exclusive section in any built file', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'trickle-seal-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const out = path.join(dir, 'public')
  await hugoBuild({ source: `${repoRoot}site-example`, destination: out })
  const secrets = ['This paragraph was behind the one-line marker', 'this block sits inside the', 'It opens as soon as the first payment arrives']
  assert.ok(allFiles(out).some((f) => secrets.some((s) => readFileSync(f, 'utf8').includes(s))), 'before sealing the text is there')
  const sealKey = sealKeyFrom(Buffer.alloc(32, 7))
  const report = await sealSite(out, { sealKey, companion: 'http://127.0.0.1:9' })
  assert.ok(report.sections.length >= 2, `sealed ${report.sections.length} sections`)
  for (const file of allFiles(out)) {
    const text = readFileSync(file, 'utf8')
    for (const s of secrets) assert.ok(!text.includes(s), `${path.relative(out, file)} still contains "${s}"`)
  }
  const html = readFileSync(path.join(out, 'posts/exclusive-marker/index.html'), 'utf8')
  assert.match(html, /data-trickle-sealed="" data-trickle-token="[A-Za-z0-9_-]+" data-trickle-ciphertext="[A-Za-z0-9+/=]+" data-trickle-iv="[A-Za-z0-9+/=]+" data-trickle-companion="http:\/\/127\.0\.0\.1:9"/)
  assert.ok(html.includes('data-trickle-cta'), 'the call to action stays')
  // Sealing twice changes nothing (sections already sealed are left alone).
  const again = await sealSite(out, { sealKey, companion: 'http://127.0.0.1:9' })
  assert.equal(again.sections.length, 0)
})

test('the leak check names any file that still carries exclusive text; a section without a price stops the run', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'trickle-leak-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const section = (id: string, priced = true) => `<section data-trickle-exclusive="${id}"${priced ? ' data-trickle-price-amount="10" data-trickle-price-code="USD" data-trickle-price-scale="2"' : ''}><div data-trickle-cta>Pay</div><div data-trickle-content hidden><p>The butler did it, in the library, with a candlestick.</p></div></section>`
  mkdirSync(path.join(dir, 'a'))
  writeFileSync(path.join(dir, 'a/index.html'), `<html><body>${section('rest')}</body></html>`)
  writeFileSync(path.join(dir, 'search.json'), JSON.stringify([{ url: '/a/', content: 'The butler did it, in the library, with a candlestick.' }]))
  await assert.rejects(sealSite(dir, { sealKey: sealKeyFrom(Buffer.alloc(32)), companion: 'http://x.test' }), (err: Error) =>
    err instanceof PlaintextLeakError && err.leaks.length === 1 && err.leaks[0]!.file === 'search.json' && /search\.json: text of section "rest" of \/a\//.test(err.message))

  const other = mkdtempSync(path.join(tmpdir(), 'trickle-noprice-'))
  t.after(() => rmSync(other, { recursive: true, force: true }))
  writeFileSync(path.join(other, 'b.html'), `<html><body>${section('s0', false)}</body></html>`)
  await assert.rejects(sealSite(other, { sealKey: sealKeyFrom(Buffer.alloc(32)), companion: 'http://x.test' }), /section "s0" of \/b\.html has no price/)
  assert.ok(readFileSync(path.join(other, 'b.html'), 'utf8').includes('candlestick'), 'a failed run writes nothing')
})
