// The paid-download tracker: the creator registers licensed torrents (admin), and announces for a paid
// infohash reach the swarm only once the reader's balance paid the price, spent here, in-process,
// once per (balance, infohash). Plain factory over explicit deps; expected failures are values.
//
// Better than ILP Torrent (research/anchors.md §1.7): the price comes from the creator's registration,
// whose infohash commits to the license, never from an announcing client (§1.7.2) nor from a
// client-supplied verifier URL; the spend is authenticated (in-process) and happens before any peer,
// offer or answer moves (§1.7.1); paid pairs and registrations survive a restart (§1.7.3); amounts are
// bigint (§1.7.5); the receiving wallet's asset is respected (§1.7.5).
import { createHmac, timingSafeEqual, createHash } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import { convertScale, formatPrice, parseTorrent, TorrentError, type License, type ParsedTorrent } from '../torrent/license.ts'
import { magnetOf } from '../torrent/magnet.ts'
import type { Store } from '../store/types.ts'
import { BALANCE_ID, type VerifierService } from '../verifier/service.ts'
import { createTrackerProtocol, type Authorization, type Credentials, type TrackerLimits, type TrackerProtocol } from './protocol.ts'
import { AnnounceRefusal, TrackerError, type TrackerFailure } from './errors.ts'
import type { RegisteredTorrent, TrackerStore } from './store.ts'

export interface Asset {
  assetCode: string
  assetScale: number
}

export interface TrackerDeps {
  store: TrackerStore
  verifier: Pick<VerifierService, 'getProxy'>
  /** Spends once per (balance, grant key), atomically: the tracker's grant key is the infohash. */
  grants: Pick<Store, 'spendForGrant'>
  /** The asset the wallet behind an SPSP endpoint receives in, when this companion knows it (its own wallet). */
  receiverAsset (spspEndpoint: string): Promise<Asset | undefined>
  publicUrl: string
  /** Seeder tokens are derived from it. */
  adminToken: string
  /** Serve infohashes nobody registered, as a public tracker does. */
  open: boolean
  log: FastifyBaseLogger
  intervalMs?: number
  limits?: Partial<TrackerLimits>
  now?: () => number
}

