// remark plugin: exclusive sections for paying readers, with the markup of Trickle's Hugo theme, so the
// theme's reader script and the sealing step work on any unified-based site.
//
//   <div id="exclusive"></div>     one line: everything after it (in the same parent) is exclusive
//   :::exclusive … :::             a block (needs remark-directive before this plugin)
//
// Contract (theme/layouts/partials/trickle/exclusive.html):
//   section.trickle-exclusive[data-trickle-exclusive=ID][aria-labelledby]
//     h2.trickle-exclusive__title.visually-hidden#trickle-exclusive-ID-title
//     div.trickle-exclusive__cta[data-trickle-cta]   (call to action)
//     div.trickle-exclusive__content[data-trickle-content][tabindex=-1][hidden]
//     p.trickle-exclusive__thanks[data-trickle-thanks][hidden]
import type { ElementContent } from 'hast'
import type { BlockContent, DefinitionContent, Parent, Root, RootContent } from 'mdast'
import type { ContainerDirective } from 'mdast-util-directive'
// Brings the data.hName / hProperties / hChildren fields that remark-rehype honours into mdast's types.
import type {} from 'mdast-util-to-hast'
import { h } from 'hastscript'
import { visit, SKIP } from 'unist-util-visit'
import type { VFile } from 'vfile'

export interface Labels {
  /** Heading for screen readers (default: 'For supporters') */
  title: string
  /** Bold start of the call to action (default: 'This part is for supporters.') */
  ctaTitle: string
  /** Rest of the call to action */
  cta: string
  /** Text of the link to learnMoreUrl */
  learnMore: string
  /** Shown under the content once it opens */
  thanks: string
  /** Heading of a page's second and later sections ({n}: its number), so every landmark has its own name */
  titleNth: string
}

/** A section's price, for sealed sites: whole units at assetScale (decimal text), as the theme's front matter `price`. */
export interface Price {
  amount: string
  assetCode: string
  assetScale: number
}

export interface Options {
  /** Visible strings; defaults are the theme's English ones (theme/i18n/en.toml). */
  labels?: Partial<Labels> | null
  /** Where the call to action links to (default: 'https://webmonetization.org/') */
  learnMoreUrl?: string | null
  /**
   * Price of the sections for sealed sites (the sealing step reads it from the section). A page's front
   * matter `price` ({amount, assetCode, assetScale}, as in the Hugo theme) wins over it.
   */
  price?: Price | null
}

export const defaultLabels: Labels = {
  title: 'For supporters',
  ctaTitle: 'This part is for supporters.',
  cta: 'It opens as soon as your browser streams a payment to this site with Web Monetization.',
  learnMore: 'How to support this site with Web Monetization',
  thanks: 'Thank you for supporting this site. This part is open to you while you stream.',
  titleNth: 'For supporters, part {n}'
}

/** Front matter as the generators hand it to unified: vfile-matter / remark-frontmatter users, Astro. */
function frontMatterPrice (file: VFile): Price | undefined {
  const data = file.data as Record<string, { price?: unknown, frontmatter?: { price?: unknown } } | undefined>
  for (const source of [data.matter, data.frontmatter, data.astro?.frontmatter]) {
    const p = source?.price as Partial<Price> | undefined
    if (p && typeof p === 'object' && p.amount !== undefined && p.assetCode !== undefined && p.assetScale !== undefined) {
      return { amount: String(p.amount), assetCode: String(p.assetCode), assetScale: Number(p.assetScale) }
    }
  }
  return undefined
}

