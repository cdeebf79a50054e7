// Template tests: real Hugo builds of small fixture sites, checked in the generated HTML and RSS.
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import { hugoBuild, repoRoot } from '../scripts/hugo.ts'

interface Fixture { config: string, pages: Record<string, string> }

async function build (t: { after (fn: () => void): void }, fixture: Fixture) {
  const dir = mkdtempSync(path.join(tmpdir(), 'trickle-theme-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(path.join(dir, 'config.toml'), `baseURL = "https://blog.example/"
title = "Fixture"
themesDir = ${JSON.stringify(repoRoot)}
theme = "theme"
[markup.goldmark.renderer]
  unsafe = true
${fixture.config}`)
  for (const [name, body] of Object.entries(fixture.pages)) {
    const file = path.join(dir, 'content', name)
    mkdirSync(path.dirname(file), { recursive: true })
    writeFileSync(file, body)
  }
  const log = await hugoBuild({ source: dir, destination: path.join(dir, 'public') })
  const read = (p: string) => readFileSync(path.join(dir, 'public', p), 'utf8')
  return { log, read }
}

const page = (front: string, body = 'Text.') => `---\ntitle: "T"\ndate: 2026-01-01\n${front}\n---\n${body}\n`
const links = (html: string) => [...html.matchAll(/<link rel="monetization" href="([^"]*)">/g)].map((m) => m[1])
const metas = (html: string) => [...html.matchAll(/<meta name="monetization" content="([^"]*)">/g)].map((m) => m[1])

test('the site pointer goes on every page, the $ form converted; front matter overrides it', async (t) => {
  const { read } = await build(t, {
    config: '[params]\n  monetization = "$wallet.example/alice"',
    pages: {
      'posts/plain.md': page(''),
      'posts/bob.md': page('monetization: "$wallet.example/bob"'),
      'posts/url.md': page('monetization: "https://wallet.example/carol"'),
      'posts/bare.md': page('monetization: "$pay.example"'),
      'posts/off.md': page('monetization: false')
    }
  })
  assert.deepEqual(links(read('index.html')), ['https://wallet.example/alice'], 'home')
  assert.deepEqual(links(read('posts/index.html')), ['https://wallet.example/alice'], 'section list')
  assert.deepEqual(links(read('404.html')), ['https://wallet.example/alice'], '404')
  assert.deepEqual(links(read('posts/plain/index.html')), ['https://wallet.example/alice'])
  assert.deepEqual(metas(read('posts/plain/index.html')), ['$wallet.example/alice'], 'legacy meta keeps the pointer as written')
  assert.deepEqual(links(read('posts/bob/index.html')), ['https://wallet.example/bob'], 'front matter wins')
  assert.deepEqual(links(read('posts/url/index.html')), ['https://wallet.example/carol'])
  assert.deepEqual(links(read('posts/bare/index.html')), ['https://pay.example/.well-known/pay'], 'a bare host means /.well-known/pay')
  assert.deepEqual(links(read('posts/off/index.html')), [], 'monetization: false')
  assert.deepEqual(metas(read('posts/off/index.html')), [])

  const rss = read('index.xml')
  assert.match(rss, /<rss version="2.0" xmlns:atom="http:\/\/www.w3.org\/2005\/Atom">/)
  assert.ok(rss.includes('<atom:link rel="monetization" href="https://wallet.example/alice" />'), 'channel link')
  assert.ok(rss.includes('<atom:link rel="monetization" href="https://wallet.example/bob" />'), 'item links follow front matter')
})

test('no pointer, no tag; legacyMeta = false drops the meta tag; a bad pointer warns', async (t) => {
  const none = await build(t, { config: '', pages: { 'posts/a.md': page('') } })
  assert.deepEqual(links(none.read('posts/a/index.html')), [])
  assert.deepEqual(metas(none.read('posts/a/index.html')), [])
  assert.ok(!none.read('index.xml').includes('rel="monetization"'))

  const noMeta = await build(t, {
    config: '[params]\n  monetization = "https://wallet.example/alice"\n  [params.trickle]\n    legacyMeta = false',
    pages: { 'posts/a.md': page('monetization: "not a pointer"'), 'posts/b.md': page('') }
  })
  assert.deepEqual(metas(noMeta.read('posts/b/index.html')), [])
  assert.deepEqual(links(noMeta.read('posts/b/index.html')), ['https://wallet.example/alice'])
  assert.deepEqual(links(noMeta.read('posts/a/index.html')), [], 'an invalid pointer emits nothing')
  assert.match(noMeta.log, /"not a pointer" is not a payment pointer/)
})

test('exclusive sections: marker and shortcode share one markup; feeds and lists never carry them', async (t) => {
  const { read } = await build(t, {
    config: '[params]\n  monetization = "$wallet.example/alice"',
    pages: {
      'posts/marker.md': page('', 'Public intro.\n\n<div id=\'exclusive\'></div>\n\nSECRET-MARKER paragraph.\n\n## SECRET-HEADING'),
      'posts/short.md': page('', 'Before.\n\n{{< exclusive >}}\n**SECRET-SHORTCODE** block\n{{< /exclusive >}}\n\nAfter, public.\n\n{{< exclusive >}}\nSECRET-TWO\n{{< /exclusive >}}')
    }
  })
  const marker = read('posts/marker/index.html')
  assert.match(marker, /Public intro\./)
  assert.match(marker, /<section class="trickle-exclusive" data-trickle-exclusive="rest"/)
  assert.match(marker, /<div class="trickle-exclusive__content" data-trickle-content tabindex="-1" hidden>\s*<p>SECRET-MARKER paragraph\.<\/p>\s*<h2[^>]*>SECRET-HEADING<\/h2>/)
  assert.match(marker, /data-trickle-cta>/)
  assert.match(marker, /data-trickle-thanks hidden>/)

  const short = read('posts/short/index.html')
  assert.match(short, /data-trickle-exclusive="s0"[\s\S]*<strong>SECRET-SHORTCODE<\/strong> block[\s\S]*After, public\.[\s\S]*data-trickle-exclusive="s1"[\s\S]*SECRET-TWO/)

  for (const file of ['index.xml', 'posts/index.xml', 'index.html', 'posts/index.html']) {
    const text = read(file)
    assert.ok(!/SECRET-/.test(text), `${file} carries no exclusive text`)
  }
  assert.match(read('index.xml'), /Public intro\./)
  assert.match(read('index.xml'), /part for supporters/)
})

test('gallery: each image carries its creator pointer (names from params.creators), with a counter per creator', async (t) => {
  const { read, log } = await build(t, {
    config: '[params]\n  monetization = "$wallet.example/site"\n  [params.creators]\n    ana = "$wallet.example/ana"',
    pages: {
      'posts/g.md': page('', '{{< gallery >}}\n{{< figure-pay src="/a.svg" alt="A" pointer="ana" creator="Ana" >}}\n{{< figure-pay src="/b.svg" alt="B" pointer="https://wallet.example/ben" creator="Ben" >}}\n{{< figure-pay src="/c.svg" pointer="ana" creator="Ana" >}}\n{{< /gallery >}}')
    }
  })
  const html = read('posts/g/index.html')
  assert.deepEqual([...html.matchAll(/data-trickle-creator="([^"]+)"/g)].map((m) => m[1]),
    ['https://wallet.example/ana', 'https://wallet.example/ben', 'https://wallet.example/ana'])
  assert.deepEqual([...html.matchAll(/data-trickle-counter="([^"]+)"/g)].map((m) => m[1]),
    ['https://wallet.example/ana', 'https://wallet.example/ben'], 'one counter per creator')
  assert.match(log, /figure-pay "\/c.svg" has no alt text/)
})

test('assets are fingerprinted with integrity; the dev agent only in development builds', async (t) => {
  const { read } = await build(t, { config: '[params]\n  monetization = "$wallet.example/a"', pages: { 'posts/a.md': page('') } })
  const html = read('posts/a/index.html')
  assert.match(html, /<script src="\/js\/trickle\.[0-9a-f]{64,}\.js" integrity="sha384-[A-Za-z0-9+/=&#;]+" crossorigin="anonymous" defer><\/script>/)
  assert.match(html, /<link rel="stylesheet" href="\/css\/main\.min\.[0-9a-f]{64,}\.css" integrity="sha384-/)
  assert.ok(!html.includes('dev-agent'), 'no development agent in a production build')
})

test('one pointer table: the Hugo theme, rehype-trickle-monetization and trickle-core give every page the same href', async (t) => {
  const cases = ['$wallet.example/alice', '$wallet.example', '$wallet.example/', '$wallet.example/alice/', 'https://wallet.example/carol', 'http://localhost:3000/wallet/demo', ' $wallet.example/bob ', '$ spaced', 'wallet.example/alice']
  const { read } = await build(t, {
    config: '[params]\n  legacyMeta = false',
    pages: Object.fromEntries(cases.map((c, i) => [`posts/p${i}.md`, page(`monetization: ${JSON.stringify(c)}`)]))
  })
  const { pointerHref } = await import('../packages/trickle-core/src/pointers.ts')
  const { pointerToUrl } = await import('../plugins/rehype-trickle-monetization/lib/index.ts')
  for (const [i, c] of cases.entries()) {
    const hugo = links(read(`posts/p${i}/index.html`))[0]
    assert.equal(hugo, pointerHref(c), `Hugo and trickle-core on ${JSON.stringify(c)}`)
    assert.equal(pointerToUrl(c), pointerHref(c), `the rehype plugin on ${JSON.stringify(c)}`)
  }
  assert.equal(pointerHref('$wallet.example/'), 'https://wallet.example/.well-known/pay')
})
