// Licensed torrents: ILP Torrent's idea (a tracker that hands out peers once a license fee is paid) without its flaws.
//
// - The license {paymentPointer, verifier, amount, assetCode, assetScale} lies INSIDE the info
//   dictionary, so the infohash commits to price, pointer and verifier. The original kept it at the top
//   level, outside the hash, and the tracker took it from whoever announced first.
// - A paid torrent is private (info.private = 1: no DHT, no PEX) and names exactly one tracker, so no
//   other source hands out peers without payment.
// - Amounts are decimal strings of whole units and bigint in arithmetic, never floats (the original
//   wrote `amount * 1e9`).
//
// Isomorphic on purpose: no node: imports, Uint8Array rather than Buffer, WebCrypto for SHA-1, bencode
// from the package webtorrent itself uses. esbuild bundles this file (and magnet.ts) for the browser.
import bencode from 'bencode'
import { checkLicense, checkTrackerUrl, describe, LICENSE_FIELDS, TorrentError, type License, type ParsedTorrent, type TorrentFile } from '../../../packages/trickle-core/src/license.ts'

// Licenses and prices live in trickle-core, shared with the plugins and the CLI; re-exported here for
// the companion's modules, which know them as the torrent module's.
export * from '../../../packages/trickle-core/src/license.ts'

// ---------------------------------------------------------------------------------------------------
// .torrent files

export interface CreateTorrentOptions {
  /** File name (one path segment); it becomes info.name */
  name: string
  /** The file's bytes, whole or as chunks of any size (e.g. a Node read stream). */
  data: Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>
  /** Length in bytes, when `data` is streamed: chooses the piece length (otherwise 256 KiB). */
  length?: number
  /** The one tracker URL (ws:// or wss:// for browsers, http(s):// for TCP clients) */
  announce: string
  /** Present: a paid torrent, always private. */
  license?: License
  /** Free torrents only: set info.private (default false). */
  private?: boolean
  pieceLength?: number
}

export interface CreatedTorrent extends ParsedTorrent {
  /** The .torrent file */
  torrent: Uint8Array
}

const utf8 = new TextDecoder('utf-8', { fatal: true })
const utf8Encode = new TextEncoder()
const hex = (bytes: Uint8Array) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')

async function sha1 (data: Uint8Array): Promise<Uint8Array> {
  // WebCrypto exists in Node >= 19 and in browsers (secure contexts, as webtorrent itself needs).
  return new Uint8Array(await globalThis.crypto.subtle.digest('SHA-1', data as Uint8Array<ArrayBuffer>))
}

/** Piece length as create-torrent picks it: a power of two from 16 KiB, about a thousand pieces. */
export function defaultPieceLength (length: number): number {
  let p = 16 * 1024
  while (p < 16 * 1024 * 1024 && length / p > 1024) p *= 2
  return p
}

function checkName (name: unknown, where: string): string {
  if (typeof name !== 'string' || name.length === 0) throw new TorrentError(`${where} must be a non-empty file name`)
  if (/[/\\]/.test(name) || name === '.' || name === '..' || name.includes('\0')) {
    throw new TorrentError(`${where} must be one file name without path separators, got "${name}"`)
  }
  if (utf8Encode.encode(name).length > 255) throw new TorrentError(`${where} is longer than 255 bytes`)
  return name
}

async function * chunksOf (data: CreateTorrentOptions['data']): AsyncIterable<Uint8Array> {
  if (data instanceof Uint8Array) { yield data; return }
  for await (const chunk of data as AsyncIterable<Uint8Array>) yield chunk
}

