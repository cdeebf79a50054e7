// Shared by the tracker and seeder tests: licensed torrents registered the way a creator does, money
// paid through the real path (a STREAM sender over BTP to the demo proxy pointer, receipts credited
// at the verifier), and announces spoken in the tracker's own wire formats.
import assert from 'node:assert/strict'
import { once } from 'node:events'
import bencode from 'bencode'
import type { FastifyInstance } from 'fastify'
import WebSocket from 'ws'
import { createTorrent, torrentToBase64, type CreatedTorrent, type License } from '../src/torrent/license.ts'
import { balanceIdOf, newBalanceSecret } from '../src/verifier/owner.ts'
import { base64url, fromBase64url, newPayerKey } from '../../theme/assets/ts/proof/codec.ts'
import { gateTorrent, type GateEvent } from '../../theme/assets/ts/proof/gate.ts'
import { adminAuth } from './helper.ts'
import { pay } from './pay.ts'

export const USD_CENT_SCALE = 2

/** A paid torrent of `data` at `cents` USD/2, paid to the demo proxy pointer, made by the library. */
export async function licensedTorrent (app: FastifyInstance, url: string, data: Uint8Array, opts: { name?: string, cents?: string, license?: Partial<License>, announce?: string } = {}): Promise<CreatedTorrent> {
  return createTorrent({
    name: opts.name ?? 'guide.pdf',
    data,
    announce: opts.announce ?? app.tracker.announceUrls.ws,
    license: { paymentPointer: app.demo!.proxyPointer, verifier: url, amount: opts.cents ?? '100', assetCode: 'USD', assetScale: USD_CENT_SCALE, proofKey: app.tracker.proofs.proofKey, ...opts.license }
  })
}

export interface RegistrationReply {
  infoHash: string
  magnet: string
  seederToken: string
  spendAmount?: string
  seeding: boolean
  seedError?: string
}

/** POST /torrents as the creator (admin token); returns status and body. */
export async function registerTorrent (url: string, torrent: Uint8Array, extra: Record<string, unknown> = {}, headers: Record<string, string> = adminAuth) {
  const res = await fetch(`${url}/torrents`, {
    method: 'POST',
    headers: { ...headers, 'content-type': 'application/json' },
    body: JSON.stringify({ torrent: torrentToBase64(torrent), ...extra })
  })
  return { status: res.status, body: await res.json() as RegistrationReply & { code?: string, message?: string } }
}

/** Pays `amount` (network units, USD scale 9) to the demo proxy pointer and credits it to `balanceId`. */
export async function payAndCredit (app: FastifyInstance, url: string, btpPort: number, balanceId: string, amount: bigint): Promise<bigint> {
  const paid = await pay(btpPort, app.demo!.proxyPointer, amount.toString())
  assert.equal(paid.totalSent, amount.toString())
  // Receipts carry running totals: the last one of the stream credits everything.
  const res = await fetch(`${url}/balances/${balanceId}:creditReceipt`, { method: 'POST', body: paid.receipts.at(-1) })
  assert.equal(res.status, 200, await res.clone().text())
  return BigInt(await res.text())
}

export async function balanceOf (url: string, balanceId: string): Promise<string> {
  return (await fetch(`${url}/balances/${balanceId}`)).text()
}

/** Binary query values as BitTorrent clients send them: every byte percent-encoded ('+' would read as a space). */
export const binaryParam = (hex: string) => hex.replace(/../g, '%$&')

/** A reader: the balance secret it keeps, and the public balance id credits go to. */
export interface Reader { secret: string, id: string }
export function newReader (): Reader {
  const secret = newBalanceSecret()
  return { secret, id: balanceIdOf(secret) }
}

/** POST /torrents/{infoHash}/access as a reader (secret in the body); returns status and body. */
export async function buyAccess (url: string, infoHash: string, reader: Reader | { secret?: string }, peerIdHex: string, payerKey?: string) {
  const res = await fetch(`${url}/torrents/${infoHash}/access`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ ...(reader.secret !== undefined ? { secret: reader.secret } : {}), peerId: peerIdHex, ...(payerKey ? { payerKey } : {}) })
  })
  return { status: res.status, body: await res.json() as { ticket: string, expiresAt: string, charged: string, balance?: string, proof?: string, code?: string, price?: string, message?: string } }
}

