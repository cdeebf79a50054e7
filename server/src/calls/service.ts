// Paid video calls. A host creates a room with a rate per minute and a receiver; a reader joins by
// letting the companion spend the first period from their balance (the owner's secret, as for sealed
// sections and downloads), and stays while each following period is spent on time. When one cannot be
// spent within the grace, the companion removes them: their signalling closes and the others are told
// to drop their connections to them. The host pays nothing and may remove anyone.
//
// Better than the seeds' monetized call: the room's signalling (and a Jitsi room's real name) is
// given only with a ticket, after the companion spent the first period, never in the page; a changed
// pointer or a missing agent pays nothing and gets nothing; and removal is the companion's decision,
// from the balance, not the page's.
//
// Who is in a room lives here, in memory, on the instance that sold the ticket; rooms themselves are
// in the store. Plain factory; expected failures are values (errors.ts).
import { randomBytes } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import type { ReceiverService } from '../receivers/service.ts'
import type { Store } from '../store/types.ts'
import { formatPrice } from '../torrent/license.ts'
import { ownedBalance } from '../verifier/owner.ts'
import { CallError } from './errors.ts'
import type { CallStore, Room } from './store.ts'
import { createCallTokens, isRoomId, jitsiToken, type CallTokens, type JitsiSettings, type Role } from './tokens.ts'

export interface CallSettings {
  /** Length of one paid period, ms (the rate is per minute; a period costs its share, rounded up). */
  periodMs: number
  /** How long after a period starts its spend may still succeed before the attendee is removed, ms. */
  graceMs: number
  /** Largest room of the WebRTC mesh (each participant sends to every other). */
  maxMesh: number
  /** How long a ticket waits for its signalling connection, ms. */
  connectMs: number
  iceServers: Array<{ urls: string | string[], username?: string, credential?: string }>
  jitsi?: JitsiSettings
}

export interface CallDeps {
  store: CallStore
  grants: Pick<Store, 'spendForGrant' | 'getBalance'>
  receivers: Pick<ReceiverService, 'receiverOf' | 'priceFor'>
  adminToken: string
  settings: CallSettings
  log: FastifyBaseLogger
  now?: () => number
}

/** What a member's signalling connection is told; the signalling side (signalling.ts) sends it. */
export type MemberEvent =
  | { type: 'peer-joined', peer: PeerInfo }
  | { type: 'peer-left', id: string, reason: LeaveReason }
  | { type: 'billed', paid: string, periods: number, nextChargeAt: number }
  | { type: 'removed', reason: LeaveReason }

export type LeaveReason = 'left' | 'payment_stopped' | 'removed_by_host' | 'room_closed' | 'never_connected' | 'disconnected'

export interface PeerInfo { id: string, name: string, role: Role }

export interface Member extends PeerInfo {
  room: string
  balanceId?: string
  /** Periods paid so far, and what they cost in all (receiver's units) */
  periods: number
  paid: bigint
  /** When the next period is due (ms) */
  nextChargeAt: number
  /** Deadline for the signalling connection to say hello with the ticket (ms), until it does */
  connectBy?: number
  /** Set by the signalling side while connected */
  send?: (e: MemberEvent) => void
  close?: (reason: LeaveReason) => void
  /** Bytes queued for this member's socket (a slow reader), set with `send` */
  backlog?: () => number
  /** It said hello once (a later deadline is a reconnection's) */
  wasConnected?: boolean
}

export interface JoinResult {
  ticket: string
  attendee: string
  role: Role
  /** What this join spent, and what each further period costs (receiver's units) */
  charged: bigint
  periodAmount: bigint
  periodMs: number
  graceMs: number
  asset: { assetCode: string, assetScale: number }
  /** Where to connect with the ticket (in a Jitsi room too: it is how the companion keeps billing) */
  signal: string
  iceServers: CallSettings['iceServers']
  jitsi?: { domain: string, room: string, jwt: string, expiresAt: number }
  balance?: bigint
}

export type JoinRefusal = { error: CallError, price?: bigint, balance?: bigint }

export interface RoomInput {
  id: unknown
  title?: unknown
  pointer: unknown
  rate: unknown
  maxParticipants?: unknown
  startsAt?: unknown
  endsAt?: unknown
  jitsi?: unknown
}

