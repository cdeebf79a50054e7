// Sealed exclusive content: the sealing step, the key endpoint, and the leak check over a whole site.
// Tokens are MACed with the seal key and name the receiver (the proxy id of the page's monetization
// pointer); keys are bought with the balance's secret from what the balance holds for that receiver.
import { SITE, siteSeal, siteSectionKey, siteToken } from '../server/test/seal-helper.ts'
import assert from 'node:assert/strict'
import { createHash, createHmac, randomBytes } from 'node:crypto'
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import type { FastifyInstance } from 'fastify'
import { decodeSealToken, encodeSealToken, openSection, sealKeyFrom, sealSection, siteOf, siteSealKey } from '../packages/trickle-core/src/seal.ts'
import { encodeReceipt, receiptSecret } from '../server/src/receipts/codec.ts'
import { PlaintextLeakError, sealSite } from '../plugins/rehype-trickle-seal/lib/site.ts'
import { build } from '../server/test/helper.ts'
import { hugoBuild, repoRoot } from '../scripts/hugo.ts'

const json = { 'content-type': 'application/json' }
const text = { 'content-type': 'text/plain' }
const price = { amount: '5000', assetCode: 'USD', assetScale: 9 }
const RECEIVER = '9bf70fe0534e85c1d51a76c44a013a89'

function allFiles (dir: string): string[] {
  return readdirSync(dir).flatMap((n) => statSync(path.join(dir, n)).isDirectory() ? allFiles(path.join(dir, n)) : [path.join(dir, n)])
}

/** A reader's balance as browsers and the CLI make it: a secret and the public id derived from it. */
function reader () {
  const secret = randomBytes(32).toString('base64url')
  return { secret, id: createHash('sha256').update(`trickle-balance-v1\n${secret}`).digest('base64url') }
}

const proxyIdOf = (pointer: string) => /\/p\/([0-9a-f]{32})$/.exec(pointer)![1]!

/** A nonce issued by the proxy `proxyId`, as its SPSP query would, and receipts for it. */
async function nonceFor (app: FastifyInstance, proxyId: string) {
  const nonce = randomBytes(16)
  await app.store.putNonce({ nonce: nonce.toString('base64'), proxyId, spspEndpoint: `${app.config.publicUrl}/wallet/demo`, issuedAt: Date.now() })
  const secret = receiptSecret(app.secrets.receiptKey, nonce)
  return (totalReceived: number) => encodeReceipt({ nonce, streamId: 1, totalReceived: BigInt(totalReceived), secret }).toString('base64')
}

/** A token payload with a MAC of the given site's key, for tokens the sealing step would never write. */
function macked (sealKey: Uint8Array, payload: Record<string, unknown> | string, site = SITE): string {
  const body = Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload)).toString('base64url')
  return `${body}.${createHmac('sha256', siteSealKey(sealKey, site)).update(`trickle-seal-token-v3\n${body}`).digest('base64url')}`
}

