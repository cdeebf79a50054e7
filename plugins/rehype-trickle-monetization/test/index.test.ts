import assert from 'node:assert/strict'
import { test } from 'node:test'
import rehypeParse from 'rehype-parse'
import rehypeStringify from 'rehype-stringify'
import { unified } from 'unified'
import { VFile } from 'vfile'
import rehypeTrickleMonetization, { type Options } from '../index.ts'

const doc = '<!doctype html><html><head><title>t</title></head><body><p>x</p></body></html>'
const run = async (options: Options, html = doc, matter?: Record<string, unknown>, fragment = false) => {
  const file = new VFile({ value: html, data: matter ? { matter } : {} })
  const out = await unified().use(rehypeParse, { fragment }).use(rehypeTrickleMonetization, options).use(rehypeStringify).process(file)
  return { html: String(out), file: out }
}
const head = (html: string) => html.slice(html.indexOf('<head>'), html.indexOf('</head>'))

test('exposes one default export', async () => {
  assert.deepEqual(Object.keys(await import('../index.ts')), ['default'])
})

test('the $ form becomes an https link; the meta keeps the pointer as written', async () => {
  const { html, file } = await run({ pointer: '$wallet.example/alice' })
  assert.equal(head(html), '<head><title>t</title><link rel="monetization" href="https://wallet.example/alice"><meta name="monetization" content="$wallet.example/alice">')
  assert.equal(file.data.monetization, 'https://wallet.example/alice')
  assert.match(head((await run({ pointer: '$pay.example' })).html), /href="https:\/\/pay\.example\/\.well-known\/pay"/)
  assert.match(head((await run({ pointer: 'https://wallet.example/bob', legacyMeta: false })).html), /^<head><title>t<\/title><link rel="monetization" href="https:\/\/wallet\.example\/bob">$/)
})

test('front matter overrides the site pointer, and false removes the tags', async () => {
  assert.match((await run({ pointer: '$a.example/x' }, doc, { monetization: '$b.example/y' })).html, /href="https:\/\/b\.example\/y"/)
  assert.ok(!(await run({ pointer: '$a.example/x' }, doc, { monetization: false })).html.includes('monetization'))
  assert.ok(!(await run({})).html.includes('monetization'), 'no pointer, no tag')
})

test('an existing monetization tag is replaced, not doubled', async () => {
  const { html } = await run({ pointer: '$a.example/x' }, '<html><head><link rel="monetization" href="https://old.example"><meta name="monetization" content="$old.example"></head><body></body></html>')
  assert.equal((html.match(/monetization/g) ?? []).length, 2)
  assert.ok(!html.includes('old.example'))
})

test('diagnostics: a bad pointer, a fragment without <head>', async () => {
  const bad = await run({ pointer: 'wallet.example/alice' })
  assert.deepEqual(bad.file.messages.map((m) => m.ruleId), ['invalid-pointer'])
  assert.ok(!bad.html.includes('rel="monetization"'))
  const fragment = await run({ pointer: '$a.example/x' }, '<p>no head</p>', undefined, true)
  assert.deepEqual(fragment.file.messages.map((m) => m.ruleId), ['no-head'])
})
