import assert from 'node:assert/strict'
import { fileURLToPath } from 'node:url'
import { test } from 'node:test'
import rehypeStringify from 'rehype-stringify'
import remarkDirective from 'remark-directive'
import remarkParse from 'remark-parse'
import remarkRehype from 'remark-rehype'
import { unified } from 'unified'
import remarkTrickleDownload, { type Options } from '../index.ts'
import { fixtureTests } from '../../../test/support/fixtures.ts'

const process = (md: string, options?: Options) => unified().use(remarkParse).use(remarkDirective)
  .use(remarkTrickleDownload, options).use(remarkRehype).use(rehypeStringify).process(md)

test('exposes one default export', async () => {
  assert.deepEqual(Object.keys(await import('../index.ts')), ['default'])
})

fixtureTests(fileURLToPath(new URL('./fixtures', import.meta.url)), 'input.md', 'output.html', async (md) =>
  String(await process(md, md.includes('pc=EUR') ? { locale: 'de', labels: { button: 'Bezahlen und herunterladen' } } : undefined)))

test('name, size and price come from the magnet, money as integers', async () => {
  const html = String(await process('::download{magnet="magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567&dn=a.zip&xl=2500000&tr=ws%3A%2F%2Fh%2Fannounce&pp=https%3A%2F%2Fh%2Fp%2Fx&vr=https%3A%2F%2Fh&pa=12345678901234567890&pc=XRP&ps=9&pk=O2onvM62pC1io6jQKm8Nc2UyFXcd4kOmOsBIoYtZ2ik"}'))
  assert.match(html, /data-trickle-download-name="">a\.zip</)
  assert.match(html, /data-bytes="2500000">2\.5 MB</)
  assert.match(html, /data-amount="12345678901234567890"/, 'no precision lost above 2^53')
  assert.match(html, /XRP\s12,345,678,901\.23456789/)
})

test('bad magnets are reported with their position and left as they were', async () => {
  const file = await process('::download{magnet="magnet:?xt=urn:btih:nothex"}\n\n::download\n\n[x](magnet:?dn=no-hash)\n\n:download{magnet="m"}\n')
  assert.deepEqual(file.messages.map((m) => `${m.ruleId}@${m.line}`), ['invalid-magnet@1', 'missing-magnet@3', 'invalid-magnet@5', 'leaf@7'])
  assert.ok(file.messages[0]!.reason.startsWith('Invalid magnet link: '))
  assert.ok(!String(file).includes('data-trickle-download'))
})
