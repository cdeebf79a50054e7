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
import rehypeRaw from 'rehype-raw'
import rehypeStringify from 'rehype-stringify'
import remarkDirective from 'remark-directive'
import remarkParse from 'remark-parse'
import remarkRehype from 'remark-rehype'
import remarkTrickleCall from 'remark-trickle-call'
import remarkTrickleDownload from 'remark-trickle-download'
import remarkTrickleExclusive from 'remark-trickle-exclusive'
import { copyAssets, pageDecorator, pageDataComment, sealBuild, siteStrings, type DevAgentOptions, type IntegrationOptions, type SealOptions } from 'trickle-site'
import { unified } from 'unified'
import { VFile } from 'vfile'

export type { DevAgentOptions, SealOptions }

/** Options: see trickle-site's IntegrationOptions (the same for every generator). */
export type Options = IntegrationOptions

interface EleventyConfig {
  setLibrary (name: 'md', lib: { render (content: string, data?: Record<string, unknown>): string, set (): void, disable (): void }): void
  addTransform (name: string, fn: (this: { page: { outputPath?: string | false } }, content: string) => Promise<string> | string): void
  on (event: 'eleventy.after', fn: (arg: { directories: { output: string }, runMode: string }) => Promise<void> | void): void
}

export default function tricklePlugin (eleventyConfig: EleventyConfig, options: Options = {}): void {
  const locale = options.locale ?? 'en'
  const strings = siteStrings(locale)
  const assetsPath = (options.assetsPath ?? '/trickle/').replace(/\/?$/, '/')
  const devAgentWanted = () => options.devAgent === false ? false : options.devAgent ? true : process.env.ELEVENTY_RUN_MODE === 'serve' || process.env.ELEVENTY_RUN_MODE === 'watch'
  const agent: DevAgentOptions = typeof options.devAgent === 'object' && options.devAgent ? options.devAgent : {}

  // 1. Markdown through unified, with the page's front matter for per-page prices.
  const markdown = unified().use(remarkParse).use(remarkDirective)
    .use(remarkTrickleExclusive, { labels: strings.exclusive, price: options.price ?? null })
    .use(remarkTrickleDownload)
    .use(remarkTrickleCall, { companion: options.companion ?? options.seal?.companion ?? null, labels: strings.callBlock })
    .use(remarkRehype, { allowDangerousHtml: true }).use(rehypeRaw).use(rehypeStringify)
  eleventyConfig.setLibrary('md', {
    render (content, data = {}) {
      const matter = { price: data.price, monetization: data.monetization }
      // The page transform (below) sees the HTML, not the data: the page's own pointer rides along.
      return pageDataComment(data.monetization) + String(markdown.processSync(new VFile({ value: content, data: { matter } })))
    },
    set () {},
    disable () {}
  })

  // 2. Every HTML page: its monetization link, the reader script, strings and CSS, the agent in development.
  let decorate: ((html: string) => Promise<string>) | undefined
  eleventyConfig.addTransform('trickle', async function (content) {
    const out = this.page.outputPath
    if (typeof out !== 'string' || !out.endsWith('.html') || typeof content !== 'string') return content
    // Made on the first page: the run mode (and so the agent) is known by then.
    decorate ??= pageDecorator({ pointer: options.pointer ?? null, locale, strings, assetsPath, devAgent: devAgentWanted() ? agent : false })
    return decorate(content)
  })

  // 3. After the build: the assets into the output, then sealing (not under --serve, which rebuilds on every change).
  eleventyConfig.on('eleventy.after', async ({ directories, runMode }) => {
    copyAssets(directories.output, assetsPath, devAgentWanted())
    if (options.seal && runMode === 'build') {
      const report = await sealBuild(directories.output, options.seal)
      console.log(`[trickle] sealed ${report.sections.length} exclusive section(s) on ${report.pages} page(s); ${report.files} files checked`)
    }
  })
}
