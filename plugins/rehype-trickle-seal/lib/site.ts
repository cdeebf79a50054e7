// Seals a whole built site (Hugo's public/ or any generator's output): every HTML file goes through
// rehype-trickle-seal in memory, then every file of the output, of any type, is searched for the
// exclusive text, and only when nothing is found is anything written. So a failed run leaves the
// tree as it was (a second run finds the same leak again), and a passing run writes the sealed pages
// and a manifest that lets any later run over the sealed tree check it again.
//
// The leak check cannot be fooled by truncation, escaping or typography: it looks for any run of
// LEAK_WORDS consecutive words of an exclusive section, after decoding what a file may encode text
// with (HTML entities, JSON and JavaScript escapes, URL encoding) and normalising case, quotes, dashes
// and whitespace on both sides. A meta description cut at 160 characters, an RSS item escaped twice,
// a search index in JSON: each still holds whole runs of words. It also fails on exclusive markup that
// reached the output unconverted (the generator never ran Trickle's plugin: the text after it is
// public), and on a site with such markers but no section to seal.
//
// The manifest (trickle-seal-manifest.json at the root) holds no text: each run of words as
// HMAC-SHA256(site key, run), cut to 12 bytes, which only the holder of the site's key can test.
import { createHmac } from 'node:crypto'
import { readdir, readFile, rename, writeFile } from 'node:fs/promises'
import path from 'node:path'
import rehypeParse from 'rehype-parse'
import rehypeStringify from 'rehype-stringify'
import type { Element, Root, Text } from 'hast'
import { unified } from 'unified'
import { EXIT, SKIP, visit } from 'unist-util-visit'
import { VFile } from 'vfile'
import type { SectionPrice } from 'trickle-core/seal'
import rehypeTrickleSeal, { type SealedSection } from './index.ts'

/** Words in a run the leak check looks for: short enough to catch a cut summary, long enough not to match by chance. */
export const LEAK_WORDS = 6
export const MANIFEST = 'trickle-seal-manifest.json'

export interface SealSiteOptions {
  /** The site's seal key (POST /sealed/sites on the companion; server/src/sealed/crypto.ts siteSealKey) */
  sealKey: Uint8Array
  /** The site's base URL, which its key is bound to */
  site: string
  companion: string
  defaultPrice?: SectionPrice
  /** Proxy id or proxy pointer every section is paid to, instead of each page's monetization pointer */
  receiver?: string
  /** Called once per sealed page (progress for long builds) */
  onPage?: (page: string, sections: number) => void
  /**
   * Ask the companion (GET /sealed/price) whether it can charge each distinct receiver and price
   * before anything is written (default true), so a price it cannot convert, or a receiver it does not
   * sell for, fails the build instead of every reader's purchase. false seals offline, unchecked.
   */
  checkPrices?: boolean
}

export interface SealReport {
  pages: number
  sections: SealedSection[]
  files: number
  /** Sections a manifest of an earlier run listed (the tree was sealed already); checked again */
  alreadySealed: number
}

export interface Leak {
  file: string
  page: string
  id: string
  /** The run of words found (normalised); absent when found through the manifest */
  words?: string
}

export class PlaintextLeakError extends Error {
  readonly leaks: Leak[]
  constructor (leaks: Leak[]) {
    const shown = leaks.slice(0, 20).map((l) => `  ${l.file}: text of section "${l.id}" of ${l.page}${l.words ? ` ("${l.words}")` : ''}`)
    super(`exclusive text found outside its sealed section; nothing was written:\n${shown.join('\n')}${leaks.length > 20 ? `\n  … and ${leaks.length - 20} more` : ''}\n` +
      'Keep exclusive parts out of summaries, descriptions, feeds and indexes (the Trickle theme takes them from the public part).')
    this.name = 'PlaintextLeakError'
    this.leaks = leaks
  }
}

/**
 * Output that a JavaScript bundle renders again when the page hydrates (Docusaurus, Next.js): the
 * content is in the bundle as well as in the HTML, so sealing the HTML would hide nothing.
 */
export class UnsupportedGeneratorError extends Error {
  readonly generator: string
  constructor (generator: string, file: string) {
    super(`${file} is ${generator} output, whose pages are rendered again from JavaScript bundles when they hydrate: the exclusive text is in the bundles too, so it cannot be sealed. Nothing was written. Use a generator that writes plain HTML (Hugo with the Trickle theme, Astro, Eleventy, a unified pipeline).`)
    this.name = 'UnsupportedGeneratorError'
    this.generator = generator
  }
}

