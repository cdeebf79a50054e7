// Paid calls on the companion: rooms (admin), paid joins, the host's token, signalling only for ticket
// holders, removal when a period cannot be spent (within a period and the grace), and the abuse a
// room must refuse: unknown rooms, forged and reused tickets, a host token on another room, a full
// room, oversized signals. Periods are 2 s and the grace 1 s here.
import assert from 'node:assert/strict'
import { createHmac, randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { test, type TestContext } from 'node:test'
import WebSocket from 'ws'
import { encodeReceipt, receiptSecret } from '../src/receipts/codec.ts'
import { newBalanceSecret, balanceIdOf } from '../src/verifier/owner.ts'
import { adminAuth, build, type Built } from './helper.ts'

const CALLS = { TRICKLE_CALL_PERIOD: '2', TRICKLE_CALL_GRACE: '1' }
const JITSI = { TRICKLE_JITSI_DOMAIN: 'meet.example.com', TRICKLE_JITSI_APP_ID: 'trickle-test', TRICKLE_JITSI_SECRET: 'a-jitsi-secret-of-some-length' }
// 60 USD/2 cents a minute is 2 cents per 2 s period: 20,000,000 at the demo wallet's scale 9.
const RATE = { amount: '60', assetCode: 'USD', assetScale: 2 }
const PERIOD = 20_000_000n

async function post (url: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) })
  return { status: res.status, body: await res.json() as Record<string, unknown> }
}

async function companion (t: TestContext, env: Record<string, string> = {}) {
  const b = await build(t, { ...CALLS, ...env })
  const receiver = b.app.receivers.receiverOf(b.app.demo!.proxyPointer)!
  return {
    ...b,
    receiver,
    room: async (id: string, extra: Record<string, unknown> = {}) => {
      const r = await post(`${b.url}/calls/rooms`, { id, pointer: b.app.demo!.proxyPointer, rate: RATE, ...extra }, adminAuth)
      assert.equal(r.status, 201, JSON.stringify(r.body))
      return r.body as { room: Record<string, unknown>, hostToken: string }
    },
    /** A reader whose balance holds `amount` for the room's receiver (a verified receipt, credited). */
    reader: async (amount: bigint) => {
      const secret = newBalanceSecret()
      if (amount > 0n) {
        const nonce = randomBytes(16)
        await b.app.store.putNonce({ nonce: nonce.toString('base64'), proxyId: receiver, spspEndpoint: 'http://receiver.test/spsp', issuedAt: Date.now() })
        const receipt = encodeReceipt({ nonce, streamId: 1, totalReceived: amount, secret: receiptSecret(b.app.secrets.receiptKey, nonce) }).toString('base64')
        const res = await fetch(`${b.url}/balances/${balanceIdOf(secret)}:creditReceipt`, { method: 'POST', body: receipt })
        assert.equal(res.status, 200, await res.text())
      }
      return secret
    }
  }
}

/** A signalling socket with an inbox. */
class Signal {
  readonly messages: Array<Record<string, unknown>> = []
  closed?: { code: number, reason: string }
  private waiters: Array<() => void> = []
  readonly ws: WebSocket
  constructor (ws: WebSocket) {
    this.ws = ws
    ws.on('message', (d) => { this.messages.push(JSON.parse(String(d)) as Record<string, unknown>); this.wake() })
    ws.on('close', (code, reason) => { this.closed = { code, reason: String(reason) }; this.wake() })
  }

  static async open (t: TestContext, b: Built, ticket?: string): Promise<Signal> {
    const ws = new WebSocket(`${b.url.replace(/^http/, 'ws')}/calls/signal`)
    await once(ws, 'open')
    const s = new Signal(ws)
    t.after(() => ws.terminate())
    if (ticket !== undefined) ws.send(JSON.stringify({ type: 'hello', ticket }))
    return s
  }

