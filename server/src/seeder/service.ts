// Seeding from Node: one WebTorrent client that serves the companion's files over TCP (Node and
// desktop clients, through the HTTP tracker) and WebRTC (browsers, through the WebSocket tracker;
// node-datachannel via webrtc-polyfill). Plain factory; expected failures are values.
//
// Only the companion's own tracker hears of these torrents: no DHT, no local discovery, no PEX, no
// UPnP/NAT-PMP, no web seeds (any of them would hand out peers without
// payment), and no STUN server either (simple-peer's default asks Google's: nothing leaves unasked).
// The tracker is not the only way in (a port scan finds the TCP port), so every paid torrent is gated
// at the wire too: a peer gets nothing until it presents a proof of payment (theme/assets/ts/proof).
// The seeder proves itself to readers' clients, which gate as well, with a proof for its own key.
import { createHash } from 'node:crypto'
import net from 'node:net'
import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import path from 'node:path'
import bencode from 'bencode'
import type { FastifyBaseLogger } from 'fastify'
import type WebTorrent from 'webtorrent'
import type { Torrent } from 'webtorrent'
import { parseTorrent, TorrentError, type ParsedTorrent } from '../torrent/license.ts'
import { installEndOfCandidatesFix } from './webrtc-fix.ts'
import { capMessageLength, gateTorrent, type GateEvent } from '../../../theme/assets/ts/proof/gate.ts'
import { payerKeyFromSeed, type PayerKey } from '../../../theme/assets/ts/proof/codec.ts'

export const SeederError = {
  InvalidTorrent: 'invalid_torrent',
  NotAbsolute: 'path_not_absolute',
  NotAFile: 'not_a_file',
  NameMismatch: 'name_mismatch',
  LengthMismatch: 'length_mismatch',
  ContentMismatch: 'content_mismatch',
  MultiFile: 'multi_file',
  ClientFailed: 'client_failed'
} as const
export type SeederError = typeof SeederError[keyof typeof SeederError]

export interface SeederFailure {
  error: SeederError
  message: string
}

export interface SeedView {
  infoHash: string
  name: string
  /** the file seeded */
  file: string
  peers: number
  uploaded: number
}

export interface SeedRequest {
  torrent: Uint8Array
  /** absolute path of the file; its base name must be the torrent's name */
  file: string
  /** announce param that lets the creator's seeder into a paid swarm (tracker/service.ts) */
  seederToken?: string
  /** the caller hashed this very file into this torrent a moment ago: skip the check */
  verified?: boolean
  /** Paid torrents: the seeder's proof of payment (for its peer key), which readers' clients ask for */
  proof?: Uint8Array
}

export interface SeederService {
  /** Why `file` cannot be seeded as `torrent` (name, length, every piece hash), or undefined. */
  checkFile (file: string, torrent: Uint8Array): Promise<SeederFailure | undefined>
  seed (request: SeedRequest): Promise<SeedView | SeederFailure>
  stop (infoHash: string): Promise<boolean>
  /** A renewed seeder proof for a paid torrent (proofs expire). */
  renewProof (infoHash: string, proof: Uint8Array): Promise<boolean>
  list (): SeedView[]
  /** TCP port peers connect to (0 until the client started) */
  port (): number
  close (): Promise<void>
}

export interface SeederDeps {
  log: FastifyBaseLogger
  /** Trackers to announce to besides the torrent's own: the companion's http(s) announce URL, for TCP peers. */
  announce: string[]
  /** WebRTC peers (browsers) through the WebSocket tracker; false: TCP only. */
  webrtc: boolean
  /** TCP port for peer connections; 0 picks a free one. */
  torrentPort?: number
  /** Interface the TCP port listens on (default: every interface, as WebTorrent does). */
  host?: string
  /** Seed of the seeder's Ed25519 peer key, which its proofs are bound to (ProofIssuer.seederSeed) */
  peerKeySeed?: Uint8Array
}

const fail = (error: SeederError, message: string): SeederFailure => ({ error, message })
export const isSeederFailure = (v: unknown): v is SeederFailure => typeof v === 'object' && v !== null && 'error' in v && 'message' in v

/** The options every Trickle WebTorrent client uses in Node: our tracker is the only source of peers. */
export function privateClientOptions (webrtc: boolean, torrentPort = 0) {
  return {
    dht: false,
    lsd: false,
    utPex: false,
    natUpnp: false,
    natPmp: false,
    webSeeds: false,
    // uTP adds nothing on a local network and another socket to reason about.
    utp: false,
    torrentPort,
    tracker: webrtc ? { rtcConfig: { iceServers: [] } } : { wrtc: false }
  } as const
}

