// The signalling of paid calls: a WebSocket at /calls/signal on the companion's port (the tracker's
// transport, with its bounds on frames, fragments, buffers and slow clients). A connection says
// `hello` with its join ticket within HELLO_MS, or is closed; until then it receives nothing, so a
// page that has not paid never hears of the room's members, nor gets an offer. After it:
//
//   server → client  welcome {you, peers, iceServers, periodMs, graceMs, paid, nextChargeAt}
//                    peer-joined {peer}, peer-left {id, reason}, signal {from, data},
//                    billed {paid, periods, nextChargeAt}, removed {reason}, error {code, message}
//   client → server  signal {to, data}    an offer, answer or ICE candidate for one member
//                    remove {id}          the host only
//                    leave
//
// A newcomer offers to every member in `peers`; the others answer (a full mesh). Every relayed value
// is rebuilt from the fields WebRTC uses, never forwarded as sent. Close codes: 4001 invalid ticket,
// 4002 expired, 4003 ticket already in use, 4004 removed (payment stopped, by the host, room closed),
// 4005 no hello in time; 1008 too many messages.
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import type { FastifyBaseLogger } from 'fastify'
import { AddressCounts } from '../tracker/address-counts.ts'
import { CloseCode, Connection, createWebSocketServer, rejectUpgrade } from '../tracker/websocket.ts'
import type { CallService, LeaveReason, Member, MemberEvent } from './service.ts'

const HELLO_MS = 10_000
const MAX_SDP = 64 * 1024
/**
 * Bytes of signals one connection may relay per minute (a bucket of as many, refilled evenly). A
 * mesh of six renegotiating now and then sends a few hundred KB; without a bound, one member could
 * queue megabytes at another until the transport drops the slow one (a kick by flooding).
 */
const SIGNAL_BYTES_PER_MINUTE = 2 * 1024 * 1024
/** A member whose socket has this much queued gets no more relayed signals until it drains. */
const MAX_BACKLOG = 512 * 1024
const MAX_CANDIDATE = 2048
export const SignalClose = { InvalidTicket: 4001, Expired: 4002, InUse: 4003, Removed: 4004, NoHello: 4005 } as const

class CallConnection extends Connection {
  member: Member | null = null
  address = ''
  openedAt = 0
  budget = 0
  budgetAt = 0
  bytes = 0
  bytesAt = 0
}

type Json = Record<string, unknown>

/** An SDP or an ICE candidate, rebuilt from its fields; undefined when it is neither. */
function signalData (value: unknown): Json | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined
  const v = value as Json
  if (v.type === 'offer' || v.type === 'answer') {
    return typeof v.sdp === 'string' && v.sdp.length > 0 && v.sdp.length <= MAX_SDP ? { type: v.type, sdp: v.sdp } : undefined
  }
  if (v.candidate !== undefined) {
    const c = v.candidate as Json | null
    if (c === null) return { candidate: null }
    if (typeof c !== 'object' || typeof c.candidate !== 'string' || c.candidate.length > MAX_CANDIDATE) return undefined
    const mid = c.sdpMid === undefined || c.sdpMid === null ? null : typeof c.sdpMid === 'string' && c.sdpMid.length <= 32 ? c.sdpMid : undefined
    const index = c.sdpMLineIndex === undefined || c.sdpMLineIndex === null ? null : Number.isInteger(c.sdpMLineIndex) && (c.sdpMLineIndex as number) >= 0 && (c.sdpMLineIndex as number) < 64 ? c.sdpMLineIndex : undefined
    if (mid === undefined || index === undefined) return undefined
    return { candidate: { candidate: c.candidate, sdpMid: mid, sdpMLineIndex: index } }
  }
  return undefined
}

export interface CallSignalling {
  /** `address`: the client's, as the per-address limit counts it (behind a trusted proxy, the forwarded one). */
  upgrade (req: IncomingMessage, socket: Duplex, head: Buffer, address?: string): void
  readonly connections: number
  close (): void
}

