import assert from 'node:assert/strict'
import { fileURLToPath } from 'node:url'
import { test } from 'node:test'
import rehypeRaw from 'rehype-raw'
import rehypeStringify from 'rehype-stringify'
import remarkDirective from 'remark-directive'
import remarkParse from 'remark-parse'
import remarkRehype from 'remark-rehype'
import { unified } from 'unified'
import remarkTrickleExclusive, { type Options } from '../index.ts'
import { fixtureTests } from '../../../test/support/fixtures.ts'

const process = (md: string, options?: Options) => unified().use(remarkParse).use(remarkDirective)
  .use(remarkTrickleExclusive, options).use(remarkRehype, { allowDangerousHtml: true }).use(rehypeRaw).use(rehypeStringify).process(md)

test('exposes one default export', async () => {
  assert.deepEqual(Object.keys(await import('../index.ts')), ['default'])
})

fixtureTests(fileURLToPath(new URL('./fixtures', import.meta.url)), 'input.md', 'output.html', async (md) =>
  String(await process(md, md.includes('Hallo') ? { labels: { title: 'Für Unterstützer', thanks: 'Danke!' }, learnMoreUrl: 'https://example.org/wm' } : undefined)))

test('diagnostics: empty blocks, leaf directives, a second marker, a marker with nothing after it', async () => {
  const file = await process(':::exclusive\n:::\n\n::exclusive\n\nText.\n\n<div id="exclusive"></div>\n\nSecret.\n\n<div id="exclusive"></div>\n')
  const messages = file.messages.map((m) => `${m.ruleId}@${m.line}: ${m.reason}`)
  assert.deepEqual(messages, [
    'empty@1: Empty `:::exclusive` block: nothing for supporters here',
    'container@4: Use a container directive: `:::exclusive` … `:::`',
    'duplicate-marker@12: Second `<div id="exclusive"></div>` marker ignored: everything after the first one is exclusive already'
  ])
  assert.ok(!String(file).includes('<div id="exclusive"></div>'), 'markers are consumed')
  const trailing = await process('Text.\n\n<div id="exclusive"></div>\n')
  assert.deepEqual(trailing.messages.map((m) => m.ruleId), ['empty'])
})

test('prices for sealed sites: the option for every section, a page\'s front matter `price` over it', async () => {
  const md = ':::exclusive\nOne.\n:::\n\n:::exclusive\nTwo.\n:::\n'
  const priced = String(await process(md, { price: { amount: '500000', assetCode: 'USD', assetScale: 9 } }))
  assert.equal(priced.match(/data-trickle-price-amount="500000" data-trickle-price-code="USD" data-trickle-price-scale="9"/g)?.length, 2)
  const run = (matter: unknown) => unified().use(remarkParse).use(remarkDirective)
    .use(remarkTrickleExclusive, { price: { amount: '1', assetCode: 'USD', assetScale: 2 } }).use(remarkRehype).use(rehypeStringify)
    .process({ value: md, data: { matter } })
  assert.match(String(await run({ price: { amount: '250', assetCode: 'EUR', assetScale: 2 } })), /data-trickle-price-amount="250" data-trickle-price-code="EUR" data-trickle-price-scale="2"/)
  assert.doesNotMatch(String(await process(md)), /data-trickle-price/, 'no price, no attributes (a site that is not sealed)')
})