/** Compares every piece of `file` with the torrent's SHA-1 hashes, streaming. */
async function samePieces (file: string, parsed: ParsedTorrent, torrent: Uint8Array): Promise<boolean> {
  const info = (bencode.decode(torrent) as { info: { pieces: Uint8Array } }).info
  const expected = info.pieces
  let index = 0
  let hash = createHash('sha1')
  let filled = 0
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    let offset = 0
    while (offset < chunk.length) {
      const n = Math.min(parsed.pieceLength - filled, chunk.length - offset)
      hash.update(chunk.subarray(offset, offset + n))
      filled += n
      offset += n
      if (filled === parsed.pieceLength) {
        if (!hash.digest().equals(expected.subarray(index * 20, index * 20 + 20))) return false
        index++
        hash = createHash('sha1')
        filled = 0
      }
    }
  }
  if (filled > 0) {
    if (!hash.digest().equals(expected.subarray(index * 20, index * 20 + 20))) return false
    index++
  }
  return index === parsed.pieceCount
}

/**
 * Runs `create` with every TCP server it starts listening on `host`: WebTorrent's connection pool
 * listens on a port with no address (every interface) as it is constructed, and has no option for one.
 */
export function listeningOn<T> (host: string | undefined, create: () => T): T {
  if (!host) return create()
  const listen = net.Server.prototype.listen
  net.Server.prototype.listen = function (this: net.Server, ...args: unknown[]) {
    if (typeof args[0] === 'number') return (listen as (...a: unknown[]) => net.Server).call(this, args[0], host, ...args.slice(1))
    return (listen as (...a: unknown[]) => net.Server).apply(this, args)
  } as typeof listen
  try {
    return create()
  } finally {
    net.Server.prototype.listen = listen
  }
}

/** One log line per gate decision, at the level a creator wants to see it. */
export function logGateEvent (log: FastifyBaseLogger, infoHash: string, e: GateEvent) {
  if (e.kind === 'accepted') log.debug({ infoHash, peer: e.peer, until: new Date(e.expiresAt * 1000).toISOString() }, 'peer proved payment')
  else if (e.kind === 'refused') log.info({ infoHash, peer: e.peer, reason: e.reason }, 'peer refused: no valid proof of payment')
  else if (e.kind === 'refused-by') log.warn({ infoHash, peer: e.peer, reason: e.reason }, 'a peer refused this seeder\'s proof')
}

