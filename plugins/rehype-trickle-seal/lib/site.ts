// Seals a whole built site (Hugo's public/ or any generator's output): every HTML file goes through
// rehype-trickle-seal, then every file of the output (HTML, RSS, JSON, sitemaps, search indexes, …) is
// searched for the text of each sealed section. Any hit fails the run, naming the file and section,
// so plaintext never ships.
import { readdir, readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import rehypeParse from 'rehype-parse'
import rehypeStringify from 'rehype-stringify'
import { unified } from 'unified'
import { VFile } from 'vfile'
import type { SectionPrice } from '@trickle/server/seal-crypto'
import rehypeTrickleSeal, { type SealedSection } from './index.ts'

export interface SealSiteOptions {
  sealKey: Uint8Array
  companion: string
  defaultPrice?: SectionPrice
  /** Proxy id or proxy pointer every section is paid to, instead of each page's monetization pointer */
  receiver?: string
  /** Called once per sealed page (progress for long builds) */
  onPage?: (page: string, sections: number) => void
}

export interface SealReport {
  pages: number
  sections: SealedSection[]
  files: number
}

export class PlaintextLeakError extends Error {
  readonly leaks: Array<{ file: string, page: string, id: string }>
  constructor (leaks: Array<{ file: string, page: string, id: string }>) {
    super(`exclusive text found outside its sealed section:\n${leaks.map((l) => `  ${l.file}: text of section "${l.id}" of ${l.page}`).join('\n')}\nKeep exclusive parts out of summaries, feeds and indexes (the Trickle theme does).`)
    this.name = 'PlaintextLeakError'
    this.leaks = leaks
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

const TEXT_FILE = /\.(html?|xml|json|txt|js|css|md|rss|atom|csv|svg|webmanifest)$/i
const normalize = (s: string) => s
  .replace(/<[^>]*>/g, ' ')
  .replace(/&(#\d+|#x[0-9a-f]+|[a-z]+);/gi, (m, e: string) => {
    const named: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ', rsquo: '\u2019', lsquo: '\u2018', ldquo: '\u201c', rdquo: '\u201d', hellip: '\u2026', ndash: '\u2013', mdash: '\u2014' }
    if (e[0] === '#') return String.fromCodePoint(e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10))
    return named[e.toLowerCase()] ?? m
  })
  .replace(/\\u003c/g, '<').replace(/\\u003e/g, '>').replace(/\\u0026/g, '&')
  .replace(/\s+/g, ' ')

/** Sentences (runs of 16+ characters) of a section's text: what the leak check searches for. */
function fingerprints (text: string): string[] {
  return normalize(text).split(/(?<=[.!?:;])\s+/).map((s) => s.trim()).filter((s) => s.length >= 16)
}

export async function sealSite (root: string, opts: SealSiteOptions): Promise<SealReport> {
  const files = await listFiles(root)
  const sections: SealedSection[] = []
  let pages = 0
  const processor = unified().use(rehypeParse).use(rehypeTrickleSeal, { sealKey: opts.sealKey, companion: opts.companion, defaultPrice: opts.defaultPrice ?? null, receiver: opts.receiver ?? null }).use(rehypeStringify)
  for (const file of files.filter((f) => /\.html?$/i.test(f))) {
    const source = await readFile(file, 'utf8')
    if (!source.includes('data-trickle-exclusive')) continue
    const vfile = new VFile({ path: file, cwd: root, value: source })
    const result = await processor.process(vfile)
    const found = result.data.sealedSections ?? []
    if (found.length === 0) continue
    await writeFile(file, String(result))
    sections.push(...found)
    pages++
    opts.onPage?.(found[0]!.page, found.length)
  }
  const leaks: Array<{ file: string, page: string, id: string }> = []
  for (const file of files.filter((f) => TEXT_FILE.test(f))) {
    const text = normalize(await readFile(file, 'utf8'))
    for (const s of sections) {
      if (fingerprints(s.text).some((f) => text.includes(f))) leaks.push({ file: path.relative(root, file), page: s.page, id: s.id })
    }
  }
  if (leaks.length > 0) throw new PlaintextLeakError(leaks)
  return { pages, sections, files: files.length }
}
