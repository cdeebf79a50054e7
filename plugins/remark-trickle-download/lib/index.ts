// remark plugin: download blocks for paid torrents, with the markup of Trickle's Hugo theme (its
// `download` shortcode), so the theme's download script pays, downloads and seeds on any unified site.
//
//   ::download{magnet="magnet:?xt=urn:btih:…&pp=…&vr=…&pa=100&pc=USD&ps=2"}
//   [Any text](magnet:?xt=urn:btih:…)            a paragraph that is only a magnet link
//
// Contract (theme/layouts/partials/trickle/download.html):
//   figure.trickle-download[data-trickle-download][data-magnet]
//     figcaption > [data-trickle-download-name], [data-trickle-download-size][data-bytes],
//                  [data-trickle-download-price][data-amount][data-asset-code][data-asset-scale]
//     button[data-trickle-download-start]
//     [data-trickle-download-progress][hidden]
//     [data-trickle-download-status][role=status][aria-live=polite]
import type { ElementContent } from 'hast'
import type { Paragraph, Root, RootContent } from 'mdast'
import type { LeafDirective } from 'mdast-util-directive'
// Brings the data.hName / hProperties / hChildren fields that remark-rehype honours into mdast's types.
import type {} from 'mdast-util-to-hast'
import { h } from 'hastscript'
import { visit, SKIP } from 'unist-util-visit'
import type { VFile } from 'vfile'
import { decodeMagnet, type Magnet } from 'trickle-core/magnet'
import { formatAmount } from 'trickle-core/amounts'

export interface Labels {
  /** Button text (default: 'Pay and download') */
  button: string
  /** Button text for a free file (default: 'Download') */
  buttonFree: string
  /** Price of a free file (default: 'Free') */
  free: string
  /** Size when the magnet has no xl (default: 'size unknown') */
  unknownSize: string
}

export interface Options {
  /** Visible strings; defaults are the theme's English ones. */
  labels?: Partial<Labels> | null
  /** Locale for sizes and prices (default: 'en') */
  locale?: string | null
}

export const defaultLabels: Labels = { button: 'Pay and download', buttonFree: 'Download', free: 'Free', unknownSize: 'size unknown' }
const emptyOptions: Options = {}

function formatBytes (bytes: number, locale: string): string {
  const units = ['byte', 'kilobyte', 'megabyte', 'gigabyte', 'terabyte'] as const
  let value = bytes
  let unit = 0
  while (value >= 1000 && unit < units.length - 1) { value /= 1000; unit++ }
  return new Intl.NumberFormat(locale, { style: 'unit', unit: units[unit], unitDisplay: unit === 0 ? 'long' : 'short', maximumFractionDigits: unit === 0 ? 0 : 1 }).format(value)
}

export default function remarkTrickleDownload (options?: Options | null) {
  const settings = options ?? emptyOptions
  const labels: Labels = { ...defaultLabels, ...(settings.labels ?? {}) }
  const locale = settings.locale ?? 'en'

  function block (uri: string, magnet: Magnet, ordinal: number): LeafDirective {
    const id = `trickle-download-${ordinal}-name`
    const license = magnet.license
    const price = license
      ? h('span', { className: ['trickle-download__price'], dataTrickleDownloadPrice: '', dataAmount: license.amount, dataAssetCode: license.assetCode, dataAssetScale: String(license.assetScale) },
        formatAmount(BigInt(license.amount), license.assetCode, license.assetScale, locale))
      : h('span', { className: ['trickle-download__price'], dataTrickleDownloadPrice: '', dataAmount: '0' }, labels.free)
    const children: ElementContent[] = [
      h('figcaption', [
        h('span', { className: ['trickle-download__name'], id, dataTrickleDownloadName: '' }, magnet.name ?? magnet.infoHash),
        ' · ',
        h('span', { className: ['trickle-download__size'], dataTrickleDownloadSize: '', dataBytes: magnet.length === undefined ? undefined : String(magnet.length) },
          magnet.length === undefined ? labels.unknownSize : formatBytes(magnet.length, locale)),
        ' · ',
        price
      ]),
      h('button', { type: 'button', className: ['trickle-download__button'], dataTrickleDownloadStart: '' }, license ? labels.button : labels.buttonFree),
      h('div', { className: ['trickle-download__progress'], dataTrickleDownloadProgress: '', hidden: true }, [
        h('progress', { max: 100, value: 0 }),
        h('span', { dataTrickleDownloadStats: '' })
      ]),
      h('p', { className: ['trickle-download__status'], role: 'status', ariaLive: 'polite', dataTrickleDownloadStatus: '' })
    ]
    return {
      type: 'leafDirective',
      name: 'trickle-download',
      attributes: {},
      children: [],
      data: { hName: 'figure', hProperties: { className: ['trickle-download'], dataTrickleDownload: '', dataMagnet: uri, ariaLabelledBy: [id] }, hChildren: children }
    }
  }

  return function transform (tree: Root, file: VFile): undefined {
    let ordinal = 0
    const convert = (uri: string, place: RootContent['position']): LeafDirective | undefined => {
      try {
        return block(uri, decodeMagnet(uri), ordinal++)
      } catch (err) {
        file.message(`Invalid magnet link: ${(err as Error).message}`, { place, ruleId: 'invalid-magnet', source: 'remark-trickle-download' })
        return undefined
      }
    }
    visit(tree, (node, index, parent) => {
      if (!parent || index === undefined) return undefined
      if ((node.type === 'leafDirective' || node.type === 'containerDirective' || node.type === 'textDirective') && node.name === 'download') {
        if (node.type !== 'leafDirective') {
          file.message('Use a leaf directive on its own line: `::download{magnet="…"}`', { place: node.position, ruleId: 'leaf', source: 'remark-trickle-download' })
          return undefined
        }
        const uri = node.attributes?.magnet
        if (!uri) {
          file.message('`::download` needs a magnet attribute: `::download{magnet="magnet:?…"}`', { place: node.position, ruleId: 'missing-magnet', source: 'remark-trickle-download' })
          return undefined
        }
        const replacement = convert(uri, node.position)
        if (replacement) parent.children[index] = replacement as unknown as RootContent
        return SKIP
      }
      // A paragraph that holds nothing but one magnet link becomes a download block.
      if (node.type === 'paragraph') {
        const only = (node as Paragraph).children.filter((c) => !(c.type === 'text' && c.value.trim() === ''))
        const link = only[0]
        if (only.length === 1 && link?.type === 'link' && /^magnet:\?/i.test(link.url)) {
          const replacement = convert(link.url, node.position)
          if (replacement) parent.children[index] = replacement as unknown as RootContent
          return SKIP
        }
      }
      return undefined
    })
  }
}