/** Builds a single-file .torrent; a license makes it paid and private, inside the hashed info dict. */
export async function createTorrent (opts: CreateTorrentOptions): Promise<CreatedTorrent> {
  const name = checkName(opts.name, 'name')
  const announce = checkTrackerUrl(opts.announce, 'announce')
  const license = opts.license === undefined ? undefined : checkLicense(opts.license)
  const hint = opts.data instanceof Uint8Array ? opts.data.length : opts.length
  const pieceLength = opts.pieceLength ?? (hint === undefined ? 256 * 1024 : defaultPieceLength(hint))
  if (!Number.isInteger(pieceLength) || pieceLength < 16 * 1024 || (pieceLength & (pieceLength - 1)) !== 0) {
    throw new TorrentError(`pieceLength must be a power of two of at least 16384, got ${pieceLength}`)
  }

  const hashes: Uint8Array[] = []
  const piece = new Uint8Array(pieceLength)
  let filled = 0
  let length = 0
  for await (const chunk of chunksOf(opts.data)) {
    let offset = 0
    while (offset < chunk.length) {
      const n = Math.min(pieceLength - filled, chunk.length - offset)
      piece.set(chunk.subarray(offset, offset + n), filled)
      filled += n
      offset += n
      if (filled === pieceLength) {
        hashes.push(await sha1(piece))
        filled = 0
      }
    }
    length += chunk.length
  }
  if (filled > 0) hashes.push(await sha1(piece.slice(0, filled)))
  if (length === 0) throw new TorrentError('the file is empty: there is nothing to share')

  const pieces = new Uint8Array(hashes.length * 20)
  hashes.forEach((h, i) => pieces.set(h, i * 20))
  const info: Record<string, unknown> = { length, name, 'piece length': pieceLength, pieces }
  if (license) {
    info.license = { ...license }
    info.private = 1
  } else if (opts.private) {
    info.private = 1
  }
  // No creation date: the same file, license and tracker always give the same .torrent.
  const torrent = bencode.encode({ announce, 'created by': 'Trickle', info })
  return { torrent, ...(await parseTorrent(torrent)) }
}

type Dict = Record<string, unknown>
const isDict = (v: unknown): v is Dict => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array)

function text (value: unknown, where: string): string {
  if (!(value instanceof Uint8Array)) throw new TorrentError(`${where} must be a byte string, got ${describe(value)}`)
  try {
    return utf8.decode(value)
  } catch {
    throw new TorrentError(`${where} is not valid UTF-8`)
  }
}

function nonNegativeInteger (value: unknown, where: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw new TorrentError(`${where} must be a non-negative integer, got ${describe(value)}`)
  return value
}

/** The license as bencoded inside info: byte strings become text, integers stay numbers, then checkLicense. */
function licenseFromInfo (value: unknown): License {
  if (!isDict(value)) throw new TorrentError(`info.license must be a dictionary with ${LICENSE_FIELDS.join(', ')}; got ${describe(value)}`)
  const plain: Dict = {}
  for (const [key, v] of Object.entries(value)) plain[key] = v instanceof Uint8Array ? text(v, `info.license.${key}`) : v
  return checkLicense(plain, 'info.license')
}