export function createSeeder (deps: SeederDeps): SeederService {
  const log = deps.log.child({ service: 'seeder' })
  let client: WebTorrent | undefined
  let starting: Promise<WebTorrent> | undefined
  const seeds = new Map<string, { torrent: Torrent, file: string }>()
  /** This seeder's proofs per paid infohash (renewed by the companion) */
  const proofs = new Map<string, Uint8Array>()
  const peerKey: Promise<PayerKey> | undefined = deps.peerKeySeed ? payerKeyFromSeed(deps.peerKeySeed) : undefined
  let key: PayerKey | undefined

  /** The WebTorrent client starts with the first seed, so a companion with nothing to seed opens no port. */
  function getClient (): Promise<WebTorrent> {
    if (client) return Promise.resolve(client)
    starting ??= (async () => {
      if (deps.webrtc) await installEndOfCandidatesFix()
      const { default: WebTorrentClient } = await import('webtorrent')
      key = await peerKey
      const c = listeningOn(deps.host, () => new WebTorrentClient(privateClientOptions(deps.webrtc, deps.torrentPort)))
      c.on('error', (err: Error) => log.error({ err: err.message }, 'WebTorrent client error'))
      await new Promise<void>((resolve) => { if (c.listening) resolve(); else c.once('listening', () => resolve()) })
      client = c
      log.info({ tcpPort: c.address()?.port, host: deps.host ?? 'every interface', webrtc: deps.webrtc }, 'seeder started')
      return c
    })()
    return starting
  }

  async function checkFile (file: string, torrent: Uint8Array): Promise<SeederFailure | undefined> {
    let parsed: ParsedTorrent
    try {
      parsed = await parseTorrent(torrent)
    } catch (err) {
      if (err instanceof TorrentError) return fail(SeederError.InvalidTorrent, err.message)
      throw err
    }
    if (parsed.files.length !== 1) return fail(SeederError.MultiFile, 'only single-file torrents can be seeded from a path')
    if (!path.isAbsolute(file)) return fail(SeederError.NotAbsolute, `the path must be absolute, got "${file}"`)
    const info = await stat(file).catch(() => undefined)
    if (!info?.isFile()) return fail(SeederError.NotAFile, `${file} is not a readable file on the companion's machine`)
    // WebTorrent reads <folder>/<info.name>; another name would make it download instead of seed.
    if (path.basename(file) !== parsed.name) return fail(SeederError.NameMismatch, `the file is named "${path.basename(file)}", the torrent "${parsed.name}"`)
    if (info.size !== parsed.length) return fail(SeederError.LengthMismatch, `the file has ${info.size} bytes, the torrent ${parsed.length}`)
    if (!(await samePieces(file, parsed, torrent))) return fail(SeederError.ContentMismatch, `${file} changed since the torrent was made: its pieces do not match`)
    return undefined
  }

  const view = (infoHash: string, s: { torrent: Torrent, file: string }): SeedView => ({
    infoHash, name: s.torrent.name, file: s.file, peers: s.torrent.numPeers, uploaded: s.torrent.uploaded
  })

  return {
    checkFile,

    async seed (req) {
      const problem = req.verified ? undefined : await checkFile(req.file, req.torrent)
      if (problem) return problem
      const parsed = await parseTorrent(req.torrent)
      const existing = seeds.get(parsed.infoHash)
      if (existing) return view(parsed.infoHash, existing)
      const c = await getClient()
      const token = req.seederToken
      // Pieces were checked above, so WebTorrent need not hash the file again (and, seeing every piece,
      // never tries to download into the creator's file).
      const torrent = c.add(req.torrent, {
        path: path.dirname(req.file),
        announce: deps.announce,
        skipVerify: true,
        // The file is on this machine and the OS page cache keeps its hot pieces: WebTorrent's own cache
        // of 20 pieces per torrent (5 MB at 256 KiB pieces) would only hold copies in the companion's heap.
        storeCacheSlots: 0,
        // numwant 0: a seeder asks for no peers and sends no WebRTC offers; readers come to it with
        // theirs. Offers both ways made two connections race for one pair of peers (WebTorrent keeps
        // one per peer id), and when each side dropped the other's, neither was left until the next
        // announce.
        getAnnounceOpts: () => ({ numwant: 0, ...(token ? { seeder_token: token } : {}) })
      })
      // Every wire, free torrents' too: no message longer than a block (bittorrent-protocol has no limit).
      torrent.on('wire', (wire: Parameters<typeof capMessageLength>[0]) => capMessageLength(wire))
      if (parsed.license) {
        if (req.proof) proofs.set(parsed.infoHash, req.proof)
        gateTorrent(torrent as never, {
          credentials: () => {
            const proof = proofs.get(parsed.infoHash)
            return proof && key ? { proof, sign: key.sign } : undefined
          },
          onEvent: (e) => logGateEvent(log, parsed.infoHash, e)
        })
      }
      // Seeding means being in the swarm: wait (a little) for every tracker this client uses to have
      // answered the first announce, so a reader who comes right after finds this seeder there and
      // does not wait a whole announce interval for the next round of offers. Counted from the start:
      // an answer can come before 'ready'.
      const trackers = [...new Set([...parsed.announce, ...deps.announce])].filter((url) => deps.webrtc || !/^wss?:/.test(url)).length
      const inSwarm = new Promise<void>((resolve) => {
        let answered = 0
        const timer = setTimeout(done, 5000)
        function done () { clearTimeout(timer); torrent.off('trackerAnnounce', onAnnounce); resolve() }
        function onAnnounce () { if (++answered >= trackers) done() }
        if (trackers === 0) done()
        else torrent.on('trackerAnnounce', onAnnounce)
      })
      try {
        await new Promise<void>((resolve, reject) => {
          if (torrent.ready) return resolve()
          torrent.once('ready', () => resolve())
          torrent.once('error', (err: Error | string) => reject(typeof err === 'string' ? new Error(err) : err))
        })
      } catch (err) {
        log.error({ infoHash: parsed.infoHash, err: (err as Error).message }, 'could not seed')
        return fail(SeederError.ClientFailed, `WebTorrent could not seed ${req.file}: ${(err as Error).message}`)
      }
      await inSwarm
      torrent.on('warning', (err: Error) => log.debug({ infoHash: parsed.infoHash, err: err.message }, 'seeding warning'))
      torrent.on('error', (err: Error) => log.error({ infoHash: parsed.infoHash, err: err.message }, 'seeding stopped'))
      torrent.on('wire', (wire: { remoteAddress?: string, type?: string }) => log.debug({ infoHash: parsed.infoHash, peer: wire.remoteAddress, type: wire.type }, 'peer connected'))
      const entry = { torrent, file: req.file }
      seeds.set(parsed.infoHash, entry)
      log.info({ infoHash: parsed.infoHash, name: parsed.name, file: req.file, done: torrent.done }, 'seeding')
      return view(parsed.infoHash, entry)
    },

    async stop (infoHash) {
      const entry = seeds.get(infoHash)
      if (!entry || !client) return false
      seeds.delete(infoHash)
      proofs.delete(infoHash)
      // destroyStore false: the creator's file stays where it is.
      await new Promise<void>((resolve) => { void client!.remove(entry.torrent, { destroyStore: false }, () => resolve()).catch(() => resolve()) })
      log.info({ infoHash }, 'stopped seeding')
      return true
    },

    async renewProof (infoHash, proof) {
      if (!seeds.has(infoHash)) return false
      proofs.set(infoHash, proof)
      return true
    },

    list () {
      return [...seeds.entries()].map(([infoHash, s]) => view(infoHash, s))
    },

    port () {
      return client?.address()?.port ?? 0
    },

    async close () {
      const c = client ?? (starting ? await starting.catch(() => undefined) : undefined)
      client = undefined
      seeds.clear()
      if (c) await new Promise<void>((resolve) => { c.destroy(() => resolve()) })
    }
  }
}
