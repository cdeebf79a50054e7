// The paid-download tracker: the creator registers licensed torrents (admin), and announces for a paid
// infohash reach the swarm only once the reader's balance paid the price, spent here, in-process,
// once per (balance, infohash). Plain factory over explicit deps; expected failures are values.
//
// Better than ILP Torrent: the price comes from the creator's registration,
// whose infohash commits to the license, never from an announcing client nor from a
// client-supplied verifier URL; the spend is authenticated (in-process) and happens before any peer,
// offer or answer moves; paid pairs and registrations survive a restart; amounts are
// bigint; the receiving wallet's asset is respected.
import { createHmac, timingSafeEqual, createHash } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import { formatPrice, parseTorrent, TorrentError, type License, type ParsedTorrent } from '../torrent/license.ts'
import { magnetOf } from '../../../packages/trickle-core/src/magnet.ts'
import type { Store } from '../store/types.ts'
import { sameServer, type ReceiverService } from '../receivers/service.ts'
import { hmacKey, hmacSha256 } from '../verifier/hmac.ts'
import { ownedBalance } from '../verifier/owner.ts'
import { fromBase64url, PUBLIC_KEY_LENGTH } from '../../../theme/assets/ts/proof/codec.ts'
import { createProofIssuer, type ProofIssuer } from '../proof/issuer.ts'
import { createTrackerProtocol, type Authorization, type Credentials, type TrackerLimits, type TrackerProtocol } from './protocol.ts'
import { AnnounceRefusal, TrackerError, type TrackerFailure } from './errors.ts'
import type { RegisteredTorrent, TrackerStore } from './store.ts'
import type { Bus } from '../bus/bus.ts'
import { createSwarmFederation, type SwarmFederation } from './federation.ts'

export interface TrackerDeps {
  store: TrackerStore
  /** Which receiver a license pays, and its price in that receiver's units. */
  receivers: Pick<ReceiverService, 'receiverOf' | 'priceFor'>
  /** Spends once per (balance, grant key), atomically: the tracker's grant key is the infohash. */
  grants: Pick<Store, 'spendForGrant'>
  publicUrl: string
  /** Seeder tokens and download tickets are derived from it. */
  adminToken: string
  /** How long a bought download lasts: until then the same reader gets tickets for free. */
  grantTtlMs?: number
  /** How long one ticket admits its peer id (then the reader asks for another, for free within the grant). */
  ticketTtlMs?: number
  /** Distinct peer ids one reader's purchase admits per ticket lifetime (a reload makes a new one). */
  maxPeersPerGrant?: number
  /** Serve infohashes nobody registered, as a public tracker does. */
  open: boolean
  log: FastifyBaseLogger
  intervalMs?: number
  limits?: Partial<TrackerLimits>
  now?: () => number
  /** Several companions: swarms span every instance on this bus (tracker/federation.ts). */
  bus?: Bus
}

export interface Registered {
  record: RegisteredTorrent
  parsed: ParsedTorrent
  /** Paid torrents: the proxy id of the receiver the license pays, whose balance buys it */
  receiver?: string
}

/** A download ticket: what the tracker admits one peer id of a paying reader with. */
export interface Ticket {
  ticket: string
  expiresAt: number
  /** What this request spent: the price, or 0 within the purchase (or for a free torrent) */
  charged: bigint
  /** What the balance holds for the torrent's receiver, after this */
  balance?: bigint
  /** Paid torrents, when the reader sent its payer key: the proof of payment peers ask for, same expiry */
  proof?: Uint8Array
  /** When the purchase ends (new tickets are free until then) */
  grantExpiresAt?: number
}

export type AccessRefusal =
  | { error: 'unknown_torrent' | 'invalid_balance_secret' | 'invalid_peer_id' | 'invalid_payer_key' }
  | { error: 'unknown_balance' | 'insufficient_balance', price: bigint, balance?: bigint }
  | { error: 'too_many_peers', limit: number }

