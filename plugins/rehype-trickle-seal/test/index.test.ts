// rehype-trickle-seal on single pages: the receiver comes from the page's monetization link (a wallet
// address or a proxy pointer of the companion) or the receiver option, and a price or link the
// companion could not charge stops the build with a message naming the page and the field.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import rehypeParse from 'rehype-parse'
import rehypeStringify from 'rehype-stringify'
import { unified } from 'unified'
import { VFile } from 'vfile'
import { decodeSealToken, openSection, sealKeyFrom, sectionKey, siteSealKey } from 'trickle-core/seal'
import { receiverIdOfPointer } from 'trickle-core/pointers'
import rehypeTrickleSeal, { type Options } from '../index.ts'

// The companion's key, and the site key its POST /sealed/sites hands this site's build.
const companionKey = sealKeyFrom(Buffer.alloc(32, 3))
const site = 'https://blog.test/'
const sealKey = siteSealKey(companionKey, site)
const companion = 'http://localhost:3000'
const ID = '9bf70fe0534e85c1d51a76c44a013a89'
const OTHER = '064a59ddb4647774f8cbad91994ff9ff'

const page = (pointer: string | undefined, price = { amount: '500000', code: 'USD', scale: '9' }) => `<!doctype html><html><head><title>t</title>${pointer === undefined ? '' : `<link rel="monetization" href="${pointer}">`}</head><body>
<section data-trickle-exclusive="rest" data-trickle-price-amount="${price.amount}" data-trickle-price-code="${price.code}" data-trickle-price-scale="${price.scale}"><div data-trickle-cta>Pay</div><div data-trickle-content hidden><p>For supporters only.</p></div></section></body></html>`

async function seal (html: string, options: Partial<Options> = {}) {
  const file = new VFile({ value: html, path: '/site/posts/a/index.html', cwd: '/site' })
  const out = await unified().use(rehypeParse).use(rehypeTrickleSeal, { sealKey, site, companion, ...options }).use(rehypeStringify).process(file)
  const token = /data-trickle-token="([^"]+)"/.exec(String(out))?.[1]
  return { html: String(out), token: token ? decodeSealToken(token, companionKey) : undefined, raw: token }
}

test('exposes one default export', async () => {
  assert.deepEqual(Object.keys(await import('../index.ts')), ['default'])
})

test('the receiver is the proxy id of the page\'s monetization pointer; the token is MACed and opens the section', async () => {
  const { token, raw, html } = await seal(page(`${companion}/p/${ID}`))
  assert.deepEqual(token, { v: 3, site, page: '/posts/a/', id: 'rest', amount: '500000', assetCode: 'USD', assetScale: 9, receiver: ID })
  assert.ok(!html.includes('For supporters only'))
  const box = { ciphertext: /data-trickle-ciphertext="([^"]+)"/.exec(html)![1]!, iv: /data-trickle-iv="([^"]+)"/.exec(html)![1]! }
  assert.equal(openSection(sectionKey(sealKey, raw!), raw!, box), '<p>For supporters only.</p>')
})

test('loopback spellings of the companion\'s port are one host; the receiver option overrides the page', async () => {
  for (const pointer of [`http://127.0.0.1:3000/p/${ID}`, `http://[::1]:3000/p/${ID}`]) {
    assert.equal((await seal(page(pointer))).token?.receiver, ID, pointer)
  }
  assert.equal((await seal(page(`${companion}/p/${ID}`), { receiver: OTHER })).token?.receiver, OTHER)
  assert.equal((await seal(page(undefined), { receiver: `http://127.0.0.1:3000/p/${OTHER}` })).token?.receiver, OTHER, 'a pointer works as the option too')
  assert.throws(() => unified().use(rehypeTrickleSeal, { sealKey, site, companion, receiver: 'alice' }).freeze(), /options\.receiver must be a receiver id \(32 hex digits\), a wallet address or payment pointer, or a proxy pointer of http:\/\/localhost:3000/)
})

test('a page whose link is a wallet address is paid to that address\'s receiver, the id its registration at the companion has', async () => {
  for (const pointer of ['https://wallet.example/alice', `${companion}/wallet/demo`, '$wallet.example/alice', `http://localhost:3001/p/${ID}`]) {
    const { token } = await seal(page(pointer))
    assert.equal(token?.receiver, receiverIdOfPointer(pointer), pointer)
    assert.match(token!.receiver, /^[0-9a-f]{32}$/)
  }
  // One address, one receiver: the $ form and its https URL are the same creator.
  assert.equal(receiverIdOfPointer('$wallet.example/alice'), receiverIdOfPointer('https://wallet.example/alice'))
})

test('a page with exclusive sections but no link, or a link that is no pointer, fails, naming the page and its link', async () => {
  for (const [pointer, said] of [
    [undefined, 'is missing'],
    ['mailto:alice@wallet.example', 'is "mailto:alice@wallet.example", neither a payment pointer nor a wallet address'],
    ['https://user:pw@wallet.example/alice', 'is "https://user:pw@wallet.example/alice", neither']
  ] as const) {
    await assert.rejects(seal(page(pointer)), (err: Error) => {
      assert.ok(err.message.startsWith(`Page /posts/a/ has exclusive sections, but its monetization link (<link rel="monetization" href>) ${said}`), err.message)
      assert.match(err.message, /Point the page at the creator's Open Payments wallet address or the companion's proxy pointer \(http:\/\/localhost:3000\/p\/\{id\}\)/)
      return true
    }, String(pointer))
  }
  // Pages without exclusive sections need no pointer.
  const plain = '<!doctype html><html><head></head><body><p>x</p></body></html>'
  assert.equal((await seal(plain)).token, undefined)
})

test('a price the companion cannot take fails the build, naming the page, the section and the field', async () => {
  const pointer = `${companion}/p/${ID}`
  for (const [price, field] of [
    [{ amount: '0.5', code: 'USD', scale: '2' }, /Exclusive section "rest" of \/posts\/a\/: price amount "0\.5" is not a whole number in decimal/],
    [{ amount: '007', code: 'USD', scale: '2' }, /price amount "007" is not a whole number/],
    [{ amount: '18446744073709551616', code: 'USD', scale: '2' }, /price amount "18446744073709551616"/],
    [{ amount: '50', code: 'US D', scale: '2' }, /Exclusive section "rest" of \/posts\/a\/: price assetCode "US D" is not 1-12 letters or digits/],
    [{ amount: '50', code: '', scale: '2' }, /price assetCode "" is not/],
    [{ amount: '50', code: 'USD', scale: '256' }, /Exclusive section "rest" of \/posts\/a\/: price assetScale "256" is not a whole number from 0 to 255/],
    [{ amount: '50', code: 'USD', scale: '1.5' }, /price assetScale "1\.5"/]
  ] as const) {
    await assert.rejects(seal(page(pointer, price)), field, JSON.stringify(price))
  }
  // A default price is checked the same way.
  const unpriced = page(pointer).replace(/ data-trickle-price-[a-z]+="[^"]*"/g, '')
  await assert.rejects(seal(unpriced, { defaultPrice: { amount: '0.5', assetCode: 'USD', assetScale: 2 } }), /price amount "0\.5"/)
  assert.equal((await seal(unpriced, { defaultPrice: { amount: '50', assetCode: 'USD', assetScale: 2 } })).token?.amount, '50')
})
