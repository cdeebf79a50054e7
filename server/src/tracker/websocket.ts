// A small RFC 6455 server transport for the WebTorrent tracker, on the companion's own HTTP server.
//
// Why not `ws` (through @fastify/websocket): a tracker holds thousands of idle connections, and every
// byte per connection counts (issue 8: at most 4 KB per idle peer). `ws` costs 8.5-9.3 KB per idle
// connection here (a WebSocket, a Receiver stream, a Sender and their closures), and @fastify/websocket
// keeps each upgrade's ServerResponse and IncomingMessage alive on top: 17 KB in all. This transport
// keeps one small object per connection and shares every listener between them (bench/README.md has
// the measurements). It speaks what tracker clients need and nothing more: text (and binary) messages,
// fragmentation, ping/pong, close; no extensions (permessage-deflate is simply not negotiated, which
// RFC 6455 §9.1 allows), no subprotocols.
//
// Spec: https://www.rfc-editor.org/rfc/rfc6455 (handshake §4.2, framing §5, closing §7).
import { createHash } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'

/** RFC 6455 §1.3 */
const ACCEPT_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'

export const CloseCode = {
  Normal: 1000,
  GoingAway: 1001,
  ProtocolError: 1002,
  Unsupported: 1003,
  InvalidPayload: 1007,
  PolicyViolation: 1008,
  TooBig: 1009
} as const

export interface WebSocketOptions<C extends Connection> {
  /** Largest message accepted (after reassembling fragments), bytes; a bigger one closes with 1009. */
  maxPayload: number
  /** Bytes queued for a client that does not read before it is dropped (a slow consumer). */
  maxBuffered?: number
  /**
   * Makes the per-connection object: a `Connection`, or a subclass declaring the owner's own fields
   * (declared in the class, every connection has one shape and no out-of-line property storage).
   */
  create (socket: Duplex, now: number): C
  /**
   * What `lastSeen` is measured in (default: Date.now). A coarse clock in whole seconds keeps it a
   * small integer, which V8 stores inline instead of allocating a number per frame.
   */
  clock?: () => number
  message (conn: C, text: string): void
  close (conn: C): void
}

/** A message arriving in fragments (rare: tracker clients send each message in one frame). */
interface Fragments {
  parts: Buffer[]
  length: number
  binary: boolean
}

/**
 * One connection. Thousands stay open and idle for as long as their torrents are, so it holds only
 * what it must: nothing of the upgrade request, not the remote address (reading
 * `socket.remoteAddress` leaves a `_peername` object and a string on the socket for good), and the
 * rarely used partial-frame state in fields that stay null.
 */
export class Connection {
  readonly socket: Duplex
  /** `clock()` at the last frame received: lets an owner drop connections that went quiet. */
  lastSeen: number
  /** Bytes of a frame not complete yet. */
  pending: Buffer | null = null
  /** A fragmented message not complete yet. */
  fragments: Fragments | null = null
  closed = false

  constructor (socket: Duplex, now: number) {
    this.socket = socket
    this.lastSeen = now
  }
}

export interface WebSocketServer<C extends Connection> {
  /** Answers an HTTP upgrade request (call it from the server's 'upgrade' event). */
  upgrade (req: IncomingMessage, socket: Duplex, head: Buffer): void
  send (conn: C, text: string): void
  /** Sends a close frame and ends the connection. */
  close (conn: C, code: number, reason?: string): void
  readonly connections: ReadonlySet<C>
  /** Closes every connection (1001, going away). */
  closeAll (): void
}

const kConn = Symbol('trickle.websocket')
type Tagged<C> = Duplex & { [kConn]?: C }

export function rejectUpgrade (socket: Duplex, status: number, message: string): void {
  const body = `${message}\n`
  socket.end(`HTTP/1.1 ${status} ${statusText[status] ?? 'Error'}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`)
}
const statusText: Record<number, string> = { 400: 'Bad Request', 404: 'Not Found', 405: 'Method Not Allowed', 426: 'Upgrade Required', 503: 'Service Unavailable' }