export interface TrackerService {
  /** This tracker's announce URLs: ws(s) for WebTorrent (WebRTC) clients, http(s) for TCP clients. */
  readonly announceUrls: { ws: string, http: string }
  /** The wire protocols (HTTP announce and scrape, the WebSocket tracker) behind the gate. */
  readonly protocol: TrackerProtocol
  /** Registers a .torrent: the infohash is recomputed here and the license read from inside it. */
  register (torrent: Uint8Array, opts?: { seedPath?: string }): Promise<{ created: boolean } & Registered | TrackerFailure>
  get (infoHash: string): Promise<Registered | TrackerFailure>
  list (): Promise<Registered[]>
  remove (infoHash: string): Promise<true | TrackerFailure>
  /** What a creator's seeder announces with (param `seeder_token`) to join a paid swarm without paying. */
  seederToken (infoHash: string): string
  /** Signs proofs of payment; its `proofKey` is what paid licenses registered here must name. */
  readonly proofs: ProofIssuer
  /** A proof for a seeder's own peer key (the creator seeds without paying), valid `ttlMs`. */
  seederProof (infoHash: string, seederKey: Uint8Array, ttlMs?: number): { proof: Uint8Array, expiresAt: number }
  /**
   * Buys (once per purchase) and issues a ticket for one peer id of the reader who holds the balance's
   * secret: the announce param `ticket` admits that peer id, and no other, until it expires.
   */
  access (infoHash: string, balanceSecret: unknown, peerId: unknown, payerKey?: unknown): Promise<Ticket | AccessRefusal>
  /**
   * The gate: may an announce with these credentials reach this infohash's swarm? Answers at once
   * from memory (free torrents, seeders, pairs already paid); a promise only for a first paid announce.
   */
  authorize (infoHash: string, credentials: Credentials): Authorization | Promise<Authorization>
  /** Stops the protocol's timers and closes WebSocket connections. */
  close (): void
  /** Several instances: who else serves these swarms (undefined without a bus). */
  readonly federation?: SwarmFederation
  magnet (r: Registered): string
}

const refuse = (code: AnnounceRefusal, words: string): Authorization => ({ ok: false, reason: `${words} (${code})` })
const trimSlash = (s: string) => s.replace(/\/+$/, '')
const digest = (s: string) => createHash('sha256').update(s).digest()