export interface CallSignallingOptions {
  calls: CallService
  log: FastifyBaseLogger
  maxMessagesPerMinute?: number
  /** Signalling sockets open at once, from everyone (default 10,000). */
  maxConnections?: number
  /** …and from one address (default 32: a household's tabs); 0 for no limit. */
  maxConnectionsPerAddress?: number
}

export function createCallSignalling (opts: CallSignallingOptions): CallSignalling {
  const log = opts.log.child({ service: 'call-signalling' })
  const perMinute = opts.maxMessagesPerMinute ?? 600
  const clock = () => Math.floor(performance.now() / 1000)
  // Connections that have not said hello: closed after HELLO_MS by one shared timer.
  const waiting = new Set<CallConnection>()
  const perAddress = new AddressCounts()
  const perAddressLimit = opts.maxConnectionsPerAddress ?? 32
  /** The address of the upgrade being answered (the transport makes its connection synchronously). */
  let upgradingFrom = ''
  const wss = createWebSocketServer<CallConnection>({
    maxPayload: MAX_SDP + 4096,
    create (socket, t) {
      const conn = new CallConnection(socket, t)
      conn.openedAt = Date.now()
      conn.budget = perMinute
      conn.budgetAt = t
      conn.bytes = SIGNAL_BYTES_PER_MINUTE
      conn.bytesAt = t
      waiting.add(conn)
      conn.address = upgradingFrom
      perAddress.add(upgradingFrom)
      return conn
    },
    clock,
    message (conn, text) {
      try {
        onMessage(conn, text)
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'call signalling message failed; closing its connection')
        wss.close(conn, 1011, 'message could not be handled')
      }
    },
    onLimit: (_conn, what) => { log.warn({ limit: what }, `call signalling limit reached: ${what}`) },
    close (conn) {
      waiting.delete(conn)
      perAddress.remove(conn.address)
      const m = conn.member
      conn.member = null
      if (m) opts.calls.leave(m, 'disconnected')
    }
  })
  const send = (conn: CallConnection, value: Json) => { wss.send(conn, JSON.stringify(value)) }
  const error = (conn: CallConnection, code: string, message: string) => { send(conn, { type: 'error', code, message }) }

  const helloTimer = setInterval(() => {
    const cutoff = Date.now() - HELLO_MS
    for (const conn of waiting) {
      if (conn.openedAt > cutoff) continue
      waiting.delete(conn)
      if (!conn.closed) wss.close(conn, SignalClose.NoHello, 'no hello with a ticket in time')
    }
  }, 1000).unref()

  function withinBudget (conn: CallConnection): boolean {
    const t = clock()
    if (t > conn.budgetAt) {
      conn.budget = Math.min(perMinute, conn.budget + Math.floor(((t - conn.budgetAt) * perMinute) / 60))
      conn.budgetAt = t
    }
    if (conn.budget > 0) { conn.budget--; return true }
    wss.close(conn, CloseCode.PolicyViolation, 'too many messages')
    return false
  }

  function withinBytes (conn: CallConnection, n: number): boolean {
    const t = clock()
    if (t > conn.bytesAt) {
      conn.bytes = Math.min(SIGNAL_BYTES_PER_MINUTE, conn.bytes + Math.floor(((t - conn.bytesAt) * SIGNAL_BYTES_PER_MINUTE) / 60))
      conn.bytesAt = t
    }
    if (conn.bytes < n) return false
    conn.bytes -= n
    return true
  }

  function hello (conn: CallConnection, m: Json) {
    const admitted = opts.calls.admit(m.ticket)
    waiting.delete(conn)
    if ('error' in admitted) {
      const code = admitted.error === 'invalid_ticket' ? SignalClose.InvalidTicket : admitted.error === 'ticket_expired' ? SignalClose.Expired : admitted.error === 'ticket_in_use' ? SignalClose.InUse : SignalClose.Removed
      error(conn, admitted.error, admitted.error === 'ticket_in_use' ? 'this ticket is already connected; one ticket opens one connection' : admitted.error === 'removed' ? 'you were removed from this call' : 'the ticket is not valid: join again')
      wss.close(conn, code, admitted.error)
      return
    }
    const member = admitted.member
    conn.member = member
    member.send = (e: MemberEvent) => { if (!conn.closed) send(conn, e as unknown as Json) }
    member.backlog = () => conn.socket.writableLength
    member.close = (reason: LeaveReason) => {
      conn.member = null
      if (!conn.closed) wss.close(conn, reason === 'left' || reason === 'disconnected' ? CloseCode.Normal : SignalClose.Removed, reason)
    }
    send(conn, {
      type: 'welcome',
      you: { id: member.id, name: member.name, role: member.role },
      peers: admitted.peers,
      iceServers: opts.calls.settings.iceServers,
      periodMs: opts.calls.settings.periodMs,
      graceMs: opts.calls.settings.graceMs,
      paid: member.paid.toString(),
      periods: member.periods,
      nextChargeAt: member.role === 'host' ? null : member.nextChargeAt
    })
  }

  function onMessage (conn: CallConnection, text: string) {
    if (!withinBudget(conn)) return
    let msg: unknown
    try { msg = JSON.parse(text) } catch { return error(conn, 'invalid_json', 'messages are JSON objects') }
    if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) return error(conn, 'invalid_message', 'messages are JSON objects with a type')
    const m = msg as Json
    const member = conn.member
    if (!member) {
      if (m.type === 'hello') return hello(conn, m)
      return error(conn, 'hello_first', 'say hello with your ticket first')
    }
    switch (m.type) {
      case 'signal': {
        const data = signalData(m.data)
        if (!data) return error(conn, 'invalid_signal', 'data must be {type: "offer"|"answer", sdp} or {candidate}')
        const to = typeof m.to === 'string' ? opts.calls.members(member.room).find((p) => p.id === m.to && p.send) : undefined
        if (!to) return error(conn, 'unknown_peer', 'nobody connected in this room has that id')
        if (!withinBytes(conn, text.length)) return error(conn, 'too_much_signalling', `at most ${SIGNAL_BYTES_PER_MINUTE} bytes of signals a minute`)
        if ((to.backlog?.() ?? 0) > MAX_BACKLOG) return error(conn, 'peer_busy', 'that member is not reading its signals; try again in a moment')
        to.send!({ type: 'signal', from: member.id, data } as unknown as MemberEvent)
        return
      }
      case 'remove': {
        if (member.role !== 'host') return error(conn, 'not_host', 'only the host removes participants')
        if (typeof m.id !== 'string' || !opts.calls.remove(member.room, m.id)) return error(conn, 'unknown_attendee', 'nobody in this room has that id')
        return
      }
      case 'leave':
        opts.calls.leave(member, 'left')
        return
      case 'hello':
        return error(conn, 'already_joined', 'this connection has joined already')
      default:
        return error(conn, 'invalid_message', `unknown type ${JSON.stringify(String(m.type).slice(0, 20))}`)
    }
  }

  return {
    upgrade (req, socket, head, address) {
      if (wss.connections.size >= (opts.maxConnections ?? 10_000)) return rejectUpgrade(socket, 503, 'Too many call connections; try again later.')
      const from = perAddressLimit > 0 ? (address ?? (req.socket.remoteAddress ?? '')).replace(/^::ffff:/, '') : ''
      if (from !== '' && perAddress.count(from) >= perAddressLimit) return rejectUpgrade(socket, 429, `At most ${perAddressLimit} call connections per address.`)
      upgradingFrom = from
      try {
        wss.upgrade(req, socket, head)
      } finally {
        upgradingFrom = ''
      }
    },
    get connections () { return wss.connections.size },
    close () {
      clearInterval(helloTimer)
      wss.closeAll()
    }
  }
}
