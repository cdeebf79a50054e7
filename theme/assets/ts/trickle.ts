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

function main () {
  const config = readConfig()
  const status = document.querySelector<HTMLElement>('[data-trickle-status]')
  const announce = (message: string) => { if (status) status.textContent = message }
  const link = document.querySelector<HTMLLinkElement>('link[rel~="monetization"]')
  const pagePointer = link?.getAttribute('href') ?? undefined

  // Totals per asset for the page, and per pointer for gallery counters.
  const totals = new Map<string, { amount: bigint, scale: number }>()
  const perPointer = new Map<string, { amount: bigint, code: string, scale: number }>()
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
    const key = `${p.assetCode}/${p.assetScale}`
    const t = totals.get(key) ?? { amount: 0n, scale: p.assetScale }
    t.amount += p.amount
    totals.set(key, t)
    const c = perPointer.get(p.paymentPointer) ?? { amount: 0n, code: p.assetCode, scale: p.assetScale }
    c.amount += p.amount
    perPointer.set(p.paymentPointer, c)
    if (totalBox && totalValue) {
      totalBox.hidden = false
      totalValue.textContent = Array.from(totals, ([k, v]) => formatAmount(v.amount, k.split('/')[0]!, v.scale, config.locale)).join(' + ')
      totalValue.setAttribute('data-amount', Array.from(totals.values(), (v) => v.amount.toString()).join('+'))
    }
    for (const counter of document.querySelectorAll<HTMLElement>('[data-trickle-counter]')) {
      const sum = perPointer.get(counter.dataset.trickleCounter ?? '')
      if (!sum) continue
      counter.textContent = formatAmount(sum.amount, sum.code, sum.scale, config.locale)
      counter.setAttribute('data-amount', sum.amount.toString())
    }
  }

  // Sealed sections open only with a key from the companion, which spends their price first.
  const sealed = config.i18n.sealed ? sealedSections(config.i18n.sealed, (section) => revealExclusive(announce, config.i18n.thanks, section), config.locale) : undefined
  onPayment((p) => { record(p); void sealed?.(p) }, start)
  watchGallery(link, pagePointer)

  const toggle = document.querySelector<HTMLButtonElement>('[data-trickle-theme-toggle]')
  if (toggle) {
    const saved = localStorage.getItem('trickle-theme')
    if (saved) document.documentElement.dataset.theme = saved
    toggle.setAttribute('aria-pressed', String(document.documentElement.dataset.theme === 'dark'))
    toggle.addEventListener('click', () => {
      const dark = !(document.documentElement.dataset.theme === 'dark' ||
        (!document.documentElement.dataset.theme && matchMedia('(prefers-color-scheme: dark)').matches))
      document.documentElement.dataset.theme = dark ? 'dark' : 'light'
      localStorage.setItem('trickle-theme', dark ? 'dark' : 'light')
      toggle.setAttribute('aria-pressed', String(dark))
    })
  }
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', main)
else main()
