// The sealing step's checks, tried on the leaks that got past the first round's: a summary cut at 160
// characters, text escaped for HTML twice, for JSON or for a URL, curly quotes and dashes, a re-run
// after a failure, a re-run over a sealed tree, and markers a generator never converted.
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { test, type TestContext } from 'node:test'
import { MANIFEST, PlaintextLeakError, sealSite, UnconvertedMarkerError, UnsupportedGeneratorError } from '../plugins/rehype-trickle-seal/lib/site.ts'
import { sealKeyFrom } from '../packages/trickle-core/src/seal.ts'
import { siteSeal } from '../server/test/seal-helper.ts'

const RECEIVER = '9bf70fe0534e85c1d51a76c44a013a89'
const companion = 'http://x.test'
const seal = { ...siteSeal(sealKeyFrom(Buffer.alloc(32, 5))), companion, checkPrices: false }
const INTRO = 'Everyone can read this short introduction.'
const HEADING = 'The supporters’ part'
const PARAGRAPH = 'Thank you for streaming — this long paragraph is only for readers who pay, and it goes on about the canary that must never sing in a feed, a description or a search index.'

function site (t: TestContext, files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'trickle-leaks-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  for (const [name, body] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true })
    writeFileSync(path.join(dir, name), body)
  }
  return dir
}

/** A built page with the canary: public intro, then the section (heading and long paragraph); `head` adds to <head>. */
const page = (head = '') => `<!doctype html><html><head><link rel="monetization" href="${companion}/p/${RECEIVER}">${head}</head><body><article><p>${INTRO}</p>` +
  '<section data-trickle-exclusive="rest" data-trickle-price-amount="10" data-trickle-price-code="USD" data-trickle-price-scale="2"><div data-trickle-cta>Pay</div>' +
  `<div data-trickle-content hidden><h2>${HEADING}</h2><p>${PARAGRAPH}</p></div></section></article></body></html>`

