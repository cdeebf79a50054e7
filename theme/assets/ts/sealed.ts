// Sealed exclusive sections (encrypted at build time by rehype-trickle-seal): credit each payment's
// STREAM receipt to this reader's balance at the site's companion, ask for a section's key, which the
// companion releases after spending the section's price, and decrypt with WebCrypto (AES-256-GCM,
// additional data = the section token). Every state is explained in the section's call to action.
import { formatAmount } from './amounts.ts'
import { balanceId } from './balance.ts'
import type { Payment } from './monetization.ts'

export interface SealedStrings { price: string, waiting: string, progress: string, unlocking: string, noReceipts: string, unreachable: string, broken: string }

interface Locked {
  content: HTMLElement
  status: HTMLElement
  token: string
  companion: string
  price: { amount: bigint, code: string, scale: number }
  /** The price in the balance's units, from the companion */
  cost?: bigint
  busy: boolean
}

const b64 = (s: string) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0))


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

  const balance = balanceId()
  const credited = new Set<string>()
  /** Balance per companion, as its last credit reply said */
  const balances = new Map<string, bigint>()
  const say = (l: Locked, text: string) => { l.status.textContent = text }

  async function unlock (l: Locked): Promise<void> {
    if (l.busy || !l.content.hasAttribute('data-trickle-sealed')) return
    l.busy = true
    try {
      // Ask for the key only once the balance covers the price: no request is refused in passing.
      if (l.cost === undefined) {
        const res = await fetch(`${l.companion}/sealed/price?token=${encodeURIComponent(l.token)}`)
        if (!res.ok) throw new Error(`HTTP ${res.status}`)
        l.cost = BigInt((await res.json() as { price: string }).price)
      }
      const have = balances.get(l.companion) ?? 0n
      if (have < l.cost && !granted(l)) {
        const paid = l.cost > 0n ? (have * l.price.amount) / l.cost : 0n
        say(l, strings.progress.replace('{paid}', formatAmount(paid, l.price.code, l.price.scale, locale)).replace('{price}', formatAmount(l.price.amount, l.price.code, l.price.scale, locale)))
        return
      }
      const res = await fetch(`${l.companion}/sealed/keys`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: l.token, balance }) })
      const body = await res.json() as { key?: string, price?: string, balance?: string }
      if (res.status === 402) {
        // Prices and balances from the companion are in the wallet's units; show them in the section's.
        const paid = body.balance ? BigInt(body.balance) : 0n
        const scaleUp = body.price && BigInt(body.price) > 0n ? (paid * l.price.amount) / BigInt(body.price) : 0n
        say(l, strings.progress.replace('{paid}', formatAmount(scaleUp, l.price.code, l.price.scale, locale)).replace('{price}', formatAmount(l.price.amount, l.price.code, l.price.scale, locale)))
        return
      }
      if (!res.ok || !body.key) throw new Error(`HTTP ${res.status}`)
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
      remember(l)
      reveal(l.content.closest<HTMLElement>('[data-trickle-exclusive]')!)
    } catch {
      say(l, strings.unreachable)
    } finally {
      l.busy = false
    }
  }

  // Sections bought in this browser within their grant (a reload pays nothing; the companion agrees).
  const grantKey = (l: Locked) => `trickle-grant:${l.token}`
  function granted (l: Locked): boolean {
    try { return Number(sessionStorage.getItem(grantKey(l)) ?? 0) > Date.now() } catch { return false }
  }
  function remember (l: Locked): void {
    try { sessionStorage.setItem(grantKey(l), String(Date.now() + 10 * 60_000)) } catch {}
  }

  /** Called for every payment: credit its receipt, then try the sections still locked. */
  return async function onPayment (p: Payment): Promise<void> {
    const open = locked.filter((l) => l.content.hasAttribute('data-trickle-sealed'))
    if (open.length === 0) return
    if (!p.receipt) {
      for (const l of open) say(l, strings.noReceipts)
      return
    }
    if (credited.has(p.receipt)) return
    credited.add(p.receipt)
    const companions = new Set(open.map((l) => l.companion))
    for (const companion of companions) {
      try {
        const res = await fetch(`${companion}/balances/${encodeURIComponent(balance)}:creditReceipt`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: p.receipt })
        if (res.ok) balances.set(companion, BigInt(await res.text()))
      } catch {
        for (const l of open) say(l, strings.unreachable)
      }
    }
    await Promise.all(open.map(unlock))
  }
}
