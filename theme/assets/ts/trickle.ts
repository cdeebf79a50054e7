// Trickle's reader script: the only script a plain post ships. It listens for Web Monetization
// payments (both event families), opens exclusive sections, shows what this reader has streamed on
// this page (per creator in galleries), and switches the page's pointer as gallery images come into
// view. Visible strings come from the theme's i18n files through #trickle-config.
import { formatAmount } from './amounts.ts'
import { revealExclusive } from './exclusive.ts'
import { watchGallery } from './gallery.ts'
import { onPayment, type Payment } from './monetization.ts'
import { sealedSections, type SealedStrings } from './sealed.ts'

interface Config {
  locale?: string
  i18n: { thanks: string, streaming: string, sealed?: SealedStrings }
}

function readConfig (): Config {
  const el = document.getElementById('trickle-config')
  try {
    return JSON.parse(el?.textContent ?? '') as Config
  } catch {
    return { i18n: { thanks: 'Thank you for supporting this site.', streaming: 'Payment started.' } }
  }
}

interface Sum { amount: bigint, code: string, scale: number }

/** `sum` plus `p`, exactly, at the finer of their two scales. */
function add (sum: Sum | undefined, p: Payment): Sum {
  if (!sum) return { amount: p.amount, code: p.assetCode, scale: p.assetScale }
  const scale = Math.max(sum.scale, p.assetScale)
  return { amount: sum.amount * 10n ** BigInt(scale - sum.scale) + p.amount * 10n ** BigInt(scale - p.assetScale), code: sum.code, scale }
}

function main () {
  const config = readConfig()
  const status = document.querySelector<HTMLElement>('[data-trickle-status]')
  const announce = (message: string) => { if (status) status.textContent = message }
  const link = document.querySelector<HTMLLinkElement>('link[rel~="monetization"]')
  const pagePointer = link?.getAttribute('href') ?? undefined

  // Totals per currency for the page, and per pointer for gallery counters. Events state amounts at
  // different scales (amountSent "0.0001", then "0.00015"): each sum is kept at the finest seen.
  const totals = new Map<string, Sum>()
  const perPointer = new Map<string, Sum>()
  const totalBox = document.querySelector<HTMLElement>('[data-trickle-total]')
  const totalValue = document.querySelector<HTMLElement>('[data-trickle-total-value]')

  let started = false
  const start = () => {
    if (started) return
    started = true
    document.documentElement.setAttribute('data-trickle-paying', '')
    revealExclusive(announce, config.i18n.thanks)
  }

  const record = (p: Payment) => {
    totals.set(p.assetCode, add(totals.get(p.assetCode), p))
    const key = `${p.paymentPointer} ${p.assetCode}`
    perPointer.set(key, add(perPointer.get(key), p))
    if (totalBox && totalValue) {
      totalBox.hidden = false
      totalValue.textContent = Array.from(totals.values(), (v) => formatAmount(v.amount, v.code, v.scale, config.locale)).join(' + ')
      totalValue.setAttribute('data-amount', Array.from(totals.values(), (v) => v.amount.toString()).join('+'))
    }
    for (const counter of document.querySelectorAll<HTMLElement>('[data-trickle-counter]')) {
      const sum = perPointer.get(`${counter.dataset.trickleCounter ?? ''} ${p.assetCode}`)
      if (!sum || counter.dataset.trickleCounter !== p.paymentPointer) continue
      counter.textContent = formatAmount(sum.amount, sum.code, sum.scale, config.locale)
      counter.setAttribute('data-amount', sum.amount.toString())
      counter.setAttribute('data-scale', String(sum.scale))
    }
  }

  // Sealed sections open only with a key from the companion, which spends their price first.
  const sealed = config.i18n.sealed ? sealedSections(config.i18n.sealed, (section) => revealExclusive(announce, config.i18n.thanks, section), config.locale) : undefined
  onPayment((p) => { record(p); void sealed?.(p) }, start)
  watchGallery(link, pagePointer)

  const toggle = document.querySelector<HTMLButtonElement>('[data-trickle-theme-toggle]')
  if (toggle) {
    const root = document.documentElement
    const prefersDark = matchMedia('(prefers-color-scheme: dark)')
    // Dark when chosen, or when nothing was chosen and the system prefers it: the button's state says
    // what the page shows, so its first press always switches to the other.
    const isDark = () => root.dataset.theme === 'dark' || (!root.dataset.theme && prefersDark.matches)
    let saved: string | null = null
    try { saved = localStorage.getItem('trickle-theme') } catch {}
    if (saved === 'dark' || saved === 'light') root.dataset.theme = saved
    const show = () => toggle.setAttribute('aria-pressed', String(isDark()))
    show()
    prefersDark.addEventListener('change', show)
    toggle.addEventListener('click', () => {
      const dark = !isDark()
      root.dataset.theme = dark ? 'dark' : 'light'
      try { localStorage.setItem('trickle-theme', dark ? 'dark' : 'light') } catch {}
      show()
    })
  }
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', main)
else main()