export interface CallService {
  readonly tokens: CallTokens
  readonly settings: CallSettings
  createRoom (input: RoomInput): Promise<{ room: Room, hostToken: string } | { error: CallError, detail?: string }>
  getRoom (id: string): Promise<Room | undefined>
  listRooms (): Promise<Room[]>
  deleteRoom (id: string): Promise<boolean>
  /** Participants now (the host included): for `full` in the room's public view. */
  occupancy (room: string): number
  /** `resume`: the attendee id of this balance's reader whose connection dropped (a new ticket, nothing spent). */
  join (roomId: string, body: { secret?: unknown, name?: unknown, resume?: unknown }, signalUrl: string): Promise<JoinResult | JoinRefusal>
  hostJoin (roomId: string, hostToken: unknown, name: unknown, signalUrl: string, resume?: unknown): Promise<JoinResult | JoinRefusal>
  /** The host token of a room (derived: the same every time, another for a room made again). */
  hostToken (room: Room): string
  /** The member a valid, unused ticket admits, for the signalling connection's hello. */
  admit (ticket: unknown): { member: Member, peers: PeerInfo[] } | { error: 'invalid_ticket' | 'ticket_expired' | 'ticket_in_use' | 'removed' }
  /** A member's connection closed or it left: it leaves the room. */
  leave (member: Member, reason: LeaveReason): void
  /** The host removes a member (over signalling, or POST …/remove with the host token). */
  remove (roomId: string, attendee: string): boolean
  members (roomId: string): Member[]
  /** Runs billing and deadlines now (a timer does it every second; tests call it). */
  tick (): Promise<void>
  close (): void
}

const NAME = /^[^\u0000-\u001f\u007f<>]{1,40}$/
const parseTime = (v: unknown): number | undefined | 'bad' => {
  if (v === undefined || v === null || v === '') return undefined
  if (typeof v !== 'string') return 'bad'
  const t = Date.parse(v)
  return Number.isFinite(t) && /^\d{4}-\d\d-\d\dT/.test(v) ? t : 'bad'
}