export interface Registered {
  record: RegisteredTorrent
  parsed: ParsedTorrent
}

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
  /**
   * The gate: may an announce with these credentials reach this infohash's swarm? Answers at once
   * from memory (free torrents, seeders, pairs already paid); a promise only for a first paid announce.
   */
  authorize (infoHash: string, credentials: Credentials): Authorization | Promise<Authorization>
  /** Stops the protocol's timers and closes WebSocket connections. */
  close (): void
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

  // Registrations are few and read on every announce: keep them in memory, write through to the store.
  const torrents = new Map<string, Registered>()
  for (const record of await deps.store.listTorrents()) {
    try {
      torrents.set(record.infoHash, { record, parsed: await parseTorrent(record.torrent) })
    } catch (err) {
      log.error({ infoHash: record.infoHash, err: (err as Error).message }, 'a stored torrent no longer parses; ignoring it')
    }
  }
  const paid = new Set<string>()
  const spending = new Map<string, Promise<Authorization>>()

  const protocol = createTrackerProtocol({ authorize, log, intervalMs: deps.intervalMs ?? 150_000, now, ...(deps.limits ? { limits: deps.limits } : {}) })

  function seederToken (infoHash: string): string {
    return createHmac('sha256', seederKey).update(infoHash).digest('base64url')
  }

  /** The price in the receiving wallet's units, or why it cannot be charged. */
  async function checkLicenseHere (license: License): Promise<bigint | TrackerFailure> {
    if (trimSlash(license.verifier) !== publicUrl) {
      return { error: TrackerError.WrongVerifier, detail: `it is ${license.verifier}, this server is ${publicUrl}` }
    }
    const prefix = `${publicUrl}/p/`
    const id = license.paymentPointer.startsWith(prefix) ? license.paymentPointer.slice(prefix.length) : ''
    const proxy = /^[0-9a-f]{32}$/.test(id) ? await deps.verifier.getProxy(id) : undefined
    if (proxy === undefined || typeof proxy === 'string') {
      return { error: TrackerError.UnknownPointer, detail: `${license.paymentPointer} is not one` }
    }
    const asset = await deps.receiverAsset(proxy.spspEndpoint)
    // Receipts count what the receiver got, in its own asset (§1.7.5). For this companion's wallet we
    // know that asset and convert; for an outside receiver the license must already be in its units.
    if (!asset) return BigInt(license.amount)
    if (asset.assetCode.toUpperCase() !== license.assetCode.toUpperCase()) {
      return { error: TrackerError.AssetMismatch, detail: `the license says ${license.assetCode}, the wallet receives ${asset.assetCode}` }
    }
    return convertScale(BigInt(license.amount), license.assetScale, asset.assetScale)
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
    if (parsed.license) {
      // parseTorrent already checked: private, exactly one tracker. It must be this one.
      const tracker = trimSlash(parsed.announce[0]!)
      if (tracker !== announceUrls.ws && tracker !== announceUrls.http) {
        return { error: TrackerError.WrongTracker, detail: `it announces to ${tracker}` }
      }
      const checked = await checkLicenseHere(parsed.license)
      if (typeof checked !== 'bigint') return checked
      spendAmount = checked
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
    const registered = { record, parsed }
    torrents.set(parsed.infoHash, registered)
    if (created) {
      // A swarm that formed while the infohash was unregistered (an open tracker serves anything) may
      // hold peers that never paid: start over.
      protocol.reset(parsed.infoHash)
      log.info({ infoHash: parsed.infoHash, name: parsed.name, price: parsed.license ? formatPrice(parsed.license) : 'free', spendAmount: spendAmount?.toString() }, 'torrent registered')
    }
    return { created, ...registered }
  }

  function paymentRequired (r: Registered): Authorization {
    const l = r.record.license!
    return refuse(AnnounceRefusal.PaymentRequired,
      `Payment required: "${r.record.name}" costs ${formatPrice(l)}. Pay ${l.paymentPointer}, credit the receipts to a balance id of your choice at ${l.verifier}/balances/{id}:creditReceipt, then announce with balance={id}.`)
  }

  /**
   * Spends the price from a balance once for this infohash. The store does it in one atomic step
   * (a grant per balance and infohash, like a sealed section's), so two announces at once, two
   * companions on one database, or a crash between spending and remembering never charge twice.
   * Concurrent announces in this process also share one call.
   */
  function spendOnce (r: Registered, balanceId: string): Promise<Authorization> {
    const key = `${balanceId}\n${r.record.infoHash}`
    let pending = spending.get(key)
    if (pending) return pending
    pending = (async (): Promise<Authorization> => {
      const infoHash = r.record.infoHash
      // Pairs paid before grants kept them (tracker_payments only).
      if (await deps.store.getPayment(balanceId, infoHash)) {
        paid.add(key)
        return { ok: true, role: 'paid' }
      }
      const amount = r.record.spendAmount!
      const t = now()
      const result = await deps.grants.spendForGrant({ balanceId, grantKey: `torrent:${infoHash}`, amount, now: t, expiresAt: Number.MAX_SAFE_INTEGER })
      const price = formatPrice(r.record.license!)
      if (result.kind === 'unknown_balance') {
        return refuse(AnnounceRefusal.UnknownBalance, `No balance "${balanceId}" at the verifier yet: credit your payment receipts to it before announcing (the price is ${price}).`)
      }
      if (result.kind === 'insufficient') {
        return refuse(AnnounceRefusal.InsufficientBalance, `Balance "${balanceId}" holds less than the price of "${r.record.name}" (${price}, ${amount} in receipt units): pay the rest and credit the receipts.`)
      }
      paid.add(key)
      if (result.charged > 0n) {
        // The download history (GET-able per pair); the grant above is what prevents a second charge.
        await deps.store.recordPayment({ balanceId, infoHash, amount: result.charged, paidAt: t })
        log.info({ infoHash, balance: balanceId, amount: result.charged.toString(), left: result.balance.toString() }, 'download paid')
      }
      return { ok: true, role: 'paid' }
    })().finally(() => { spending.delete(key) })
    spending.set(key, pending)
    return pending
  }

  function authorize (infoHash: string, credentials: Credentials): Authorization | Promise<Authorization> {
    const r = torrents.get(infoHash)
    const balance = typeof credentials.balance === 'string' && credentials.balance !== '' ? credentials.balance : undefined
    const token = typeof credentials.seederToken === 'string' && credentials.seederToken !== '' ? credentials.seederToken : undefined
    if (!r) {
      if (token) return refuse(AnnounceRefusal.NotRegistered, 'This torrent is not registered at this tracker, so no seeder token is valid for it.')
      if (balance) {
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
    if (!balance) return paymentRequired(r)
    if (!BALANCE_ID.test(balance)) return refuse(AnnounceRefusal.InvalidBalanceId, 'The balance id is not valid: use 1-128 characters of A-Z a-z 0-9 . _ ~ -.')
    if (paid.has(`${balance}\n${infoHash}`)) return { ok: true, role: 'paid' }
    return spendOnce(r, balance)
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
      if (!torrents.has(infoHash)) return { error: TrackerError.UnknownTorrent }
      await deps.store.deleteTorrent(infoHash)
      torrents.delete(infoHash)
      // Its swarm held paid leechers and seeders; without a registration it must not live on as free.
      protocol.reset(infoHash)
      log.info({ infoHash }, 'torrent deregistered')
      return true
    },
    seederToken,
    authorize,
    magnet: (r) => magnetOf(r.parsed),
    close: () => { protocol.close() }
  }
}
