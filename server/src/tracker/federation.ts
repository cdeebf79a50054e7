// One swarm across several companions (issue: scale-out). Each instance keeps the swarms in memory as
// before (announces are answered from memory, with no round trip), and mirrors what its own peers do
// to the others over the bus:
//
//   tracker.peers            fan-out: peers that joined, announced, completed or left here (batched)
//   tracker.to.<instance>    to one instance: offers and answers for a WebRTC peer connected there,
//                            and the snapshot of swarms that an instance asks for when it joins
//   tracker.hello            an instance joined (or its bus connection came back): send it a snapshot
//   tracker.alive, .bye      liveness: an instance not heard for `deadAfterMs` is gone, with its peers
//   tracker.torrent          a torrent was registered or removed: reload it and forget its swarm
//
// So an HTTP announce on A returns the peers that announced to B, and an offer from a browser on A
// reaches the seeder on B. What crosses the bus is only what clients announce again within one interval
// anyway, so a lost message costs at most one interval of reach; money and grants never cross it (they
// are in the shared database, and the gate that admits a peer runs on the instance it announced to).
//
// Every message is JSON, checked field by field: the bus is the deployment's own, but a bug or a
// version skew on one instance must not crash the others.
import type { FastifyBaseLogger } from 'fastify'
import type { Bus } from '../bus/bus.ts'
import type { PeerKind, RemotePeer, SwarmLink, TrackerProtocol } from './protocol.ts'
import type { Peer } from './swarm.ts'

const VERSION = 1
/** Entries per bus message: a peer entry is under 150 bytes. */
const BATCH = 2000
/**
 * Bytes per bus message, well under NATS's default largest payload (1 MB), which a burst of offers
 * (up to 32 KB of SDP each) would pass: a message over it is refused whole, good offers with it.
 */
const MAX_MESSAGE_BYTES = 512 * 1024
const OPS = ['up', 'completed', 'gone'] as const
const KINDS = ['http', 'ws'] as const
const HEX40 = /^[0-9a-f]{40}$/
const INSTANCE = /^[A-Za-z0-9_-]{1,64}$/
/** A relayed message is an announce this instance would send a local socket: an SDP and a few ids. */
const MAX_RELAYED = 80 * 1024

type PeerEntry = [kind: number, infoHash: string, peerId: string, complete: number, ip: string, port: number, op: number]
type SignalEntry = [infoHash: string, toPeerId: string, text: string]

export interface SwarmFederationOptions {
  bus: Bus
  log: FastifyBaseLogger
  /** How often an instance says it is alive. */
  heartbeatMs?: number
  /** Silence after which an instance's peers are dropped (it was killed, or lost the bus). */
  deadAfterMs?: number
  /** A torrent's registration changed on another instance. */
  onTorrentChanged?: (infoHash: string) => void
}

export interface SwarmFederation {
  readonly link: SwarmLink
  /** Starts mirroring (the protocol is made with `link`, so it comes after). */
  attach (protocol: TrackerProtocol): void
  /** Instances heard from within `deadAfterMs`, this one excluded. */
  peers (): string[]
  close (): void
}

const encode = (value: unknown) => Buffer.from(JSON.stringify(value))

function peerEntry (kind: PeerKind, infoHash: string, peer: Pick<Peer, 'peerId' | 'complete' | 'ip' | 'port'>, op: RemotePeer['op']): PeerEntry {
  return [kind === 'http' ? 0 : 1, infoHash, peer.peerId, peer.complete ? 1 : 0, peer.ip, peer.port, OPS.indexOf(op)]
}

