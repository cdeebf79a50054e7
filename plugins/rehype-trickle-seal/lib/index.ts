// rehype plugin: seals every exclusive section of a built page. The content of each
// section[data-trickle-exclusive] > [data-trickle-content] is encrypted with AES-256-GCM under a key only
// the companion can derive (server/src/sealed/crypto.ts) and replaced by the ciphertext and what the
// page needs to ask for its key: the section token (page, id, price) and the companion's URL. The
// theme's reader script decrypts with WebCrypto once the companion has spent the price from the
// reader's balance.
import type { Element, Root } from 'hast'
import { toHtml } from 'hast-util-to-html'
import { toString } from 'hast-util-to-string'
import { visit, SKIP } from 'unist-util-visit'
import type { VFile } from 'vfile'
import { encodeSealToken, sealSection, type SectionPrice } from '@trickle/server/seal-crypto'

export interface Options {
  /** HMAC(sealSecret, "trickle-seal-v1"), the companion's (see server/src/sealed/crypto.ts) */
  sealKey: Uint8Array
  /** Base URL of the companion that credits receipts and releases keys, e.g. https://pay.example.com */
  companion: string
  /** Site-relative path of this page (default: from file.path and file.cwd, e.g. /posts/a/) */
  page?: string | null
  /** Price of sections that name none (front matter `price` or params.trickle.price set theirs) */
  defaultPrice?: SectionPrice | null
}

export interface SealedSection {
  page: string
  id: string
  /** The section's text, for the leak check over the whole site */
  text: string
}

declare module 'vfile' {
  interface DataMap { sealedSections: SealedSection[] }
}

function pageOf (file: VFile): string {
  const rel = file.path ? file.path.slice(file.cwd.length).replace(/\\/g, '/').replace(/^\/*/, '/') : '/'
  return rel.endsWith('/index.html') ? rel.slice(0, -'index.html'.length) : rel
}

function priceOf (section: Element, fallback: SectionPrice | null | undefined): SectionPrice | undefined {
  const p = section.properties
  if (p.dataTricklePriceAmount !== undefined) {
    return { amount: String(p.dataTricklePriceAmount), assetCode: String(p.dataTricklePriceCode ?? ''), assetScale: Number(p.dataTricklePriceScale ?? 0) }
  }
  return fallback ?? undefined
}

export default function rehypeTrickleSeal (options: Options) {
  if (!options?.sealKey || options.sealKey.length < 32) throw new Error('rehype-trickle-seal: options.sealKey (32 bytes) is required')
  if (!/^https?:\/\//.test(options.companion ?? '')) throw new Error('rehype-trickle-seal: options.companion must be the companion\'s http(s) base URL')
  const companion = options.companion.replace(/\/+$/, '')

  return function transform (tree: Root, file: VFile): undefined {
    const page = options.page ?? pageOf(file)
    const sealed: SealedSection[] = []
    visit(tree, 'element', (section) => {
      const id = section.properties.dataTrickleExclusive
      if (id === undefined) return undefined
      let content: Element | undefined
      visit(section, 'element', (e) => {
        if (e.properties.dataTrickleContent !== undefined) { content = e; return SKIP }
        return undefined
      })
      if (!content) {
        file.message(`Exclusive section "${String(id)}" has no [data-trickle-content]: not Trickle markup, left as it is`, { place: section.position, ruleId: 'no-content', source: 'rehype-trickle-seal' })
        return SKIP
      }
      if (content.properties.dataTrickleSealed !== undefined) return SKIP
      const price = priceOf(section, options.defaultPrice)
      if (!price) {
        // Never leave plaintext behind: a section without a price stops the build.
        file.fail(`Exclusive section "${String(id)}" of ${page} has no price: set front matter \`price\` or params.trickle.price, or pass a default price`, { place: section.position, ruleId: 'no-price', source: 'rehype-trickle-seal' })
      }
      const token = encodeSealToken({ page, id: String(id), ...price })
      const plaintext = toHtml(content.children)
      const box = sealSection(options.sealKey, token, plaintext)
      sealed.push({ page, id: String(id), text: toString(content) })
      content.children = []
      Object.assign(content.properties, {
        dataTrickleSealed: '',
        dataTrickleToken: token,
        dataTrickleCiphertext: box.ciphertext,
        dataTrickleIv: box.iv,
        dataTrickleCompanion: companion
      })
      return SKIP
    })
    file.data.sealedSections = [...(file.data.sealedSections ?? []), ...sealed]
  }
}
