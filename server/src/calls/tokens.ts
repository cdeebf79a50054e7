// The credentials of paid calls, all derived from the companion's admin token, so none is stored:
//
//   host token   base64url(HMAC(hostKey, "room\n" + room + "\n" + createdAt)) one per room, for its host (a
//                                                                             room made again later has another)
//   join ticket  v1.{room}.{attendee}.{role}.{exp}.{nonce}.{mac}              one per paid join (or
//                mac = HMAC(ticketKey, the fields), exp in whole seconds       reconnection); the
//                                                                             signalling socket admits
//                                                                             it once, before exp
//   Jitsi JWT    HS256, the claims Jitsi Meet's token authentication reads    (prosody's mod_auth_token:
//                (aud, iss, sub, room, exp, nbf, context.user)                 https://github.com/jitsi/lib-jitsi-meet/blob/master/doc/tokens.md)
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto'

export type Role = 'host' | 'attendee'

export interface Ticket { room: string, attendee: string, role: Role, exp: number }

export interface CallTokens {
  hostToken (room: { id: string, createdAt: number }): string
  isHostToken (room: { id: string, createdAt: number }, token: unknown): boolean
  ticket (t: Ticket): string
  /** The ticket's fields when its MAC holds; `expired` when it held but its time is past. */
  readTicket (ticket: unknown, nowMs: number): Ticket | 'invalid' | 'expired'
}

const digest = (s: string) => createHash('sha256').update(s).digest()
const same = (a: string, b: string) => timingSafeEqual(digest(a), digest(b))
const ROOM = /^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/
const ATTENDEE = /^[0-9a-f]{32}$/

export function createCallTokens (adminToken: string): CallTokens {
  const hostKey = createHash('sha256').update('trickle call host token\n').update(adminToken).digest()
  const ticketKey = createHash('sha256').update('trickle call ticket\n').update(adminToken).digest()
  const mac = (fields: string) => createHmac('sha256', ticketKey).update(fields).digest('base64url')
  const hostToken = (room: { id: string, createdAt: number }) => createHmac('sha256', hostKey).update(`room\n${room.id}\n${room.createdAt}`).digest('base64url')
  return {
    hostToken,
    isHostToken: (room, token) => typeof token === 'string' && token.length > 0 && token.length < 100 && same(token, hostToken(room)),
    ticket (t) {
      // A nonce of its own: two tickets for one attendee within a second (a reconnection) differ.
      const fields = `v1.${t.room}.${t.attendee}.${t.role}.${t.exp}.${randomBytes(6).toString('hex')}`
      return `${fields}.${mac(fields)}`
    },
    readTicket (ticket, nowMs) {
      if (typeof ticket !== 'string' || ticket.length > 300) return 'invalid'
      const parts = ticket.split('.')
      if (parts.length !== 7 || parts[0] !== 'v1') return 'invalid'
      const [, room, attendee, role, exp, nonce, given] = parts as [string, string, string, string, string, string, string]
      if (!ROOM.test(room) || !ATTENDEE.test(attendee) || (role !== 'host' && role !== 'attendee') || !/^[1-9]\d{0,11}$/.test(exp) || !/^[0-9a-f]{12}$/.test(nonce)) return 'invalid'
      if (!same(given, mac(parts.slice(0, 6).join('.')))) return 'invalid'
      if (Number(exp) * 1000 <= nowMs) return 'expired'
      return { room, attendee, role, exp: Number(exp) }
    }
  }
}

export interface JitsiSettings { domain: string, appId: string, secret: string }

export interface JitsiClaims {
  aud: 'jitsi'
  iss: string
  sub: string
  room: string
  nbf: number
  exp: number
  context: { user: { id: string, name: string, moderator: boolean } }
}

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url')

/** A Jitsi Meet JWT (HS256) for one participant of one room, valid from now to `exp` (seconds). */
export function jitsiToken (s: JitsiSettings, claims: Omit<JitsiClaims, 'aud' | 'iss' | 'sub'>): string {
  const body = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ aud: 'jitsi', iss: s.appId, sub: s.domain, ...claims })}`
  return `${body}.${createHmac('sha256', s.secret).update(body).digest('base64url')}`
}

export const isRoomId = (v: unknown): v is string => typeof v === 'string' && ROOM.test(v)
