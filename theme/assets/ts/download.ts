// Paid downloads (ILP Torrent done right): loaded only on pages with a download block. Before anything
// else the magnet must name one companion (tracker, payment pointer and verifier on one host), and its
// price and payee must be what the creator registered there. The button points the page's monetization
// link at the file's license pointer and credits every payment's STREAM receipt to this reader's balance
// id; once the balance covers the price for that receiver, the balance's secret buys a ticket for the
// WebTorrent client's peer id (POST /torrents/{infohash}/access: the price is spent once per purchase,
// so a reload gets a new ticket for free), and the client announces with it, renewing it before it
// expires. With the ticket comes a proof of payment bound to a key this page made (its private half
// never leaves WebCrypto): the client presents it to every peer and admits only peers that present
// theirs (lt_trickle, proof/gate.ts), so the tab that keeps seeding while it stays open serves paying
// readers only. Progress, the saved file and every failure are shown in the block.
import { formatAmount } from './amounts.ts'
import { readerBalance } from './balance.ts'
import { magnetMismatch } from './companion.ts'
import { formatBytes } from './sizes.ts'
import { followCredits, proofOf } from './credit.ts'
import { onPayment, type Payment } from './monetization.ts'
import { base64url, fromBase64url, newPayerKey, type PayerKey } from './proof/codec.ts'
import { gateTorrent } from './proof/gate.ts'

interface Strings {
  needAgent: string; paying: string; paid: string; connecting: string; downloading: string; done: string
  save: string; noPeers: string; refused: string; failed: string; unreachable: string; seeding: string
  mismatch: string; notRegistered: string; notAsRegistered: string; notCovered: string; tooManyPeers: string
  noProofKey: string
}
interface Config { locale?: string, webtorrent: string, i18n: Strings }

interface Magnet { infoHash: string, name: string, trackers: string[], pointer?: string, verifier?: string, amount?: bigint, code?: string, scale?: number }

interface License { paymentPointer: string, amount: string, assetCode: string, assetScale: number }
interface Registration { license?: License, spendAmount?: string, receiver?: string }
/** POST /torrents/{infohash}/access: 200, or 402/429 with the reason */
interface Access { ticket?: string, expiresAt?: string, grantExpiresAt?: string, proof?: string, code?: string, message?: string, price?: string, balance?: string }

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

const bytes = formatBytes

const store = {
  get: (k: string) => { try { return localStorage.getItem(k) } catch { return null } },
  set: (k: string, v: string) => { try { localStorage.setItem(k, v) } catch {} }
}

type WebTorrentFile = { name: string, length: number, blob (): Promise<Blob> }
type WebTorrentTorrent = {
  on (event: string, fn: (arg?: unknown) => void): void
  progress: number; downloaded: number; length: number; numPeers: number; downloadSpeed: number; timeRemaining: number; done: boolean
  files: WebTorrentFile[]
}
type WebTorrentClient = { peerId: string, add (magnet: string, opts: object, ready?: (t: WebTorrentTorrent) => void): WebTorrentTorrent, on (e: string, fn: (err: Error) => void): void }