export function createCallService (deps: CallDeps): CallService {
  const log = deps.log.child({ service: 'calls' })
  const now = deps.now ?? Date.now
  const s = deps.settings
  const tokens = createCallTokens(deps.adminToken)
  /** Members per room, in joining order. */
  const rooms = new Map<string, Map<string, Member>>()
  /** Tickets already used for a connection (until they expire), so one ticket opens one socket. */
  const usedTickets = new Map<string, number>()
  /** Attendees removed (by the host, or for want of payment), until their tickets are long expired. */
  const removed = new Map<string, number>()
  /** Balances whose reader the host removed, per room: they cannot buy their way back in. */
  const banned = new Map<string, number>()
  const FORGET_MS = 24 * 3600_000
  /** How long a member whose connection dropped may reconnect (a new ticket, nothing spent) before it leaves. */
  const reconnectMs = Math.max(15_000, s.graceMs)

  const membersOf = (room: string) => {
    let m = rooms.get(room)
    if (!m) rooms.set(room, m = new Map())
    return m
  }

  function broadcast (room: string, e: MemberEvent, except?: string) {
    // A Jitsi room's members meet in Jitsi: the companion tells them only about themselves.
    if (roomCache.get(room)?.entry?.jitsiRoom) return
    for (const m of rooms.get(room)?.values() ?? []) if (m.id !== except) m.send?.(e)
  }

  /** A member whose connection dropped: the others drop theirs to it; it may come back for a while. */
  function detach (m: Member) {
    if (rooms.get(m.room)?.get(m.id) !== m || m.connectBy !== undefined) return
    m.send = undefined
    m.close = undefined
    m.backlog = undefined
    m.connectBy = now() + reconnectMs
    broadcast(m.room, { type: 'peer-left', id: m.id, reason: 'disconnected' })
  }

  function drop (m: Member, reason: LeaveReason) {
    const members = rooms.get(m.room)
    if (!members || members.get(m.id) !== m) return
    members.delete(m.id)
    if (members.size === 0) rooms.delete(m.room)
    if (reason === 'payment_stopped' || reason === 'removed_by_host' || reason === 'room_closed') {
      removed.set(m.id, now() + FORGET_MS)
      if (reason === 'removed_by_host' && m.balanceId) banned.set(`${m.room}\n${m.balanceId}`, now() + FORGET_MS)
      m.send?.({ type: 'removed', reason })
    }
    m.close?.(reason)
    broadcast(m.room, { type: 'peer-left', id: m.id, reason })
    log.info({ room: m.room, attendee: m.id, role: m.role, reason, periods: m.periods, paidUnits: m.paid.toString() }, `call: ${m.role} ${m.id.slice(0, 8)} left "${m.room}" (${reason})`)
  }

  function openProblem (room: Room, t: number): CallError | undefined {
    if (room.startsAt !== undefined && t < room.startsAt) return CallError.NotOpenYet
    if (room.endsAt !== undefined && t >= room.endsAt) return CallError.Ended
    return undefined
  }

  /**
   * How long a ticket waits for its signalling socket: never past the paid period and the grace, so
   * a member that never connects is never charged a second period.
   */
  const ticketMs = (r: Room) => Math.min(s.connectMs, r.periodMs + s.graceMs)

  function result (room: Room, m: Member, charged: bigint, signalUrl: string, balance?: bigint): JoinResult {
    const t = now()
    const exp = Math.floor((t + ticketMs(room)) / 1000) + 1
    const jitsi = room.jitsiRoom && s.jitsi
      ? { domain: s.jitsi.domain, room: room.jitsiRoom, jwt: jitsiToken(s.jitsi, { room: room.jitsiRoom, nbf: Math.floor(t / 1000) - 10, exp: Math.floor((m.nextChargeAt + s.graceMs) / 1000), context: { user: { id: m.id, name: m.name, moderator: m.role === 'host' } } }), expiresAt: m.nextChargeAt + s.graceMs }
      : undefined
    return {
      ticket: tokens.ticket({ room: room.id, attendee: m.id, role: m.role, exp }),
      attendee: m.id,
      role: m.role,
      charged,
      periodAmount: room.periodAmount,
      periodMs: room.periodMs,
      graceMs: s.graceMs,
      asset: room.asset,
      signal: signalUrl,
      iceServers: s.iceServers,
      ...(jitsi ? { jitsi } : {}),
      ...(balance !== undefined ? { balance } : {})
    }
  }

  async function charge (room: Room, m: Member, period: number) {
    const t = now()
    return deps.grants.spendForGrant({
      balanceId: m.balanceId!,
      receiver: room.receiver,
      // One grant per attendee and period: a retry, or a second instance, never charges a period twice.
      grantKey: `call:${room.id}:${m.id}:${period}`,
      amount: room.periodAmount,
      now: t,
      expiresAt: t + room.periodMs
    })
  }

  // Read again every few seconds: another instance may have closed the room.
  const roomCache = new Map<string, { entry: Room | undefined, at: number }>()
  const ROOM_CACHE_MS = 5000
  async function room (id: string): Promise<Room | undefined> {
    const cached = roomCache.get(id)
    if (cached && now() - cached.at < ROOM_CACHE_MS) return cached.entry
    const r = await deps.store.getRoom(id)
    if (r || cached) roomCache.set(id, { entry: r, at: now() })
    return r
  }

  let ticking = false
  async function tick () {
    if (ticking) return
    ticking = true
    try {
      const t = now()
      for (const [key, exp] of usedTickets) if (exp <= t) usedTickets.delete(key)
      for (const [key, until] of removed) if (until <= t) removed.delete(key)
      for (const [key, until] of banned) if (until <= t) banned.delete(key)
      for (const members of [...rooms.values()]) {
        for (const m of [...members.values()]) {
          const r = await room(m.room)
          if (!r) { drop(m, 'room_closed'); continue }
          if (m.connectBy !== undefined && t >= m.connectBy) { drop(m, m.wasConnected ? 'disconnected' : 'never_connected'); continue }
          if (r.endsAt !== undefined && t >= r.endsAt) { drop(m, 'room_closed'); continue }
          // Not connected yet: nothing more is charged before its first hello (its ticket ends first).
          if (m.role === 'host' || t < m.nextChargeAt || (m.connectBy !== undefined && !m.wasConnected)) continue
          // It may have left while an earlier charge of this pass was awaited.
          if (rooms.get(m.room)?.get(m.id) !== m) continue
          const spent = await charge(r, m, m.periods)
          if (spent.kind === 'granted') {
            m.periods++
            m.paid += spent.charged
            m.nextChargeAt += r.periodMs
            m.send?.({ type: 'billed', paid: m.paid.toString(), periods: m.periods, nextChargeAt: m.nextChargeAt })
          } else if (t >= m.nextChargeAt + s.graceMs) {
            drop(m, 'payment_stopped')
          }
        }
      }
    } finally {
      ticking = false
    }
  }
  const timer = setInterval(() => { tick().catch((err: unknown) => log.error({ err }, 'call billing failed')) }, Math.max(100, Math.min(1000, Math.floor(s.graceMs / 3)))).unref()

  return {
    tokens,
    settings: s,
    async createRoom (input) {
      if (!isRoomId(input.id)) return { error: CallError.InvalidRoom }
      const title = input.title === undefined ? input.id : input.title
      if (typeof title !== 'string' || title.length === 0 || title.length > 120) return { error: CallError.InvalidRoom, detail: 'title must be 1-120 characters' }
      const pointer = typeof input.pointer === 'string' ? input.pointer : ''
      const receiver = pointer ? deps.receivers.receiverOf(pointer) : undefined
      if (!receiver) return { error: CallError.UnknownPointer }
      const rate = input.rate as { amount?: unknown, assetCode?: unknown, assetScale?: unknown } | undefined
      if (typeof rate !== 'object' || rate === null || typeof rate.amount !== 'string' || !/^[1-9]\d{0,18}$/.test(rate.amount) ||
        typeof rate.assetCode !== 'string' || !/^[A-Z0-9]{1,12}$/.test(rate.assetCode) || !Number.isInteger(rate.assetScale) || (rate.assetScale as number) < 0 || (rate.assetScale as number) > 18) {
        return { error: CallError.InvalidRate }
      }
      const jitsi = input.jitsi === true
      if (input.jitsi !== undefined && typeof input.jitsi !== 'boolean') return { error: CallError.InvalidRoom, detail: 'jitsi must be true or false' }
      if (jitsi && !s.jitsi) return { error: CallError.JitsiNotConfigured }
      const max = input.maxParticipants ?? Math.min(6, s.maxMesh)
      if (!Number.isInteger(max) || (max as number) < 2 || (max as number) > (jitsi ? 500 : s.maxMesh)) return { error: CallError.InvalidSize }
      const startsAt = parseTime(input.startsAt)
      const endsAt = parseTime(input.endsAt)
      if (startsAt === 'bad' || endsAt === 'bad' || (startsAt !== undefined && endsAt !== undefined && startsAt >= endsAt)) return { error: CallError.InvalidTimes }
      // The rate per minute in the receiver's units, then one period's share of it, rounded up (for the host).
      const perMinute = await deps.receivers.priceFor(receiver, { amount: rate.amount, assetCode: rate.assetCode, assetScale: rate.assetScale as number })
      if ('problem' in perMinute) return { error: perMinute.problem === 'unknown_receiver' ? CallError.UnknownPointer : CallError.UnchargeableRate, detail: perMinute.detail }
      const periodAmount = (perMinute.amount * BigInt(s.periodMs) + 59_999n) / 60_000n
      const r: Room = {
        id: input.id,
        title,
        pointer,
        receiver,
        rate: { amount: rate.amount, assetCode: rate.assetCode, assetScale: rate.assetScale as number },
        periodAmount,
        asset: perMinute.asset,
        periodMs: s.periodMs,
        maxParticipants: max as number,
        ...(startsAt !== undefined ? { startsAt } : {}),
        ...(endsAt !== undefined ? { endsAt } : {}),
        ...(jitsi ? { jitsiRoom: `trickle-${randomBytes(12).toString('hex')}` } : {}),
        createdAt: now()
      }
      if (!await deps.store.createRoom(r)) return { error: CallError.RoomExists }
      log.info({ room: r.id, receiver, rate: formatPrice(r.rate), periodUnits: periodAmount.toString(), maxParticipants: r.maxParticipants, jitsi }, `call room created: "${r.id}" at ${formatPrice(r.rate)} per minute`)
      return { room: r, hostToken: tokens.hostToken(r) }
    },
    getRoom: room,
    hostToken: (r) => tokens.hostToken(r),
    listRooms: () => deps.store.listRooms(),
    async deleteRoom (id) {
      const gone = await deps.store.deleteRoom(id)
      roomCache.delete(id)
      for (const m of [...rooms.get(id)?.values() ?? []]) drop(m, 'room_closed')
      return gone
    },
    occupancy: (id) => rooms.get(id)?.size ?? 0,
    async join (roomId, body, signalUrl) {
      const r = await room(roomId)
      if (!r) return { error: CallError.UnknownRoom }
      const balanceId = ownedBalance(body.secret)
      if (balanceId === undefined) return { error: CallError.InvalidSecret }
      const name = body.name === undefined ? 'Guest' : body.name
      if (typeof name !== 'string' || !NAME.test(name.trim())) return { error: CallError.InvalidName }
      const t = now()
      if ((banned.get(`${r.id}\n${balanceId}`) ?? 0) > t) return { error: CallError.RemovedByHost }
      if (body.resume !== undefined) {
        // The same reader (the same balance) back after its connection dropped: a new ticket, nothing spent.
        const m = typeof body.resume === 'string' ? rooms.get(r.id)?.get(body.resume) : undefined
        if (!m || m.role !== 'attendee' || m.balanceId !== balanceId || m.connectBy === undefined) return { error: CallError.UnknownResume }
        m.connectBy = Math.max(m.connectBy, t + Math.min(s.connectMs, reconnectMs))
        return result(r, m, 0n, signalUrl)
      }
      const closed = openProblem(r, t)
      if (closed) return { error: closed }
      // Checked before anything is spent: a full room costs nothing.
      const members = membersOf(r.id)
      if (members.size >= r.maxParticipants) return { error: CallError.Full }
      const m: Member = { id: randomBytes(16).toString('hex'), name: name.trim(), role: 'attendee', room: r.id, balanceId, periods: 0, paid: 0n, nextChargeAt: t, connectBy: t + ticketMs(r) }
      // Held while the first period is spent, so racing joins cannot overfill the room.
      members.set(m.id, m)
      const spent = await charge(r, m, 0).catch((err: unknown) => {
        members.delete(m.id)
        if (members.size === 0) rooms.delete(r.id)
        throw err
      })
      if (spent.kind !== 'granted') {
        members.delete(m.id)
        if (members.size === 0) rooms.delete(r.id)
        return spent.kind === 'unknown_balance' ? { error: CallError.NoPayment, price: r.periodAmount } : { error: CallError.PaymentRequired, price: r.periodAmount, balance: spent.balance }
      }
      m.periods = 1
      m.paid = spent.charged
      m.nextChargeAt = t + r.periodMs
      log.info({ room: r.id, attendee: m.id, balance: balanceId, chargedUnits: spent.charged.toString() }, `call: attendee ${m.id.slice(0, 8)} paid to join "${r.id}" (${formatPrice(r.rate)} per minute)`)
      return result(r, m, spent.charged, signalUrl, spent.balance)
    },
    async hostJoin (roomId, hostToken, name, signalUrl, resume) {
      const r = await room(roomId)
      if (!r) return { error: CallError.UnknownRoom }
      if (!tokens.isHostToken(r, hostToken)) return { error: CallError.InvalidHostToken }
      if (resume !== undefined) {
        const m = typeof resume === 'string' ? rooms.get(r.id)?.get(resume) : undefined
        if (!m || m.role !== 'host' || m.connectBy === undefined) return { error: CallError.UnknownResume }
        m.connectBy = Math.max(m.connectBy, now() + Math.min(s.connectMs, reconnectMs))
        return result(r, m, 0n, signalUrl)
      }
      const display = name === undefined ? 'Host' : name
      if (typeof display !== 'string' || !NAME.test(display.trim())) return { error: CallError.InvalidName }
      const t = now()
      const members = membersOf(r.id)
      if (members.size >= r.maxParticipants) return { error: CallError.Full }
      const m: Member = { id: randomBytes(16).toString('hex'), name: display.trim(), role: 'host', room: r.id, periods: 0, paid: 0n, nextChargeAt: Number.MAX_SAFE_INTEGER, connectBy: t + ticketMs(r) }
      members.set(m.id, m)
      return result(r, m, 0n, signalUrl)
    },
    admit (ticket) {
      const t = tokens.readTicket(ticket, now())
      if (t === 'invalid') return { error: 'invalid_ticket' }
      if (t === 'expired') return { error: 'ticket_expired' }
      if (removed.has(t.attendee)) return { error: 'removed' }
      const m = rooms.get(t.room)?.get(t.attendee)
      if (usedTickets.has(ticket as string) || (m && m.connectBy === undefined)) return { error: 'ticket_in_use' }
      if (!m) return { error: 'ticket_expired' }
      usedTickets.set(ticket as string, t.exp * 1000)
      delete m.connectBy
      m.wasConnected = true
      const jitsi = roomCache.get(t.room)?.entry?.jitsiRoom !== undefined
      const peers = jitsi ? [] : [...rooms.get(t.room)!.values()].filter((p) => p.id !== m.id && p.connectBy === undefined).map(({ id, name, role }) => ({ id, name, role }))
      broadcast(t.room, { type: 'peer-joined', peer: { id: m.id, name: m.name, role: m.role } }, m.id)
      return { member: m, peers }
    },
    leave: (m, reason) => { if (reason === 'disconnected') detach(m); else drop(m, reason) },
    remove (roomId, attendee) {
      const m = rooms.get(roomId)?.get(attendee)
      if (!m) return false
      drop(m, 'removed_by_host')
      return true
    },
    members: (roomId) => [...rooms.get(roomId)?.values() ?? []],
    tick,
    close () {
      clearInterval(timer)
      for (const members of [...rooms.values()]) for (const m of [...members.values()]) drop(m, 'room_closed')
    }
  }
}
