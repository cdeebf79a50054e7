// rehype plugin: seals every exclusive section of a built page. The content of each
// section[data-trickle-exclusive] > [data-trickle-content] is encrypted with AES-256-GCM under a key only
// the companion can derive (server/src/sealed/crypto.ts) and replaced by the ciphertext and what the
// page needs to ask for its key: the section token (site, page, id, price, receiver; MACed with the
// site's key, so the companion spends only what the build wrote) and the companion's URL. The theme's reader script
// decrypts with WebCrypto once the companion has spent the price from what the reader's balance holds
// for the section's receiver.
//
// The receiver is the one the page's monetization link pays (<link rel="monetization" href>): the
// creator's Open Payments wallet address, whose id is the one its registration at the companion has
// (POST /proxies), or a proxy pointer of the companion ({companion}/p/{id}) for agents that send
// STREAM receipts. Balances are kept per receiver, so a section sealed for another receiver could
// never be bought with the page's payments. A page with exclusive sections and no link fails the
// build; sealSite (site.ts) then asks the companion whether it can charge each price.
import type { Element, Root } from 'hast'
import { toHtml } from 'hast-util-to-html'
import { visit, EXIT, SKIP } from 'unist-util-visit'
import type { VFile } from 'vfile'
import { encodeSealToken, sealSection, siteOf, type SectionPrice } from 'trickle-core/seal'
import { receiverIdOfPointer } from 'trickle-core/pointers'

export interface Options {
  /**
   * The site's seal key: what the companion's `POST /sealed/sites` returns for `site` (or
   * siteSealKey(sealKey, site) where the companion's seal secret is at hand; server/src/sealed/crypto.ts).
   */
  sealKey: Uint8Array
  /** The site's base URL (e.g. https://blog.example/): tokens name it and the site key is bound to it */
  site: string
  /** Base URL of the companion that credits receipts and releases keys, e.g. https://pay.example.com */
  companion: string
  /** Site-relative path of this page (default: from file.path and file.cwd, e.g. /posts/a/) */
  page?: string | null
  /** Price of sections that name none (front matter `price` or params.trickle.price set theirs) */
  defaultPrice?: SectionPrice | null
  /**
   * Proxy id (32 hex digits) or proxy pointer of the companion that every sealed section is paid to,
   * instead of the one in the page's <link rel="monetization">.
   */
  receiver?: string | null
}

export interface SealedSection {
  page: string
  id: string
  /** The section's text, for the leak check over the whole site */
  text: string
  /**
   * The last words of visible text before the section: a summary cut at the section's start holds
   * them followed by its first words, a run the leak check looks for even when only a heading's
   * few words leaked.
   */
  before: string
  /** The section token: its price and receiver, which the companion quotes (GET /sealed/price) */
  token: string
  receiver: string
  price: SectionPrice
}