/** A whole frame (FIN, opcode, unmasked) with room for `length` payload bytes at its end. */
function frame (opcode: number, length: number): Buffer {
  if (length < 126) {
    const f = Buffer.allocUnsafe(2 + length)
    f[0] = 0x80 | opcode
    f[1] = length
    return f
  }
  if (length < 65536) {
    const f = Buffer.allocUnsafe(4 + length)
    f[0] = 0x80 | opcode
    f[1] = 126
    f.writeUInt16BE(length, 2)
    return f
  }
  const f = Buffer.allocUnsafe(10 + length)
  f[0] = 0x80 | opcode
  f[1] = 127
  f.writeUInt32BE(0, 2)
  f.writeUInt32BE(length, 6)
  return f
}

export function createWebSocketServer<C extends Connection> (opts: WebSocketOptions<C>): WebSocketServer<C> {
  const connections = new Set<C>()
  const maxBuffered = opts.maxBuffered ?? 4 * 1024 * 1024
  const clock = opts.clock ?? Date.now

  /** Queues a whole frame; false when the connection is closed or was dropped as a slow consumer. */
  function writable (conn: C): boolean {
    if (conn.closed) return false
    if (conn.socket.writableLength > maxBuffered) {
      // The client stopped reading; queueing more would only grow our memory.
      terminate(conn)
      return false
    }
    return true
  }

  function write (conn: C, opcode: number, payload: Buffer) {
    if (!writable(conn)) return
    const f = frame(opcode, payload.length)
    payload.copy(f, f.length - payload.length)
    conn.socket.write(f)
  }

  function terminate (conn: C) {
    conn.socket.destroy()
  }

  function close (conn: C, code: number, reason = '') {
    if (conn.closed) return
    const r = Buffer.from(reason.slice(0, 120))
    const payload = Buffer.allocUnsafe(2 + r.length)
    payload.writeUInt16BE(code, 0)
    r.copy(payload, 2)
    write(conn, 0x8, payload)
    conn.closed = true
    conn.socket.end()
    // A peer that never answers the close frame must not hold the socket open (RFC 6455 §7.1.1).
    setTimeout(() => { conn.socket.destroy() }, 5_000).unref()
  }

  function deliver (conn: C, binary: boolean, payload: Buffer) {
    let text: string
    try {
      text = textDecoder.decode(payload)
    } catch {
      if (!binary) return close(conn, CloseCode.InvalidPayload, 'invalid UTF-8')
      text = payload.toString('latin1')
    }
    opts.message(conn, text)
  }

  /** Parses as many whole frames as `data` holds; keeps the rest for the next chunk. */
  function onData (this: Tagged<C>, chunk: Buffer) {
    const conn = this[kConn]
    if (!conn || conn.closed) return
    conn.lastSeen = clock()
    let data = conn.pending ? Buffer.concat([conn.pending, chunk]) : chunk
    conn.pending = null
    while (data.length >= 2 && !conn.closed) {
      const b0 = data[0]!
      const b1 = data[1]!
      const fin = (b0 & 0x80) !== 0
      const opcode = b0 & 0x0f
      if ((b0 & 0x70) !== 0) return close(conn, CloseCode.ProtocolError, 'no extension was negotiated')
      if ((b1 & 0x80) === 0) return close(conn, CloseCode.ProtocolError, 'client frames must be masked')
      let length = b1 & 0x7f
      let offset = 2
      if (length === 126) {
        if (data.length < 4) break
        length = data.readUInt16BE(2)
        offset = 4
      } else if (length === 127) {
        if (data.length < 10) break
        if (data.readUInt32BE(2) !== 0) return close(conn, CloseCode.TooBig, 'message too big')
        length = data.readUInt32BE(6)
        offset = 10
      }
      if (length > opts.maxPayload || (conn.fragments?.length ?? 0) + length > opts.maxPayload) return close(conn, CloseCode.TooBig, 'message too big')
      if (data.length < offset + 4 + length) break
      // Unmasked in place: the chunk is this connection's own (no copy per message).
      const m0 = data[offset]!
      const m1 = data[offset + 1]!
      const m2 = data[offset + 2]!
      const m3 = data[offset + 3]!
      const start = offset + 4
      for (let i = 0; i < length; i++) {
        const k = i & 3
        data[start + i]! ^= k === 0 ? m0 : k === 1 ? m1 : k === 2 ? m2 : m3
      }
      const payload = data.subarray(start, start + length)
      data = data.subarray(start + length)

      if (opcode >= 0x8) {
        // Control frames: never fragmented, at most 125 bytes (§5.5).
        if (!fin || length > 125) return close(conn, CloseCode.ProtocolError, 'invalid control frame')
        if (opcode === 0x8) {
          const code = payload.length >= 2 ? payload.readUInt16BE(0) : CloseCode.Normal
          write(conn, 0x8, Buffer.from([code >> 8, code & 0xff]))
          conn.closed = true
          this.end()
          return
        }
        if (opcode === 0x9) write(conn, 0xa, payload)
        else if (opcode !== 0xa) return close(conn, CloseCode.ProtocolError, 'unknown opcode')
        continue
      }
      if (opcode === 0x0) {
        const fragments = conn.fragments
        if (!fragments) return close(conn, CloseCode.ProtocolError, 'continuation without a message')
        fragments.parts.push(payload)
        fragments.length += length
        if (fin) {
          conn.fragments = null
          deliver(conn, fragments.binary, Buffer.concat(fragments.parts))
        }
        continue
      }
      if (opcode !== 0x1 && opcode !== 0x2) return close(conn, CloseCode.ProtocolError, 'unknown opcode')
      if (conn.fragments) return close(conn, CloseCode.ProtocolError, 'a new message inside a fragmented one')
      if (fin) {
        deliver(conn, opcode === 0x2, payload)
      } else {
        conn.fragments = { parts: [payload], length, binary: opcode === 0x2 }
      }
    }
    if (data.length > 0 && !conn.closed) conn.pending = Buffer.from(data)
  }

  function onClose (this: Tagged<C>) {
    const conn = this[kConn]
    if (!conn) return
    this[kConn] = undefined
    conn.closed = true
    connections.delete(conn)
    opts.close(conn)
  }

  function onError (this: Tagged<C>) {
    // ECONNRESET and friends: 'close' follows and cleans up.
    this.destroy()
  }

  return {
    connections,
    upgrade (req, socket, head) {
      const key = req.headers['sec-websocket-key']
      if (req.method !== 'GET') return rejectUpgrade(socket, 405, 'A WebSocket upgrade must be a GET request.')
      if (String(req.headers.upgrade).toLowerCase() !== 'websocket') return rejectUpgrade(socket, 400, 'Only WebSocket upgrades are served here.')
      if (req.headers['sec-websocket-version'] !== '13') {
        socket.end('HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\nConnection: close\r\nContent-Length: 0\r\n\r\n')
        return
      }
      if (typeof key !== 'string' || Buffer.from(key, 'base64').length !== 16) return rejectUpgrade(socket, 400, 'Sec-WebSocket-Key must be 16 bytes, base64.')
      const accept = createHash('sha1').update(key + ACCEPT_GUID).digest('base64')
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`)

      const sock = socket as Tagged<C> & { setNoDelay?: (v: boolean) => void, setTimeout?: (ms: number) => void }
      sock.setNoDelay?.(true)
      // The HTTP server's request timeouts no longer apply: quiet connections are the owner's to drop.
      sock.setTimeout?.(0)
      // node:http sockets are half-open capable: a client that went away only says 'end' (a FIN).
      // Without half-open, the stream ends our side itself, so 'close' follows (and the peer leaves its
      // swarms), with no 'end' listener of ours next to net's own (an array per socket).
      sock.allowHalfOpen = false
      const conn = opts.create(socket, clock())
      sock[kConn] = conn
      connections.add(conn)
      sock.on('data', onData)
      sock.on('close', onClose)
      sock.on('error', onError)
      if (head.length > 0) onData.call(sock, head)
    },
    send (conn, text) {
      if (!writable(conn)) return
      // The text is encoded straight into the frame (no Buffer of its own, no concatenation).
      const length = Buffer.byteLength(text)
      const f = frame(0x1, length)
      f.write(text, f.length - length)
      conn.socket.write(f)
    },
    close,
    closeAll () {
      for (const conn of connections) close(conn, CloseCode.GoingAway, 'server shutting down')
    }
  }
}

const textDecoder = new TextDecoder('utf-8', { fatal: true })
