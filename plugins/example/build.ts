// A static site built with a plain unified pipeline and Trickle's plugins — the same markup as the Hugo
// theme, paid the same way. Usage:
//   node plugins/example/build.ts [--out DIR] [--pointer $wallet.example/alice] [--dev [--btp btp+ws://127.0.0.1:7768]]
// --dev includes the development payment agent (run `npm run build:agent` first).
import { build as esbuild } from 'esbuild'
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { fileURLToPath } from 'node:url'
import type { Root as HastRoot } from 'hast'
import type { Root as MdastRoot } from 'mdast'
import rehypeRaw from 'rehype-raw'
import rehypeStringify from 'rehype-stringify'
import remarkDirective from 'remark-directive'
import remarkFrontmatter from 'remark-frontmatter'
import remarkParse from 'remark-parse'
import remarkRehype from 'remark-rehype'
import { unified } from 'unified'
import { VFile } from 'vfile'
import { parse as parseYaml } from 'yaml'
import rehypeTrickleMonetization from 'rehype-trickle-monetization'
import remarkTrickleCall from 'remark-trickle-call'
import remarkTrickleDownload from 'remark-trickle-download'
import remarkTrickleExclusive from 'remark-trickle-exclusive'

const here = path.dirname(fileURLToPath(import.meta.url))
const repo = path.resolve(here, '../..')

// The theme's English strings the reader script shows (theme/i18n/en.toml), sealed sections' included
// (rehype-trickle-seal can seal this site's output as it does Hugo's).
const I18N = {
  thanks: 'Payment received: the part for supporters is now open.',
  streaming: 'Your browser started paying this site.',
  sealed: {
    price: 'Price: {price}.',
    waiting: 'Waiting for your first payment…',
    progress: 'Paid {paid} of {price} so far…',
    unlocking: 'Payment received. Unlocking…',
    noReceipts: 'Your Web Monetization agent sends no receipts, so this site cannot verify your payment.',
    unreachable: 'The site\'s payment server does not answer. Retrying…',
    broken: 'This part could not be decrypted: the page may have been rebuilt. Reload it.',
    refused: 'The site\'s payment server refused to open this part: {reason}',
    bought: 'Thank you for your support. You bought this part: it is yours to read, whether or not you keep streaming.'
  }
}

export interface ExampleOptions {
  out: string
  pointer: string
  /** Include the development payment agent, paying over this BTP endpoint. */
  devAgent?: { btp: string, amount?: string, intervalMs?: number, mode?: 'extension' | 'receipts' }
}

/** Front matter (YAML) into file.data.matter, as vfile-matter does. */
function remarkMatter () {
  return (tree: MdastRoot, file: VFile) => {
    const yaml = tree.children.find((n) => n.type === 'yaml')
    if (yaml && 'value' in yaml) (file.data as Record<string, unknown>).matter = parseYaml(String(yaml.value)) ?? {}
  }
}

/** Wraps the page in a document with the theme's layout regions (head, total, live region, scripts). */
function rehypeLayout (scripts: string[]) {
  return (tree: HastRoot, file: VFile) => {
    const title = String(((file.data as Record<string, Record<string, unknown>>).matter ?? {}).title ?? 'Trickle')
    const body = tree.children
    tree.children = [
      { type: 'doctype' },
      {
        type: 'element', tagName: 'html', properties: { lang: 'en' }, children: [
          { type: 'element', tagName: 'head', properties: {}, children: [
            { type: 'element', tagName: 'meta', properties: { charSet: 'utf-8' }, children: [] },
            { type: 'element', tagName: 'meta', properties: { name: 'viewport', content: 'width=device-width, initial-scale=1' }, children: [] },
            { type: 'element', tagName: 'title', properties: {}, children: [{ type: 'text', value: title }] },
            { type: 'element', tagName: 'link', properties: { rel: ['stylesheet'], href: 'main.css' }, children: [] },
            { type: 'element', tagName: 'link', properties: { rel: ['icon'], href: 'data:,' }, children: [] }
          ] },
          { type: 'element', tagName: 'body', properties: {}, children: [
            { type: 'element', tagName: 'main', properties: { id: 'main', className: ['wrap', 'post'] }, children: body as never },
            { type: 'element', tagName: 'footer', properties: { className: ['site-footer'] }, children: [
              { type: 'element', tagName: 'div', properties: { className: ['wrap'] }, children: [
                { type: 'element', tagName: 'p', properties: { className: ['trickle-total'], dataTrickleTotal: '', hidden: true }, children: [
                  { type: 'text', value: 'You have streamed on this page: ' },
                  { type: 'element', tagName: 'output', properties: { dataTrickleTotalValue: '', dataAmount: '0' }, children: [] }
                ] },
                { type: 'element', tagName: 'p', properties: { className: ['visually-hidden'], role: 'status', ariaLive: 'polite', dataTrickleStatus: '' }, children: [] }
              ] }
            ] },
            { type: 'element', tagName: 'script', properties: { type: 'application/json', id: 'trickle-config' }, children: [{ type: 'text', value: JSON.stringify({ locale: 'en', i18n: I18N }) }] },
            ...scripts.map((s) => s.startsWith('{')
              ? { type: 'element' as const, tagName: 'script', properties: { type: 'application/json', id: 'trickle-dev-agent-config' }, children: [{ type: 'text' as const, value: s }] }
              : { type: 'element' as const, tagName: 'script', properties: { src: s, defer: true }, children: [] })
          ] }
        ]
      }
    ]
  }
}

