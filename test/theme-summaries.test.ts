// Exclusive text stays in its section: real Hugo builds in which every built file (HTML, feeds,
// sitemaps, anything) is searched for runs of the exclusive words, decoded and normalised, so neither
// truncation nor escaping nor typography hides a leak. Also the build-time warning of an unsealed build
// and the texts of a bought section.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import { promisify } from 'node:util'
import { hugoBinary, hugoBuild, repoRoot } from '../scripts/hugo.ts'

const run = promisify(execFile)

interface Fixture { config?: string, pages: Record<string, string>, extraConfig?: string, env?: Record<string, string> }

async function build (t: { after (fn: () => void): void }, fixture: Fixture) {
  const dir = mkdtempSync(path.join(tmpdir(), 'trickle-summaries-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(path.join(dir, 'config.toml'), `baseURL = "https://blog.example/"
title = "Fixture"
themesDir = ${JSON.stringify(repoRoot)}
theme = "theme"
${fixture.config ?? ''}
[markup.goldmark.renderer]
  unsafe = true
`)
  for (const [name, body] of Object.entries(fixture.pages)) {
    const file = path.join(dir, 'content', name)
    mkdirSync(path.dirname(file), { recursive: true })
    writeFileSync(file, body)
  }
  const out = path.join(dir, 'public')
  let log: string
  if (fixture.env) {
    // hugoBuild runs with this process's environment; the environment form of a param needs its own.
    const { stdout, stderr } = await run(hugoBinary(), ['--source', dir, '--destination', out, '--environment', 'production', '--cleanDestinationDir'],
      { cwd: dir, env: { ...process.env, ...fixture.env } })
    log = stdout + stderr
  } else {
    const configs: string[] = []
    if (fixture.extraConfig) {
      writeFileSync(path.join(dir, 'extra.toml'), fixture.extraConfig)
      configs.push('extra.toml')
    }
    log = await hugoBuild({ source: dir, destination: out, configs })
  }
  return { dir, out, log, read: (p: string) => readFileSync(path.join(out, p), 'utf8') }
}

/** Every file under a folder, relative paths. */
function files (root: string, sub = ''): string[] {
  return readdirSync(path.join(root, sub), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(root, path.join(sub, e.name)) : [path.join(sub, e.name)])
}

const ENTITIES: Record<string, string> = {
  amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ', rsquo: '’', lsquo: '‘', rdquo: '”', ldquo: '“',
  ndash: '–', mdash: '—', hellip: '…', laquo: '«', raquo: '»', sbquo: '‚', bdquo: '„'
}

/** One round of decoding: HTML entities, JSON \u escapes, URL percent-encoding. */
function decodeOnce (s: string): string {
  s = s.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (m, e: string) => {
    if (e[0] === '#') return String.fromCodePoint(e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10))
    return ENTITIES[e.toLowerCase()] ?? m
  })
  s = s.replace(/\\u([0-9a-f]{4})/gi, (_m, h: string) => String.fromCharCode(parseInt(h, 16)))
  s = s.replace(/(?:%[0-9a-f]{2})+/gi, (m) => { try { return decodeURIComponent(m) } catch { return m } })
  return s
}

/** Words, decoded (twice: a doubly escaped leak is still a leak) and normalised: case, quotes, dashes. */
function words (text: string): string[] {
  const s = decodeOnce(decodeOnce(text)).toLowerCase().replace(/[‘’‚‛′`´]/g, "'").replace(/[‐‑‒–—―]/g, '-')
  return s.match(/[\p{L}\p{N}']+/gu) ?? []
}

const RUN = 5
const runs = (ws: string[]) => new Set(ws.slice(0, Math.max(0, ws.length - RUN + 1)).map((_w, i) => ws.slice(i, i + RUN).join(' ')))

/** A built file without the exclusive sections themselves (the only place their text may be); sections
 * end at their balancing </section>, since their content may hold sections of its own. */
function withoutSections (text: string): string {
  let out = ''
  let at = 0
  for (;;) {
    const start = text.indexOf('<section class="trickle-exclusive"', at)
    if (start < 0) return out + text.slice(at)
    out += text.slice(at, start)
    const tag = /<(\/?)section\b[^>]*>/g
    tag.lastIndex = start
    let depth = 0
    let m: RegExpExecArray | null
    while ((m = tag.exec(text))) {
      depth += m[1] ? -1 : 1
      if (depth === 0) break
    }
    at = m ? tag.lastIndex : text.length
  }
}

/** Files (and the first run found) outside the sections that carry a run of RUN words of `secret`, or
 * one of `phrases` whole (a short heading is a leak of its own: "The supporters' part …"). */
function leaks (out: string, secret: string[], phrases: string[][] = []): string[] {
  const wanted = runs(secret)
  const found: string[] = []
  for (const file of files(out)) {
    const ws = words(withoutSections(readFileSync(path.join(out, file), 'utf8')))
    const text = ` ${ws.join(' ')} `
    const hit = [...runs(ws)].find((r) => wanted.has(r)) ?? phrases.map((p) => p.join(' ')).find((p) => text.includes(` ${p} `))
    if (hit) found.push(`${file}: "${hit}"`)
  }
  return found
}

const attr = (html: string, re: RegExp) => { const m = re.exec(html); return m ? decodeOnce(m[1]!) : undefined }
const meta = (html: string, key: string) => attr(html, new RegExp(`<meta (?:name|property)="${key}" content="([^"]*)"`))

const INTRO = "A short public intro in the writer's own words."
const INTRO_TYPESET = 'A short public intro in the writer’s own words.'
const HEADING = 'What the hidden canary keeps for supporters'
const PARAGRAPH = "Behind the marker the canary's song goes on — sung only for readers who pay: it tells of " +
  'lanterns over the harbour, of a ferryman counting copper coins twice, of salt on the ropes and of a ' +
  'letter that never reached the island, and it keeps going long enough that a summary of one hundred ' +
  'and sixty characters would cut it somewhere in the middle of a sentence.'
const SHORT_HEADING = 'Shortcode canary secrets for paying readers only'
const SHORT_PARAGRAPH = "Inside the shortcode a second canary's verse is kept: orchards under frost, a tram that " +
  'rattles past the bakery at dawn, seven keys on a brass ring and a clock that runs a quarter hour ' +
  'slow, all of it long enough to be cut by any summary of a post.'
const page = (front: string, body: string) => `---\ntitle: "T"\ndate: 2026-01-01\n${front}\n---\n${body}\n`
const CANARY = {
  'posts/marker.md': page('tags: ["canary"]', `${INTRO}\n\n<div id="exclusive"></div>\n\n## ${HEADING}\n\n${PARAGRAPH}`),
  'posts/short.md': page('tags: ["canary"]', `${INTRO}\n\n{{< exclusive >}}\n## ${SHORT_HEADING}\n\n${SHORT_PARAGRAPH}\n{{< /exclusive >}}`),
  'posts/described.md': page('description: "The author\'s own description: kept as written."', `${INTRO}\n\n<div id="exclusive"></div>\n\n${PARAGRAPH}`),
  'posts/open.md': page('', "An open post, all public: nothing in it is for supporters only, and it's summarised as usual.")
}

test('canary: no run of exclusive words outside the section, in any built file (marker and shortcode)', async (t) => {
  const { out, read } = await build(t, { config: '[params]\n  description = "Site description."', pages: CANARY })
  assert.deepEqual(leaks(out, words(`${HEADING} ${PARAGRAPH}`)), [], 'the marker post leaks nowhere')
  assert.deepEqual(leaks(out, words(`${SHORT_HEADING} ${SHORT_PARAGRAPH}`)), [], 'the shortcode post leaks nowhere')
  // The search itself works: the sections are in their pages (unsealed build).
  assert.ok(words(read('posts/marker/index.html')).join(' ').includes(words(PARAGRAPH).join(' ')))
  assert.ok(words(read('posts/short/index.html')).join(' ').includes(words(SHORT_PARAGRAPH).join(' ')))
})

test('descriptions are the public part, plain text escaped once; og and twitter tags say the same', async (t) => {
  const { read } = await build(t, { config: '[params]\n  description = "Site description."', pages: CANARY })
  for (const p of ['posts/marker/index.html', 'posts/short/index.html']) {
    const html = read(p)
    assert.equal(meta(html, 'description'), INTRO_TYPESET, `${p}: the public intro, typographic apostrophe, nothing after it`)
    assert.ok(!/content="[^"]*&amp;[a-z]+;/.test(html), `${p}: no entity is escaped twice`)
    assert.equal(meta(html, 'og:description'), INTRO_TYPESET, `${p}: og:description`)
    assert.equal(meta(html, 'twitter:description'), INTRO_TYPESET, `${p}: twitter:description`)
    assert.equal(meta(html, 'og:type'), 'article')
  }
  const described = read('posts/described/index.html')
  assert.equal(meta(described, 'description'), "The author's own description: kept as written.", 'front matter description stays')
  assert.equal(meta(described, 'og:description'), "The author's own description: kept as written.")
  assert.equal(meta(read('posts/open/index.html'), 'description'), "An open post, all public: nothing in it is for supporters only, and it’s summarised as usual.",
    'a post without exclusive parts keeps its summary')
  assert.equal(meta(read('index.html'), 'description'), 'Site description.')
  assert.equal(meta(read('index.html'), 'og:type'), 'website')

  // List cards: the public part and the note, escaped once.
  const home = read('index.html')
  const card = /<li class="card">[\s\S]*?href="\/posts\/marker\/"[\s\S]*?<p>([^<]*)<\/p>\s*<\/li>/.exec(home)
  assert.ok(card, 'the marker post has a card')
  assert.ok(decodeOnce(card[1]!).startsWith(INTRO_TYPESET), `card text: ${card[1]}`)
  assert.ok(!home.includes('&amp;rsquo;'), 'no doubly escaped entity on the home page')
})

test('the example site: the exclusive text of its built sections appears nowhere else', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'trickle-summaries-example-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  await hugoBuild({ source: `${repoRoot}site-example`, destination: dir })
  const sections: string[] = []
  for (const file of files(dir).filter((f) => f.endsWith('.html'))) {
    const html = readFileSync(path.join(dir, file), 'utf8')
    for (const m of html.matchAll(/<div class="trickle-exclusive__content"[^>]*>([\s\S]*?)<\/div>\s*<p class="trickle-exclusive__thanks"/g)) sections.push(m[1]!)
  }
  assert.ok(sections.length >= 2, 'the example site has exclusive sections')
  for (const s of sections) {
    const headings = [...s.matchAll(/<h[1-6][^>]*>([\s\S]*?)<\/h[1-6]>/g)].map((m) => words(m[1]!.replace(/<[^>]*>/g, ' '))).filter((h) => h.length >= 3)
    assert.deepEqual(leaks(dir, words(s.replace(/<[^>]*>/g, ' ')), headings), [], s.slice(0, 80))
  }
  const marker = readFileSync(path.join(dir, 'posts/exclusive-marker/index.html'), 'utf8')
  assert.ok(!/supporters/i.test(meta(marker, 'description') ?? 'supporters'), 'posts/exclusive-marker: description without the supporters\' part')
})

