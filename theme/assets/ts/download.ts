// Paid downloads (ILP Torrent done right): loaded only on pages with a download block. The button
// points the page's monetization link at the file's license pointer, credits every payment's STREAM
// receipt to this reader's balance at the license's verifier, and once the balance covers the price
// (as the tracker counts it), downloads with WebTorrent — announcing with the balance id, so the tracker
// spends the price once and only then hands out peers. Progress, the saved file and every failure are
// shown in the block; the tab keeps seeding while it stays open.
import { formatAmount } from './amounts.ts'
import { balanceId } from './balance.ts'
import { onPayment, type Payment } from './monetization.ts'

interface Strings {
  needAgent: string; paying: string; paid: string; connecting: string; downloading: string; done: string
  save: string; noPeers: string; refused: string; failed: string; unreachable: string; seeding: string
}
interface Config { locale?: string, webtorrent: string, i18n: Strings }

interface Magnet { infoHash: string, name: string, trackers: string[], pointer?: string, verifier?: string, amount?: bigint, code?: string, scale?: number }

function parseMagnet (uri: string): Magnet {
  const q = new URLSearchParams(uri.replace(/^magnet:\?/i, ''))
  const xt = q.get('xt') ?? ''
  const m = /^urn:btih:([0-9a-fA-F]{40})$/.exec(xt)
  if (!m) throw new Error('not a magnet link with a hex infohash')
  const amount = q.get('pa')
  return {
    infoHash: m[1]!.toLowerCase(),
    name: q.get('dn') ?? m[1]!,
    trackers: q.getAll('tr'),
    pointer: q.get('pp') ?? undefined,
    verifier: q.get('vr')?.replace(/\/+$/, ''),
    amount: amount && /^\d+$/.test(amount) ? BigInt(amount) : undefined,
    code: q.get('pc') ?? undefined,
    scale: q.get('ps') ? Number(q.get('ps')) : undefined
  }
}

const fill = (s: string, v: Record<string, string>) => s.replace(/\{(\w+)\}/g, (_, k: string) => v[k] ?? '')

function bytes (n: number, locale?: string): string {
  const units = ['byte', 'kilobyte', 'megabyte', 'gigabyte'] as const
  let i = 0
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i++ }
  return new Intl.NumberFormat(locale, { style: 'unit', unit: units[i], unitDisplay: i === 0 ? 'long' : 'short', maximumFractionDigits: i === 0 ? 0 : 1 }).format(n)
}


type WebTorrentFile = { name: string, length: number, blob (): Promise<Blob> }
type WebTorrentTorrent = {
  on (event: string, fn: (arg?: unknown) => void): void
  progress: number; downloaded: number; length: number; numPeers: number; downloadSpeed: number; timeRemaining: number; done: boolean
  files: WebTorrentFile[]
}
type WebTorrentClient = { add (magnet: string, opts: object, ready?: (t: WebTorrentTorrent) => void): WebTorrentTorrent, on (e: string, fn: (err: Error) => void): void }