test('tokens: round trip, every malformed field named, and a MAC that binds every field', () => {
  const sealKey = sealKeyFrom(Buffer.alloc(32, 1))
  const token = siteToken(sealKey, { page: '/posts/a/', id: 'rest', ...price, receiver: RECEIVER })
  assert.deepEqual(decodeSealToken(token, sealKey), { v: 3, site: SITE, page: '/posts/a/', id: 'rest', ...price, receiver: RECEIVER })
  const bad = (o: Record<string, unknown>) => macked(sealKey, { v: 3, site: SITE, page: '/p/', id: 'rest', ...price, receiver: RECEIVER, ...o })
  for (const [t, message] of [
    ['', /base64url/], ['not base64!', /base64url/], [`${Buffer.from('{"v":3,"site":"https://site.test/"}').toString('base64url')}.${'A'.repeat(43)}`, /not issued/],
    [macked(sealKey, 'nope'), /JSON/],
    [bad({ v: 2 }), /version/], [bad({ site: 'ftp://x/' }), /site/], [bad({ site: 'https://site.test' }), /site/], [bad({ page: 'relative' }), /page/], [bad({ id: 'a b' }), /id/],
    [bad({ amount: '1.5' }), /amount/], [bad({ amount: -1 }), /amount/], [bad({ amount: '18446744073709551616' }), /amount/],
    [bad({ assetCode: '' }), /assetCode/], [bad({ assetScale: 1.5 }), /assetScale/], [bad({ receiver: 'demo' }), /receiver/]
  ] as const) assert.throws(() => decodeSealToken(t, sealKey), message, String(t))

  // Any field changed after sealing (the price lowered, another receiver) breaks the MAC.
  const [payload] = token.split('.')
  const fields = JSON.parse(Buffer.from(payload!, 'base64url').toString()) as Record<string, unknown>
  for (const change of [{ amount: '1' }, { receiver: 'ab'.repeat(16) }, { page: '/posts/b/' }, { site: 'https://other.test/' }]) {
    const altered = `${Buffer.from(JSON.stringify({ ...fields, ...change })).toString('base64url')}.${token.split('.')[1]}`
    assert.throws(() => decodeSealToken(altered, sealKey), (err: Error & { kind?: string }) => err.kind === 'not_issued', JSON.stringify(change))
  }
  assert.throws(() => decodeSealToken(token, sealKeyFrom(Buffer.alloc(32, 2))), (err: Error & { kind?: string }) => err.kind === 'not_issued', 'another seal key')
})

test('keys are bound to the site: two sites sealed with one companion share none', () => {
  const sealKey = sealKeyFrom(Buffer.alloc(32, 1))
  const fields = { page: '/posts/a/', id: 'rest', ...price, receiver: RECEIVER }
  const a = siteToken(sealKey, { ...fields, site: 'https://a.test/' })
  const b = siteToken(sealKey, { ...fields, site: 'https://b.test/' })
  assert.notEqual(siteSectionKey(sealKey, a, 'https://a.test/').toString('hex'), siteSectionKey(sealKey, b, 'https://b.test/').toString('hex'))
  assert.notEqual(siteSealKey(sealKey, 'https://a.test/').toString('hex'), siteSealKey(sealKey, 'https://b.test/').toString('hex'))
  // One site's key cannot issue tokens for another site.
  const forged = encodeSealToken(siteSealKey(sealKey, 'https://a.test/'), { ...fields, site: 'https://b.test/' })
  assert.throws(() => decodeSealToken(forged, sealKey), (err: Error & { kind?: string }) => err.kind === 'not_issued')
  assert.equal(siteOf('https://blog.example'), 'https://blog.example/')
  assert.equal(siteOf('https://blog.example/en?x=1#y'), 'https://blog.example/en/')
  assert.equal(siteOf('ftp://blog.example/'), undefined)
})

test('sealing: only the key of this exact token opens a section', () => {
  const sealKey = sealKeyFrom(Buffer.alloc(32, 1))
  const token = siteToken(sealKey, { page: '/p/', id: 'rest', ...price, receiver: RECEIVER })
  const box = sealSection(siteSealKey(sealKey, SITE), token, '<p>secret</p>')
  assert.equal(openSection(siteSectionKey(sealKey, token), token, box), '<p>secret</p>')
  const cheaper = siteToken(sealKey, { page: '/p/', id: 'rest', ...price, amount: '1', receiver: RECEIVER })
  assert.throws(() => openSection(siteSectionKey(sealKey, cheaper), token, box), 'a key for a lowered price does not decrypt')
  assert.throws(() => openSection(siteSectionKey(sealKey, token), cheaper, box), 'nor does the right key with altered additional data')
  assert.throws(() => openSection(siteSectionKey(sealKeyFrom(Buffer.alloc(32, 2)), token), token, box), 'nor another seal secret')
})

