// lt_trickle: the BEP 10 extension in which a peer presents its proof of payment (codec.ts) and signs
// the other side's challenge. Every Trickle client that shares a paid torrent (the companion's seeder,
// the CLI, the browser) gates it here: until the remote peer has proven, it gets no metadata (its
// ut_metadata requests wait), no bitfield, no have, and is never unchoked; a peer whose extended
// handshake lacks lt_trickle is dropped at once, one that has not proven in `timeoutMs` after it.
// https://www.bittorrent.org/beps/bep_0010.html
//
// The hooks are WebTorrent's documented 'wire' event and bittorrent-protocol's extension API; the
// wire's sending methods are wrapped per wire, so WebTorrent's own choking and piece logic stay as
// they are and only run once the peer is let in. Proofs are checked against the proofKey of the
// torrent's own license, so nothing is verified before the metadata is here (a client without it has
// nothing to give anyway). A proof stops counting at its expiry: the peer is choked and challenged
// again, and keeps its place by answering with a renewed one.
//
// Who answers first: the side that opened the connection (sent the first BitTorrent handshake) answers
// challenges at once; the side that accepted it answers only once it has admitted the other. A peer in
// the middle, claiming to each side the other's peer id, would need one of them to dial it, which only
// a peer the tracker lists (a paying one) is. A peer that claims this client's own peer id, or
// presents this client's own key, is reflecting its challenge back at it and is refused.
//
// Isomorphic; the types below are the few members of WebTorrent and bittorrent-protocol it touches.
import {
  bytesToHex, challengeSignedBytes, decodeMessage, decodeProof, encodeMessage, fromBase64url,
  NONCE_LENGTH, proofSignatureValid, Refusal, refusalName, verifyEd25519, type PeerCredentials, type RefusalCode
} from './codec.ts'

export const EXTENSION_NAME = 'lt_trickle'

export interface GateWire {
  peerId?: string
  remoteAddress?: string
  type?: string
  destroyed?: boolean
  hasFast?: boolean
  peerInterested?: boolean
  use (ext: unknown): void
  extended (name: string, payload: Uint8Array): void
  on (event: string, fn: (...args: any[]) => void): void
  once (event: string, fn: (...args: any[]) => void): void
  destroy (): void
  choke (): void
  unchoke (): void
  bitfield (bitfield: unknown): void
  have (index: number): void
  haveAll?: () => void
  haveNone?: () => void
  ut_metadata?: { _onRequest (piece: number): void }
  [EXTENSION_NAME]?: unknown
  /** bittorrent-protocol: whether our handshake went out (before the peer's came in: we dialled) */
  _handshakeSent?: boolean
  /** bittorrent-protocol: reads each message's 4-byte length */
  _onMessageLength?: (buffer: Uint8Array) => void
}

/**
 * The longest BitTorrent message a Trickle client takes: a 128 KiB block (WebTorrent's largest
 * request) with its header, or a bitfield of a million pieces, with room. bittorrent-protocol has no
 * limit and copies its whole buffer for every chunk, so one peer announcing a 2 GiB message slowed a
 * seeder for everyone; such a peer is dropped.
 */
export const MAX_MESSAGE_LENGTH = 2 * 1024 * 1024

/** Drops a peer whose next message would be longer than `max`. Any wire, free torrents' too. */
export function capMessageLength (wire: GateWire, max = MAX_MESSAGE_LENGTH): void {
  const read = wire._onMessageLength
  if (typeof read !== 'function') return
  wire._onMessageLength = function (this: GateWire, buffer: Uint8Array) {
    const length = ((buffer[0]! << 24) >>> 0) + (buffer[1]! << 16) + (buffer[2]! << 8) + buffer[3]!
    if (length > max) { wire.destroy(); return }
    read.call(this, buffer)
  }
}

export interface GateTorrent {
  infoHash: string
  info?: { license?: { proofKey?: Uint8Array | string } }
  bitfield?: unknown
  client: { peerId: string }
  on (event: 'wire', fn: (wire: GateWire, addr?: string) => void): void
  on (event: string, fn: (...args: any[]) => void): void
  once (event: string, fn: (...args: any[]) => void): void
  _hasAllPieces? (): boolean
}

export type GateEvent =
  | { kind: 'accepted', peer: string, expiresAt: number }
  | { kind: 'refused', peer: string, reason: string }
  | { kind: 'accepted-by', peer: string }
  | { kind: 'refused-by', peer: string, reason: string }

export interface GateOptions {
  /** This client's proof for the torrent and its key: answered to every challenge. None: it only gates. */
  credentials?: () => PeerCredentials | undefined
  /** How long a peer has to prove after connecting (default 15 s). */
  timeoutMs?: number
  now?: () => number
  onEvent?: (event: GateEvent) => void
}

