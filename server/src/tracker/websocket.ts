// A small RFC 6455 server transport for the WebTorrent tracker, on the companion's own HTTP server.
//
// Why not `ws` (through @fastify/websocket): a tracker holds thousands of idle connections, and every
// byte per connection counts (the goal is at most 4 KB per idle peer). `ws` costs 8.5-9.3 KB per idle
// connection here (a WebSocket, a Receiver stream, a Sender and their closures), and @fastify/websocket
// keeps each upgrade's ServerResponse and IncomingMessage alive on top: 17 KB in all. This transport
// keeps one small object per connection and shares every listener between them (bench/README.md has
// the measurements). It speaks what tracker clients need and nothing more: text (and binary) messages,
// fragmentation, ping/pong, close; no extensions (permessage-deflate is simply not negotiated, which
// RFC 6455 §9.1 allows), no subprotocols.
//
// Any client may be hostile (§10.7: incoming data must always be validated), so every cost a client can
// make us bear is bounded: the bytes of a message and its number of frames, the time a frame or a
// fragmented message may stay incomplete, the bytes queued for a client that does not read, and the
// time a closed connection may stay open. What an incomplete frame holds is only what was received
// (in a buffer of our own, never a view of a TCP chunk, which would keep the whole chunk alive), and
// is gathered in linear time however small the pieces it arrives in. Deadlines need no timer per
// connection: connections holding partial state sit in one Set, checked by one shared interval that
// runs only while that Set is not empty. An idle connection is in no Set and holds no object besides
// its socket.
//
// Spec: https://www.rfc-editor.org/rfc/rfc6455 (handshake §4.2, framing §5, closing §7).
import { isUtf8 } from 'node:buffer'
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

/** Which limit closed (or dropped) a connection, named after its option. */
export type WebSocketLimit = 'maxPayload' | 'maxFragments' | 'maxBuffered' | 'frameTimeoutMs' | 'closeTimeoutMs'

export interface WebSocketOptions<C extends Connection> {
  /** Largest message accepted (after reassembling fragments), bytes; a bigger one closes with 1009. */
  maxPayload: number
  /**
   * Most frames one message may come in (default 64); more close with 1009. Tracker clients send a
   * message in one frame; without a bound, empty continuation frames would cost us an entry each
   * while never counting towards `maxPayload`.
   */
  maxFragments?: number
  /** Bytes queued for a client that does not read before it is dropped (a slow consumer). */
  maxBuffered?: number
  /**
   * How long a frame, or a message in fragments, may stay incomplete, in ms (default 10 s); then the
   * connection closes with 1008 (a slowloris client trickling bytes is never idle, so the owner's
   * `lastSeen` check would never drop it). Measured on a monotonic clock of its own, not `clock`, in
   * ticks of a quarter of the shorter of this and `closeTimeoutMs` (10 ms to 1 s), and checked every
   * tick: it bites after this long and at most two ticks later (10-12 s by default).
   */
  frameTimeoutMs?: number
  /**
   * How long a connection may stay open once a close frame was sent (ours or our answer to the
   * peer's), in ms (default 5 s), before its socket is destroyed (§7.1.1: a peer that never closes its
   * side must not hold the socket).
   */
  closeTimeoutMs?: number
  /**
   * Makes the per-connection object: a `Connection`, or a subclass declaring the owner's own fields
   * (declared in the class, every connection has one shape and no out-of-line property storage).
   */
  create (socket: Duplex, now: number): C
  /**
   * What `lastSeen` is measured in (default: Date.now). A coarse clock in whole seconds keeps it a
   * small integer, which V8 stores inline instead of allocating a number per frame. The transport's
   * own deadlines do not use it (it may be coarse, faked, or start at 0).
   */
  clock?: () => number
  message (conn: C, text: string): void
  close (conn: C): void
  /**
   * Told when a limit bites, just before the connection is closed or dropped: for the owner to log
   * (a hostile or broken client). Once for the limit that closed it, and once more with
   * 'closeTimeoutMs' should the peer then not close its side in time. Must not throw.
   */
  onLimit? (conn: C, what: WebSocketLimit): void
}