test('prices: in the receiver\'s units, converted between scales exactly, never across currencies', async (t) => {
  const { app } = await build(t, {}, { listen: false })
  const receiver = proxyIdOf(app.demo!.proxyPointer)
  const priceOf = async (p: { amount: string, assetCode: string, assetScale: number }, r = receiver) =>
    app.inject({ method: 'GET', url: `/sealed/price?token=${siteToken(app.sealKey, { page: '/a/', id: 'rest', ...p, receiver: r })}` })
  let res = await priceOf({ amount: '5', assetCode: 'USD', assetScale: 2 })
  assert.deepEqual(res.json(), { price: '50000000', assetCode: 'USD', assetScale: 9, receiver })
  res = await priceOf({ amount: '5', assetCode: 'EUR', assetScale: 2 })
  assert.deepEqual([res.statusCode, res.json().code], [409, 'asset_mismatch'])
  res = await priceOf(price, 'ab'.repeat(16))
  assert.deepEqual([res.statusCode, res.json().code], [409, 'unknown_receiver'], 'a receiver nobody registered here')
})

test('key release: paid once per balance and section, free within the grant, refused when malformed or underpaid', async (t) => {
  let clock = Date.now()
  const { app } = await build(t, { TRICKLE_SEAL_GRANT_TTL: '60' }, { listen: false, now: () => clock })
  const receiver = proxyIdOf(app.demo!.proxyPointer)
  const token = siteToken(app.sealKey, { page: '/posts/a/', id: 'rest', ...price, receiver })
  const ask = (body: unknown) => app.inject({ method: 'POST', url: '/sealed/keys', headers: json, payload: body as object })
  const me = reader()

  let res = await ask({ token, secret: me.secret })
  assert.equal(res.statusCode, 402)
  assert.equal(res.json().code, 'no_payment')

  const receipt = await nonceFor(app, receiver)
  res = await app.inject({ method: 'POST', url: `/balances/${me.id}:creditReceipt`, headers: text, payload: receipt(3000) })
  assert.equal(res.body, '3000', 'credits go to the public id')
  res = await ask({ token, secret: me.secret })
  assert.equal(res.statusCode, 402)
  assert.deepEqual([res.json().code, res.json().price, res.json().balance], ['payment_required', '5000', '3000'])

  await app.inject({ method: 'POST', url: `/balances/${me.id}:creditReceipt`, headers: text, payload: receipt(12000) })
  const replies = await Promise.all([1, 2, 3].map(() => ask({ token, secret: me.secret })))
  assert.deepEqual(replies.map((r) => r.statusCode), [200, 200, 200])
  assert.deepEqual(replies.map((r) => r.json().charged).sort(), ['0', '0', '5000'], 'concurrent requests are charged once')
  assert.equal(replies[0]!.json().key, siteSectionKey(app.sealKey, token).toString('base64'))
  assert.equal(await app.store.getBalance(me.id, receiver), 7000n)

  res = await ask({ token, secret: me.secret })
  assert.equal(res.json().charged, '0', 'a reload within the grant is free')
  clock += 61_000
  res = await ask({ token, secret: me.secret })
  assert.equal(res.json().charged, '5000', 'after the grant, the section is bought again')

  for (const [body, status, code] of [
    [{ token: 'x'.repeat(10), secret: me.secret }, 400, 'invalid_token'],
    [{ token: siteToken(app.sealKey, { page: '/posts/a/', id: 'rest', amount: '5', assetCode: 'EUR', assetScale: 2, receiver }), secret: me.secret }, 409, 'asset_mismatch'],
    [{ token, secret: 'x'.repeat(42) + '!' }, 400, 'invalid_balance_secret'],
    [{ token }, 400, 'invalid_request'],
    [{ token, balance: me.id }, 400, 'invalid_request'],
    [{ token, secret: me.secret, verifier: 'https://evil.example' }, 400, 'invalid_request']
  ] as const) {
    res = await ask(body)
    assert.equal(res.statusCode, status, JSON.stringify(body))
    assert.equal(res.json().code, code)
  }
  assert.equal(await app.store.getBalance(me.id, receiver), 2000n, 'no refusal spent anything')
})