  private wake () { for (const w of this.waiters.splice(0)) w() }
  send (v: unknown) { this.ws.send(typeof v === 'string' ? v : JSON.stringify(v)) }
  async until<T> (what: string, pick: () => T | undefined, ms = 8000): Promise<T> {
    const end = Date.now() + ms
    for (;;) {
      const v = pick()
      if (v !== undefined) return v
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.messages)} ${JSON.stringify(this.closed)}`)
      await new Promise<void>((resolve) => { this.waiters.push(resolve); setTimeout(resolve, 100) })
    }
  }

  next (type: string) { return this.until(type, () => this.messages.find((m) => m.type === type)) }
  whenClosed () { return this.until('close', () => this.closed) }
}

test('rooms: created by the admin only, their input checked, and their public view names neither participants nor signalling', async (t) => {
  const c = await companion(t, JITSI)
  const body = { id: 'office-hours', pointer: c.app.demo!.proxyPointer, rate: RATE }
  assert.equal((await post(`${c.url}/calls/rooms`, body)).status, 401)
  const bad: Array<[unknown, string]> = [
    [{ ...body, id: 'Has Spaces' }, 'invalid_request'],
    [{ ...body, pointer: 'not a pointer' }, 'unknown_pointer'],
    [{ ...body, rate: { amount: '1', assetCode: 'EUR', assetScale: 2 } }, 'unchargeable_rate'],
    [{ ...body, maxParticipants: 7 }, 'invalid_size'],
    [{ ...body, startsAt: '2026-12-02T10:00:00Z', endsAt: '2026-12-02T09:00:00Z' }, 'invalid_times']
  ]
  for (const [b, code] of bad) {
    const r = await post(`${c.url}/calls/rooms`, b, adminAuth)
    assert.equal(r.body.code, code, JSON.stringify(r.body))
  }
  const created = await c.room('office-hours')
  assert.equal((await post(`${c.url}/calls/rooms`, body, adminAuth)).status, 409, 'room_exists')
  assert.equal((created.room as { periodAmount: string }).periodAmount, PERIOD.toString(), 'the rate converted into the receiver\'s units, per period')
  assert.match(created.hostToken, /^[A-Za-z0-9_-]{43}$/)
  const view = await (await fetch(`${c.url}/calls/rooms/office-hours`)).json() as Record<string, unknown>
  assert.equal(view.price, '0.60 USD')
  assert.equal(view.status, 'open')
  assert.equal(view.full, false)
  assert.equal((await fetch(`${c.url}/calls/rooms/no-such-room`)).status, 404)
  const jitsi = await c.room('big-talk', { jitsi: true, maxParticipants: 100 })
  const jitsiView = await (await fetch(`${c.url}/calls/rooms/big-talk`)).text()
  assert.equal(JSON.parse(jitsiView).mode, 'jitsi')
  assert.doesNotMatch(jitsiView + JSON.stringify(jitsi), /trickle-[0-9a-f]{24}/, 'the Jitsi room\'s real name is given to paying attendees only')
})

test('joining spends the first period; refusals spend nothing: no payment, too little, full, not open yet, ended, another room\'s host token', async (t) => {
  const c = await companion(t)
  const { hostToken } = await c.room('duo', { maxParticipants: 2 })
  await c.room('later', { startsAt: new Date(Date.now() + 3600_000).toISOString() })
  await c.room('over', { endsAt: new Date(Date.now() + 1500).toISOString() })
  const join = (room: string, secret: string) => post(`${c.url}/calls/rooms/${room}/join`, { secret, name: 'Ada' })
  assert.equal((await join('duo', 'short')).body.code, 'invalid_balance_secret')
  assert.equal((await join('nowhere', await c.reader(0n))).status, 404)
  const none = await join('duo', await c.reader(0n))
  assert.deepEqual([none.status, none.body.code, none.body.price], [402, 'no_payment', PERIOD.toString()])
  const little = await join('duo', await c.reader(PERIOD - 1n))
  assert.deepEqual([little.status, little.body.code, little.body.balance], [402, 'payment_required', (PERIOD - 1n).toString()])

  const rich = await c.reader(10n * PERIOD)
  const ok = await join('duo', rich)
  assert.equal(ok.status, 200, JSON.stringify(ok.body))
  assert.equal(ok.body.charged, PERIOD.toString())
  assert.equal(ok.body.balance, (9n * PERIOD).toString())
  assert.equal(ok.body.signal, `${c.url.replace(/^http/, 'ws')}/calls/signal`)
  // The host joins free, and fills the room of two: the next attendee is refused before paying.
  const { hostToken: laterToken } = await c.room('other')
  assert.equal((await post(`${c.url}/calls/rooms/duo/host`, {}, { authorization: `Bearer ${laterToken}` })).body.code, 'invalid_host_token', 'another room\'s host token')
  const host = await post(`${c.url}/calls/rooms/duo/host`, { name: 'Host' }, { authorization: `Bearer ${hostToken}` })
  assert.equal(host.status, 200)
  assert.equal(host.body.charged, '0')
  const third = await c.reader(10n * PERIOD)
  const full = await join('duo', third)
  assert.deepEqual([full.status, full.body.code], [409, 'room_full'])
  assert.equal(await (await fetch(`${c.url}/balances/${balanceIdOf(third)}`)).text(), (10n * PERIOD).toString(), 'nothing spent')
  assert.equal((await (await fetch(`${c.url}/calls/rooms/duo`)).json() as { full: boolean }).full, true)
  assert.equal((await join('later', rich)).body.code, 'room_not_open')
  await new Promise((resolve) => setTimeout(resolve, 1600))
  const ended = await join('over', rich)
  assert.deepEqual([ended.status, ended.body.code], [410, 'room_ended'])
})

test('signalling: only ticket holders hear the room; offers are relayed rebuilt; a ticket opens one connection; forged tickets are refused', async (t) => {
  const c = await companion(t)
  const { hostToken } = await c.room('studio')
  const host = await post(`${c.url}/calls/rooms/studio/host`, { name: 'Host' }, { authorization: `Bearer ${hostToken}` })
  const hostSocket = await Signal.open(t, c, host.body.ticket as string)
  const hostWelcome = await hostSocket.next('welcome')
  assert.deepEqual(hostWelcome.peers, [])

  // A page that has not paid: its socket hears nothing of the room, whatever it sends.
  const stranger = await Signal.open(t, c)
  stranger.send({ type: 'signal', to: (hostWelcome.you as { id: string }).id, data: { type: 'offer', sdp: 'v=0' } })
  assert.equal((await stranger.next('error')).code, 'hello_first')
  const forged = await Signal.open(t, c, `v1.studio.${'a'.repeat(32)}.attendee.9999999999.${'0'.repeat(12)}.${'x'.repeat(43)}`)
  assert.equal((await forged.whenClosed()).code, 4001)

  const attendee = await post(`${c.url}/calls/rooms/studio/join`, { secret: await c.reader(10n * PERIOD), name: 'Ada' })
  const ticket = attendee.body.ticket as string
  const ada = await Signal.open(t, c, ticket)
  const welcome = await ada.next('welcome')
  assert.deepEqual(welcome.peers, [{ id: (hostWelcome.you as { id: string }).id, name: 'Host', role: 'host' }])
  assert.deepEqual((await hostSocket.next('peer-joined')).peer, { id: attendee.body.attendee, name: 'Ada', role: 'attendee' })
  // The same ticket again, while Ada is connected: refused.
  const twin = await Signal.open(t, c, ticket)
  assert.equal((await twin.whenClosed()).code, 4003)
  // A tampered ticket (another attendee id, same MAC) is forged.
  const tampered = await Signal.open(t, c, ticket.replace(/\.([0-9a-f]{32})\./, (_m, id: string) => `.${id.replace(/^./, id[0] === 'a' ? 'b' : 'a')}.`))
  assert.equal((await tampered.whenClosed()).code, 4001)

  ada.send({ type: 'signal', to: (hostWelcome.you as { id: string }).id, data: { type: 'offer', sdp: 'v=0\r\n', extra: { deep: [1, 2, 3] } } })
  const relayed = await hostSocket.next('signal')
  assert.deepEqual(relayed, { type: 'signal', from: attendee.body.attendee, data: { type: 'offer', sdp: 'v=0\r\n' } })
  ada.send({ type: 'signal', to: (hostWelcome.you as { id: string }).id, data: { candidate: { candidate: 'candidate:1 1 udp 1 10.0.0.1 5000 typ host', sdpMid: '0', sdpMLineIndex: 0, junk: 'x' } } })
  assert.ok(await hostSocket.until('candidate', () => hostSocket.messages.find((m) => m.type === 'signal' && (m.data as Record<string, unknown>).candidate !== undefined)))
  ada.send({ type: 'signal', to: 'f'.repeat(32), data: { type: 'answer', sdp: 'v=0' } })
  assert.equal((await ada.next('error')).code, 'unknown_peer')
  ada.send({ type: 'signal', to: (hostWelcome.you as { id: string }).id, data: { type: 'offer', sdp: 'x'.repeat(70_000) } })
  assert.equal((await ada.whenClosed()).code, 1009, 'a message past the bound closes its connection')
  assert.equal((await hostSocket.next('peer-left')).reason, 'disconnected')
  assert.deepEqual(stranger.messages.map((m) => m.type), ['error'], 'the stranger heard nothing of the room')
})

test('an attendee whose payment stops is removed within a period and the grace; the host removes anyone; a removed ticket never returns', async (t) => {
  const c = await companion(t)
  const { hostToken } = await c.room('salon')
  const host = await post(`${c.url}/calls/rooms/salon/host`, {}, { authorization: `Bearer ${hostToken}` })
  const hostSocket = await Signal.open(t, c, host.body.ticket as string)
  await hostSocket.next('welcome')

  // Two periods' worth: the first is spent on joining, the second when it starts, the third cannot be.
  const joined = await post(`${c.url}/calls/rooms/salon/join`, { secret: await c.reader(2n * PERIOD) })
  const startedAt = Date.now()
  const ada = await Signal.open(t, c, joined.body.ticket as string)
  await ada.next('welcome')
  const billed = await ada.next('billed')
  assert.equal(billed.paid, (2n * PERIOD).toString())
  assert.equal((await ada.next('removed')).reason, 'payment_stopped')
  const removedAfter = Date.now() - startedAt
  assert.equal((await ada.whenClosed()).code, 4004)
  const left = await hostSocket.next('peer-left')
  assert.deepEqual(left, { type: 'peer-left', id: joined.body.attendee, reason: 'payment_stopped' })
  // The third period was due 4 s after joining; removal comes within the grace (1 s) and a tick.
  assert.ok(removedAfter >= 4000 && removedAfter <= 4000 + 1000 + 1500, `removed ${removedAfter} ms after joining`)

  const bob = await post(`${c.url}/calls/rooms/salon/join`, { secret: await c.reader(100n * PERIOD) })
  const bobSocket = await Signal.open(t, c, bob.body.ticket as string)
  await bobSocket.next('welcome')
  const notHost = await post(`${c.url}/calls/rooms/salon/remove`, { attendee: bob.body.attendee }, { authorization: 'Bearer nope' })
  assert.equal(notHost.body.code, 'invalid_host_token')
  hostSocket.send({ type: 'remove', id: bob.body.attendee })
  assert.equal((await bobSocket.next('removed')).reason, 'removed_by_host')
  assert.equal((await bobSocket.whenClosed()).code, 4004)
  const back = await Signal.open(t, c, bob.body.ticket as string)
  assert.equal((await back.whenClosed()).code, 4004, 'a removed attendee\'s ticket admits nobody')
})

test('Jitsi rooms: a paying attendee gets a short-lived HS256 JWT with the claims Jitsi reads, for a room name never shown before payment', async (t) => {
  const c = await companion(t, JITSI)
  await c.room('town-hall', { jitsi: true, maxParticipants: 50 })
  const before = Math.floor(Date.now() / 1000)
  const joined = await post(`${c.url}/calls/rooms/town-hall/join`, { secret: await c.reader(5n * PERIOD), name: 'Ada' })
  assert.equal(joined.status, 200, JSON.stringify(joined.body))
  assert.equal(joined.body.signal, `${c.url.replace(/^http/, 'ws')}/calls/signal`, 'a Jitsi attendee keeps the signalling open: it is how each period is billed')
  const jitsi = joined.body.jitsi as { domain: string, room: string, jwt: string, expiresAt: string }
  assert.equal(jitsi.domain, 'meet.example.com')
  assert.match(jitsi.room, /^trickle-[0-9a-f]{24}$/)
  const [h, p, sig] = jitsi.jwt.split('.') as [string, string, string]
  assert.equal(sig, createHmac('sha256', JITSI.TRICKLE_JITSI_SECRET).update(`${h}.${p}`).digest('base64url'), 'signed with the app secret')
  assert.deepEqual(JSON.parse(Buffer.from(h, 'base64url').toString()), { alg: 'HS256', typ: 'JWT' })
  const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>
  assert.equal(claims.aud, 'jitsi')
  assert.equal(claims.iss, 'trickle-test')
  assert.equal(claims.sub, 'meet.example.com')
  assert.equal(claims.room, jitsi.room)
  assert.deepEqual(claims.context, { user: { id: joined.body.attendee, name: 'Ada', moderator: false } })
  // It lasts the paid period and the grace (2 s + 1 s), not the call.
  const exp = claims.exp as number
  assert.ok(exp >= before + 2 && exp <= before + 4, `exp ${exp - before} s from now`)
  assert.ok((claims.nbf as number) <= before)
  // Forged by someone without the secret: a different signature.
  const forged = createHmac('sha256', 'guess').update(`${h}.${p}`).digest('base64url')
  assert.notEqual(forged, sig)
  // Jitsi rooms need the settings.
  const plain = await companion(t)
  const r = await post(`${plain.url}/calls/rooms`, { id: 'x', pointer: plain.app.demo!.proxyPointer, rate: RATE, jitsi: true }, adminAuth)
  assert.equal(r.body.code, 'jitsi_not_configured')
})

test('one address may hold 32 signalling sockets; more are refused with 429 before any WebSocket', async (t) => {
  const c = await companion(t)
  const open = await Promise.all(Array.from({ length: 32 }, () => Signal.open(t, c)))
  assert.equal(open.length, 32)
  const refused = await new Promise<number>((resolve, reject) => {
    const ws = new WebSocket(`${c.url.replace(/^http/, 'ws')}/calls/signal`)
    ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0))
    ws.on('open', () => reject(new Error('the 33rd socket opened')))
    ws.on('error', () => {})
  })
  assert.equal(refused, 429)
  // Upgrades of paths nobody serves are refused too.
  const unknown = await new Promise<number>((resolve) => {
    const ws = new WebSocket(`${c.url.replace(/^http/, 'ws')}/elsewhere`)
    ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0))
    ws.on('error', () => {})
  })
  assert.equal(unknown, 404)
})

test('Jitsi attendees are billed each period while their page stays, and told to leave when it cannot pay', async (t) => {
  const c = await companion(t, JITSI)
  await c.room('jitsi-salon', { jitsi: true, maxParticipants: 50 })
  const joined = await post(`${c.url}/calls/rooms/jitsi-salon/join`, { secret: await c.reader(2n * PERIOD) })
  const ada = await Signal.open(t, c, joined.body.ticket as string)
  const welcome = await ada.next('welcome')
  assert.deepEqual(welcome.peers, [], 'a Jitsi room\'s members meet in Jitsi: the companion names nobody')
  assert.equal((await ada.next('billed')).periods, 2)
  assert.equal((await ada.next('removed')).reason, 'payment_stopped')
})

test('a dropped connection may come back with a new ticket, nothing spent; the host\'s removal bars the balance; a room made again has a new host token', async (t) => {
  const c = await companion(t)
  const { hostToken } = await c.room('lounge')
  const host = await post(`${c.url}/calls/rooms/lounge/host`, {}, { authorization: `Bearer ${hostToken}` })
  const hostSocket = await Signal.open(t, c, host.body.ticket as string)
  await hostSocket.next('welcome')
  const secret = await c.reader(100n * PERIOD)
  const joined = await post(`${c.url}/calls/rooms/lounge/join`, { secret })
  const first = await Signal.open(t, c, joined.body.ticket as string)
  await first.next('welcome')
  const before = await (await fetch(`${c.url}/balances/${balanceIdOf(secret)}`)).text()
  first.ws.terminate()
  assert.equal((await hostSocket.next('peer-left')).reason, 'disconnected')
  // Another balance cannot take the place; the same one can, for free.
  const thief = await post(`${c.url}/calls/rooms/lounge/join`, { secret: await c.reader(100n * PERIOD), resume: joined.body.attendee })
  assert.equal(thief.body.code, 'unknown_resume')
  const back = await post(`${c.url}/calls/rooms/lounge/join`, { secret, resume: joined.body.attendee })
  assert.equal(back.status, 200, JSON.stringify(back.body))
  assert.equal(back.body.charged, '0')
  assert.equal(back.body.attendee, joined.body.attendee)
  const again = await Signal.open(t, c, back.body.ticket as string)
  await again.next('welcome')
  assert.equal(((await hostSocket.until('joined again', () => hostSocket.messages.filter((m) => m.type === 'peer-joined')[1])) as { peer: { id: string } }).peer.id, joined.body.attendee)
  assert.equal(await (await fetch(`${c.url}/balances/${balanceIdOf(secret)}`)).text(), before, 'nothing spent to come back')
  // The old ticket does not work twice.
  const replay = await Signal.open(t, c, joined.body.ticket as string)
  assert.ok([4002, 4003].includes((await replay.whenClosed()).code))

  // Removed by the host: the same balance cannot pay its way back in.
  hostSocket.send({ type: 'remove', id: joined.body.attendee })
  await again.next('removed')
  const rejoin = await post(`${c.url}/calls/rooms/lounge/join`, { secret })
  assert.deepEqual([rejoin.status, rejoin.body.code], [403, 'removed_by_host'])

  // Closed and made again under the same name: the old host token is not the new room's.
  assert.equal((await fetch(`${c.url}/calls/rooms/lounge`, { method: 'DELETE', headers: adminAuth })).status, 204)
  await new Promise((resolve) => setTimeout(resolve, 5))
  const remade = await c.room('lounge')
  assert.notEqual(remade.hostToken, hostToken)
  assert.equal((await post(`${c.url}/calls/rooms/lounge/host`, {}, { authorization: `Bearer ${hostToken}` })).body.code, 'invalid_host_token')
})

test('a member cannot flood another off the call: relayed signals are bounded in bytes, and a member that does not read gets none', async (t) => {
  const c = await companion(t)
  const { hostToken } = await c.room('arena')
  const host = await post(`${c.url}/calls/rooms/arena/host`, {}, { authorization: `Bearer ${hostToken}` })
  const hostSocket = await Signal.open(t, c, host.body.ticket as string)
  const hostId = ((await hostSocket.next('welcome')).you as { id: string }).id
  const joined = await post(`${c.url}/calls/rooms/arena/join`, { secret: await c.reader(100n * PERIOD) })
  const attacker = await Signal.open(t, c, joined.body.ticket as string)
  await attacker.next('welcome')
  // The host's link is slow: it reads nothing while the attacker sends 200 offers of 64 KB (13 MB).
  const raw = (hostSocket.ws as unknown as { _socket: { pause (): void, resume (): void } })._socket
  raw.pause()
  const sdp = 'v=0\r\n' + 'a'.repeat(64 * 1024 - 10)
  for (let i = 0; i < 200; i++) attacker.send({ type: 'signal', to: hostId, data: { type: 'offer', sdp } })
  const refused = await attacker.until('a refusal', () => attacker.messages.find((m) => m.type === 'error' && (m.code === 'too_much_signalling' || m.code === 'peer_busy')))
  assert.ok(refused)
  await new Promise((resolve) => setTimeout(resolve, 500))
  raw.resume()
  assert.ok(c.app.calls.members('arena').some((m) => m.id === hostId && m.send), 'the host is still in the call')
  assert.equal(hostSocket.closed, undefined)
})

test('the signalling closes a socket that never says hello (4005), one that floods messages (1008), and a ticket that expired unused (4002)', async (t) => {
  const c = await companion(t)
  await c.room('quiet')
  const silent = await Signal.open(t, c)
  const chatty = await Signal.open(t, c)
  for (let i = 0; i < 700; i++) chatty.send({ type: 'nothing' })
  assert.equal((await chatty.whenClosed()).code, 1008)
  // A ticket lasts the paid period and the grace (2 s + 1 s here): unused after that, it admits nobody,
  // and its member is gone without a second period charged.
  const secret = await c.reader(10n * PERIOD)
  const joined = await post(`${c.url}/calls/rooms/quiet/join`, { secret })
  await new Promise((resolve) => setTimeout(resolve, 4500))
  const late = await Signal.open(t, c, joined.body.ticket as string)
  assert.equal((await late.whenClosed()).code, 4002)
  assert.equal(c.app.calls.occupancy('quiet'), 0)
  assert.equal(await (await fetch(`${c.url}/balances/${balanceIdOf(secret)}`)).text(), (9n * PERIOD).toString(), 'one period, not two')
  assert.equal((await silent.whenClosed()).code, 4005, 'no hello within 10 s')
})
