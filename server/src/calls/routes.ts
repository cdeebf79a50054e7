// HTTP side of paid calls: rooms (the creator's, with the admin token), their public view (what a
// page shows: title, rate, whether it is open or full; never who is in it), paid joins (the reader's
// balance secret in the body), the host's join and removals (the room's host token).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { STATUS_CODES } from 'node:http'
import { Type } from 'typebox'
import { Amount, bearer, errorRef } from '../schemas/common.ts'
import { formatPrice } from '../torrent/license.ts'
import { callErrorMessage, callErrorStatus, type CallError } from './errors.ts'
import type { JoinRefusal, JoinResult } from './service.ts'
import type { Room } from './store.ts'

const RoomId = Type.String({ pattern: '^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$', description: 'The room\'s public name (what the page\'s call block names)' })
const Rate = Type.Object({
  amount: Type.String({ pattern: '^[1-9][0-9]{0,18}$', description: 'Per minute, in whole units at assetScale' }),
  assetCode: Type.String({ pattern: '^[A-Z0-9]{1,12}$' }),
  assetScale: Type.Integer({ minimum: 0, maximum: 18 })
}, { additionalProperties: false })
const Asset = Type.Object({ assetCode: Type.String(), assetScale: Type.Integer() })

const PublicRoom = Type.Object({
  id: Type.String(),
  title: Type.String(),
  pointer: Type.String({ description: 'Who attendees pay: the page\'s monetization link must name it' }),
  receiver: Type.String(),
  rate: Rate,
  price: Type.String({ description: 'The rate, readable: "0.10 USD"' }),
  periodAmount: Amount,
  asset: Asset,
  periodSeconds: Type.Integer(),
  graceSeconds: Type.Integer(),
  maxParticipants: Type.Integer(),
  full: Type.Boolean(),
  status: Type.Union([Type.Literal('open'), Type.Literal('not_open_yet'), Type.Literal('ended')]),
  startsAt: Type.Optional(Type.String()),
  endsAt: Type.Optional(Type.String()),
  mode: Type.Union([Type.Literal('mesh'), Type.Literal('jitsi')])
})

const Joined = Type.Object({
  ticket: Type.String({ description: 'Say hello with it on the signalling socket; it opens one connection, once' }),
  attendee: Type.String(),
  role: Type.Union([Type.Literal('host'), Type.Literal('attendee')]),
  charged: Amount,
  periodAmount: Amount,
  periodSeconds: Type.Integer(),
  graceSeconds: Type.Integer(),
  asset: Asset,
  signal: Type.String({ description: 'The signalling WebSocket: connect, then send {"type":"hello","ticket":…} within 10 s (protocol: server/src/calls/signalling.ts). In a Jitsi room too: while it is open, the companion bills each period; when a period cannot be paid, it tells the page to leave' }),
  iceServers: Type.Array(Type.Object({ urls: Type.Union([Type.String(), Type.Array(Type.String())]), username: Type.Optional(Type.String()), credential: Type.Optional(Type.String()) })),
  jitsi: Type.Optional(Type.Object({ domain: Type.String(), room: Type.String(), jwt: Type.String(), expiresAt: Type.String() })),
  balance: Type.Optional(Amount)
})

/** A refused join: the error shape, with what one period costs and what the balance holds. */
const Refusal = Type.Object({
  statusCode: Type.Integer(),
  error: Type.String(),
  code: Type.String(),
  message: Type.String(),
  price: Type.Optional(Amount),
  balance: Type.Optional(Amount)
})

const callsRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const calls = app.calls
  const signalUrl = `${app.config.publicUrl.replace(/^http/, 'ws')}/calls/signal`
  const fail = (reply: FastifyReply, error: CallError, detail?: string, extra: Record<string, unknown> = {}) =>
    reply.code(callErrorStatus[error]).type('application/json').send({ statusCode: callErrorStatus[error], error: STATUS_CODES[callErrorStatus[error]] ?? 'Error', code: error, message: detail ? `${callErrorMessage[error]}: ${detail}` : callErrorMessage[error], ...extra })

  const view = (r: Room) => {
    const t = Date.now()
    return {
      id: r.id,
      title: r.title,
      pointer: r.pointer,
      receiver: r.receiver,
      rate: r.rate,
      price: formatPrice(r.rate),
      periodAmount: r.periodAmount.toString(),
      asset: r.asset,
      periodSeconds: Math.round(r.periodMs / 1000),
      graceSeconds: Math.round(calls.settings.graceMs / 1000),
      maxParticipants: r.maxParticipants,
      full: calls.occupancy(r.id) >= r.maxParticipants,
      status: r.startsAt !== undefined && t < r.startsAt ? 'not_open_yet' as const : r.endsAt !== undefined && t >= r.endsAt ? 'ended' as const : 'open' as const,
      ...(r.startsAt !== undefined ? { startsAt: new Date(r.startsAt).toISOString() } : {}),
      ...(r.endsAt !== undefined ? { endsAt: new Date(r.endsAt).toISOString() } : {}),
      mode: r.jitsiRoom ? 'jitsi' as const : 'mesh' as const
    }
  }
  const joined = (j: JoinResult) => ({
    ticket: j.ticket,
    attendee: j.attendee,
    role: j.role,
    charged: j.charged.toString(),
    periodAmount: j.periodAmount.toString(),
    periodSeconds: Math.round(j.periodMs / 1000),
    graceSeconds: Math.round(j.graceMs / 1000),
    asset: j.asset,
    signal: j.signal,
    iceServers: j.iceServers,
    ...(j.jitsi ? { jitsi: { ...j.jitsi, expiresAt: new Date(j.jitsi.expiresAt).toISOString() } } : {}),
    ...(j.balance !== undefined ? { balance: j.balance.toString() } : {})
  })
  const refused = (reply: FastifyReply, r: JoinRefusal) =>
    fail(reply, r.error, undefined, { ...(r.price !== undefined ? { price: r.price.toString() } : {}), ...(r.balance !== undefined ? { balance: r.balance.toString() } : {}) })
  const hostToken = (req: FastifyRequest) => /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '')?.[1]

  app.post('/calls/rooms', {
    preHandler: app.requireToken('admin'),
    schema: {
      tags: ['calls'],
      summary: 'Create a paid call room',
      description: 'The host\'s rate per minute is converted into the receiver\'s units once, here (rounded up): a rate this companion cannot charge is refused. The reply carries the room\'s host token, which joins it without paying and removes participants; it is derived, so asking again (GET) gives the same.',
      security: bearer,
      body: Type.Object({
        id: RoomId,
        title: Type.Optional(Type.String({ minLength: 1, maxLength: 120 })),
        pointer: Type.String({ minLength: 1, maxLength: 2048, description: 'Who is paid: a wallet address (of this companion\'s wallet or any Open Payments wallet registered here) or a proxy pointer' }),
        rate: Rate,
        maxParticipants: Type.Optional(Type.Integer({ minimum: 2, maximum: 500, description: 'The host included; at most TRICKLE_CALL_MAX_MESH for a mesh room' })),
        startsAt: Type.Optional(Type.String({ format: 'date-time' })),
        endsAt: Type.Optional(Type.String({ format: 'date-time' })),
        jitsi: Type.Optional(Type.Boolean({ description: 'A room on the self-hosted Jitsi Meet (TRICKLE_JITSI_*) instead of the mesh' }))
      }, { additionalProperties: false }),
      response: { 201: Type.Object({ room: PublicRoom, hostToken: Type.String() }), 400: errorRef, 401: errorRef, 409: errorRef }
    }
  }, async (req, reply) => {
    const r = await calls.createRoom(req.body)
    if ('error' in r) return fail(reply, r.error, r.detail)
    reply.header('cache-control', 'no-store')
    return reply.code(201).send({ room: view(r.room), hostToken: r.hostToken })
  })

  app.get('/calls/rooms', {
    preHandler: app.requireToken('admin'),
    schema: {
      tags: ['calls'],
      summary: 'Every room, with its host token',
      security: bearer,
      response: { 200: Type.Array(Type.Object({ room: PublicRoom, hostToken: Type.String(), participants: Type.Integer() })), 401: errorRef }
    }
  }, async (_req, reply) => {
    reply.header('cache-control', 'no-store')
    return (await calls.listRooms()).map((r) => ({ room: view(r), hostToken: calls.hostToken(r), participants: calls.occupancy(r.id) }))
  })

  app.get('/calls/rooms/:room', {
    schema: {
      tags: ['calls'],
      summary: 'A room as its page shows it',
      description: 'Title, rate, open or not, full or not. Never who is in it, nor where its signalling is.',
      params: Type.Object({ room: RoomId }),
      response: { 200: PublicRoom, 400: errorRef, 404: errorRef }
    }
  }, async (req, reply) => {
    const r = await calls.getRoom(req.params.room)
    if (!r) return fail(reply, 'unknown_room')
    return view(r)
  })

  app.delete('/calls/rooms/:room', {
    preHandler: app.requireToken('admin'),
    schema: {
      tags: ['calls'],
      summary: 'Close a room: everyone in it is removed',
      security: bearer,
      params: Type.Object({ room: RoomId }),
      response: { 204: Type.Null(), 401: errorRef, 404: errorRef }
    }
  }, async (req, reply) => {
    if (!await calls.deleteRoom(req.params.room)) return fail(reply, 'unknown_room')
    return reply.code(204).send(null)
  })

  app.post('/calls/rooms/:room/join', {
    schema: {
      tags: ['calls'],
      summary: 'Join a room: spends its first period from the reader\'s balance',
      description: 'The balance\'s secret goes in the body (never a URL). Refused before anything is spent when the room is full, not open yet, or over. 402 until the balance covers one period (its price is in the reply). Then each further period is spent from the same balance as it starts; when one cannot be within the grace, the attendee is removed.',
      params: Type.Object({ room: RoomId }),
      body: Type.Object({
        secret: Type.String({ minLength: 1, maxLength: 64, description: 'The reader\'s balance secret' }),
        name: Type.Optional(Type.String({ minLength: 1, maxLength: 40, description: 'Shown to the others' })),
        resume: Type.Optional(Type.String({ pattern: '^[0-9a-f]{32}$', description: 'Back after the connection dropped: this balance\'s attendee id; a new ticket, nothing spent (within 15 s, or the grace if longer)' }))
      }, { additionalProperties: false }),
      response: { 200: Joined, 400: errorRef, 402: Refusal, 403: errorRef, 404: errorRef, 409: Refusal, 410: errorRef }
    }
  }, async (req, reply) => {
    const r = await calls.join(req.params.room, req.body, signalUrl)
    if ('error' in r) return refused(reply, r)
    reply.header('cache-control', 'no-store')
    return joined(r)
  })

  app.post('/calls/rooms/:room/host', {
    schema: {
      tags: ['calls'],
      summary: 'The host joins their room, without paying',
      security: bearer,
      params: Type.Object({ room: RoomId }),
      body: Type.Optional(Type.Object({
        name: Type.Optional(Type.String({ minLength: 1, maxLength: 40 })),
        resume: Type.Optional(Type.String({ pattern: '^[0-9a-f]{32}$', description: 'Back after the connection dropped: the host\'s attendee id' }))
      }, { additionalProperties: false })),
      response: { 200: Joined, 400: errorRef, 403: errorRef, 404: errorRef, 409: Refusal }
    }
  }, async (req, reply) => {
    const r = await calls.hostJoin(req.params.room, hostToken(req), req.body?.name, signalUrl, req.body?.resume)
    if ('error' in r) return refused(reply, r)
    reply.header('cache-control', 'no-store')
    return joined(r)
  })

  app.post('/calls/rooms/:room/remove', {
    schema: {
      tags: ['calls'],
      summary: 'The host removes a participant',
      security: bearer,
      params: Type.Object({ room: RoomId }),
      body: Type.Object({ attendee: Type.String({ pattern: '^[0-9a-f]{32}$' }) }, { additionalProperties: false }),
      response: { 204: Type.Null(), 400: errorRef, 403: errorRef, 404: errorRef }
    }
  }, async (req, reply) => {
    const r = await calls.getRoom(req.params.room)
    if (!r) return fail(reply, 'unknown_room')
    if (!calls.tokens.isHostToken(r, hostToken(req))) return fail(reply, 'invalid_host_token')
    if (!calls.remove(r.id, req.body.attendee)) return fail(reply, 'unknown_attendee')
    return reply.code(204).send(null)
  })
}

export default callsRoutes