test('a forged token or a lowered price is refused with token_not_issued, and nothing is spent', async (t) => {
  const { app } = await build(t, {}, { listen: false })
  const receiver = proxyIdOf(app.demo!.proxyPointer)
  const me = reader()
  const receipt = await nonceFor(app, receiver)
  await app.inject({ method: 'POST', url: `/balances/${me.id}:creditReceipt`, headers: text, payload: receipt(9000) })
  const token = siteToken(app.sealKey, { page: '/posts/a/', id: 'rest', ...price, receiver })
  const fields = JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()) as Record<string, unknown>
  const lowered = `${Buffer.from(JSON.stringify({ ...fields, amount: '1' })).toString('base64url')}.${token.split('.')[1]}`
  const otherKey = siteToken(sealKeyFrom(randomBytes(32)), { page: '/posts/a/', id: 'rest', ...price, amount: '1', receiver })
  for (const forged of [lowered, otherKey]) {
    const res = await app.inject({ method: 'POST', url: '/sealed/keys', headers: json, payload: { token: forged, secret: me.secret } })
    assert.equal(res.statusCode, 400)
    assert.equal(res.json().code, 'token_not_issued')
    assert.equal(res.json().key, undefined)
    const quoted = await app.inject({ method: 'GET', url: `/sealed/price?token=${forged}` })
    assert.deepEqual([quoted.statusCode, quoted.json().code], [400, 'token_not_issued'])
  }
  assert.equal(await app.store.getBalance(me.id, receiver), 9000n, 'nothing was spent')
})

test('a stranger who knows only the balance id gets no key; money paid to another receiver buys nothing here', async (t) => {
  const { app } = await build(t, {}, { listen: false })
  const demo = proxyIdOf(app.demo!.proxyPointer)
  const token = siteToken(app.sealKey, { page: '/posts/a/', id: 'rest', ...price, receiver: demo })
  const me = reader()
  await app.inject({ method: 'POST', url: `/balances/${me.id}:creditReceipt`, headers: text, payload: (await nonceFor(app, demo))(9000) })
  // The id is public (it is in credit URLs): as a secret it names another, empty balance.
  let res = await app.inject({ method: 'POST', url: '/sealed/keys', headers: json, payload: { token, secret: me.id } })
  assert.deepEqual([res.statusCode, res.json().code, res.json().key], [402, 'no_payment', undefined])
  res = await app.inject({ method: 'POST', url: '/sealed/keys', headers: json, payload: { token, balance: me.id } })
  assert.deepEqual([res.statusCode, res.json().code], [400, 'invalid_request'], 'the old request that named the id is refused')
  assert.equal(await app.store.getBalance(me.id, demo), 9000n)

  // Another creator's reader: paid alice's pointer, so demo's section stays closed for them.
  const alice = await app.wallet.ensureAccount('alice')
  const proxy = await app.verifier.registerProxy(alice.paymentPointer)
  if (typeof proxy === 'string') throw new Error(proxy)
  const fan = reader()
  await app.inject({ method: 'POST', url: `/balances/${fan.id}:creditReceipt`, headers: text, payload: (await nonceFor(app, proxyIdOf(proxy.proxy.proxyPointer)))(9000) })
  res = await app.inject({ method: 'POST', url: '/sealed/keys', headers: json, payload: { token, secret: fan.secret } })
  assert.equal(res.statusCode, 402)
  assert.equal(res.json().key, undefined)
  assert.equal(await app.store.getBalance(fan.id), 9000n)
})