function equalBytes (a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/**
 * Parses and validates a .torrent. Refuses what is not canonical bencode (then two readers could
 * disagree on the infohash), and a paid torrent that is not private or names other trackers than one.
 */
export async function parseTorrent (bytes: Uint8Array): Promise<ParsedTorrent> {
  if (!(bytes instanceof Uint8Array) || bytes.length === 0) throw new TorrentError('a .torrent file is needed (got no bytes)')
  let decoded: unknown
  try {
    decoded = bencode.decode(bytes)
  } catch (err) {
    throw new TorrentError(`not a .torrent file: not valid bencode (${(err as Error).message})`)
  }
  if (!isDict(decoded)) throw new TorrentError('not a .torrent file: the top level must be a dictionary')
  let canonical: Uint8Array
  try { canonical = bencode.encode(decoded) } catch { canonical = new Uint8Array() }
  if (!equalBytes(canonical, bytes)) {
    throw new TorrentError('the .torrent is not canonical bencode (unsorted or repeated keys, malformed integers, or trailing bytes), so its infohash would be ambiguous')
  }
  const info = decoded.info
  if (!isDict(info)) throw new TorrentError('the .torrent has no info dictionary')

  const name = checkName(text(info.name, 'info.name'), 'info.name')
  const pieceLength = nonNegativeInteger(info['piece length'], 'info["piece length"]')
  if (pieceLength === 0) throw new TorrentError('info["piece length"] must be positive')
  if (!(info.pieces instanceof Uint8Array) || info.pieces.length % 20 !== 0) throw new TorrentError('info.pieces must be a byte string of 20-byte SHA-1 hashes')

  let files: TorrentFile[]
  if (info.length !== undefined) {
    if (info.files !== undefined) throw new TorrentError('info has both length (one file) and files (several)')
    files = [{ path: name, length: nonNegativeInteger(info.length, 'info.length') }]
  } else {
    if (!Array.isArray(info.files) || info.files.length === 0) throw new TorrentError('info must have length (one file) or a non-empty files list')
    files = info.files.map((f: unknown, i: number) => {
      if (!isDict(f) || !Array.isArray(f.path) || f.path.length === 0) throw new TorrentError(`info.files[${i}] must have a length and a path list`)
      const parts = f.path.map((p: unknown, j: number) => checkName(text(p, `info.files[${i}].path[${j}]`), `info.files[${i}].path[${j}]`))
      return { path: [name, ...parts].join('/'), length: nonNegativeInteger(f.length, `info.files[${i}].length`) }
    })
  }
  const length = files.reduce((sum, f) => sum + f.length, 0)
  if (length === 0) throw new TorrentError('the torrent holds no data (length 0)')
  const pieceCount = info.pieces.length / 20
  if (pieceCount !== Math.ceil(length / pieceLength)) {
    throw new TorrentError(`info.pieces has ${pieceCount} hashes, but ${length} bytes in pieces of ${pieceLength} need ${Math.ceil(length / pieceLength)}`)
  }
  if (info.private !== undefined && info.private !== 0 && info.private !== 1) throw new TorrentError(`info.private must be 0 or 1, got ${describe(info.private)}`)
  const isPrivate = info.private === 1

  const announce: string[] = []
  if (decoded.announce !== undefined) announce.push(checkTrackerUrl(text(decoded.announce, 'announce'), 'announce'))
  if (decoded['announce-list'] !== undefined) {
    const tiers = decoded['announce-list']
    if (!Array.isArray(tiers)) throw new TorrentError('announce-list must be a list of lists of tracker URLs')
    tiers.forEach((tier: unknown, i: number) => {
      if (!Array.isArray(tier)) throw new TorrentError(`announce-list[${i}] must be a list of tracker URLs`)
      tier.forEach((u: unknown, j: number) => {
        const url = checkTrackerUrl(text(u, `announce-list[${i}][${j}]`), `announce-list[${i}][${j}]`)
        if (!announce.includes(url)) announce.push(url)
      })
    })
  }

  let license: License | undefined
  if (info.license !== undefined) {
    license = licenseFromInfo(info.license)
    // Without these a tracker-side gate is pointless: DHT, PEX or another
    // tracker would hand out the same peers for free.
    if (!isPrivate) throw new TorrentError('a paid torrent must be private (info.private = 1), or DHT and PEX would hand out peers without payment')
    if (announce.length !== 1) throw new TorrentError(`a paid torrent must name exactly one tracker (the one that takes payment), it names ${announce.length}`)
  }

  const infoHash = hex(await sha1(bencode.encode(info)))
  return { infoHash, name, length, pieceLength, pieceCount, private: isPrivate, announce, files, ...(license ? { license } : {}) }
}

/** A .torrent file from base64 (browser-safe: atob, no Buffer). */
export function torrentFromBase64 (text: string): Uint8Array {
  const clean = text.replace(/\s+/g, '')
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(clean) || clean.length % 4 === 1) throw new TorrentError('the torrent must be base64')
  const binary = atob(clean)
  const out = new Uint8Array(binary.length)
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i)
  return out
}

export function torrentToBase64 (bytes: Uint8Array): string {
  let binary = ''
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000))
  return btoa(binary)
}