function main () {
  const el = document.getElementById('trickle-download-config')
  if (!el?.textContent) return
  const config = JSON.parse(el.textContent) as Config
  const t = config.i18n
  let client: Promise<WebTorrentClient> | undefined
  const webtorrent = () => client ??= import(config.webtorrent).then((m: { default: new (opts: object) => WebTorrentClient }) =>
    new m.default({ dht: false, lsd: false, utPex: false, webSeeds: false }))
  // One key per page for the proofs of payment of its downloads (made on first use).
  let payerKey: Promise<PayerKey> | undefined
  const key = () => payerKey ??= newPayerKey()
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
    const priceText = magnet.amount !== undefined && magnet.code && magnet.scale !== undefined ? formatAmount(magnet.amount, magnet.code, magnet.scale, config.locale) : ''
    if (price && priceText) price.textContent = priceText
    // A magnet whose URLs are not one companion is refused before any request: no payment, no secret.
    const mismatch = magnetMismatch(magnet)
    if (mismatch) {
      button.disabled = true
      say(fill(t.mismatch, { field: mismatch.field, value: mismatch.value || '–', expected: mismatch.expected }))
      continue
    }
    /** In the magnet's units, for the status: what a balance of `have` (receipt units) pays of the price */
    const shown = (have: bigint, spend: bigint) => {
      if (!priceText || spend <= 0n) return priceText
      const part = (have * magnet.amount!) / spend
      return formatAmount(part < magnet.amount! ? part : magnet.amount!, magnet.code!, magnet.scale!, config.locale)
    }

    // The current ticket: webtorrent asks getAnnounceOpts before every announce; and the proof of
    // payment that comes with it, which peers ask for.
    let ticket = ''
    let proof: Uint8Array | undefined
    let renewal: ReturnType<typeof setTimeout> | undefined
    /**
     * Asks for a ticket for this client's peer id with the balance's secret (in the body only). The
     * first one spends the price; within the purchase they are free. Returns the refusal, if any.
     */
    const access = async (): Promise<Access | undefined> => {
      const [{ secret }, wt, { publicKey }] = await Promise.all([readerBalance(), webtorrent(), key()])
      const res = await fetch(`${magnet.verifier}/torrents/${magnet.infoHash}/access`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ secret, peerId: wt.peerId, payerKey: base64url(publicKey) })
      })
      const body = await res.json() as Access
      if (!res.ok || !body.ticket) return body
      ticket = body.ticket
      proof = body.proof ? fromBase64url(body.proof) : proof
      if (body.grantExpiresAt) store.set(`trickle-bought:${magnet.verifier} ${magnet.infoHash}`, String(Date.parse(body.grantExpiresAt)))
      // Renew at half its lifetime (free within the purchase); a failed renewal is tried again sooner.
      const renew = (ms: number) => {
        clearTimeout(renewal)
        renewal = setTimeout(() => { access().then((r) => { if (r) say(refusal(r)) }, () => renew(30_000)) }, Math.max(ms, 5000))
      }
      renew((Date.parse(body.expiresAt!) - Date.now()) / 2)
      return undefined
    }
    let spend = 0n
    const refusal = (r: Access) => r.code === 'too_many_peers' ? t.tooManyPeers
      : r.price ? fill(t.notCovered, { paid: shown(BigInt(r.balance ?? 0), spend), price: priceText })
        : fill(t.refused, { reason: r.message ?? r.code ?? '' })

    const download = async () => {
      say(t.connecting)
      const wt = await webtorrent()
      wt.on('error', (err) => say(fill(t.failed, { reason: err.message })))
      // Paid torrents: the tracker admits this peer id only with a ticket the purchase issued for it;
      // private before the metadata says so, and gated: peers see this tab only once they proved
      // payment, and it proves its own.
      const paid = Boolean(magnet.pointer)
      const torrent = wt.add(block.dataset.magnet!, { announce: magnet.trackers, ...(paid ? { private: true } : {}), getAnnounceOpts: () => ticket ? { ticket } : {} })
      if (paid) {
        const { sign } = await key()
        // Each peer's proof, and each refusal, in the console for whoever debugs a download.
        gateTorrent(torrent as never, { credentials: () => proof && { proof, sign }, onEvent: (e) => console.debug('trickle proof of payment:', e.kind, e.peer, 'reason' in e ? e.reason : '') })
      }
      progressBox && (progressBox.hidden = false)
      const noPeers = setTimeout(() => { if (torrent.numPeers === 0) say(t.noPeers) }, 20_000)
      torrent.on('warning', (w) => {
        const message = String((w as Error)?.message ?? w)
        if (/payment|balance|license|refus|price|ticket/i.test(message)) say(fill(t.refused, { reason: message.replace(/^.*?tracker.*?:\s*/i, '') }))
      })
      torrent.on('error', (e) => say(fill(t.failed, { reason: String((e as Error)?.message ?? e) })))
      torrent.on('download', () => {
        if (bar) { bar.value = Math.round(torrent.progress * 100) }
        if (stats) {
          const left = Number.isFinite(torrent.timeRemaining) ? Math.max(1, Math.round(torrent.timeRemaining / 1000)) : 0
          stats.textContent = fill(t.downloading, {
            done: bytes(torrent.downloaded, config.locale), total: torrent.length > 0 ? bytes(torrent.length, config.locale) : '–',
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
      if (!magnet.pointer) { await download(); return }
      // What the tracker will spend, in receipt units, and for which receiver: ask its registration,
      // and refuse a magnet whose price or payee is not the registered one.
      let reg: Registration
      try {
        const res = await fetch(`${magnet.verifier}/torrents/${magnet.infoHash}`)
        if (res.status === 404) { say(fill(t.notRegistered, { companion: magnet.verifier! })); return }
        if (!res.ok) throw new Error(String(res.status))
        reg = await res.json() as Registration
      } catch {
        say(t.unreachable)
        button.disabled = false
        return
      }
      const l = reg.license
      if (!l || l.paymentPointer !== magnet.pointer || BigInt(l.amount) !== magnet.amount || l.assetCode !== magnet.code || l.assetScale !== magnet.scale) {
        say(fill(t.notAsRegistered, { price: l ? formatAmount(BigInt(l.amount), l.assetCode, l.assetScale, config.locale) : '–', pointer: l?.paymentPointer ?? '–' }))
        return
      }
      spend = BigInt(reg.spendAmount ?? 0)
      // Peers will ask for a proof of payment, signed with a key this browser must be able to make.
      try { await key() } catch { say(t.noProofKey); button.disabled = false; return }
      const { id } = await readerBalance()
      const get = async () => {
        const refused = await access()
        if (refused) return refused
        say(t.paid)
        await download()
        return undefined
      }
      // Bought before (a reload, another tab): a new ticket is free. Credited before: the balance may
      // already cover it. Asked only then, so a new reader's first click sees no refusal in passing.
      const creditedKey = `trickle-credited:${magnet.verifier} ${reg.receiver}`
      try {
        let covered = Number(store.get(`trickle-bought:${magnet.verifier} ${magnet.infoHash}`)) > Date.now()
        if (!covered && store.get(creditedKey)) {
          const res = await fetch(`${magnet.verifier}/balances/${id}?receiver=${reg.receiver}`)
          covered = res.ok && BigInt(await res.text()) >= spend
        }
        const refused = covered ? await get() : { price: '' }
        if (!refused) return
        // 402 (the purchase ended, or the money went elsewhere): pay below; 429 and the like: stop here.
        if (refused.price === undefined) { say(refusal(refused)); return }
      } catch {}
      // Pay the file's creator: the agent follows the page's monetization link.
      let link = document.querySelector<HTMLLinkElement>('link[rel~="monetization"]')
      const previous = link?.getAttribute('href') ?? null
      if (!link) { link = document.createElement('link'); link.rel = 'monetization'; document.head.append(link) }
      link.setAttribute('href', magnet.pointer)
      // Amounts in the status are the magnet's (what the reader was shown); nothing paid yet.
      say(fill(t.paying, { paid: shown(0n, spend), price: priceText }))
      // No payment after 10 s (no agent, or it pays elsewhere): say so, and let the reader try again.
      const noAgent = setTimeout(() => {
        say(t.needAgent)
        listeners.delete(listener)
        restore()
        button.disabled = false
      }, 10_000)
      const restore = () => {
        if (previous) link!.setAttribute('href', previous)
        else link!.remove()
      }
      /** Set while a ticket is asked for, and for good once the download started or was refused */
      let busy = false
      /** What the balance holds now: enough buys the ticket (else the reader keeps paying). */
      const covered = async (have: bigint) => {
        if (busy) return
        store.set(creditedKey, '1')
        say(fill(t.paying, { paid: shown(have, spend), price: priceText }))
        if (have < spend) return
        busy = true
        const refused = await get()
        if (refused) {
          say(refusal(refused))
          // 402 (spent elsewhere meanwhile): keep paying; anything else ends here.
          if (refused.price !== undefined) { busy = false; return }
        }
        listeners.delete(listener)
        // Paid (or refused for good): the page pays its own pointer again.
        restore()
      }
      // Credits every payment's proof to this reader's balance; an incoming payment may still be
      // settling: the follower reads it again until the balance says what arrived.
      const follower = followCredits(magnet.verifier!, async () => id, (result) => { void covered(result.balance) }, () => { busy = false; say(t.unreachable) })
      const listener = (p: Payment) => {
        if (busy || !proofOf(p) || p.paymentPointer !== link!.href) return
        clearTimeout(noAgent)
        follower.submit(p)
      }
      listeners.add(listener)
    })
  }
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', main)
else main()
