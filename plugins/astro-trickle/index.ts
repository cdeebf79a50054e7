// astro-trickle: Trickle on an Astro site in one line, as the Hugo theme does it for Hugo:
//
//   import trickle from 'astro-trickle'
//   export default defineConfig({ integrations: [trickle({ pointer: 'https://wallet.example/alice' })] })
//
// - Markdown (.md, and the Markdown of content collections) gets Trickle's remark plugins: the one-line
//   marker <div id="exclusive"></div> and :::exclusive blocks, ::download{magnet="…"}, per-page `price`
//   and `monetization` from front matter.
// - `astro build`: every HTML page of the output gets its monetization link, the reader script with
//   the theme's strings, the CSS, the download script where it sells a file; then the output is sealed
//   (`seal: { companion, site }`), after the leak check over every file.
// - `astro dev`: the same scripts, the link and the development payment agent are added to every page
//   as it loads (a head-inline script), and the assets are served from `assetsPath`.
import { readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { isUnifiedProcessor, unified } from '@astrojs/markdown-remark'
import type { AstroIntegration } from 'astro'
import remarkDirective from 'remark-directive'
import remarkTrickleCall from 'remark-trickle-call'
import remarkTrickleDownload from 'remark-trickle-download'
import remarkTrickleExclusive from 'remark-trickle-exclusive'
import { assetsDir, copyAssets, pageDecorator, htmlFiles, rehypeTricklePageData, sealBuild, siteStrings, type DevAgentOptions, type IntegrationOptions, type SealOptions } from 'trickle-site'

export type { DevAgentOptions, SealOptions }

/** Options: see trickle-site's IntegrationOptions (the same for every generator). */
export type Options = IntegrationOptions

const TYPES: Record<string, string> = { '.js': 'text/javascript', '.css': 'text/css', '.json': 'application/json' }

export default function trickle (options: Options = {}): AstroIntegration {
  const locale = options.locale ?? 'en'
  const assetsPath = (options.assetsPath ?? '/trickle/').replace(/\/?$/, '/')
  const agent: DevAgentOptions = typeof options.devAgent === 'object' && options.devAgent ? options.devAgent : {}
  let command: string = 'build'
  const agentWanted = () => options.devAgent === false ? false : options.devAgent ? true : command === 'dev'
  return {
    name: 'astro-trickle',
    hooks: {
      'astro:config:setup': ({ config, updateConfig, injectScript, command: cmd, logger }) => {
        command = cmd
        const strings = siteStrings(locale)
        // Trickle's plugins are unified plugins: they run on Astro's unified Markdown processor
        // (@astrojs/markdown-remark), the site's own when it has one, else one made here.
        const remarkPlugins: unknown[] = [remarkDirective, [remarkTrickleExclusive, { labels: strings.exclusive, price: options.price ?? null }], remarkTrickleDownload,
          [remarkTrickleCall, { companion: options.companion ?? options.seal?.companion ?? null, labels: strings.callBlock }]]
        const current = (config.markdown as { processor?: { name: string } }).processor
        if (current && isUnifiedProcessor(current)) {
          current.options.remarkPlugins.push(...(remarkPlugins as never[]))
          current.options.rehypePlugins.push(rehypeTricklePageData as never)
        } else {
          // Astro's default is Sätteri, which runs no unified plugins: Markdown moves to unified.
          if (current) logger.info(`Markdown runs on unified instead of ${current.name}: Trickle's plugins are unified plugins`)
          updateConfig({ markdown: { processor: unified({ remarkPlugins: remarkPlugins as never, rehypePlugins: [rehypeTricklePageData as never] }) } } as never)
        }
        if (cmd === 'dev') {
          // No finished pages to decorate under the dev server: the page decorates itself as it loads.
          const config = { locale, i18n: strings.reader }
          const devAgent = agentWanted() ? { btp: agent.btp ?? 'btp+ws://127.0.0.1:7768', amount: agent.amount ?? '100000', intervalMs: agent.intervalMs ?? 500, mode: agent.mode ?? 'extension' } : null
          // Run once the body is parsed: a page's own pointer comes in a comment in its content.
          injectScript('head-inline', `(() => { const run = () => {
  const add = (tag, attrs, text) => { const el = document.createElement(tag); Object.assign(el, attrs); if (text) el.textContent = text; document.head.append(el); return el }
  const comment = document.createNodeIterator(document.documentElement, NodeFilter.SHOW_COMMENT)
  let own; for (let c; (c = comment.nextNode());) { const m = /^trickle-page (\\{.*\\})$/.exec(c.nodeValue.trim()); if (m) own = JSON.parse(m[1]).monetization }
  const pointer = own !== undefined ? own : ${JSON.stringify(options.pointer ?? null)}
  if (pointer && !document.querySelector('link[rel~="monetization"]')) add('link', { rel: 'monetization', href: pointer })
  add('link', { rel: 'stylesheet', href: ${JSON.stringify(`${assetsPath}main.css`)} })
  add('script', { type: 'application/json', id: 'trickle-config' }, ${JSON.stringify(JSON.stringify(config))})
  add('script', { src: ${JSON.stringify(`${assetsPath}trickle.js`)}, defer: true })
  ${devAgent ? `add('script', { type: 'application/json', id: 'trickle-dev-agent-config' }, ${JSON.stringify(JSON.stringify(devAgent))}); add('script', { src: ${JSON.stringify(`${assetsPath}dev-agent.js`)}, defer: true })` : ''}
}; if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', run); else run() })()`)
        }
      },
      'astro:server:setup': ({ server }) => {
        // The assets, under assetsPath, for the dev server.
        const dir = assetsDir()
        server.middlewares.use(async (req, res, next) => {
          const url = req.url?.split('?')[0] ?? ''
          if (!url.startsWith(assetsPath)) { next(); return }
          const name = path.basename(url)
          if (name === 'strings.json' || name !== url.slice(assetsPath.length)) { next(); return }
          try {
            const body = await readFile(path.join(dir, name))
            res.setHeader('content-type', TYPES[path.extname(name)] ?? 'application/octet-stream')
            res.end(body)
          } catch { next() }
        })
      },
      'astro:build:done': async ({ dir, logger }) => {
        const out = fileURLToPath(dir)
        const decorate = pageDecorator({ pointer: options.pointer ?? null, locale, strings: siteStrings(locale), assetsPath, devAgent: agentWanted() ? agent : false })
        for (const file of htmlFiles(out)) await writeFile(file, await decorate(await readFile(file, 'utf8')))
        copyAssets(out, assetsPath, agentWanted())
        if (options.seal) {
          const report = await sealBuild(out, options.seal)
          logger.info(`sealed ${report.sections.length} exclusive section(s) on ${report.pages} page(s); ${report.files} files checked`)
        }
      }
    }
  }
}
