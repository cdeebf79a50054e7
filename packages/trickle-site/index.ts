// trickle-site: what an integration of Trickle into a static site generator needs, whatever the
// generator (eleventy-plugin-trickle, astro-trickle): the browser assets and the theme's strings, the
// Markdown plugins with their labels, the decoration of a built page (its monetization link, the
// reader script with its strings, the CSS, the download script where the page sells a file, the
// development agent), and the steps after a build (the assets into the output, then sealing).
//
// A page's own front matter (`monetization`) reaches the decoration through a comment the Markdown
// step leaves in the HTML (pageDataComment), since generators decorate, or let one decorate, the
// finished page without its data.
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Element, Root } from 'hast'
import rehypeParse from 'rehype-parse'
import rehypeStringify from 'rehype-stringify'
import rehypeTrickleMonetization from 'rehype-trickle-monetization'
import { siteKeyFor } from 'rehype-trickle-seal/keys'
import { sealSite, type SealReport } from 'rehype-trickle-seal/site'
import { unified } from 'unified'
import { VFile } from 'vfile'

export interface DevAgentOptions {
  /** BTP endpoint of the companion's network (default btp+ws://127.0.0.1:7768) */
  btp?: string
  /** Units per payment (default "100000") */
  amount?: string
  intervalMs?: number
  /** "extension" (Open Payments, the default) or "receipts" (STREAM receipts, the Coil-era agent) */
  mode?: 'extension' | 'receipts'
}

/** A section's price: whole units at assetScale (decimal text). */
export interface SectionPrice {
  amount: string
  assetCode: string
  assetScale: number
}

/** The options every generator integration takes (eleventy-plugin-trickle, astro-trickle). */
export interface IntegrationOptions {
  /** The site's wallet address or payment pointer; a page's front matter `monetization` wins (false: none). */
  pointer?: string | null
  /** Price of exclusive sections for sealed sites; a page's front matter `price` wins. */
  price?: SectionPrice | null
  /** Language of every visible string (the theme's i18n files: "en", "de"); default "en" */
  locale?: string
  /** Where the scripts and CSS are written in the output, and linked from (default "/trickle/") */
  assetsPath?: string
  /** The development payment agent: included under the generator's dev server unless false; true or options include it always. */
  devAgent?: boolean | DevAgentOptions | null
  /** Seal the output after each build (never under the dev server): the companion and the site's public base URL. */
  seal?: SealOptions | null
  /** The companion's URL for call blocks (`::call{room="…"}`) that name none; default: `seal.companion`. */
  companion?: string | null
}

export interface SiteStrings {
  reader: unknown
  download: unknown
  /** The call script's strings */
  call: unknown
  /** remark-trickle-call's labels */
  callBlock: { title: string, priceLoading: string, join: string, leave: string, videos: string }
  /** remark-trickle-exclusive's labels */
  exclusive: { title: string, titleNth: string, ctaTitle: string, cta: string, learnMore: string, thanks: string }
}

export interface DecorateOptions {
  /** The site's wallet address or payment pointer; the page's own (pageDataComment) wins */
  pointer?: string | null
  locale: string
  strings: SiteStrings
  /** Where the assets are linked from, ending in "/" */
  assetsPath: string
  /** The development agent's settings, or false for none */
  devAgent: DevAgentOptions | false
}

/** The built browser assets: next to the sources in the Trickle repository, next to dist/ when installed. */
export function assetsDir (): string {
  const here = path.dirname(fileURLToPath(import.meta.url))
  for (const candidate of [path.join(here, 'assets'), path.join(here, '..', 'assets')]) {
    if (existsSync(path.join(candidate, 'strings.json'))) return candidate
  }
  throw new Error('trickle-site: its browser assets are missing (in the Trickle repository: node packages/trickle-site/build-assets.ts)')
}

/** The theme's strings in `locale` ("en", "de"). */
export function siteStrings (locale: string): SiteStrings {
  const all = JSON.parse(readFileSync(path.join(assetsDir(), 'strings.json'), 'utf8')) as Record<string, SiteStrings>
  const strings = all[locale]
  if (!strings) throw new Error(`trickle: no strings for locale "${locale}" (there are ${Object.keys(all).join(', ')})`)
  return strings
}

const PAGE_DATA = /<!--trickle-page (\{[^>]*?\})-->/

/** What the Markdown step leaves for the page decoration: the page's front matter pointer, if it has one. */
export function pageDataComment (monetization: unknown): string {
  return monetization === undefined ? '' : `<!--trickle-page ${JSON.stringify({ monetization }).replace(/-->/g, '')}-->`
}