/** Metadata requests an unproven peer may have waiting (a torrent's metadata is a few pieces of 16 KiB). */
const MAX_QUEUED_METADATA = 64

const text = new TextDecoder()
const randomNonce = () => globalThis.crypto.getRandomValues(new Uint8Array(NONCE_LENGTH))

/** The license's proof key as bytes, once the metadata is here. */
export function licenseProofKey (torrent: GateTorrent): Uint8Array | undefined {
  const raw = torrent.info?.license?.proofKey
  if (raw === undefined) return undefined
  const key = fromBase64url(typeof raw === 'string' ? raw : text.decode(raw))
  return key?.length === 32 ? key : undefined
}

function whenMetadata (torrent: GateTorrent): Promise<void> {
  if (torrent.info) return Promise.resolve()
  return new Promise((resolve) => torrent.once('metadata', () => resolve()))
}

/** Gates every wire of `torrent` from now on. Call right after client.add(), before any peer connects. */
export function gateTorrent (torrent: GateTorrent, opts: GateOptions = {}): void {
  torrent.on('wire', (wire: GateWire) => gateWire(torrent, wire, opts))
}

function gateWire (torrent: GateTorrent, wire: GateWire, opts: GateOptions): void {
  const now = opts.now ?? Date.now
  const timeoutMs = opts.timeoutMs ?? 15_000
  const peer = () => `${wire.remoteAddress ?? wire.type ?? 'peer'} ${wire.peerId?.slice(0, 12) ?? ''}`.trim()
  const send = {
    bitfield: wire.bitfield.bind(wire),
    have: wire.have.bind(wire),
    unchoke: wire.unchoke.bind(wire),
    haveAll: wire.haveAll?.bind(wire),
    haveNone: wire.haveNone?.bind(wire)
  }
  const metadataRequest = wire.ut_metadata?._onRequest.bind(wire.ut_metadata)
  let admitted = false
  /** A bitfield (or have) was held back: the current bitfield goes out on admission */
  let owed = false
  const queuedMetadata: number[] = []
  let nonce: Uint8Array | undefined
  let checking = false
  /** We sent the first handshake (we dialled): we answer challenges at once, else after admitting */
  let initiator = false
  /** A challenge that waits for our admission of the peer */
  let unanswered: Uint8Array | undefined
  let timer: ReturnType<typeof setTimeout> | undefined
  let closed = false

  const arm = (ms: number, fn: () => void) => { clearTimeout(timer); timer = setTimeout(fn, ms); (timer as { unref?: () => void }).unref?.() }

  // What an unproven peer must not get.
  wire.bitfield = (bitfield) => { if (admitted) send.bitfield(bitfield); else owed = true }
  wire.have = (index) => { if (admitted) send.have(index); else owed = true }
  if (send.haveAll) wire.haveAll = () => { if (admitted) send.haveAll!(); else owed = true }
  if (send.haveNone) wire.haveNone = () => { if (admitted) send.haveNone!(); else owed = true }
  wire.unchoke = () => { if (admitted) send.unchoke() }
  if (wire.ut_metadata && metadataRequest) {
    wire.ut_metadata._onRequest = (piece) => {
      if (admitted) return metadataRequest(piece)
      if (queuedMetadata.length < MAX_QUEUED_METADATA) queuedMetadata.push(piece)
    }
  }

  function refuse (code: RefusalCode) {
    if (closed) return
    closed = true
    clearTimeout(timer)
    opts.onEvent?.({ kind: 'refused', peer: peer(), reason: refusalName(code) })
    try { wire.extended(EXTENSION_NAME, encodeMessage({ type: 'refused', code })) } catch {}
    // After the refusal is queued: the peer learns why, then the connection ends.
    setTimeout(() => wire.destroy(), 0)
  }

  function challenge () {
    nonce = randomNonce()
    try { wire.extended(EXTENSION_NAME, encodeMessage({ type: 'challenge', nonce })) } catch { refuse(Refusal.NoExtension); return }
    arm(timeoutMs, () => refuse(Refusal.Timeout))
  }

  function admit (expiresAt: number) {
    admitted = true
    opts.onEvent?.({ kind: 'accepted', peer: peer(), expiresAt })
    wire.extended(EXTENSION_NAME, encodeMessage({ type: 'accepted' }))
    if (owed && torrent.bitfield) {
      owed = false
      if (wire.hasFast && send.haveAll && torrent._hasAllPieces?.()) send.haveAll()
      else send.bitfield(torrent.bitfield)
    }
    if (metadataRequest) for (const piece of queuedMetadata.splice(0)) metadataRequest(piece)
    if (wire.peerInterested) send.unchoke()
    if (unanswered) { const waiting = unanswered; unanswered = undefined; void answer(waiting).catch(() => {}) }
    // The proof ends: choke, and ask again (a paying reader renews its proof before then).
    arm(Math.max(0, expiresAt * 1000 - now()), () => {
      admitted = false
      wire.choke()
      challenge()
    })
  }

  async function check (proofBytes: Uint8Array, answer: Uint8Array) {
    const sent = nonce
    if (!sent || checking) return
    checking = true
    try {
      const proof = decodeProof(proofBytes)
      if (!proof) return refuse(Refusal.Malformed)
      if (proof.infoHash !== torrent.infoHash) return refuse(Refusal.OtherTorrent)
      await whenMetadata(torrent)
      if (closed) return
      const key = licenseProofKey(torrent)
      if (!key) return refuse(Refusal.NoLicenseKey)
      if (proof.expiresAt * 1000 <= now()) return refuse(Refusal.Expired)
      if (!(await proofSignatureValid(proof, key))) return refuse(Refusal.Forged)
      // Our own key coming back is our own answer, reflected.
      const own = opts.credentials?.()
      if (own && sameBytes(decodeProof(own.proof)?.payerKey, proof.payerKey)) return refuse(Refusal.Reflection)
      const signed = challengeSignedBytes(torrent.infoHash, sent, torrent.client.peerId, wire.peerId ?? '')
      if (!(await verifyEd25519(proof.payerKey, answer, signed))) return refuse(Refusal.BadAnswer)
      if (closed) return
      nonce = undefined
      admit(proof.expiresAt)
    } catch {
      refuse(Refusal.Malformed)
    } finally {
      checking = false
    }
  }

  async function answer (challengeNonce: Uint8Array) {
    const credentials = opts.credentials?.()
    if (!credentials || !wire.peerId || wire.peerId === torrent.client.peerId) return
    if (!initiator && !admitted) { unanswered = challengeNonce; return }
    const signed = challengeSignedBytes(torrent.infoHash, challengeNonce, wire.peerId, torrent.client.peerId)
    const signature = await credentials.sign(signed)
    if (!closed && !wire.destroyed) wire.extended(EXTENSION_NAME, encodeMessage({ type: 'proof', proof: credentials.proof, answer: signature }))
  }

  // Everything below runs inside bittorrent-protocol's stream write: a throw would end the process.
  class TrickleExtension {
    onExtendedHandshake () { try { if (!closed) challenge() } catch { refuse(Refusal.Malformed) } }
    onMessage (buf: Uint8Array) {
      try {
        const m = decodeMessage(buf)
        if (!m) return refuse(Refusal.Malformed)
        switch (m.type) {
          case 'challenge': void answer(m.nonce).catch(() => {}); break
          case 'proof': void check(m.proof, m.answer); break
          case 'accepted': opts.onEvent?.({ kind: 'accepted-by', peer: peer() }); break
          case 'refused': opts.onEvent?.({ kind: 'refused-by', peer: peer(), reason: refusalName(m.code) }); break
        }
      } catch {
        refuse(Refusal.Malformed)
      }
    }
  }
  (TrickleExtension.prototype as unknown as { name: string }).name = EXTENSION_NAME
  wire.use(TrickleExtension)

  // A peer whose extended handshake does not name lt_trickle can never prove: drop it now.
  wire.on('extended', (ext: unknown, handshake: unknown) => {
    if (ext !== 'handshake') return
    const m = typeof handshake === 'object' && handshake !== null ? (handshake as { m?: unknown }).m : undefined
    if (typeof m !== 'object' || m === null || !Object.prototype.hasOwnProperty.call(m, EXTENSION_NAME)) refuse(Refusal.NoExtension)
  })
  capMessageLength(wire)
  // At the 'wire' event the peer's handshake is in and ours has gone out only if we dialled
  // (WebTorrent answers an incoming handshake right after this event).
  initiator = wire._handshakeSent === true
  // Our own peer id from the other end: our challenge would come back to us to answer.
  if (wire.peerId === torrent.client.peerId) refuse(Refusal.Reflection)
  arm(timeoutMs, () => refuse(Refusal.Timeout))
  wire.once('close', () => { closed = true; clearTimeout(timer); queuedMetadata.length = 0 })
}

function sameBytes (a: Uint8Array | undefined, b: Uint8Array): boolean {
  if (!a || a.length !== b.length) return false
  let diff = 0
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!
  return diff === 0
}

export { bytesToHex }