const SKIP_TEXT = new Set(['head', 'script', 'style', 'template', 'noscript'])
const BLOCK = new Set(['address', 'article', 'aside', 'blockquote', 'br', 'dd', 'details', 'div', 'dl', 'dt', 'figcaption', 'figure', 'footer',
  'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'header', 'hr', 'li', 'main', 'nav', 'ol', 'p', 'pre', 'section', 'summary', 'table', 'td', 'th', 'tr', 'ul'])

/** An element's text as a reader sees it: blocks apart (hast-util-to-string runs "part" and "Thank" of two blocks together). */
function visibleText (node: Element): string {
  let out = ''
  const walk = (n: Element) => {
    for (const child of n.children) {
      if (child.type === 'text') out += child.value
      else if (child.type === 'element' && !SKIP_TEXT.has(child.tagName)) {
        const block = BLOCK.has(child.tagName)
        if (block) out += ' '
        walk(child)
        if (block) out += ' '
      }
    }
  }
  walk(node)
  return out.replace(/\s+/g, ' ').trim()
}

/** The last few words of visible text before each exclusive section, in document order. */
function textBefore (tree: Root): Map<Element, string> {
  const out = new Map<Element, string>()
  let recent: string[] = []
  const walk = (node: Root | Element) => {
    for (const child of node.children) {
      if (child.type === 'text') {
        recent = [...recent, ...child.value.split(/\s+/).filter(Boolean)].slice(-8)
      } else if (child.type === 'element') {
        if (SKIP_TEXT.has(child.tagName)) continue
        if (child.properties.dataTrickleExclusive !== undefined) { out.set(child, recent.join(' ')); continue }
        walk(child)
      }
    }
  }
  walk(tree)
  return out
}

declare module 'vfile' {
  interface DataMap { sealedSections: SealedSection[] }
}

function pageOf (file: VFile): string {
  const rel = file.path ? file.path.slice(file.cwd.length).replace(/\\/g, '/').replace(/^\/*/, '/') : '/'
  return rel.endsWith('/index.html') ? rel.slice(0, -'index.html'.length) : rel
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]'])
const PROXY_ID = /^[0-9a-f]{32}$/
const AMOUNT = /^(0|[1-9][0-9]{0,19})$/
const U64_MAX = (1n << 64n) - 1n

/** One host and port, counting the loopback spellings of one port as one (the companion does). */
function sameServer (a: URL, b: URL): boolean {
  if (a.protocol !== b.protocol) return false
  return a.host === b.host || (a.port === b.port && LOOPBACK.has(a.hostname) && LOOPBACK.has(b.hostname))
}

/** The proxy id of `pointer` when it is a proxy pointer of the companion ({companion}/p/{id}). */
export function proxyIdOf (pointer: string, companion: string): string | undefined {
  let url: URL
  try { url = new URL(pointer.startsWith('$') ? `https://${pointer.slice(1)}` : pointer) } catch { return undefined }
  const base = new URL(companion)
  const prefix = `${base.pathname.replace(/\/+$/, '')}/p/`
  if (!sameServer(url, base) || url.search || url.hash || !url.pathname.startsWith(prefix)) return undefined
  const id = url.pathname.slice(prefix.length)
  return PROXY_ID.test(id) ? id : undefined
}

/** What is wrong with a price the companion could not take, naming the field; undefined when fine. */
export function priceProblem (price: SectionPrice): string | undefined {
  if (typeof price.amount !== 'string' || !AMOUNT.test(price.amount) || BigInt(price.amount) > U64_MAX) {
    return `price amount "${String(price.amount)}" is not a whole number in decimal (it counts units at assetScale: 0.5 USD at scale 2 is "50")`
  }
  if (typeof price.assetCode !== 'string' || !/^[A-Za-z0-9]{1,12}$/.test(price.assetCode)) return `price assetCode "${String(price.assetCode)}" is not 1-12 letters or digits`
  if (!Number.isInteger(price.assetScale) || price.assetScale < 0 || price.assetScale > 255) return `price assetScale "${String(price.assetScale)}" is not a whole number from 0 to 255`
  return undefined
}

/** The href of the page's first <link rel="monetization">, if any. */
function pagePointer (tree: Root): string | undefined {
  let href: string | undefined
  visit(tree, 'element', (e) => {
    if (e.tagName !== 'link') return undefined
    const rel = e.properties.rel
    if (!(Array.isArray(rel) ? rel : [rel]).some((r) => String(r).toLowerCase() === 'monetization')) return undefined
    href = e.properties.href === undefined ? '' : String(e.properties.href)
    return EXIT
  })
  return href
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
  const site = siteOf(options.site ?? '')
  if (!site) throw new Error(`rehype-trickle-seal: options.site must be the site's http(s) base URL (its key is bound to it), got "${String(options.site)}"`)
  const companion = options.companion.replace(/\/+$/, '')
  let fixedReceiver: string | undefined
  if (options.receiver) {
    fixedReceiver = PROXY_ID.test(options.receiver) ? options.receiver : proxyIdOf(options.receiver, companion) ?? receiverIdOfPointer(options.receiver)
    if (!fixedReceiver) throw new Error(`rehype-trickle-seal: options.receiver must be a receiver id (32 hex digits), a wallet address or payment pointer, or a proxy pointer of ${companion} (${companion}/p/{id}), got "${options.receiver}"`)
  }

  return function transform (tree: Root, file: VFile): undefined {
    const page = options.page ?? pageOf(file)
    const sealed: SealedSection[] = []
    // Looked up with the first section to seal: pages without one need no pointer.
    let receiver = fixedReceiver
    const before = textBefore(tree)
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
      const problem = priceProblem(price)
      if (problem) {
        file.fail(`Exclusive section "${String(id)}" of ${page}: ${problem}; the companion could not charge it`, { place: section.position, ruleId: 'bad-price', source: 'rehype-trickle-seal' })
      }
      if (!receiver) {
        const href = pagePointer(tree)
        receiver = href ? proxyIdOf(href, companion) ?? receiverIdOfPointer(href) : undefined
        if (!receiver) {
          file.fail(`Page ${page} has exclusive sections, but its monetization link (<link rel="monetization" href>) is ${href === undefined ? 'missing' : `"${href}", neither a payment pointer nor a wallet address`}: readers' payments must reach a receiver the companion verifies. Point the page at the creator's Open Payments wallet address or the companion's proxy pointer (${companion}/p/{id}), or pass the receiver option`, { ruleId: 'no-receiver', source: 'rehype-trickle-seal' })
        }
      }
      const token = encodeSealToken(options.sealKey, { site, page, id: String(id), ...price!, receiver: receiver! })
      const plaintext = toHtml(content.children)
      const box = sealSection(options.sealKey, token, plaintext)
      sealed.push({ page, id: String(id), text: visibleText(content), before: before.get(section) ?? '', token, receiver: receiver!, price: price! })
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