/** A message arriving in fragments (rare: tracker clients send each message in one frame). */
interface Fragments {
  /** Payloads of the frames so far, each in memory of its own (empty ones are not kept). */
  parts: Buffer[]
  /** Bytes so far. */
  length: number
  /** Frames so far. */
  count: number
  binary: boolean
}

/**
 * One connection. Thousands stay open and idle for as long as their torrents are, so it holds only
 * what it must: nothing of the upgrade request, not the remote address (reading
 * `socket.remoteAddress` leaves a `_peername` object and a string on the socket for good), and the
 * rarely used partial-frame state in fields that stay null or 0 (small integers, stored inline).
 */
export class Connection {
  readonly socket: Duplex
  /** `clock()` at the last frame received: lets an owner drop connections that went quiet. */
  lastSeen: number
  /** Bytes of a frame not complete yet, at its start; a buffer of our own with room to grow. */
  pending: Buffer | null = null
  /** How many bytes of `pending` are filled. */
  pendingLength = 0
  /** Bytes the frame in `pending` needs before it can be parsed further: its header, then all of it. */
  pendingNeed = 0
  /** A fragmented message not complete yet. */
  fragments: Fragments | null = null
  /**
   * The transport's deadline clock when the incomplete frame or message began (or, once `closed`,
   * when the close frame was sent); 0 when there is none (and the connection is in no Set).
   */
  partialSince = 0
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
  /** Applies `frameTimeoutMs` and `closeTimeoutMs` now (a shared timer does it on its own too). */
  sweep (): void
}

const kConn = Symbol('trickle.websocket')
type Tagged<C> = Duplex & { [kConn]?: C }

export function rejectUpgrade (socket: Duplex, status: number, message: string): void {
  const body = `${message}\n`
  socket.end(`HTTP/1.1 ${status} ${statusText[status] ?? 'Error'}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`)
}
const statusText: Record<number, string> = { 400: 'Bad Request', 404: 'Not Found', 405: 'Method Not Allowed', 426: 'Upgrade Required', 429: 'Too Many Requests', 503: 'Service Unavailable' }

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

/**
 * Status codes a peer may send (§7.4.1, and 1012-1014 from the IANA registry, §11.7); 3000-4999 are
 * for libraries and applications (§7.4.2). 1004 is reserved, 1005, 1006 and 1015 must never be on the
 * wire, and the rest of 0-2999 is unassigned or reserved for the protocol.
 */
function validCloseCode (code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999)
}

/** A copy in memory of its own (not from Buffer's shared pool, so it keeps nothing else alive). */
function own (bytes: Buffer): Buffer {
  const b = Buffer.allocUnsafeSlow(bytes.length)
  bytes.copy(b)
  return b
}

