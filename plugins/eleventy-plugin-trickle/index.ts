// eleventy-plugin-trickle: everything the Trickle Hugo theme does, for an Eleventy 3 site, in one line:
//
//   import trickle from 'eleventy-plugin-trickle'
//   export default (eleventyConfig) => { eleventyConfig.addPlugin(trickle, { pointer: 'https://wallet.example/alice' }) }
//
// - Markdown goes through unified with Trickle's remark plugins instead of markdown-it: the one-line
//   marker <div id="exclusive"></div> and :::exclusive blocks, ::download{magnet="…"} and magnet
//   paragraphs, per-page `price` and `monetization` from front matter.
// - Every HTML page gets the monetization link (the site's pointer, or the page's front matter
//   `monetization`; false for none), the reader script with its strings (the theme's i18n, in
//   `locale`), the theme's CSS, the download script where a page has a download, and the development
//   payment agent under `eleventy --serve` (or when `devAgent` says so).
// - After a build, the output is sealed (`seal: { companion, site }`; the key as rehype-trickle-seal's
//   CLI finds it): exclusive sections leave the build encrypted, after the leak check over every file.
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Element, Root } from 'hast'
import rehypeParse from 'rehype-parse'
import rehypeRaw from 'rehype-raw'
import rehypeStringify from 'rehype-stringify'
import rehypeTrickleMonetization from 'rehype-trickle-monetization'
import { siteKeyFor } from 'rehype-trickle-seal/keys'
import { sealSite } from 'rehype-trickle-seal/site'
import remarkDirective from 'remark-directive'
import remarkParse from 'remark-parse'
import remarkRehype from 'remark-rehype'
import remarkTrickleDownload from 'remark-trickle-download'
import remarkTrickleExclusive, { type Price } from 'remark-trickle-exclusive'
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

export interface Options {
  /** The site's wallet address or payment pointer; a page's front matter `monetization` wins (false: none). */
  pointer?: string | null
  /** Price of exclusive sections for sealed sites; a page's front matter `price` wins. */
  price?: Price | null
  /** Language of every visible string (the theme's i18n files: "en", "de"); default "en" */
  locale?: string
  /** Where the scripts and CSS are written in the output, and linked from (default "/trickle/") */
  assetsPath?: string
  /** The development payment agent: included under `eleventy --serve` and `--watch` unless false; true or options include it always. */
  devAgent?: boolean | DevAgentOptions | null
  /** Seal the output after each build (never under --serve): the companion and the site's public base URL. */
  seal?: { companion: string, site: string, checkPrices?: boolean } | null
}

interface EleventyConfig {
  setLibrary (name: 'md', lib: { render (content: string, data?: Record<string, unknown>): string, set (): void, disable (): void }): void
  addTransform (name: string, fn: (this: { page: { outputPath?: string | false } }, content: string) => Promise<string> | string): void
  on (event: 'eleventy.after', fn: (arg: { directories: { output: string }, runMode: string }) => Promise<void> | void): void
}

type Strings = Record<string, { reader: unknown, download: unknown, exclusive: Record<string, string> }>

/** The built browser assets: next to the sources in this repository, next to dist/ when installed. */
function assetsDir (): string {
  const here = path.dirname(fileURLToPath(import.meta.url))
  for (const candidate of [path.join(here, 'assets'), path.join(here, '..', 'assets')]) {
    if (existsSync(path.join(candidate, 'strings.json'))) return candidate
  }
  throw new Error('eleventy-plugin-trickle: its browser assets are missing (in the Trickle repository: node plugins/eleventy-plugin-trickle/build-assets.ts)')
}

const PAGE_DATA = /<!--trickle-page (\{[^>]*?\})-->/

