// Sealed exclusive sections (encrypted at build time by rehype-trickle-seal): credit each payment's
// STREAM receipt to this reader's balance id at the site's companion, ask for a section's key with the
// balance's secret (the companion spends the section's price from what the balance holds for the
// section's receiver, then releases the key), and decrypt with WebCrypto (AES-256-GCM, additional
// data = the section token). Every state is explained in the section's call to action.
import { formatAmount } from './amounts.ts'
import { readerBalance } from './balance.ts'
import { followCredits, proofOf, type CreditFollower } from './credit.ts'
import type { Payment } from './monetization.ts'

export interface SealedStrings {
  price: string, waiting: string, progress: string, unlocking: string, noReceipts: string, unreachable: string, broken: string, refused: string
  /** The note under a bought section. Optional: a page without it keeps its own note. */
  bought?: string
}

interface Locked {
  content: HTMLElement
  status: HTMLElement
  token: string
  companion: string
  price: { amount: bigint, code: string, scale: number }
  /** The price in the balance's units, from the companion */
  cost?: bigint
  /** The proxy id the section's readers pay: only money credited for it buys the section */
  receiver?: string
  busy: boolean
  /** Refused for good (the reason is shown): not asked again on every payment */
  refused?: boolean
}

const b64 = (s: string) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0))
/** The proxy id of a proxy pointer ({companion}/p/{id}); balances are kept per receiver. */
const receiverOf = (pointer: string) => /\/p\/([0-9a-f]{32})\/?(?:[?#]|$)/.exec(pointer)?.[1]
/** A refusal the companion explained (400, 409): not worth retrying. */
class Refused extends Error {}

export function sealedSections (strings: SealedStrings, reveal: (section: HTMLElement) => void, locale?: string) {
  const locked: Locked[] = []
  for (const content of document.querySelectorAll<HTMLElement>('[data-trickle-content][data-trickle-sealed]')) {
    const section = content.closest<HTMLElement>('[data-trickle-exclusive]')
    const cta = section?.querySelector<HTMLElement>('[data-trickle-cta]')
    if (!section || !cta) continue
    const status = document.createElement('p')
    status.className = 'trickle-exclusive__status'
    status.setAttribute('role', 'status')
    const price = { amount: BigInt(section.dataset.tricklePriceAmount ?? '0'), code: section.dataset.tricklePriceCode ?? '', scale: Number(section.dataset.tricklePriceScale ?? 0) }
    if (price.code) status.textContent = strings.price.replace('{price}', formatAmount(price.amount, price.code, price.scale, locale))
    cta.append(status)
    locked.push({ content, status, token: content.dataset.trickleToken ?? '', companion: content.dataset.trickleCompanion ?? '', price, busy: false })
  }
  if (locked.length === 0) return undefined

  /** What the balance holds per companion and receiver, as the last credit reply for it said */
  const balances = new Map<string, bigint>()
  /** (companion, receiver) balances this page bought a section with */
  const bought = new Set<string>()
  const say = (l: Locked, text: string) => { l.status.textContent = text }
  let queue = Promise.resolve()

  async function unlock (l: Locked): Promise<void> {
    if (l.busy || l.refused || !l.content.hasAttribute('data-trickle-sealed')) return
    l.busy = true
    try {
      // Ask for the key only once the balance covers the price: no request is refused in passing.
      if (l.cost === undefined) {
        const res = await fetch(`${l.companion}/sealed/price?token=${encodeURIComponent(l.token)}`)
        const body = await res.json() as { price: string, receiver: string, message?: string }
        if (!res.ok) throw res.status < 500 ? new Refused(body.message ?? String(res.status)) : new Error()
        l.cost = BigInt(body.price)
        l.receiver = body.receiver
      }
      const held = `${l.companion} ${l.receiver}`
      let have = balances.get(held) ?? 0n
      // After a purchase here, a credit reply sent before it may still report the balance before it:
      // read it afresh, so a second section is asked for only when it is really covered (no 402).
      if (bought.has(held) && have >= l.cost && !granted(l)) {
        const res = await fetch(`${l.companion}/balances/${(await readerBalance()).id}?receiver=${l.receiver}`)
        if (res.ok) { have = BigInt(await res.text()); balances.set(held, have) }
      }
      if (have < l.cost && !granted(l)) {
        const paid = l.cost > 0n ? (have * l.price.amount) / l.cost : 0n
        say(l, strings.progress.replace('{paid}', formatAmount(paid, l.price.code, l.price.scale, locale)).replace('{price}', formatAmount(l.price.amount, l.price.code, l.price.scale, locale)))
        return
      }
      // The secret goes in the body only (never in a URL): it is what lets the companion spend.
      const { secret } = await readerBalance()
      const res = await fetch(`${l.companion}/sealed/keys`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: l.token, secret }) })
      const body = await res.json() as { key?: string, price?: string, balance?: string, expiresAt?: string, message?: string }
      // What is left for this receiver after the purchase (or short of it): the next section compares with it.
      if (body.balance) balances.set(held, BigInt(body.balance))
      if (res.status === 402) {
        // Prices and balances from the companion are in the wallet's units; show them in the section's.
        const paid = body.balance ? BigInt(body.balance) : 0n
        const scaleUp = body.price && BigInt(body.price) > 0n ? (paid * l.price.amount) / BigInt(body.price) : 0n
        say(l, strings.progress.replace('{paid}', formatAmount(scaleUp, l.price.code, l.price.scale, locale)).replace('{price}', formatAmount(l.price.amount, l.price.code, l.price.scale, locale)))
        return
      }
      // 400 token_not_issued (the page was sealed with another secret, or altered), 409: explained.
      if (res.status >= 400 && res.status < 500) throw new Refused(body.message ?? String(res.status))
      if (!res.ok || !body.key) throw new Error()
      say(l, strings.unlocking)
      const key = await crypto.subtle.importKey('raw', b64(body.key), 'AES-GCM', false, ['decrypt'])
      try {
        const plain = await crypto.subtle.decrypt({ name: 'AES-GCM', iv: b64(l.content.dataset.trickleIv ?? ''), additionalData: new TextEncoder().encode(l.token) }, key, b64(l.content.dataset.trickleCiphertext ?? ''))
        // Authenticated by GCM under a key derived for this token: this is the site's own HTML.
        l.content.innerHTML = new TextDecoder().decode(plain)
      } catch {
        say(l, strings.broken)
        return
      }
      l.content.removeAttribute('data-trickle-sealed')
      remember(l, body.expiresAt)
      if (body.balance !== undefined) bought.add(held)
      const section = l.content.closest<HTMLElement>('[data-trickle-exclusive]')!
      // Bought, not streamed: the section stays the reader's when payments stop, so its note must not
      // say "while you stream" (the page's note, right for unsealed sections).
      const thanks = section.querySelector<HTMLElement>('[data-trickle-thanks]')
      if (thanks && strings.bought) thanks.textContent = strings.bought
      reveal(section)
    } catch (err) {
      l.refused = err instanceof Refused
      say(l, l.refused ? strings.refused.replace('{reason}', (err as Error).message) : strings.unreachable)
    } finally {
      l.busy = false
    }
  }

  // Sections bought in this browser within their grant (a reload, another tab: no payment needed; the
  // companion agrees until the grant's end, which it named). localStorage: every tab of the site sees it.
  const grantKey = (l: Locked) => `trickle-grant:${l.token}`
  function granted (l: Locked): boolean {
    try { return Number(localStorage.getItem(grantKey(l)) ?? 0) > Date.now() } catch { return false }
  }
  function remember (l: Locked, expiresAt?: string): void {
    const until = expiresAt ? Date.parse(expiresAt) : NaN
    try { localStorage.setItem(grantKey(l), String(Number.isFinite(until) ? until : Date.now() + 10 * 60_000)) } catch {}
  }

  /** Tries every section still locked, one after another (each purchase lowers what the next can spend). */
  const tryLocked = async () => {
    const open = locked.filter((l) => l.content.hasAttribute('data-trickle-sealed'))
    queue = queue.then(async () => { for (const l of open) await unlock(l) })
    await queue
  }
  /** One follower per companion: credits every payment's proof there, and re-reads incoming payments while they settle. */
  const followers = new Map<string, CreditFollower>()
  const followerOf = (companion: string) => {
    let f = followers.get(companion)
    if (!f) {
      f = followCredits(companion, async () => (await readerBalance()).id, (result, p) => {
        // The reply is what the balance holds for the receiver this payment reached: the pointer paid.
        const receiver = result.receiver ?? receiverOf(p.paymentPointer)
        if (receiver) balances.set(`${companion} ${receiver}`, result.balance)
        void tryLocked()
      }, () => { for (const l of locked) if (l.companion === companion && l.content.hasAttribute('data-trickle-sealed')) say(l, strings.unreachable) })
      followers.set(companion, f)
    }
    return f
  }

  // Granted already (bought in another tab or before a reload): asked for at once, not on the next payment.
  if (locked.some(granted)) void tryLocked()

  /** Called for every payment: credit its proof (receipt or incoming payment), then try the sections still locked. */
  return async function onPayment (p: Payment): Promise<void> {
    const open = locked.filter((l) => l.content.hasAttribute('data-trickle-sealed'))
    if (open.length === 0) return
    if (!proofOf(p)) {
      for (const l of open) say(l, strings.noReceipts)
      return
    }
    for (const companion of new Set(open.map((l) => l.companion))) followerOf(companion).submit(p)
  }
}