/** A rehype plugin for generators that render Markdown with their own pipeline (Astro): leaves pageDataComment from the front matter. */
export function rehypeTricklePageData () {
  return (tree: Root, file: VFile) => {
    const data = file.data as { astro?: { frontmatter?: Record<string, unknown> }, matter?: Record<string, unknown> }
    const fm = data.astro?.frontmatter ?? data.matter
    if (fm && 'monetization' in fm) tree.children.unshift({ type: 'comment', value: pageDataComment(fm.monetization).slice(4, -3) })
  }
}

/**
 * Decorates built pages with everything Trickle's reader script needs; pages without <head> and
 * <body> stay as they are. One processor for every page of a build (make it once, call it per page).
 */
export function pageDecorator (opts: DecorateOptions): (html: string) => Promise<string> {
  const { strings, locale, assetsPath, devAgent } = opts
  const processor = unified().use(rehypeParse).use(rehypeTrickleMonetization, { pointer: opts.pointer ?? null }).use(() => (tree: Root) => {
    const html = tree.children.find((n) => n.type === 'element' && n.tagName === 'html') as Element | undefined
    const find = (name: string) => html?.children.find((n) => n.type === 'element' && n.tagName === name) as Element | undefined
    const head = find('head')
    const body = find('body')
    if (!head || !body) return
    const el = (tagName: string, properties: Record<string, unknown>, text?: string): Element => ({ type: 'element', tagName, properties: properties as Element['properties'], children: text === undefined ? [] : [{ type: 'text', value: text }] })
    const json = (v: unknown) => JSON.stringify(v).replace(/</g, '\\u003c')
    head.children.push(el('link', { rel: ['stylesheet'], href: `${assetsPath}main.css` }))
    body.children.push(
      el('p', { className: ['visually-hidden'], role: 'status', ariaLive: 'polite', dataTrickleStatus: '' }),
      el('script', { type: 'application/json', id: 'trickle-config' }, json({ locale, i18n: strings.reader })),
      el('script', { src: `${assetsPath}trickle.js`, defer: true })
    )
    let hasDownload = false
    let hasCall = false
    const visit = (n: Root | Element) => {
      for (const c of n.children) {
        if (c.type !== 'element') continue
        if (c.properties.dataTrickleDownload !== undefined) hasDownload = true
        if (c.properties.dataTrickleCall !== undefined) hasCall = true
        visit(c)
      }
    }
    visit(tree)
    if (hasCall) {
      body.children.push(
        el('script', { type: 'application/json', id: 'trickle-call-config' }, json({ locale, i18n: strings.call })),
        el('script', { type: 'module', src: `${assetsPath}call.js` })
      )
    }
    if (hasDownload) {
      body.children.push(
        el('script', { type: 'application/json', id: 'trickle-download-config' }, json({ locale, webtorrent: `${assetsPath}webtorrent.min.js`, i18n: strings.download })),
        el('script', { type: 'module', src: `${assetsPath}download.js` })
      )
    }
    if (devAgent) {
      body.children.push(
        el('script', { type: 'application/json', id: 'trickle-dev-agent-config' }, json({ btp: devAgent.btp ?? 'btp+ws://127.0.0.1:7768', amount: devAgent.amount ?? '100000', intervalMs: devAgent.intervalMs ?? 500, mode: devAgent.mode ?? 'extension' })),
        el('script', { src: `${assetsPath}dev-agent.js`, defer: true })
      )
    }
  }).use(rehypeStringify)
  return async (html) => {
    let monetization: unknown
    const source = html.replace(PAGE_DATA, (_m, data: string) => { monetization = (JSON.parse(data) as { monetization: unknown }).monetization; return '' })
    return String(await processor.process(new VFile({ value: source, data: { matter: monetization === undefined ? {} : { monetization } } })))
  }
}

/** The assets into the output (under assetsPath), the agent only when it is wanted. */
export function copyAssets (outDir: string, assetsPath: string, withAgent: boolean): void {
  const dir = assetsDir()
  const target = path.join(outDir, assetsPath)
  mkdirSync(target, { recursive: true })
  for (const f of readdirSync(dir)) if (f !== 'strings.json' && (f !== 'dev-agent.js' || withAgent)) copyFileSync(path.join(dir, f), path.join(target, f))
}

export interface SealOptions {
  /** The companion's base URL */
  companion: string
  /** The site's public base URL: its seal key is bound to it */
  site: string
  checkPrices?: boolean
}

/** Seals a built site: the key from TRICKLE_SITE_SEAL_KEY, or asked of the companion with TRICKLE_ADMIN_TOKEN. */
export async function sealBuild (outDir: string, seal: SealOptions): Promise<SealReport> {
  const sealKey = await siteKeyFor(seal.site, seal.companion)
  return sealSite(outDir, { sealKey, site: seal.site, companion: seal.companion, ...(seal.checkPrices === false ? { checkPrices: false } : {}) })
}

/** Every HTML file under `dir`. */
export function htmlFiles (dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name)
    return e.isDirectory() ? htmlFiles(p) : e.name.endsWith('.html') ? [p] : []
  })
}