/** The generator of a page that hydrates from bundles, by its markers, or undefined. */
export function hydratingGenerator (html: string): string | undefined {
  if (/<div id="__docusaurus"|name="generator" content="Docusaurus/i.test(html)) return 'Docusaurus'
  if (/<div id="__next"|\/_next\/static\/|self\.__next_f/.test(html)) return 'Next.js'
  if (/<div id="___gatsby"/.test(html)) return 'Gatsby'
  return undefined
}

export class UnchargeablePriceError extends Error {
  readonly problems: Array<{ page: string, id: string, code: string, message: string }>
  constructor (problems: Array<{ page: string, id: string, code: string, message: string }>) {
    super(`the companion cannot charge these sections' prices; nothing was written:\n${problems.slice(0, 20).map((p) => `  section "${p.id}" of ${p.page}: ${p.message} (${p.code})`).join('\n')}\n` +
      'Register the page\'s wallet address at the companion (POST /proxies), price it in the wallet\'s currency, or set a rate (TRICKLE_RATES).')
    this.name = 'UnchargeablePriceError'
    this.problems = problems
  }
}

/**
 * Quotes one token per distinct receiver and price at the companion: what it refuses there it would
 * refuse to every reader. Throws UnchargeablePriceError, or an Error when the companion cannot be asked.
 */
async function checkPricesAt (companion: string, sections: SealedSection[]): Promise<void> {
  const distinct = new Map<string, SealedSection[]>()
  for (const s of sections) {
    const key = `${s.receiver} ${s.price.amount} ${s.price.assetCode} ${s.price.assetScale}`
    distinct.set(key, [...(distinct.get(key) ?? []), s])
  }
  const problems: Array<{ page: string, id: string, code: string, message: string }> = []
  for (const group of distinct.values()) {
    const url = `${companion.replace(/\/+$/, '')}/sealed/price?token=${encodeURIComponent(group[0]!.token)}`
    let res: Response
    try {
      res = await fetch(url, { signal: AbortSignal.timeout(10_000) })
    } catch (err) {
      throw new Error(`could not ask the companion ${companion} whether it can charge the sealed sections' prices (${(err as Error).message}); start it, or seal without the check (--offline)`)
    }
    if (res.ok) continue
    const body = await res.json().catch(() => ({})) as { code?: string, message?: string }
    if (res.status >= 500) throw new Error(`the companion ${companion} answered HTTP ${res.status} to a price query: ${body.message ?? ''}`)
    for (const s of group) problems.push({ page: s.page, id: s.id, code: body.code ?? String(res.status), message: body.message ?? `HTTP ${res.status}` })
  }
  if (problems.length > 0) throw new UnchargeablePriceError(problems)
}

export class UnconvertedMarkerError extends Error {
  readonly files: Array<{ file: string, marker: string }>
  constructor (files: Array<{ file: string, marker: string }>) {
    super(`exclusive markers reached the output unconverted, so the text after them is public; nothing was written:\n${files.slice(0, 20).map((f) => `  ${f.file}: ${f.marker}`).join('\n')}\n` +
      'The generator did not run Trickle\'s markup step: use the Trickle Hugo theme, or remark-trickle-exclusive in the Markdown pipeline (Eleventy: swap markdown-it for unified; MDX: see the plugin\'s readme).')
    this.name = 'UnconvertedMarkerError'
    this.files = files
  }
}

async function listFiles (dir: string): Promise<string[]> {
  const out: string[] = []
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name)
    if (entry.isDirectory()) out.push(...await listFiles(full))
    else if (entry.isFile()) out.push(full)
  }
  return out
}

const NAMED: Record<string, string> = {
  amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ', rsquo: "'", lsquo: "'", ldquo: '"', rdquo: '"',
  sbquo: "'", bdquo: '"', laquo: '"', raquo: '"', hellip: '...', ndash: '-', mdash: '-', shy: '', zwj: '', zwnj: ''
}

/** Undoes HTML entities (repeatedly: text escaped twice is still text). */
function decodeEntities (s: string): string {
  let out = s
  for (let i = 0; i < 3 && /&(#\d+|#x[0-9a-f]+|[a-z]+);/i.test(out); i++) {
    out = out.replace(/&(#\d+|#x[0-9a-f]+|[a-z]+);/gi, (m, e: string) => {
      if (e[0] === '#') {
        const code = e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10)
        return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : ' '
      }
      return NAMED[e.toLowerCase()] ?? m
    })
  }
  return out
}