/** What Hugo's `.Summary | plainify | truncate 160` made of it, escaped as an attribute. */
const summary = `${INTRO} ${HEADING} ${PARAGRAPH}`.slice(0, 157) + '…'
const attr = (s: string) => s.replace(/&/g, '&amp;').replace(/’/g, '&amp;rsquo;').replace(/"/g, '&quot;')

const leakOf = async (dir: string) => {
  try {
    await sealSite(dir, seal)
    return undefined
  } catch (err) {
    if (err instanceof PlaintextLeakError) return err
    throw err
  }
}

test('a description cut at 160 characters, escaped twice, is a leak; so are JSON, URL-encoded and retyped copies', async (t) => {
  const cases: Record<string, Record<string, string>> = {
    'meta description (double-escaped)': { 'posts/a/index.html': page(`<meta name="description" content="${attr(summary)}">`) },
    'og:description': { 'posts/a/index.html': page(`<meta property="og:description" content="${attr(summary)}">`) },
    'only the heading after the intro': { 'posts/a/index.html': page(`<meta name="description" content="${INTRO} The supporters&amp;rsquo; part …">`) },
    'JSON search index': { 'posts/a/index.html': page(), 'index.json': JSON.stringify([{ content: PARAGRAPH.slice(0, 60).replace(/’/g, '\u2019') }]).replace(/—/g, '\\u2014') },
    'URL-encoded share link': { 'posts/a/index.html': page(), 'share.html': `<a href="https://social.example/share?text=${encodeURIComponent(PARAGRAPH.slice(20, 90))}">share</a>` },
    'typography changed': { 'posts/a/index.html': page(), 'feed.xml': `<description>${PARAGRAPH.slice(0, 80).replace('—', '-').toUpperCase()}</description>` }
  }
  for (const [name, files] of Object.entries(cases)) {
    const dir = site(t, files)
    const leak = await leakOf(dir)
    assert.ok(leak, `${name}: caught`)
    assert.match(leak.message, /text of section "rest" of \/posts\/a\/ \("[a-z' ]+"\)/, name)
    assert.match(readFileSync(path.join(dir, 'posts/a/index.html'), 'utf8'), /long paragraph/, `${name}: nothing was written`)
  }
  // The public part and the theme's own notes are no leak.
  const clean = site(t, { 'posts/a/index.html': page(`<meta name="description" content="${INTRO}">`), 'feed.xml': `<description>${INTRO} This post has a part for supporters.</description>` })
  assert.equal(await leakOf(clean), undefined)
})

test('sealing is safe to re-run: a failed run writes nothing and fails again; a sealed tree is checked again from its manifest', async (t) => {
  const dir = site(t, { 'posts/a/index.html': page(), 'feed.xml': `<item>${PARAGRAPH.slice(0, 70)}</item>` })
  for (let i = 0; i < 2; i++) {
    const leak = await leakOf(dir)
    assert.ok(leak && leak.leaks[0]!.file === 'feed.xml', `run ${i + 1} names feed.xml`)
  }
  assert.equal(existsSync(path.join(dir, MANIFEST)), false)
  writeFileSync(path.join(dir, 'feed.xml'), `<item>${INTRO}</item>`)
  const first = await sealSite(dir, seal)
  assert.equal(first.sections.length, 1)
  const manifest = readFileSync(path.join(dir, MANIFEST), 'utf8')
  assert.ok(!manifest.includes('canary') && !manifest.includes('paragraph'), 'the manifest holds no text')
  // Something added later (a search index built from the unsealed content) is caught on the next run.
  writeFileSync(path.join(dir, 'search.json'), JSON.stringify({ text: PARAGRAPH.slice(30, 120) }))
  const again = await leakOf(dir)
  assert.ok(again, 'the manifest finds it although the section is sealed now')
  assert.equal(again.leaks[0]!.file, 'search.json')
  rmSync(path.join(dir, 'search.json'))
  const rerun = await sealSite(dir, seal)
  assert.equal(rerun.alreadySealed, 1)
  // A sealed tree without its manifest cannot be vouched for.
  rmSync(path.join(dir, MANIFEST))
  await assert.rejects(sealSite(dir, seal), /sealed already .* has no trickle-seal-manifest\.json/)
})

test('markers that reached the output unconverted fail the run (Eleventy\'s markdown-it, MDX), escaped ones in docs do not', async (t) => {
  for (const [name, html] of [
    ['one-line marker passed through', `<p>Intro</p>\n<div id="exclusive"></div>\n<p>${PARAGRAPH}</p>`],
    ['directive left as text', `<p>Intro</p>\n<p>:::exclusive\n${PARAGRAPH}\n:::</p>`],
    ['marker as JSX output (MDX)', `<p>Intro</p><div id="exclusive"></div><p>${PARAGRAPH}</p>`]
  ] as const) {
    const dir = site(t, { 'posts/a/index.html': `<html><body>${html}</body></html>` })
    await assert.rejects(sealSite(dir, seal), (err: Error) => err instanceof UnconvertedMarkerError && err.files[0]!.file === 'posts/a/index.html', name)
  }
  const docs = site(t, { 'docs/index.html': '<html><head><meta name="description" content="The marker <div id=&quot;exclusive&quot;></div> and {{< exclusive >}}"></head><body><pre><code>&lt;div id="exclusive"&gt;&lt;/div&gt;\n:::exclusive</code></pre><p>Cards quote {{&lt; exclusive &gt;}} in plain text.</p></body></html>' })
  assert.equal((await sealSite(docs, seal)).sections.length, 0)
})

test('output that hydrates from JavaScript bundles (Docusaurus, Next.js) is named as such and not sealed', async (t) => {
  for (const [generator, head, body] of [
    ['Docusaurus', '<meta name="generator" content="Docusaurus v3.8.1">', '<div id="__docusaurus">'],
    ['Next.js', '<script src="/_next/static/chunks/main.js"></script>', '<div id="__next">']
  ] as const) {
    const dir = site(t, { 'posts/a/index.html': page(head).replace('<body>', `<body>${body}`) + '</div>' })
    const before = readFileSync(path.join(dir, 'posts/a/index.html'), 'utf8')
    await assert.rejects(sealSite(dir, seal), (err: Error) => err instanceof UnsupportedGeneratorError && err.generator === generator && /cannot be sealed\. Nothing was written/.test(err.message), generator)
    assert.equal(readFileSync(path.join(dir, 'posts/a/index.html'), 'utf8'), before)
  }
  // A plain page that merely mentions Next.js is sealed as usual.
  const plain = site(t, { 'posts/a/index.html': page('<meta name="description" content="Comparing Hugo and Next.js">') })
  assert.equal((await sealSite(plain, seal)).sections.length, 1)
})
