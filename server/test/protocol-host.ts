// A tracker protocol hosted on a plain node:http server, with clients that speak its wire formats:
// shared by the protocol's tests (tracker-protocol, tracker-hostile).
import { once } from 'node:events'
import { createServer, type Server } from 'node:http'
import { connect, type AddressInfo } from 'node:net'
import type { TestContext } from 'node:test'
import bencode from 'bencode'
import pino from 'pino'
import WebSocket from 'ws'
import { createTrackerProtocol, type Gate, type TrackerLimits } from '../src/tracker/protocol.ts'

export const log = pino({ level: 'silent' })
export const IH = '6162'.repeat(10)
export const binary = (hex: string) => Buffer.from(hex, 'hex').toString('latin1')
export const pct = (hex: string) => hex.replace(/../g, '%$&')
export const peerHex = (n: number) => Buffer.from(`-TT0001-${String(n).padStart(12, '0')}`).toString('hex')

/** A plain node:http server whose only job is to host the protocol, as the companion's does. */
export async function host (t: TestContext, gate: Gate = () => ({ ok: true, role: 'free' }), extra: { now?: () => number, maxSwarmPeers?: number, maxMessageBytes?: number, limits?: Partial<TrackerLimits> } = {}) {
  const protocol = createTrackerProtocol({ authorize: gate, log, intervalMs: 100_000, ...extra })
  const server: Server = createServer((req, res) => {
    const ip = req.socket.remoteAddress!.replace(/^::ffff:/, '')
    const body = req.url!.startsWith('/scrape') ? protocol.scrape(req.url!) : protocol.announce(req.url!, ip)
    void Promise.resolve(body).then((b) => res.end(b))
  })
  server.on('upgrade', (req, socket, head) => { protocol.upgrade(req, socket, head) })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const port = (server.address() as AddressInfo).port
  t.after(async () => {
    protocol.close()
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })
  return { protocol, port, url: `http://127.0.0.1:${port}`, ws: `ws://127.0.0.1:${port}/announce` }
}

export async function announce (url: string, params: Record<string, string | number>) {
  const query = Object.entries(params).map(([k, v]) => `${k}=${k === 'info_hash' || k === 'peer_id' ? pct(String(v)) : encodeURIComponent(String(v))}`).join('&')
  const res = await fetch(`${url}/announce?${query}`)
  return bencode.decode(new Uint8Array(await res.arrayBuffer())) as Record<string, unknown>
}
export const text = (v: unknown) => new TextDecoder().decode(v as Uint8Array)

/** A `ws` client with an inbox of parsed JSON messages. */
export async function wsClient (url: string) {
  const socket = new WebSocket(url)
  const inbox: Array<Record<string, unknown>> = []
  const waiters: Array<() => void> = []
  socket.on('message', (data) => { inbox.push(JSON.parse(String(data))); waiters.splice(0).forEach((w) => w()) })
  await once(socket, 'open')
  return {
    socket,
    send: (msg: Record<string, unknown>) => socket.send(JSON.stringify(msg)),
    async next (): Promise<Record<string, unknown>> {
      while (inbox.length === 0) await new Promise<void>((resolve) => waiters.push(resolve))
      return inbox.shift()!
    },
    inbox
  }
}

/** Raw frames on a plain TCP socket, after a hand-made handshake. */
export async function rawSocket (port: number, path = '/announce') {
  const socket = connect(port, '127.0.0.1')
  await once(socket, 'connect')
  socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`)
  let received = Buffer.alloc(0)
  socket.on('data', (d: Buffer) => { received = Buffer.concat([received, d]) })
  const closed = once(socket, 'close')
  const read = async (predicate: (b: Buffer) => boolean) => {
    for (let i = 0; i < 100 && !predicate(received); i++) await new Promise((resolve) => setTimeout(resolve, 10))
    return received
  }
  return { socket, read, closed }
}
export const frame = (opcode: number, payload: Buffer, opts: { fin?: boolean, masked?: boolean } = {}) => {
  const mask = Buffer.from([1, 2, 3, 4])
  const body = Buffer.from(payload)
  if (opts.masked !== false) for (let i = 0; i < body.length; i++) body[i]! ^= mask[i & 3]!
  const len = body.length < 126 ? Buffer.from([body.length]) : Buffer.from([126, body.length >> 8, body.length & 0xff])
  len[0]! |= opts.masked === false ? 0 : 0x80
  return Buffer.concat([Buffer.from([(opts.fin === false ? 0 : 0x80) | opcode]), len, opts.masked === false ? Buffer.alloc(0) : mask, body])
}