test('the example site seals: each page\'s sections pay its pointer; no plaintext of any exclusive section in any built file', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'trickle-seal-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const out = path.join(dir, 'public')
  const companion = 'http://127.0.0.1:9'
  const ids = { site: '1'.repeat(32), alice: 'a'.repeat(32), bob: 'b'.repeat(32), carol: 'c'.repeat(32) }
  const override = path.join(dir, 'trickle.toml')
  writeFileSync(override, `[params]\n  monetization = "${companion}/p/${ids.site}"\n  [params.creators]\n${['alice', 'bob', 'carol'].map((n) => `    ${n} = "${companion}/p/${ids[n as 'alice']}"`).join('\n')}\n`)
  await hugoBuild({ source: `${repoRoot}site-example`, destination: out, configs: [override] })
  const secrets = ['This paragraph was behind the one-line marker', 'this block sits inside the', 'It opens as soon as the first payment arrives']
  assert.ok(allFiles(out).some((f) => secrets.some((s) => readFileSync(f, 'utf8').includes(s))), 'before sealing the text is there')
  const sealKey = sealKeyFrom(Buffer.alloc(32, 7))
  const report = await sealSite(out, { ...siteSeal(sealKey), companion, checkPrices: false })
  assert.ok(report.sections.length >= 2, `sealed ${report.sections.length} sections`)
  for (const file of allFiles(out)) {
    const text = readFileSync(file, 'utf8')
    for (const s of secrets) assert.ok(!text.includes(s), `${path.relative(out, file)} still contains "${s}"`)
  }
  const tokenOf = (page: string) => decodeSealToken(/data-trickle-token="([^"]+)"/.exec(readFileSync(path.join(out, page), 'utf8'))![1]!, sealKey)
  const html = readFileSync(path.join(out, 'posts/exclusive-marker/index.html'), 'utf8')
  assert.match(html, /data-trickle-sealed="" data-trickle-token="[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}" data-trickle-ciphertext="[A-Za-z0-9+/=]+" data-trickle-iv="[A-Za-z0-9+/=]+" data-trickle-companion="http:\/\/127\.0\.0\.1:9"/)
  assert.ok(html.includes('data-trickle-cta'), 'the call to action stays')
  assert.equal(tokenOf('posts/exclusive-marker/index.html').receiver, ids.site, 'the site pointer\'s receiver')
  assert.equal(tokenOf('posts/exclusive-shortcode/index.html').receiver, ids.alice, 'front matter `monetization: alice` pays alice')
  // Sealing twice changes nothing (sections already sealed are left alone), and still checks for leaks.
  const again = await sealSite(out, { ...siteSeal(sealKey), companion, checkPrices: false })
  assert.equal(again.sections.length, 0)
  assert.equal(again.alreadySealed, report.sections.length)
})

test('the leak check names any file that still carries exclusive text; a section without a price stops the run', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'trickle-leak-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const head = `<head><link rel="monetization" href="http://x.test/p/${RECEIVER}"></head>`
  const section = (id: string, priced = true) => `<section data-trickle-exclusive="${id}"${priced ? ' data-trickle-price-amount="10" data-trickle-price-code="USD" data-trickle-price-scale="2"' : ''}><div data-trickle-cta>Pay</div><div data-trickle-content hidden><p>The butler did it, in the library, with a candlestick.</p></div></section>`
  mkdirSync(path.join(dir, 'a'))
  writeFileSync(path.join(dir, 'a/index.html'), `<html>${head}<body>${section('rest')}</body></html>`)
  writeFileSync(path.join(dir, 'search.json'), JSON.stringify([{ url: '/a/', content: 'The butler did it, in the library, with a candlestick.' }]))
  await assert.rejects(sealSite(dir, { ...siteSeal(sealKeyFrom(Buffer.alloc(32))), companion: 'http://x.test' }), (err: Error) =>
    err instanceof PlaintextLeakError && err.leaks.length === 1 && err.leaks[0]!.file === 'search.json' && /search\.json: text of section "rest" of \/a\//.test(err.message))

  const other = mkdtempSync(path.join(tmpdir(), 'trickle-noprice-'))
  t.after(() => rmSync(other, { recursive: true, force: true }))
  writeFileSync(path.join(other, 'b.html'), `<html>${head}<body>${section('s0', false)}</body></html>`)
  await assert.rejects(sealSite(other, { ...siteSeal(sealKeyFrom(Buffer.alloc(32))), companion: 'http://x.test' }), /section "s0" of \/b\.html has no price/)
  assert.ok(readFileSync(path.join(other, 'b.html'), 'utf8').includes('candlestick'), 'a failed run writes nothing')
})
