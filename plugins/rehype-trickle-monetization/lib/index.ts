// rehype plugin: the page's Web Monetization tags, as Trickle's Hugo theme emits them
// (theme/layouts/partials/trickle/head.html): today's <link rel="monetization" href="https://…"> and,
// unless turned off, the Coil-era <meta name="monetization" content="…">.
//
// The pointer comes from the options, and a page's front matter `monetization` overrides it (read from
// file.data.matter, as vfile-matter stores it, or file.data.frontmatter / file.data.astro.frontmatter);
// `monetization: false` removes the tags from that page.
import { pointerHref } from 'trickle-core/pointers'
import type { Element, Root } from 'hast'
import { h } from 'hastscript'
import { visit, EXIT } from 'unist-util-visit'
import type { VFile } from 'vfile'

export interface Options {
  /** The site's payment pointer: `$wallet.example/alice` or an https URL. */
  pointer?: string | null
  /** Also emit the legacy meta tag (default: true). */
  legacyMeta?: boolean | null
}

const emptyOptions: Options = {}

/** The link's href for a pointer (trickle-core's pointerHref, which the Hugo theme follows too). */
export const pointerToUrl = pointerHref

function frontMatterPointer (file: VFile): unknown {
  const data = file.data as Record<string, { monetization?: unknown, frontmatter?: { monetization?: unknown } } | undefined>
  for (const source of [data.matter, data.frontmatter, data.astro?.frontmatter]) {
    if (source && 'monetization' in source) return source.monetization
  }
  return undefined
}

export default function rehypeTrickleMonetization (options?: Options | null) {
  const settings = options ?? emptyOptions
  return function transform (tree: Root, file: VFile): undefined {
    const override = frontMatterPointer(file)
    if (override === false || override === 'false') return
    const raw = typeof override === 'string' ? override : settings.pointer ?? undefined
    if (!raw) return
    const href = pointerToUrl(raw)
    if (!href) {
      file.message(`"${raw}" is not a payment pointer ($host/path) or an http(s) URL; no monetization tag emitted`, { ruleId: 'invalid-pointer', source: 'rehype-trickle-monetization' })
      return
    }
    ;(file.data as Record<string, unknown>).monetization = href
    let head: Element | undefined
    visit(tree, 'element', (node) => {
      if (node.tagName === 'head') { head = node; return EXIT }
      return undefined
    })
    if (!head) {
      file.message('No <head> element: run this plugin on a whole document (after wrapping the page in its layout); file.data.monetization holds the URL', { ruleId: 'no-head', source: 'rehype-trickle-monetization' })
      return
    }
    // Replace tags a layout may already carry, so a page never pays two pointers by accident.
    head.children = head.children.filter((c) => !(c.type === 'element' &&
      ((c.tagName === 'link' && String(c.properties.rel ?? '').includes('monetization')) ||
       (c.tagName === 'meta' && c.properties.name === 'monetization'))))
    head.children.push(h('link', { rel: ['monetization'], href }))
    if (settings.legacyMeta !== false) head.children.push(h('meta', { name: 'monetization', content: raw }))
  }
}