export default function tricklePlugin (eleventyConfig: EleventyConfig, options: Options = {}): void {
  const dir = assetsDir()
  const allStrings = JSON.parse(readFileSync(path.join(dir, 'strings.json'), 'utf8')) as Strings
  const locale = options.locale ?? 'en'
  const strings = allStrings[locale]
  if (!strings) throw new Error(`eleventy-plugin-trickle: no strings for locale "${locale}" (there are ${Object.keys(allStrings).join(', ')})`)
  const assetsPath = (options.assetsPath ?? '/trickle/').replace(/\/?$/, '/')
  const devAgentWanted = () => options.devAgent === false ? false : options.devAgent ? true : process.env.ELEVENTY_RUN_MODE === 'serve' || process.env.ELEVENTY_RUN_MODE === 'watch'
  const agent: DevAgentOptions = typeof options.devAgent === 'object' && options.devAgent ? options.devAgent : {}

  // 1. Markdown through unified, with the page's front matter for per-page prices.
  const markdown = unified().use(remarkParse).use(remarkDirective)
    .use(remarkTrickleExclusive, { labels: strings.exclusive, price: options.price ?? null })
    .use(remarkTrickleDownload)
    .use(remarkRehype, { allowDangerousHtml: true }).use(rehypeRaw).use(rehypeStringify)
  eleventyConfig.setLibrary('md', {
    render (content, data = {}) {
      const matter = { price: data.price, monetization: data.monetization }
      const html = String(markdown.processSync(new VFile({ value: content, data: { matter } })))
      // The page transform (below) sees the HTML, not the data: the page's own pointer rides along.
      return data.monetization !== undefined ? `<!--trickle-page ${JSON.stringify({ monetization: data.monetization }).replace(/-->/g, '')}-->${html}` : html
    },
    set () {},
    disable () {}
  })

  // 2. Every HTML page: its monetization link, the reader script, strings and CSS, the agent in development.
  const page = unified().use(rehypeParse).use(rehypeTrickleMonetization, { pointer: options.pointer ?? null }).use(() => (tree: Root) => {
    const find = (name: string) => (tree.children.find((n) => n.type === 'element' && n.tagName === 'html') as Element | undefined)?.children.find((n) => n.type === 'element' && n.tagName === name) as Element | undefined
    const head = find('head')
    const body = find('body')
    if (!head || !body) return
    const el = (tagName: string, properties: Record<string, unknown>, text?: string): Element => ({ type: 'element', tagName, properties: properties as Element['properties'], children: text === undefined ? [] : [{ type: 'text', value: text }] })
    head.children.push(el('link', { rel: ['stylesheet'], href: `${assetsPath}main.css` }))
    const json = (v: unknown) => JSON.stringify(v).replace(/</g, '\\u003c')
    body.children.push(
      el('p', { className: ['visually-hidden'], role: 'status', ariaLive: 'polite', dataTrickleStatus: '' }),
      el('script', { type: 'application/json', id: 'trickle-config' }, json({ locale, i18n: strings.reader })),
      el('script', { src: `${assetsPath}trickle.js`, defer: true })
    )
    let hasDownload = false
    const visit = (n: Root | Element) => { for (const c of n.children) if (c.type === 'element') { if (c.properties.dataTrickleDownload !== undefined) hasDownload = true; visit(c) } }
    visit(tree)
    if (hasDownload) {
      body.children.push(
        el('script', { type: 'application/json', id: 'trickle-download-config' }, json({ locale, webtorrent: `${assetsPath}webtorrent.min.js`, i18n: strings.download })),
        el('script', { type: 'module', src: `${assetsPath}download.js` })
      )
    }
    if (devAgentWanted()) {
      body.children.push(
        el('script', { type: 'application/json', id: 'trickle-dev-agent-config' }, json({ btp: agent.btp ?? 'btp+ws://127.0.0.1:7768', amount: agent.amount ?? '100000', intervalMs: agent.intervalMs ?? 500, mode: agent.mode ?? 'extension' })),
        el('script', { src: `${assetsPath}dev-agent.js`, defer: true })
      )
    }
  }).use(rehypeStringify)
  eleventyConfig.addTransform('trickle', async function (content) {
    const out = this.page.outputPath
    if (typeof out !== 'string' || !out.endsWith('.html') || typeof content !== 'string') return content
    let monetization: unknown
    const html = content.replace(PAGE_DATA, (_m, data: string) => { monetization = (JSON.parse(data) as { monetization: unknown }).monetization; return '' })
    return String(await page.process(new VFile({ value: html, data: { matter: monetization === undefined ? {} : { monetization } } })))
  })

  // 3. After the build: the assets into the output, then sealing (not under --serve, which rebuilds on every change).
  eleventyConfig.on('eleventy.after', async ({ directories, runMode }) => {
    const target = path.join(directories.output, assetsPath)
    mkdirSync(target, { recursive: true })
    for (const f of readdirSync(dir)) if (f !== 'strings.json' && (f !== 'dev-agent.js' || devAgentWanted())) copyFileSync(path.join(dir, f), path.join(target, f))
    if (options.seal && runMode === 'build') {
      const { companion, site } = options.seal
      const sealKey = await siteKeyFor(site, companion)
      const report = await sealSite(directories.output, { sealKey, site, companion, ...(options.seal.checkPrices === false ? { checkPrices: false } : {}) })
      console.log(`[trickle] sealed ${report.sections.length} exclusive section(s) on ${report.pages} page(s); ${report.files} files checked`)
    }
  })
}