/** Undoes JSON and JavaScript string escapes and URL encoding, where a file may hold text so. */
function decodeEscapes (s: string): string {
  let out = s
    .replace(/\\u([0-9a-fA-F]{4})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)))
    .replace(/\\x([0-9a-fA-F]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)))
    .replace(/\\[nrt]/g, ' ')
    .replace(/\\(["'\\/])/g, '$1')
  if (/%[0-9a-fA-F]{2}/.test(out)) {
    out = out.replace(/(%[0-9a-fA-F]{2})+/g, (m) => { try { return decodeURIComponent(m) } catch { return ' ' } }).replace(/\+/g, ' ')
  }
  return out
}

/** Text as words: markup, case, quotes, dashes, punctuation and whitespace do not count. */
export function words (raw: string): string[] {
  const decoded = decodeEntities(decodeEscapes(decodeEntities(raw)))
  // The text between tags, and apart from it the values of attributes (a meta description, an
  // og:description, an alt or title is text too, inside a tag).
  const attributes: string[] = []
  const between = decoded.replace(/<[^>]*>/g, (tag) => {
    for (const m of tag.matchAll(/=\s*(?:"([^"]*)"|'([^']*)')/g)) attributes.push(m[1] ?? m[2] ?? '')
    return ' '
  })
  const text = `${between} ${attributes.join(' ')}`
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[\u2018\u2019\u201a\u201b\u2032\u00b4`]/g, "'")
    .replace(/[\u201c\u201d\u201e\u201f\u2033\u00ab\u00bb]/g, '"')
    .replace(/[\u2010-\u2015\u2212]/g, '-')
  return text.split(/[^\p{L}\p{N}']+/u).map((w) => w.replace(/^'+|'+$/g, '')).filter((w) => w.length > 0)
}

/** Every run of LEAK_WORDS consecutive words (a section shorter than that: all of it, if long enough to mean something). */
function runs (ws: string[]): string[] {
  if (ws.length < LEAK_WORDS) return ws.join(' ').length >= 12 ? [ws.join(' ')] : []
  const out: string[] = []
  for (let i = 0; i + LEAK_WORDS <= ws.length; i++) out.push(ws.slice(i, i + LEAK_WORDS).join(' '))
  return out
}

const runHash = (key: Uint8Array, run: string) => createHmac('sha256', key).update(run).digest('base64url').slice(0, 16)

/**
 * Markup that should have become a section but reached the output as it was written: the marker as a
 * real element (markdown-it and MDX pass it through), or a directive or shortcode as text outside
 * code (documentation that shows them in code is fine), read from the parsed page so that attribute
 * values and code never count.
 */
function unconvertedIn (html: string): string | undefined {
  if (!/exclusive/i.test(html)) return undefined
  const tree = unified().use(rehypeParse).parse(html) as Root
  let found: string | undefined
  visit(tree, (node) => {
    if (found) return EXIT
    if (node.type === 'element') {
      const el = node as Element
      if (el.tagName === 'code' || el.tagName === 'pre' || el.tagName === 'script' || el.tagName === 'style') return SKIP
      if (el.tagName === 'div' && el.properties.id === 'exclusive' && el.properties.dataTrickleExclusive === undefined) found = '<div id="exclusive"> (the one-line marker)'
    } else if (node.type === 'text') {
      const text = (node as Text).value
      // (A shortcode left as text is not looked for: Hugo either runs it or fails, and list pages
      // quote its syntax in plain-text excerpts of posts that document it.)
      if (/(^|\n)\s*:::\s*exclusive\b/i.test(text)) found = ':::exclusive (a directive left as text)'
    }
    return undefined
  })
  return found
}

/** Files whose bytes are not text (images, fonts, archives): a NUL byte in the first 8 KB says so. */
const isBinary = (buf: Buffer) => buf.subarray(0, 8192).includes(0)

interface Manifest { v: 1, site: string, sections: Array<{ page: string, id: string, runs: string[] }> }

export async function sealSite (root: string, opts: SealSiteOptions): Promise<SealReport> {
  const all = (await listFiles(root)).filter((f) => path.basename(f) !== MANIFEST)
  const processor = unified().use(rehypeParse).use(rehypeTrickleSeal, { sealKey: opts.sealKey, site: opts.site, companion: opts.companion, defaultPrice: opts.defaultPrice ?? null, receiver: opts.receiver ?? null }).use(rehypeStringify)

  // An earlier run's manifest: the tree may be sealed already; its sections are checked again.
  let previous: Manifest | undefined
  try {
    previous = JSON.parse(await readFile(path.join(root, MANIFEST), 'utf8')) as Manifest
    if (previous.v !== 1 || !Array.isArray(previous.sections)) previous = undefined
  } catch { previous = undefined }

  // 1. Seal in memory.
  const output = new Map<string, string>()
  const sections: SealedSection[] = []
  let pages = 0
  const unconverted: Array<{ file: string, marker: string }> = []
  let sealedBefore = 0
  for (const file of all.filter((f) => /\.html?$/i.test(f))) {
    const source = await readFile(file, 'utf8')
    const generator = hydratingGenerator(source)
    if (generator && /exclusive/i.test(source)) throw new UnsupportedGeneratorError(generator, path.relative(root, file))
    if (source.includes('data-trickle-sealed')) sealedBefore++
    if (!source.includes('data-trickle-exclusive')) continue
    const vfile = new VFile({ path: file, cwd: root, value: source })
    const result = await processor.process(vfile)
    const found = result.data.sealedSections ?? []
    if (found.length === 0) continue
    output.set(file, String(result))
    sections.push(...found)
    pages++
    opts.onPage?.(found[0]!.page, found.length)
  }
  if (sections.length === 0 && sealedBefore > 0 && !previous) {
    throw new Error(`${root} was sealed already (${sealedBefore} page(s) hold sealed sections) but has no ${MANIFEST}: its leaks cannot be checked again. Build the site afresh and seal that.`)
  }

  // 2. Check every file as it would be written.
  const fresh = new Map<string, SealedSection>()
  const runsOf = new Map<SealedSection, string[]>()
  for (const s of sections) {
    const inside = words(s.text)
    const rs = runs(inside)
    // Runs across the section's start: the public words before it, then its first words (a summary
    // cut at 160 characters leaks a heading this way, fewer words than a run of its own).
    const outside = words(s.before)
    // At least three of its own words: fewer would match the theme's own notes after a public part.
    for (let k = 1; k <= LEAK_WORDS - 3 && k <= outside.length && LEAK_WORDS - k <= inside.length; k++) {
      rs.push([...outside.slice(-k), ...inside.slice(0, LEAK_WORDS - k)].join(' '))
    }
    runsOf.set(s, rs)
    for (const r of rs) if (!fresh.has(r)) fresh.set(r, s)
  }
  /** Sections shorter than a run: looked for whole. */
  const short = [...fresh].filter(([r]) => r.split(' ').length < LEAK_WORDS)
  const known = new Map<string, { page: string, id: string }>()
  for (const s of previous?.sections ?? []) for (const h of s.runs ?? []) known.set(h, s)
  const leaks: Leak[] = []
  for (const file of all) {
    const buf = output.has(file) ? Buffer.from(output.get(file)!) : await readFile(file)
    if (isBinary(buf)) continue
    const raw = buf.toString('utf8')
    const rel = path.relative(root, file)
    if (/\.html?$/i.test(file)) {
      const marker = unconvertedIn(raw)
      if (marker) unconverted.push({ file: rel, marker })
    }
    const ws = words(raw)
    const seen = new Set<string>()
    const check = (r: string) => {
      const hit = fresh.get(r)
      if (hit && !seen.has(hit.page + hit.id)) { seen.add(hit.page + hit.id); leaks.push({ file: rel, page: hit.page, id: hit.id, words: r }) }
      if (known.size > 0) {
        const old = known.get(runHash(opts.sealKey, r))
        if (old && !seen.has(`manifest${old.page}`)) { seen.add(`manifest${old.page}`); leaks.push({ file: rel, page: old.page, id: old.id }) }
      }
    }
    if (ws.length < LEAK_WORDS) { if (ws.length > 0) check(ws.join(' ')) } else for (let i = 0; i + LEAK_WORDS <= ws.length; i++) check(ws.slice(i, i + LEAK_WORDS).join(' '))
    // Short sections (fewer words than a run) are found whole anywhere in the file.
    const joined = ws.join(' ')
    for (const [r, s] of short) if (!seen.has(s.page + s.id) && joined.includes(r)) { seen.add(s.page + s.id); leaks.push({ file: rel, page: s.page, id: s.id, words: r }) }
  }
  if (unconverted.length > 0) throw new UnconvertedMarkerError(unconverted)
  if (leaks.length > 0) throw new PlaintextLeakError(leaks)
  if (opts.checkPrices !== false && sections.length > 0) await checkPricesAt(opts.companion, sections)

  // 3. Only now write: each page to a temporary name, then renamed over the original (no half-written page).
  for (const [file, html] of output) {
    const tmp = `${file}.trickle-seal.tmp`
    await writeFile(tmp, html)
    await rename(tmp, file)
  }
  const manifest: Manifest = {
    v: 1,
    site: opts.site,
    sections: [...(previous?.sections ?? []), ...sections.map((s) => ({ page: s.page, id: s.id, runs: [...new Set(runsOf.get(s)!.map((r) => runHash(opts.sealKey, r)))] }))]
  }
  await writeFile(path.join(root, MANIFEST), JSON.stringify(manifest))
  return { pages, sections, files: all.length, alreadySealed: previous?.sections.length ?? 0 }
}