function main () {
  const el = document.getElementById('trickle-download-config')
  if (!el?.textContent) return
  const config = JSON.parse(el.textContent) as Config
  const t = config.i18n
  const balance = balanceId()
  let client: Promise<WebTorrentClient> | undefined
  const listeners = new Set<(p: Payment) => void>()
  onPayment((p) => { for (const l of listeners) l(p) }, () => {})

  for (const block of document.querySelectorAll<HTMLElement>('[data-trickle-download]')) {
    const button = block.querySelector<HTMLButtonElement>('[data-trickle-download-start]')
    const status = block.querySelector<HTMLElement>('[data-trickle-download-status]')
    const progressBox = block.querySelector<HTMLElement>('[data-trickle-download-progress]')
    const bar = progressBox?.querySelector('progress')
    const stats = block.querySelector<HTMLElement>('[data-trickle-download-stats]')
    const price = block.querySelector<HTMLElement>('[data-trickle-download-price]')
    const size = block.querySelector<HTMLElement>('[data-trickle-download-size]')
    if (!button || !status) continue
    const say = (text: string) => { status.textContent = text }
    let magnet: Magnet
    try { magnet = parseMagnet(block.dataset.magnet ?? '') } catch (err) { button.disabled = true; say(fill(t.failed, { reason: (err as Error).message })); continue }
    // Readable size and price in the reader's locale (the build wrote a fallback).
    if (size?.dataset.bytes) size.textContent = bytes(Number(size.dataset.bytes), config.locale)
    if (price && magnet.amount !== undefined && magnet.code && magnet.scale !== undefined) price.textContent = formatAmount(magnet.amount, magnet.code, magnet.scale, config.locale)

    const download = async () => {
      say(t.connecting)
      client ??= import(config.webtorrent).then((m: { default: new (opts: object) => WebTorrentClient }) => new m.default({ dht: false, lsd: false, utPex: false, webSeeds: false }))
      const wt = await client
      wt.on('error', (err) => say(fill(t.failed, { reason: err.message })))
      // The tracker reads `balance` (webtorrent's getAnnounceOpts carries it): it spends the price once
      // for this balance and torrent, and only then answers with peers.
      const torrent = wt.add(block.dataset.magnet!, { announce: magnet.trackers, getAnnounceOpts: () => ({ balance }) })
      progressBox && (progressBox.hidden = false)
      const noPeers = setTimeout(() => { if (torrent.numPeers === 0) say(t.noPeers) }, 20_000)
      torrent.on('warning', (w) => {
        const message = String((w as Error)?.message ?? w)
        if (/payment|balance|license|refus|price/i.test(message)) say(fill(t.refused, { reason: message.replace(/^.*?tracker.*?:\s*/i, '') }))
      })
      torrent.on('error', (e) => say(fill(t.failed, { reason: String((e as Error)?.message ?? e) })))
      torrent.on('download', () => {
        if (bar) { bar.value = Math.round(torrent.progress * 100) }
        if (stats) {
          const left = Number.isFinite(torrent.timeRemaining) ? Math.max(1, Math.round(torrent.timeRemaining / 1000)) : 0
          stats.textContent = fill(t.downloading, {
            done: bytes(torrent.downloaded, config.locale), total: bytes(torrent.length, config.locale),
            peers: String(torrent.numPeers), speed: `${bytes(torrent.downloadSpeed, config.locale)}/s`, left: left ? `${left} s` : '–'
          })
        }
      })
      torrent.on('done', async () => {
        clearTimeout(noPeers)
        if (bar) bar.value = 100
        say(t.done)
        for (const file of torrent.files) {
          const url = URL.createObjectURL(await file.blob())
          const a = document.createElement('a')
          a.href = url
          a.download = file.name
          a.textContent = fill(t.save, { name: file.name })
          a.className = 'trickle-download__save'
          a.setAttribute('data-trickle-download-save', '')
          block.append(a)
        }
        const seeding = document.createElement('p')
        seeding.className = 'trickle-download__seeding'
        seeding.textContent = t.seeding
        block.append(seeding)
        block.setAttribute('data-trickle-download-done', '')
      })
    }

    button.addEventListener('click', async () => {
      button.disabled = true
      if (!magnet.pointer || !magnet.verifier) { await download(); return }
      // What the tracker will spend, in receipt units: ask its registration, never trust the magnet.
      let spend: bigint
      try {
        const res = await fetch(`${magnet.verifier}/torrents/${magnet.infoHash}`)
        if (!res.ok) throw new Error(String(res.status))
        spend = BigInt((await res.json() as { spendAmount: string }).spendAmount)
      } catch {
        say(t.unreachable)
        button.disabled = false
        return
      }
      // Credited before (another tab, a reload)? Then the balance may already cover it. Only asked when
      // this browser has credited there, so a new reader's first click sees no 404.
      const creditedKey = `trickle-credited:${magnet.verifier}`
      try {
        if (localStorage.getItem(creditedKey)) {
          const res = await fetch(`${magnet.verifier}/balances/${encodeURIComponent(balance)}`)
          if (res.ok && BigInt(await res.text()) >= spend) { say(t.paid); await download(); return }
        }
      } catch {}
      // Pay the file's creator: the agent follows the page's monetization link.
      let link = document.querySelector<HTMLLinkElement>('link[rel~="monetization"]')
      const previous = link?.getAttribute('href') ?? null
      if (!link) { link = document.createElement('link'); link.rel = 'monetization'; document.head.append(link) }
      link.setAttribute('href', magnet.pointer)
      // Amounts in the status are the magnet's (what the reader was shown); nothing paid yet.
      const priceText = magnet.amount !== undefined && magnet.code && magnet.scale !== undefined
        ? formatAmount(magnet.amount, magnet.code, magnet.scale, config.locale) : ''
      say(fill(t.paying, { paid: priceText ? formatAmount(0n, magnet.code!, magnet.scale!, config.locale) : '0', price: priceText }))
      const noAgent = setTimeout(() => say(t.needAgent), 10_000)
      const credited = new Set<string>()
      let started = false
      const listener = (p: Payment) => {
        if (started || !p.receipt || credited.has(p.receipt) || p.paymentPointer !== link!.href) return
        clearTimeout(noAgent)
        credited.add(p.receipt)
        void fetch(`${magnet.verifier}/balances/${encodeURIComponent(balance)}:creditReceipt`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: p.receipt })
          .then(async (res) => {
            if (!res.ok || started) return
            try { localStorage.setItem(creditedKey, '1') } catch {}
            const have = BigInt(await res.text())
            const shown = spend > 0n && magnet.amount !== undefined ? (have * magnet.amount) / spend : 0n
            if (magnet.code && magnet.scale !== undefined && magnet.amount !== undefined) {
              say(fill(t.paying, { paid: formatAmount(shown < magnet.amount ? shown : magnet.amount, magnet.code, magnet.scale, config.locale), price: formatAmount(magnet.amount, magnet.code, magnet.scale, config.locale) }))
            }
            if (have >= spend) {
              started = true
              listeners.delete(listener)
              // Paid: the page pays its own pointer again.
              if (previous) link!.setAttribute('href', previous)
              else link!.remove()
              say(t.paid)
              await download()
            }
          }, () => say(t.unreachable))
      }
      listeners.add(listener)
    })
  }
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', main)
else main()