/**
 * Markdown to a whole HTML page with Trickle's plugins. Without `scripts` it returns the page body only
 * (no layout, no monetization tags): what the contract tests compare with the Hugo theme's output.
 */
export function trickleProcessor (opts: { pointer?: string, scripts?: string[] } = {}) {
  const base = unified()
    .use(remarkParse)
    .use(remarkFrontmatter, ['yaml'])
    .use(remarkMatter)
    .use(remarkDirective)
    .use(remarkTrickleExclusive)
    .use(remarkTrickleDownload)
    .use(remarkTrickleCall)
    .use(remarkRehype, { allowDangerousHtml: true })
    .use(rehypeRaw)
  if (!opts.scripts) return base.use(rehypeStringify)
  return base
    .use(rehypeLayout, opts.scripts)
    .use(rehypeTrickleMonetization, { pointer: opts.pointer })
    .use(rehypeStringify)
}

export async function buildExample (opts: ExampleOptions): Promise<string[]> {
  mkdirSync(opts.out, { recursive: true })
  // The Hugo theme's reader script and styles, bundled with npm's esbuild instead of Hugo's.
  await esbuild({ entryPoints: [path.join(repo, 'theme/assets/ts/trickle.ts')], outfile: path.join(opts.out, 'trickle.js'), bundle: true, minify: true, format: 'iife', target: 'es2020', logLevel: 'warning' })
  copyFileSync(path.join(repo, 'theme/assets/css/main.css'), path.join(opts.out, 'main.css'))
  const scripts = ['trickle.js']
  if (opts.devAgent) {
    const agent = path.join(repo, 'theme/assets/trickle/dev-agent.js')
    if (!existsSync(agent)) throw new Error('the development agent is not built: run `npm run build:agent`')
    copyFileSync(agent, path.join(opts.out, 'dev-agent.js'))
    scripts.push(JSON.stringify({ btp: opts.devAgent.btp, amount: opts.devAgent.amount ?? '100000', intervalMs: opts.devAgent.intervalMs ?? 500, mode: opts.devAgent.mode ?? 'extension' }), 'dev-agent.js')
  }

  const processor = trickleProcessor({ pointer: opts.pointer, scripts })

  const written: string[] = []
  for (const name of readdirSync(path.join(here, 'content')).filter((f) => f.endsWith('.md'))) {
    const file = new VFile({ path: path.join(here, 'content', name), value: readFileSync(path.join(here, 'content', name)) })
    const result = await processor.process(file)
    for (const message of result.messages) console.warn(String(message))
    const target = path.join(opts.out, name.replace(/\.md$/, '.html'))
    writeFileSync(target, String(result))
    written.push(target)
  }
  return written
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { out: { type: 'string', default: path.join(here, 'dist') }, pointer: { type: 'string', default: 'http://localhost:3000/wallet/demo' }, dev: { type: 'boolean', default: false }, btp: { type: 'string', default: 'btp+ws://127.0.0.1:7768' } } })
  const files = await buildExample({ out: values.out, pointer: values.pointer, ...(values.dev ? { devAgent: { btp: values.btp } } : {}) })
  console.log(`built ${files.length} pages into ${values.out}`)
}