/** A peer entry from the bus, or undefined when any field is off. */
function readPeer (e: unknown): RemotePeer | undefined {
  if (!Array.isArray(e) || e.length !== 7) return undefined
  const [k, infoHash, peerId, complete, ip, port, op] = e as unknown[]
  if ((k !== 0 && k !== 1) || typeof infoHash !== 'string' || !HEX40.test(infoHash) || typeof peerId !== 'string' || !HEX40.test(peerId)) return undefined
  if ((complete !== 0 && complete !== 1) || typeof op !== 'number' || OPS[op] === undefined) return undefined
  const kind = KINDS[k]
  if (kind === 'http') {
    if (typeof ip !== 'string' || ip.length === 0 || ip.length > 64 || !Number.isInteger(port) || (port as number) < 1 || (port as number) > 65535) return undefined
  }
  return { kind, infoHash, peerId, complete: complete === 1, ip: kind === 'http' ? ip as string : '', port: kind === 'http' ? port as number : 0, op: OPS[op] }
}

function parse (payload: Uint8Array): Record<string, unknown> | undefined {
  if (payload.length > 4 * 1024 * 1024) return undefined
  try {
    const v = JSON.parse(Buffer.from(payload).toString('utf8')) as unknown
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined
    const m = v as Record<string, unknown>
    if (m.v !== VERSION || typeof m.from !== 'string' || !INSTANCE.test(m.from)) return undefined
    return m
  } catch {
    return undefined
  }
}