/**
 * A Trickle reader's WebTorrent side of a paid torrent: a fresh payer key, the ticket and proof bought
 * for it, and the gate on the torrent (it presents the proof to every peer and admits only provers).
 */
export async function paidClient (url: string, infoHash: string, reader: Reader, peerIdHex: string) {
  const key = await newPayerKey()
  const { status, body } = await buyAccess(url, infoHash, reader, peerIdHex, base64url(key.publicKey))
  assert.equal(status, 200, body.message)
  assert.ok(body.proof, 'a proof comes with the ticket')
  const proof = fromBase64url(body.proof)!
  return {
    ticket: body.ticket,
    proof,
    key,
    gate: (torrent: unknown, onEvent?: (e: GateEvent) => void) => gateTorrent(torrent as never, { credentials: () => ({ proof, sign: key.sign }), ...(onEvent ? { onEvent } : {}) })
  }
}

/** A raw BitTorrent HTTP announce; returns the bencoded reply with byte strings decoded. */
export async function announceHttp (url: string, infoHash: string, params: Record<string, string | number> = {}) {
  const peerId = Buffer.from(String(params.peer_id ?? '-TT0001-' + Math.random().toString().slice(2, 14).padEnd(12, '0'))).toString('hex')
  const rest = Object.entries({ port: 6881, left: 1000, compact: 0, ...params }).filter(([k]) => k !== 'peer_id').map(([k, v]) => `${k}=${encodeURIComponent(String(v))}`)
  const query = [`info_hash=${binaryParam(infoHash)}`, `peer_id=${binaryParam(peerId)}`, ...rest].join('&')
  const res = await fetch(`${url}/announce?${query}`)
  assert.equal(res.status, 200)
  const reply = bencode.decode(new Uint8Array(await res.arrayBuffer())) as Record<string, unknown>
  const text = (v: unknown) => v instanceof Uint8Array ? new TextDecoder().decode(v) : v
  return {
    failure: text(reply['failure reason']) as string | undefined,
    peers: Array.isArray(reply.peers) ? (reply.peers as Array<Record<string, unknown>>).map((p) => `${text(p.ip)}:${p.port}`) : undefined,
    complete: reply.complete as number | undefined,
    incomplete: reply.incomplete as number | undefined
  }
}

/** A WebTorrent-tracker WebSocket peer speaking the JSON protocol directly, with a message inbox. */
export class WsPeer {
  readonly socket: WebSocket
  readonly peerId: string
  private readonly inbox: Array<Record<string, unknown>> = []
  private waiting: Array<(m: Record<string, unknown>) => void> = []

  private constructor (socket: WebSocket, peerId: string) {
    this.socket = socket
    this.peerId = peerId
    socket.on('message', (data) => {
      const message = JSON.parse(String(data)) as Record<string, unknown>
      const next = this.waiting.shift()
      if (next) next(message)
      else this.inbox.push(message)
    })
  }

  static async open (url: string, name: string): Promise<WsPeer> {
    const socket = new WebSocket(`${url.replace(/^http/, 'ws')}/announce`)
    await once(socket, 'open')
    return new WsPeer(socket, `-TT0001-${name}`.padEnd(20, '0').slice(0, 20))
  }

  /** The next message the tracker sends this peer. */
  next (): Promise<Record<string, unknown>> {
    const m = this.inbox.shift()
    if (m) return Promise.resolve(m)
    return new Promise((resolve) => this.waiting.push(resolve))
  }

  pending (): number { return this.inbox.length }

  send (infoHash: string, fields: Record<string, unknown>) {
    this.socket.send(JSON.stringify({ action: 'announce', info_hash: Buffer.from(infoHash, 'hex').toString('latin1'), peer_id: this.peerId, ...fields }))
  }

  close () { this.socket.close() }
}