const WARNING = /exclusive sections are in the built HTML as plain text/g
const count = (log: string) => (log.match(WARNING) ?? []).length
const many = Object.fromEntries(Array.from({ length: 12 }, (_v, i) => [`posts/p${i}.md`, page('', `Intro.\n\n<div id="exclusive"></div>\n\nSecret ${i}.\n\n{{< exclusive >}}\nMore ${i}.\n{{< /exclusive >}}`)]))

test('an unsealed build warns once; a build that says it will be sealed does not', async (t) => {
  // Twelve posts: more than one paginator page (ten a page by default) on the home and section lists.
  const plain = await build(t, { pages: many })
  assert.equal(count(plain.log), 1, `one warning per build:\n${plain.log}`)
  assert.match(plain.log, /WARN/)

  const none = await build(t, { pages: { 'posts/a.md': page('', 'No exclusive part.') } })
  assert.equal(count(none.log), 0, 'no exclusive section, no warning')

  const file = await build(t, { pages: many, extraConfig: '[params.trickle]\n  sealed = true\n' })
  assert.equal(count(file.log), 0, `sealed through an extra config file:\n${file.log}`)

  const env = await build(t, { pages: many, env: { HUGO_PARAMS_TRICKLE_SEALED: 'true' } })
  assert.equal(count(env.log), 0, `sealed through the environment:\n${env.log}`)

  const envFalse = await build(t, { pages: many, env: { HUGO_PARAMS_TRICKLE_SEALED: 'false' } })
  assert.equal(count(envFalse.log), 1, 'the environment\'s "false" is false')
})

