import assert from 'node:assert/strict'
import { fileURLToPath } from 'node:url'
import { test } from 'node:test'
import rehypeStringify from 'rehype-stringify'
import remarkDirective from 'remark-directive'
import remarkParse from 'remark-parse'
import remarkRehype from 'remark-rehype'
import { unified } from 'unified'
import remarkTrickleCall, { type Options } from '../index.ts'
import { fixtureTests } from '../../../test/support/fixtures.ts'

const process = (md: string, options?: Options) => unified().use(remarkParse).use(remarkDirective)
  .use(remarkTrickleCall, options).use(remarkRehype).use(rehypeStringify).process(md)

test('exposes one default export', async () => {
  assert.deepEqual(Object.keys(await import('../index.ts')), ['default'])
})

fixtureTests(fileURLToPath(new URL('./fixtures', import.meta.url)), 'input.md', 'output.html', async (md) =>
  String(await process(md, { companion: 'https://pay.example.com' })))

test('the block names the room and the companion, nothing of who is in it or where its signalling is', async () => {
  const html = String(await process('::call{room="office-hours"}', { companion: 'https://pay.example.com', labels: { join: 'Bezahlen und teilnehmen' } }))
  assert.match(html, /data-room="office-hours" data-companion="https:\/\/pay\.example\.com"/)
  assert.match(html, /Bezahlen und teilnehmen/)
  assert.doesNotMatch(html, /signal|ticket/)
})

test('bad blocks are reported with their position and left as they were', async () => {
  const file = await process('::call\n\n::call{room="Bad Room"}\n\n:call{room="x"}\n\n::call{room="ok"}\n')
  assert.deepEqual(file.messages.map((m) => `${m.ruleId}@${m.line}`), ['invalid-room@1', 'invalid-room@3', 'leaf@5', 'missing-companion@7'])
  assert.ok(!String(file).includes('data-trickle-call'))
})