export async function createTrackerService (deps: TrackerDeps): Promise<TrackerService> {
  const log = deps.log.child({ service: 'tracker' })
  const now = deps.now ?? Date.now
  const publicUrl = trimSlash(deps.publicUrl)
  const announceUrls = { ws: `${publicUrl.replace(/^http/, 'ws')}/announce`, http: `${publicUrl}/announce` }
  const seederKey = createHash('sha256').update('trickle seeder token\n').update(deps.adminToken).digest()
  const ticketKey = createHash('sha256').update('trickle download ticket\n').update(deps.adminToken).digest()
  const grantTtlMs = deps.grantTtlMs ?? 30 * 24 * 3600 * 1000
  const ticketTtlMs = deps.ticketTtlMs ?? 3600 * 1000
  const maxPeersPerGrant = deps.maxPeersPerGrant ?? 8
  const proofs = createProofIssuer(deps.adminToken)

  // Registrations are few and read on every announce: keep them in memory, write through to the store.
  // With several instances, another one may register or remove a torrent: the bus says which, and a
  // reconciliation every minute catches what a lost message missed.
  const torrents = new Map<string, Registered>()
  async function load (record: RegisteredTorrent) {
    try {
      const parsed = await parseTorrent(record.torrent)
      const receiver = parsed.license ? deps.receivers.receiverOf(parsed.license.paymentPointer) : undefined
      torrents.set(record.infoHash, { record, parsed, ...(receiver ? { receiver } : {}) })
    } catch (err) {
      log.error({ infoHash: record.infoHash, err: (err as Error).message }, 'a stored torrent no longer parses; ignoring it')
    }
  }
  async function reload (infoHash: string) {
    const record = await deps.store.getTorrent(infoHash)
    if (record) await load(record)
    else torrents.delete(infoHash)
  }
  async function reconcile () {
    const records = await deps.store.listTorrents()
    const stored = new Set(records.map((r) => r.infoHash))
    for (const infoHash of torrents.keys()) {
      if (!stored.has(infoHash)) { torrents.delete(infoHash); protocol.remote.reset(infoHash) }
    }
    for (const record of records) if (!torrents.has(record.infoHash)) await load(record)
  }
  for (const record of await deps.store.listTorrents()) await load(record)
  /** Peer ids ticketed per purchase (balance, infohash) within the last ticket lifetime, and when. */
  const ticketed = new Map<string, Map<string, number>>()

  const federation = deps.bus && createSwarmFederation({
    bus: deps.bus,
    log,
    onTorrentChanged: (infoHash) => { reload(infoHash).catch((err: unknown) => log.error({ err, infoHash }, 'could not reload a torrent another instance changed')) }
  })
  const protocol = createTrackerProtocol({ authorize, log, intervalMs: deps.intervalMs ?? 150_000, now, ...(deps.limits ? { limits: deps.limits } : {}), ...(federation ? { link: federation.link } : {}) })
  federation?.attach(protocol)
  const reconciling = federation && setInterval(() => {
    reconcile().catch((err: unknown) => log.error({ err }, 'could not reconcile registered torrents'))
  }, 60_000).unref()

  function seederToken (infoHash: string): string {
    return createHmac('sha256', seederKey).update(infoHash).digest('base64url')
  }

  /** The receiver a license pays and its price in that receiver's units, or why it cannot be charged. */
  async function checkLicenseHere (license: License): Promise<{ receiver: string, amount: bigint } | TrackerFailure> {
    let verifier: URL
    try { verifier = new URL(license.verifier) } catch { return { error: TrackerError.WrongVerifier, detail: `${license.verifier} is not a URL` } }
    if (!sameServer(verifier, new URL(publicUrl)) || trimSlash(verifier.pathname) !== trimSlash(new URL(publicUrl).pathname)) {
      return { error: TrackerError.WrongVerifier, detail: `it is ${license.verifier}, this server is ${publicUrl}` }
    }
    const receiver = deps.receivers.receiverOf(license.paymentPointer)
    if (receiver === undefined) return { error: TrackerError.UnknownPointer, detail: `${license.paymentPointer} is not one` }
    // Receipts count what the receiver got, in its own asset: the price is converted into it,
    // and refused when that asset is unknown here, differs, or the price is more than a balance holds.
    const price = await deps.receivers.priceFor(receiver, license)
    if ('problem' in price) {
      const error = price.problem === 'unknown_receiver' ? TrackerError.UnknownPointer
        : price.problem === 'asset_mismatch' ? TrackerError.AssetMismatch
          : price.problem === 'unknown_asset' ? TrackerError.UnknownAsset : TrackerError.UnpayablePrice
      return { error, detail: price.detail }
    }
    return { receiver, amount: price.amount }
  }

  async function register (bytes: Uint8Array, opts: { seedPath?: string } = {}) {
    let parsed: ParsedTorrent
    try {
      parsed = await parseTorrent(bytes)
    } catch (err) {
      if (err instanceof TorrentError) return { error: TrackerError.InvalidTorrent, detail: err.message }
      throw err
    }
    let spendAmount: bigint | undefined
    let receiver: string | undefined
    if (parsed.license) {
      // parseTorrent already checked: private, exactly one tracker. It must be this one.
      const tracker = trimSlash(parsed.announce[0]!)
      if (tracker !== announceUrls.ws && tracker !== announceUrls.http) {
        return { error: TrackerError.WrongTracker, detail: `it announces to ${tracker}` }
      }
      const checked = await checkLicenseHere(parsed.license)
      if ('error' in checked) return checked
      spendAmount = checked.amount
      receiver = checked.receiver
      // Peers check proofs against the key in the info dictionary: one only this companion signs with.
      if (parsed.license.proofKey !== proofs.proofKey) {
        return { error: TrackerError.WrongProofKey, detail: `it names ${parsed.license.proofKey}, this companion signs with ${proofs.proofKey}` }
      }
    }
    const { created, torrent: record } = await deps.store.putTorrent({
      infoHash: parsed.infoHash,
      name: parsed.name,
      length: parsed.length,
      torrent: bytes,
      ...(parsed.license ? { license: parsed.license } : {}),
      ...(spendAmount !== undefined ? { spendAmount } : {}),
      ...(opts.seedPath !== undefined ? { seedPath: opts.seedPath } : {}),
      createdAt: now()
    })
    const registered: Registered = { record, parsed, ...(receiver ? { receiver } : {}) }
    torrents.set(parsed.infoHash, registered)
    if (created) {
      // A swarm that formed while the infohash was unregistered (an open tracker serves anything) may
      // hold peers that never paid: start over.
      protocol.reset(parsed.infoHash)
      log.info({ file: parsed.name, infoHash: parsed.infoHash, price: parsed.license ? formatPrice(parsed.license) : 'free', spendUnits: spendAmount?.toString() }, `torrent registered: "${parsed.name}" for ${parsed.license ? formatPrice(parsed.license) : 'free'}`)
    }
    return { created, ...registered }
  }

  function paymentRequired (r: Registered): Authorization {
    const l = r.record.license!
    return refuse(AnnounceRefusal.PaymentRequired,
      `Payment required: "${r.record.name}" costs ${formatPrice(l)}. Pay ${l.paymentPointer}, credit the receipts to your balance at ${l.verifier}/balances/{id}:creditReceipt, get a ticket from POST ${publicUrl}/torrents/${r.record.infoHash}/access with your balance secret and this peer id, then announce with ticket={ticket}.`)
  }

  // The verifier's HMAC with its pads made once (OpenSSL 3 makes createHmac's setup cost more than the MAC).
  const ticketHmacKey = hmacKey(ticketKey)
  const ticketMac = (infoHash: string, peerId: string, exp: number) =>
    hmacSha256(ticketHmacKey, Buffer.from(`trickle-ticket-v1\n${infoHash}\n${peerId}\n${exp}`)).toString('base64url')

  /** A ticket is `{expiry in whole seconds}.{MAC of infohash, peer id and expiry}`: checked in memory. */
  // Tickets already checked, with their expiry: an HTTP peer announces with the same ticket every
  // interval, and a Map lookup costs a fraction of an HMAC (the paid swarm's announces stay as cheap
  // as a free one's). Bounded: past MAX_VERIFIED entries the oldest go first.
  const verified = new Map<string, number>()
  const MAX_VERIFIED = 100_000

  function ticketValid (ticket: string, infoHash: string, peerId: string): boolean {
    const key = `${ticket}\n${infoHash}\n${peerId}`
    const known = verified.get(key)
    if (known !== undefined) {
      if (known > now()) return true
      verified.delete(key)
      return false
    }
    const dot = ticket.indexOf('.')
    if (dot < 1 || dot > 12 || ticket.length - dot - 1 !== 43 || !/^[1-9][0-9]*$/.test(ticket.slice(0, dot))) return false
    const exp = Number(ticket.slice(0, dot))
    if (!Number.isSafeInteger(exp) || exp * 1000 <= now()) return false
    if (!timingSafeEqual(Buffer.from(ticket.slice(dot + 1)), Buffer.from(ticketMac(infoHash, peerId, exp)))) return false
    if (verified.size >= MAX_VERIFIED) verified.delete(verified.keys().next().value!)
    verified.set(key, exp * 1000)
    return true
  }

  /**
   * Spends the price once per purchase: the store spends and records a grant for (balance, infohash)
   * in one atomic step (as for a sealed section), so two requests at once, two companions on one
   * database, or a crash between spending and remembering never charge twice; within the grant a
   * reload (a new peer id) pays nothing.
   */
  async function access (infoHash: string, balanceSecret: unknown, peerIdValue: unknown, payerKeyValue?: unknown): Promise<Ticket | AccessRefusal> {
    const r = torrents.get(infoHash)
    if (!r) return { error: 'unknown_torrent' }
    if (typeof peerIdValue !== 'string' || !/^[0-9a-f]{40}$/.test(peerIdValue)) return { error: 'invalid_peer_id' }
    const peerId = peerIdValue
    let payerKey: Uint8Array | undefined
    if (payerKeyValue !== undefined) {
      payerKey = typeof payerKeyValue === 'string' && payerKeyValue.length === 43 ? fromBase64url(payerKeyValue) : undefined
      if (payerKey?.length !== PUBLIC_KEY_LENGTH) return { error: 'invalid_payer_key' }
    }
    const t = now()
    const issue = (charged: bigint, extra: Partial<Ticket> = {}): Ticket => {
      const exp = Math.floor(Math.min(t + ticketTtlMs, extra.grantExpiresAt ?? Infinity) / 1000)
      // The proof lasts as long as the ticket: a reader renews both at once.
      const proof = payerKey && r.record.license ? { proof: proofs.issue(infoHash, payerKey, exp) } : {}
      return { ticket: `${exp}.${ticketMac(infoHash, peerId, exp)}`, expiresAt: exp * 1000, charged, ...extra, ...proof }
    }
    if (!r.record.license) return issue(0n)
    const balanceId = ownedBalance(balanceSecret)
    if (balanceId === undefined) return { error: 'invalid_balance_secret' }
    const price = r.record.spendAmount!
    // A purchase admits a bounded set of the buyer's peer ids at a time, not anyone the secret reaches.
    // Checked before anything is spent, so a refusal never costs money.
    const key = `${balanceId}\n${infoHash}`
    let peers = ticketed.get(key)
    if (!peers) ticketed.set(key, peers = new Map())
    for (const [id, at] of peers) if (at <= t - ticketTtlMs) peers.delete(id)
    const known = peers.has(peerId)
    if (!known && peers.size >= maxPeersPerGrant) return { error: 'too_many_peers', limit: maxPeersPerGrant }
    // Reserved before the store is asked: requests racing on one purchase must not all pass the bound.
    peers.set(peerId, t)
    const result = await deps.grants.spendForGrant({ balanceId, receiver: r.receiver ?? '', grantKey: `torrent:${infoHash}`, amount: price, now: t, expiresAt: t + grantTtlMs })
    if (result.kind !== 'granted' && !known) peers.delete(peerId)
    if (result.kind === 'unknown_balance') return { error: 'unknown_balance', price }
    if (result.kind === 'insufficient') return { error: 'insufficient_balance', price, balance: result.balance }
    if (result.charged > 0n) {
      // The download history (GET-able per pair); the grant above is what prevents a second charge.
      await deps.store.recordPayment({ balanceId, infoHash, amount: result.charged, paidAt: t })
      const price = r.parsed.license ? formatPrice(r.parsed.license) : 'free'
      log.info({ file: r.parsed.name, infoHash, price, receiver: r.receiver, balance: balanceId, chargedUnits: result.charged.toString(), leftUnits: result.balance.toString() }, `download paid: "${r.parsed.name}" for ${price}`)
    }
    return issue(result.charged, { balance: result.balance, grantExpiresAt: result.expiresAt })
  }

  // Purchases whose tickets all expired are forgotten (the grant itself is in the store).
  const forget = setInterval(() => {
    const t = now()
    for (const [key, peers] of ticketed) {
      for (const [id, at] of peers) if (at <= t - ticketTtlMs) peers.delete(id)
      if (peers.size === 0) ticketed.delete(key)
    }
  }, Math.min(ticketTtlMs, 600_000)).unref()

  function authorize (infoHash: string, credentials: Credentials): Authorization {
    const r = torrents.get(infoHash)
    const ticket = typeof credentials.ticket === 'string' && credentials.ticket !== '' ? credentials.ticket : undefined
    const balance = typeof credentials.balance === 'string' && credentials.balance !== '' ? credentials.balance : undefined
    const token = typeof credentials.seederToken === 'string' && credentials.seederToken !== '' ? credentials.seederToken : undefined
    if (!r) {
      if (token) return refuse(AnnounceRefusal.NotRegistered, 'This torrent is not registered at this tracker, so no seeder token is valid for it.')
      if (ticket || balance) {
        return refuse(AnnounceRefusal.NotRegistered, 'This torrent is not registered at this tracker: its price is unknown here, so it cannot be paid for. (A torrent whose license was altered has another infohash, which nobody registered.)')
      }
      if (!deps.open) return refuse(AnnounceRefusal.ClosedTracker, 'This tracker only serves torrents registered with it.')
      return { ok: true, role: 'open' }
    }
    if (!r.record.license) return { ok: true, role: 'free' }
    if (token) {
      if (timingSafeEqual(digest(token), digest(seederToken(infoHash)))) return { ok: true, role: 'seeder' }
      return refuse(AnnounceRefusal.BadSeederToken, 'The seeder token is not valid for this torrent.')
    }
    if (ticket) {
      if (credentials.peerId !== undefined && ticketValid(ticket, infoHash, credentials.peerId)) return { ok: true, role: 'paid' }
      return refuse(AnnounceRefusal.InvalidTicket, `The ticket is not valid for this torrent and peer id, or it expired: get a new one from POST ${publicUrl}/torrents/${infoHash}/access (free while your purchase lasts).`)
    }
    if (balance) {
      // A balance id is public (it is in credit URLs): it no longer pays by itself.
      return refuse(AnnounceRefusal.TicketRequired, `A balance id alone does not pay: get a ticket from POST ${publicUrl}/torrents/${infoHash}/access with your balance secret, then announce with ticket={ticket}.`)
    }
    return paymentRequired(r)
  }

  return {
    announceUrls,
    protocol,
    register,
    async get (infoHash) {
      return torrents.get(infoHash) ?? { error: TrackerError.UnknownTorrent }
    },
    async list () {
      return [...torrents.values()].sort((a, b) => a.record.createdAt - b.record.createdAt || a.record.infoHash.localeCompare(b.record.infoHash))
    },
    async remove (infoHash) {
      const r = torrents.get(infoHash)
      if (!r) return { error: TrackerError.UnknownTorrent }
      await deps.store.deleteTorrent(infoHash)
      torrents.delete(infoHash)
      // Its swarm held paid leechers and seeders; without a registration it must not live on as free.
      protocol.reset(infoHash)
      log.info({ file: r.parsed.name, infoHash }, `torrent deregistered: "${r.parsed.name}"`)
      return true
    },
    seederToken,
    proofs,
    seederProof (infoHash, seederKey, ttlMs = 7 * 24 * 3600 * 1000) {
      const expiresAt = Math.floor((now() + ttlMs) / 1000)
      return { proof: proofs.issue(infoHash, seederKey, expiresAt), expiresAt: expiresAt * 1000 }
    },
    access,
    authorize,
    magnet: (r) => magnetOf(r.parsed),
    federation,
    close: () => {
      clearInterval(forget)
      if (reconciling) clearInterval(reconciling)
      federation?.close()
      protocol.close()
    }
  }
}