function i18n (lang: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const m of readFileSync(path.join(repoRoot, 'theme/i18n', `${lang}.toml`), 'utf8').matchAll(/^(\w+)\s*=\s*"((?:[^"\\]|\\.)*)"/gm)) out[m[1]!] = JSON.parse(`"${m[2]}"`)
  return out
}

test('a bought section says it is the reader\'s, in both languages; every string in both', async (t) => {
  const en = i18n('en')
  const de = i18n('de')
  assert.deepEqual(Object.keys(de).sort(), Object.keys(en).sort(), 'the same strings in English and German')
  for (const [k, v] of [...Object.entries(en), ...Object.entries(de)]) assert.ok(v.trim(), `${k} is not empty`)
  assert.ok(en.sealedBought && de.sealedBought)
  assert.doesNotMatch(en.sealedBought, /while you stream/)
  assert.notEqual(en.sealedBought, en.exclusiveThanks)
  assert.notEqual(de.sealedBought, de.exclusiveThanks)

  const config = (html: string) => JSON.parse(/<script type="application\/json" id="trickle-config">([\s\S]*?)<\/script>/.exec(html)![1]!) as { i18n: { sealed: { bought: string } } }
  const english = await build(t, { pages: { 'posts/a.md': page('', 'A.') } })
  assert.equal(config(english.read('posts/a/index.html')).i18n.sealed.bought, en.sealedBought, 'the reader script gets it')
  const german = await build(t, { config: 'defaultContentLanguage = "de"\nlanguageCode = "de"', pages: { 'posts/a.md': page('', 'A.') } })
  assert.equal(config(german.read('posts/a/index.html')).i18n.sealed.bought, de.sealedBought)
})