const MARKER = /^<div\s+id=["']exclusive["']\s*>\s*<\/div>\s*$/i
const emptyOptions: Options = {}

type Content = BlockContent | DefinitionContent

export default function remarkTrickleExclusive (options?: Options | null) {
  const settings = options ?? emptyOptions
  const labels: Labels = { ...defaultLabels, ...(settings.labels ?? {}) }
  const learnMoreUrl = settings.learnMoreUrl ?? 'https://webmonetization.org/'

  function section (id: string, children: Content[], price: Price | undefined): ContainerDirective {
    const titleId = `trickle-exclusive-${id}-title`
    const n = /^s([0-9]+)$/.exec(id)
    const title = n && Number(n[1]) > 0 ? labels.titleNth.replace('{n}', String(Number(n[1]) + 1)) : labels.title
    const priced = price ? { dataTricklePriceAmount: price.amount, dataTricklePriceCode: price.assetCode, dataTricklePriceScale: String(price.assetScale) } : {}
    // Parts that are not Markdown are hast children of placeholder nodes (mdast-util-to-hast honours
    // data.hName, hProperties and hChildren on any node).
    const part = (hName: string, hProperties: Record<string, unknown>, hChildren: ElementContent[]): ContainerDirective =>
      ({ type: 'containerDirective', name: 'trickle', attributes: {}, children: [], data: { hName, hProperties, hChildren } as ContainerDirective['data'] })
    return {
      type: 'containerDirective',
      name: 'trickle-exclusive',
      attributes: {},
      data: { hName: 'section', hProperties: { className: ['trickle-exclusive'], dataTrickleExclusive: id, ariaLabelledBy: [titleId], ...priced } },
      children: [
        part('h2', { className: ['trickle-exclusive__title', 'visually-hidden'], id: titleId }, [{ type: 'text', value: title }]),
        part('div', { className: ['trickle-exclusive__cta'], dataTrickleCta: '' }, [
          h('p', [h('strong', labels.ctaTitle), ' ', labels.cta]),
          h('p', [h('a', { href: learnMoreUrl, rel: ['noopener'] }, labels.learnMore)])
        ]),
        {
          type: 'containerDirective', name: 'trickle', attributes: {}, children,
          data: { hName: 'div', hProperties: { className: ['trickle-exclusive__content'], dataTrickleContent: '', tabIndex: -1, hidden: true } }
        },
        part('p', { className: ['trickle-exclusive__thanks'], dataTrickleThanks: '', hidden: true }, [{ type: 'text', value: labels.thanks }])
      ]
    }
  }

  return function transform (tree: Root, file: VFile): undefined {
    const price = frontMatterPrice(file) ?? settings.price ?? undefined
    let ordinal = 0
    let markerSeen = false

    visit(tree, (node, index, parent) => {
      if (node.type === 'containerDirective' && node.name === 'exclusive') {
        if (!parent || index === undefined) return
        if (node.children.length === 0) file.message('Empty `:::exclusive` block: nothing for supporters here', { place: node.position, ruleId: 'empty', source: 'remark-trickle-exclusive' })
        parent.children[index] = section(`s${ordinal++}`, node.children as Content[], price) as unknown as RootContent & Content
        // Nested markers or blocks inside an exclusive block make no sense: say so, keep the content.
        visit(node, (inner) => {
          if ((inner.type === 'containerDirective' && inner.name === 'exclusive') && inner !== node) {
            file.message('`:::exclusive` inside `:::exclusive`: the inner block is already exclusive', { place: inner.position, ruleId: 'nested', source: 'remark-trickle-exclusive' })
          }
        })
        return SKIP
      }
      if ((node.type === 'leafDirective' || node.type === 'textDirective') && node.name === 'exclusive') {
        file.message('Use a container directive: `:::exclusive` … `:::`', { place: node.position, ruleId: 'container', source: 'remark-trickle-exclusive' })
        return undefined
      }
      if (node.type === 'html' && MARKER.test(node.value) && parent && index !== undefined) {
        if (markerSeen) {
          file.message('Second `<div id="exclusive"></div>` marker ignored: everything after the first one is exclusive already', { place: node.position, ruleId: 'duplicate-marker', source: 'remark-trickle-exclusive' })
          parent.children.splice(index, 1)
          return index
        }
        markerSeen = true
        // Later markers would land inside the section, where they mean nothing: drop them, and say so.
        const rest = ((parent as Parent).children.splice(index + 1) as Content[]).filter((n) => {
          if (n.type !== 'html' || !MARKER.test(n.value)) return true
          file.message('Second `<div id="exclusive"></div>` marker ignored: everything after the first one is exclusive already', { place: n.position, ruleId: 'duplicate-marker', source: 'remark-trickle-exclusive' })
          return false
        })
        if (rest.length === 0) file.message('Nothing follows the exclusive marker', { place: node.position, ruleId: 'empty', source: 'remark-trickle-exclusive' })
        ;(parent as Parent).children[index] = section('rest', rest, price) as unknown as RootContent
        return SKIP
      }
      return undefined
    })
  }
}