export function createSwarmFederation (opts: SwarmFederationOptions): SwarmFederation {
  const { bus } = opts
  const self = bus.instanceId
  const log = opts.log.child({ service: 'tracker-bus', instance: self })
  const heartbeatMs = opts.heartbeatMs ?? 2000
  const deadAfterMs = opts.deadAfterMs ?? 3 * heartbeatMs + 1000
  let protocol: TrackerProtocol | undefined
  /** Instances heard from, and when (ms). */
  const alive = new Map<string, number>()

  // What goes out is batched per turn of the event loop: an announce burst is one message, and an
  // offer waits no longer than the announce that carried it.
  let peersOut: PeerEntry[] = []
  let signalsOut = new Map<string, SignalEntry[]>()
  let flushing = false
  function scheduleFlush () {
    if (flushing) return
    flushing = true
    setImmediate(flush)
  }
  /** Publishes `entries` under `key` in as many messages as BATCH and MAX_MESSAGE_BYTES allow. */
  function publishChunked (subject: string, key: 'peers' | 'signals', entries: unknown[], size: (e: unknown) => number) {
    let start = 0
    while (start < entries.length) {
      let end = start
      let bytes = 64
      while (end < entries.length && end - start < BATCH && (end === start || bytes + size(entries[end]) <= MAX_MESSAGE_BYTES)) bytes += size(entries[end++])
      bus.publish(subject, encode({ v: VERSION, from: self, [key]: entries.slice(start, end) }))
      start = end
    }
  }
  const peerSize = () => 150
  // Its text is JSON inside JSON: escaping at most doubles it.
  const signalSize = (e: unknown) => (e as SignalEntry)[2].length * 2 + 120

  function flush () {
    flushing = false
    publishChunked('tracker.peers', 'peers', peersOut, peerSize)
    peersOut = []
    for (const [instance, signals] of signalsOut) publishChunked(`tracker.to.${instance}`, 'signals', signals, signalSize)
    signalsOut = new Map()
  }

  function heard (from: string) {
    if (!alive.has(from)) log.info({ peer: from }, `companion ${from} joined the tracker's swarms`)
    alive.set(from, Date.now())
  }

  function sendSnapshot (to: string) {
    if (!protocol) return
    let batch: PeerEntry[] = []
    let count = 0
    for (const p of protocol.remote.localPeers()) {
      batch.push(peerEntry(p.kind, p.infoHash, p, 'up'))
      count++
      if (batch.length === BATCH) { bus.publish(`tracker.to.${to}`, encode({ v: VERSION, from: self, peers: batch })); batch = [] }
    }
    if (batch.length > 0) bus.publish(`tracker.to.${to}`, encode({ v: VERSION, from: self, peers: batch }))
    log.debug({ to, peers: count }, 'swarm snapshot sent')
  }

  function applyPeers (from: string, entries: unknown) {
    if (!protocol || !Array.isArray(entries)) return
    for (const e of entries) {
      const peer = readPeer(e)
      if (peer) protocol.remote.apply(from, peer)
    }
  }

  function onDirect (m: Record<string, unknown>) {
    const from = m.from as string
    heard(from)
    applyPeers(from, m.peers)
    if (!protocol || !Array.isArray(m.signals)) return
    for (const s of m.signals as unknown[]) {
      if (!Array.isArray(s) || s.length !== 3) continue
      const [infoHash, to, text] = s as unknown[]
      if (typeof infoHash !== 'string' || !HEX40.test(infoHash) || typeof to !== 'string' || !HEX40.test(to) || typeof text !== 'string' || text.length > MAX_RELAYED) continue
      protocol.remote.deliver(infoHash, to, text)
    }
  }

  const link: SwarmLink = {
    changed (kind, infoHash, peer, op) {
      peersOut.push(peerEntry(kind, infoHash, peer, op))
      scheduleFlush()
    },
    relay (instance, infoHash, toPeerId, text) {
      if (!alive.has(instance)) return
      let list = signalsOut.get(instance)
      if (!list) signalsOut.set(instance, list = [])
      list.push([infoHash, toPeerId, text])
      scheduleFlush()
    },
    reset (infoHash) {
      bus.publish('tracker.torrent', encode({ v: VERSION, from: self, infoHash }))
    }
  }

  const sub = (subject: string, fn: (m: Record<string, unknown>) => void) => {
    bus.subscribe(subject, (payload) => {
      const m = parse(payload)
      if (m && m.from !== self) fn(m)
    })
  }

  let timer: ReturnType<typeof setInterval> | undefined
  const hello = () => { bus.publish('tracker.hello', encode({ v: VERSION, from: self })) }

  return {
    link,
    attach (p) {
      protocol = p
      sub('tracker.peers', (m) => { heard(m.from as string); applyPeers(m.from as string, m.peers) })
      sub(`tracker.to.${self}`, onDirect)
      sub('tracker.hello', (m) => { heard(m.from as string); sendSnapshot(m.from as string) })
      sub('tracker.alive', (m) => { heard(m.from as string) })
      sub('tracker.bye', (m) => {
        const from = m.from as string
        alive.delete(from)
        const n = protocol?.remote.dropInstance(from) ?? 0
        log.info({ peer: from, peers: n }, `companion ${from} left; its ${n} peers go with it`)
      })
      sub('tracker.torrent', (m) => {
        if (typeof m.infoHash !== 'string' || !HEX40.test(m.infoHash)) return
        heard(m.from as string)
        protocol?.remote.reset(m.infoHash)
        opts.onTorrentChanged?.(m.infoHash)
      })
      // After a bus outage the others may have dropped this instance: ask for their swarms and resend ours.
      bus.onReconnect(() => {
        hello()
        for (const peer of protocol?.remote.localPeers() ?? []) peersOut.push(peerEntry(peer.kind, peer.infoHash, peer, 'up'))
        scheduleFlush()
      })
      hello()
      timer = setInterval(() => {
        bus.publish('tracker.alive', encode({ v: VERSION, from: self }))
        const cutoff = Date.now() - deadAfterMs
        for (const [instance, at] of alive) {
          if (at >= cutoff) continue
          alive.delete(instance)
          const n = protocol?.remote.dropInstance(instance) ?? 0
          log.warn({ peer: instance, peers: n, silentMs: Date.now() - at }, `companion ${instance} went quiet; dropping its ${n} peers`)
        }
      }, heartbeatMs)
      timer.unref()
    },
    peers: () => [...alive.keys()],
    close () {
      if (timer) clearInterval(timer)
      flush()
      bus.publish('tracker.bye', encode({ v: VERSION, from: self }))
    }
  }
}
