// Magnet URIs for licensed torrents: BEP 9's xt, dn, tr and xl, ILP Torrent's `pp` (payment pointer)
// and `vr` (verifier), as ILP Torrent's magnets had them, and what ILP Torrent left out, although a reader must
// pay before any peer hands over the metadata: the price, as
//
//   pa  amount, whole units in decimal ("100")      pc  asset code ("USD")      ps  asset scale ("2")
//   pk  the license's proofKey (base64url), which signs the proofs of payment peers ask each other for
//
// A magnet with a license is a paid torrent's, and a paid torrent is private (BEP 27): Trickle's
// clients add it with DHT, local discovery, PEX and web seeds off before its metadata (and its
// private flag) arrives, and present a proof of payment to every peer (README, "Proof of payment").
//
// magnet:?xt=urn:btih:<hex>&dn=<name>&xl=<bytes>&tr=<tracker>&pp=<pointer>&vr=<verifier>&pa=100&pc=USD&ps=2&pk=<key>
//
// The magnet only tells a client what to pay; the tracker charges the license of the creator's
// registration, never the magnet's. Isomorphic, like license.ts.
import { checkLicense, checkTrackerUrl, TorrentError, type License, type ParsedTorrent } from './license.ts'

export interface Magnet {
  /** lowercase hex SHA-1 infohash */
  infoHash: string
  name?: string
  /** exact length in bytes (xl) */
  length?: number
  trackers: string[]
  license?: License
}

/** Parameter names for the license fields. */
export const MAGNET_LICENSE_PARAMS = { paymentPointer: 'pp', verifier: 'vr', amount: 'pa', assetCode: 'pc', assetScale: 'ps', proofKey: 'pk' } as const

const HEX_HASH = /^[0-9a-fA-F]{40}$/
const BASE32_HASH = /^[A-Za-z2-7]{32}$/

function base32ToHex (text: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'
  let bits = ''
  for (const c of text.toUpperCase()) bits += alphabet.indexOf(c).toString(2).padStart(5, '0')
  let out = ''
  for (let i = 0; i + 4 <= bits.length; i += 4) out += parseInt(bits.slice(i, i + 4), 2).toString(16)
  return out
}

export function encodeMagnet (magnet: Magnet): string {
  if (!HEX_HASH.test(magnet.infoHash)) throw new TorrentError(`infoHash must be 40 hex digits, got "${magnet.infoHash}"`)
  const parts = [`xt=urn:btih:${magnet.infoHash.toLowerCase()}`]
  if (magnet.name !== undefined) parts.push(`dn=${encodeURIComponent(magnet.name)}`)
  if (magnet.length !== undefined) parts.push(`xl=${magnet.length}`)
  for (const tr of magnet.trackers) parts.push(`tr=${encodeURIComponent(checkTrackerUrl(tr, 'tracker'))}`)
  if (magnet.license) {
    const l = checkLicense(magnet.license)
    const p = MAGNET_LICENSE_PARAMS
    parts.push(`${p.paymentPointer}=${encodeURIComponent(l.paymentPointer)}`, `${p.verifier}=${encodeURIComponent(l.verifier)}`,
      `${p.amount}=${l.amount}`, `${p.assetCode}=${encodeURIComponent(l.assetCode)}`, `${p.assetScale}=${l.assetScale}`, `${p.proofKey}=${l.proofKey}`)
  }
  return `magnet:?${parts.join('&')}`
}

/** The magnet of a parsed .torrent: its infohash, name, length, trackers and license. */
export function magnetOf (torrent: ParsedTorrent): string {
  return encodeMagnet({ infoHash: torrent.infoHash, name: torrent.name, length: torrent.length, trackers: torrent.announce, ...(torrent.license ? { license: torrent.license } : {}) })
}

export function decodeMagnet (uri: string): Magnet {
  if (typeof uri !== 'string' || !/^magnet:\?/i.test(uri.trim())) throw new TorrentError('not a magnet link: it must start with "magnet:?"')
  let params: URLSearchParams
  try {
    params = new URLSearchParams(uri.trim().slice('magnet:?'.length))
  } catch {
    throw new TorrentError('not a magnet link: its parameters cannot be read')
  }
  const single = (key: string): string | undefined => {
    const all = params.getAll(key)
    if (all.length > 1) throw new TorrentError(`the magnet link has ${all.length} "${key}" parameters; expected at most one`)
    return all[0]
  }

  const hashes = params.getAll('xt').filter((xt) => /^urn:btih:/i.test(xt)).map((xt) => xt.slice('urn:btih:'.length))
  if (hashes.length !== 1) throw new TorrentError(`the magnet link needs exactly one xt=urn:btih:<infohash>, it has ${hashes.length}`)
  const raw = hashes[0]!
  let infoHash: string
  if (HEX_HASH.test(raw)) infoHash = raw.toLowerCase()
  else if (BASE32_HASH.test(raw)) infoHash = base32ToHex(raw)
  else throw new TorrentError(`the magnet's infohash must be 40 hex or 32 base32 characters, got "${raw}"`)

  const magnet: Magnet = { infoHash, trackers: params.getAll('tr').map((tr, i) => checkTrackerUrl(tr, `tr #${i + 1}`)) }
  const name = single('dn')
  if (name !== undefined) magnet.name = name
  const xl = single('xl')
  if (xl !== undefined) {
    if (!/^[0-9]{1,16}$/.test(xl) || !Number.isSafeInteger(Number(xl))) throw new TorrentError(`the magnet's xl (length) must be a whole number of bytes, got "${xl}"`)
    magnet.length = Number(xl)
  }

  const p = MAGNET_LICENSE_PARAMS
  const fields = {
    paymentPointer: single(p.paymentPointer),
    verifier: single(p.verifier),
    amount: single(p.amount),
    assetCode: single(p.assetCode),
    assetScale: single(p.assetScale),
    proofKey: single(p.proofKey)
  }
  const given = Object.entries(fields).filter(([, v]) => v !== undefined)
  if (given.length > 0) {
    const missing = Object.entries(fields).filter(([, v]) => v === undefined).map(([k]) => `${p[k as keyof typeof p]} (${k})`)
    if (missing.length > 0) throw new TorrentError(`the magnet link has a partial license: missing ${missing.join(', ')}`)
    const scale = fields.assetScale!
    magnet.license = checkLicense({ ...fields, assetScale: /^[0-9]{1,3}$/.test(scale) ? Number(scale) : scale }, 'magnet license')
  }
  return magnet
}