export function createWebSocketServer<C extends Connection> (opts: WebSocketOptions<C>): WebSocketServer<C> {
  const connections = new Set<C>()
  const maxBuffered = opts.maxBuffered ?? 4 * 1024 * 1024
  const maxFragments = opts.maxFragments ?? 64
  const frameTimeoutMs = opts.frameTimeoutMs ?? 10_000
  const closeTimeoutMs = opts.closeTimeoutMs ?? 5_000
  const clock = opts.clock ?? Date.now

  // Deadlines run on a clock of their own: ticks of a quarter of the shortest deadline (at most a
  // second, at least 10 ms) since the process started, from the monotonic performance.now() (the
  // owner's clock may be coarse, faked in tests, or start at 0, which here means "none"; Date.now
  // may jump). Ticks stay small integers (below 2^30, stored inline) for 34 years of uptime with
  // 1-second ticks, 124 days with the smallest; past that V8 stores a heap number, still correct.
  const tickMs = Math.max(10, Math.min(1000, Math.floor(Math.min(frameTimeoutMs, closeTimeoutMs) / 4)))
  const frameTicks = Math.ceil(frameTimeoutMs / tickMs)
  const closeTicks = Math.ceil(closeTimeoutMs / tickMs)
  const ticks = () => Math.floor(performance.now() / tickMs) + 1
  /** Connections with a deadline: an incomplete frame or message, or a close frame sent. */
  const watched = new Set<C>()
  let sweeper: ReturnType<typeof setInterval> | null = null

  function watch (conn: C) {
    conn.partialSince = ticks()
    watched.add(conn)
    // One timer for all of them, running only while there is something to watch (sweep stops it).
    sweeper ??= setInterval(sweep, tickMs).unref()
  }

  function unwatch (conn: C) {
    conn.partialSince = 0
    watched.delete(conn)
  }

  function sweep () {
    if (watched.size === 0) {
      if (sweeper !== null) clearInterval(sweeper)
      sweeper = null
      return
    }
    const now = ticks()
    for (const conn of watched) {
      // More than N whole ticks apart: more than N * tickMs elapsed (the readings are floored).
      const age = now - conn.partialSince
      if (conn.closed) {
        if (age <= closeTicks) continue
        watched.delete(conn)
        opts.onLimit?.(conn, 'closeTimeoutMs')
        conn.socket.destroy()
      } else if (age > frameTicks) {
        opts.onLimit?.(conn, 'frameTimeoutMs')
        close(conn, CloseCode.PolicyViolation, 'frame or message not completed in time')
      }
    }
  }

  /** Queues a whole frame; false when the connection is closed or was dropped as a slow consumer. */
  function writable (conn: C): boolean {
    if (conn.closed) return false
    if (conn.socket.writableLength > maxBuffered) {
      // The client stopped reading; queueing more would only grow our memory.
      opts.onLimit?.(conn, 'maxBuffered')
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
    // A control frame's payload is at most 125 bytes (§5.5): the code and 123 bytes of reason, not
    // cut inside a character (the reason must be UTF-8, §5.5.1).
    let r = Buffer.from(reason)
    if (r.length > 123) {
      let end = 123
      while (end > 0 && (r[end]! & 0xc0) === 0x80) end--
      r = r.subarray(0, end)
    }
    const payload = Buffer.allocUnsafe(2 + r.length)
    payload.writeUInt16BE(code, 0)
    r.copy(payload, 2)
    write(conn, 0x8, payload)
    closed(conn)
  }

  /**
   * After a close frame went out: nothing more is read (§5.5.1: no data after a close frame), what
   * was held for a partial frame is let go, our side of the TCP connection ends, and the peer has
   * closeTimeoutMs to end its side before the socket is destroyed (§7.1.1).
   */
  function closed (conn: C) {
    conn.closed = true
    conn.pending = null
    conn.pendingLength = 0
    conn.pendingNeed = 0
    conn.fragments = null
    conn.socket.end()
    if (conn.socket.destroyed) unwatch(conn)
    else watch(conn)
  }

  /** The peer's close frame (§5.5.1): checked, then answered with its status code. */
  function onCloseFrame (conn: C, payload: Buffer) {
    // Empty, or a 2-byte status code followed by a UTF-8 reason.
    if (payload.length === 1) return close(conn, CloseCode.ProtocolError, 'a close frame of one byte')
    if (payload.length >= 2) {
      if (!validCloseCode(payload.readUInt16BE(0))) return close(conn, CloseCode.ProtocolError, 'invalid close code')
      if (!isUtf8(payload.subarray(2))) return close(conn, CloseCode.InvalidPayload, 'close reason not UTF-8')
    }
    // The answer echoes the status code, and carries none when the peer sent none (§5.5.1, §7.1.5).
    write(conn, 0x8, payload.subarray(0, 2))
    closed(conn)
  }

  function limit (conn: C, what: WebSocketLimit, code: number, reason: string) {
    opts.onLimit?.(conn, what)
    close(conn, code, reason)
  }

  function deliver (conn: C, binary: boolean, payload: Buffer) {
    let text: string
    try {
      text = textDecoder.decode(payload)
    } catch {
      // Text must be UTF-8 (§5.6, §8.1), checked on the whole message, so a character may straddle
      // fragments.
      if (!binary) return close(conn, CloseCode.InvalidPayload, 'invalid UTF-8')
      text = payload.toString('latin1')
    }
    opts.message(conn, text)
  }

  /**
   * Reads a chunk. While a frame is incomplete, its bytes are gathered in `pending`, a buffer of our
   * own that grows by doubling (up to the frame's length, known from its header): memory stays within
   * twice what was received, each byte is copied about three times at most, and a chunk that does
   * not complete the frame costs only its copy, however many pieces the frame comes in (concatenating
   * all that is pending with each chunk would be quadratic). A list of the chunks instead
   * would hold a Buffer per chunk, some 200 bytes of heap each and more natively: a frame sent one
   * byte per TCP segment would cost hundreds of times its size.
   */
  function onData (this: Tagged<C>, chunk: Buffer) {
    const conn = this[kConn]
    // After a close frame (ours or the peer's), further data is ignored (§5.5.1, §7.1.1).
    if (!conn || conn.closed) return
    conn.lastSeen = clock()
    const pending = conn.pending
    if (pending === null) return parse(conn, chunk)
    const filled = conn.pendingLength
    const total = filled + chunk.length
    if (total < conn.pendingNeed) {
      let buf = pending
      if (total > buf.length) {
        buf = Buffer.allocUnsafeSlow(Math.min(conn.pendingNeed, Math.max(total, 2 * buf.length)))
        pending.copy(buf, 0, 0, filled)
        conn.pending = buf
      }
      chunk.copy(buf, filled)
      conn.pendingLength = total
      return
    }
    let data: Buffer
    if (total <= pending.length) {
      chunk.copy(pending, filled)
      data = pending.subarray(0, total)
    } else {
      data = Buffer.concat([pending.subarray(0, filled), chunk], total)
    }
    conn.pending = null
    conn.pendingLength = 0
    conn.pendingNeed = 0
    parse(conn, data)
  }

  /** Keeps the start of an incomplete frame (a copy: `tail` may be a view of a big chunk). */
  function stash (conn: C, tail: Buffer, need: number) {
    const buf = Buffer.allocUnsafeSlow(Math.min(need, Math.max(2 * tail.length, 256)))
    tail.copy(buf)
    conn.pending = buf
    conn.pendingLength = tail.length
    conn.pendingNeed = need
  }

  /** Parses as many whole frames as `data` holds; keeps the rest for the next chunk. */
  function parse (conn: C, data: Buffer) {
    let pos = 0
    let need = 0
    // A message (or a control frame outside one) ended here: an incomplete frame after it is new.
    let boundary = false
    while (!conn.closed) {
      const left = data.length - pos
      if (left < 2) {
        need = 2
        break
      }
      const b0 = data[pos]!
      const b1 = data[pos + 1]!
      const fin = (b0 & 0x80) !== 0
      const opcode = b0 & 0x0f
      const len7 = b1 & 0x7f
      const fragments = conn.fragments
      // Whatever can be refused is refused from the first two bytes, before any payload is awaited.
      if ((b0 & 0x70) !== 0) return close(conn, CloseCode.ProtocolError, 'no extension was negotiated') // §5.2 RSV1-3
      if ((b1 & 0x80) === 0) return close(conn, CloseCode.ProtocolError, 'client frames must be masked') // §5.1
      if (opcode >= 0x8) {
        // Control frames: close, ping, pong (0xB-0xF are reserved, §5.2); never fragmented, at most
        // 125 bytes (§5.5), and allowed between the fragments of a message (§5.4).
        if (opcode > 0xa) return close(conn, CloseCode.ProtocolError, 'reserved opcode')
        if (!fin || len7 > 125) return close(conn, CloseCode.ProtocolError, 'invalid control frame')
      } else if (opcode === 0x0) {
        if (fragments === null) return close(conn, CloseCode.ProtocolError, 'continuation without a message')
        if (fragments.count >= maxFragments) return limit(conn, 'maxFragments', CloseCode.TooBig, 'message in too many fragments')
      } else if (opcode <= 0x2) {
        if (fragments !== null) return close(conn, CloseCode.ProtocolError, 'a new message inside a fragmented one') // §5.4
      } else {
        return close(conn, CloseCode.ProtocolError, 'reserved opcode') // 0x3-0x7, §5.2
      }
      const header = len7 === 126 ? 8 : len7 === 127 ? 14 : 6
      if (left < header) {
        need = header
        break
      }
      let length = len7
      if (len7 === 126) {
        length = data.readUInt16BE(pos + 2)
      } else if (len7 === 127) {
        // 64 bits, the most significant one 0 (§5.2): anything past 32 bits is far too big, and
        // refused without reading, allocating or waiting for any of it.
        if (data.readUInt32BE(pos + 2) !== 0) return limit(conn, 'maxPayload', CloseCode.TooBig, 'message too big')
        length = data.readUInt32BE(pos + 6)
      }
      if (length > opts.maxPayload || (opcode < 0x8 && (fragments?.length ?? 0) + length > opts.maxPayload)) {
        return limit(conn, 'maxPayload', CloseCode.TooBig, 'message too big')
      }
      const start = pos + header
      const end = start + length
      if (data.length < end) {
        need = header + length
        break
      }
      // Unmasked in place (§5.3): the bytes are this connection's own (a chunk, or `pending`).
      const m0 = data[start - 4]!
      const m1 = data[start - 3]!
      const m2 = data[start - 2]!
      const m3 = data[start - 1]!
      for (let i = start; i < end; i++) {
        const k = (i - start) & 3
        data[i]! ^= k === 0 ? m0 : k === 1 ? m1 : k === 2 ? m2 : m3
      }
      const payload = data.subarray(start, end)
      pos = end

      if (opcode >= 0x8) {
        if (opcode === 0x8) return onCloseFrame(conn, payload)
        // A ping is answered with its payload (§5.5.2); a pong, asked for or not, needs nothing (§5.5.3).
        if (opcode === 0x9) write(conn, 0xa, payload)
        if (fragments === null) boundary = true
        continue
      }
      if (opcode === 0x0) {
        fragments!.count++
        fragments!.length += length
        if (fin) {
          conn.fragments = null
          boundary = true
          const parts = fragments!.parts
          if (parts.length === 0) {
            deliver(conn, fragments!.binary, payload)
          } else {
            parts.push(payload)
            deliver(conn, fragments!.binary, Buffer.concat(parts, fragments!.length))
          }
        } else if (length > 0) {
          // Copied: a view would keep the whole TCP chunk it came in alive until the message ends.
          fragments!.parts.push(own(payload))
        }
        continue
      }
      if (fin) {
        boundary = true
        deliver(conn, opcode === 0x2, payload)
      } else {
        conn.fragments = { parts: length > 0 ? [own(payload)] : [], length, count: 1, binary: opcode === 0x2 }
      }
    }
    if (conn.closed) return
    if (pos < data.length) stash(conn, data.subarray(pos), need)
    // The deadline runs from where the incomplete frame or message began: a busy client whose chunks
    // end inside frames restarts it with every frame it completes.
    if (conn.pending !== null || conn.fragments !== null) {
      if (conn.partialSince === 0 || boundary) watch(conn)
    } else if (conn.partialSince !== 0) {
      unwatch(conn)
    }
  }

  function onClose (this: Tagged<C>) {
    const conn = this[kConn]
    if (!conn) return
    this[kConn] = undefined
    conn.closed = true
    conn.pending = null
    conn.fragments = null
    unwatch(conn)
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
    },
    sweep
  }
}

const textDecoder = new TextDecoder('utf-8', { fatal: true })
