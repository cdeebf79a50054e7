// The tracker's own RFC 6455 transport against hostile clients, on real TCP connections to a real
// node:http server: frames are built and masked by hand on a node:net socket, so that anything can be
// sent, and close codes are read from the bytes of the server's close frame. A `ws` client checks that
// ordinary clients still work. The tracker protocol on top of it is tracker-protocol.test.ts.
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer } from 'node:http'
import { connect, type AddressInfo, type Socket } from 'node:net'
import test, { type TestContext } from 'node:test'
import WebSocket from 'ws'
import { CloseCode, Connection, createWebSocketServer, type WebSocketOptions } from '../src/tracker/websocket.ts'

const tick = () => new Promise<void>((resolve) => setImmediate(resolve))
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Polls until `predicate` holds; false after `ms`. */
async function until (predicate: () => boolean, ms = 2_000) {
  const end = Date.now() + ms
  while (!predicate()) {
    if (Date.now() > end) return false
    await sleep(5)
  }
  return true
}

type Options = Partial<Omit<WebSocketOptions<Connection>, 'create' | 'message' | 'close'>>

/**
 * The transport alone on a node:http server. Messages are recorded; one starting with `echo:` is sent
 * back. `chunks` counts the TCP chunks the server read (to know what a test really exercised).
 */
async function serve (t: TestContext, options: Options = {}) {
  const messages: string[] = []
  const limits: string[] = []
  const closed: Connection[] = []
  const clients: Socket[] = []
  let chunks = 0
  const wss = createWebSocketServer<Connection>({
    maxPayload: 1024,
    create: (socket, now) => new Connection(socket, now),
    message (conn, text) {
      messages.push(text)
      if (text.startsWith('echo:')) wss.send(conn, text)
    },
    close (conn) { closed.push(conn) },
    onLimit (_conn, what) { limits.push(what) },
    ...options
  })
  const server = createServer((_req, res) => { res.statusCode = 426; res.end() })
  server.on('upgrade', (req, socket, head) => {
    wss.upgrade(req, socket, head)
    socket.on('data', () => { chunks++ })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const port = (server.address() as AddressInfo).port
  t.after(async () => {
    for (const socket of clients) socket.destroy()
    for (const conn of wss.connections) conn.socket.destroy()
    await new Promise((resolve) => server.close(resolve))
  })
  return {
    wss,
    port,
    messages,
    limits,
    closed,
    get chunks () { return chunks },
    /** A raw client, after the handshake. */
    async raw (opts: { allowHalfOpen?: boolean } = {}) {
      const raw = await Raw.open(port, opts.allowHalfOpen ?? false)
      clients.push(raw.socket)
      return raw
    },
    /** The server's side of the connection opened last. */
    last () { return [...wss.connections].at(-1)! }
  }
}

interface Frame { fin: boolean, opcode: number, payload: Buffer }

/** A client on a plain TCP socket: hand-made handshake, then whatever bytes a test writes. */
class Raw {
  readonly socket: Socket
  /** Bytes received after the handshake's response. */
  data = Buffer.alloc(0)
  ended = false
  readonly closed: Promise<unknown>
  private handshake = true

  private constructor (socket: Socket) {
    this.socket = socket
    this.closed = once(socket, 'close')
    socket.on('error', () => {})
    socket.on('end', () => { this.ended = true })
  }

  static async open (port: number, allowHalfOpen: boolean) {
    const socket = connect({ port, host: '127.0.0.1', allowHalfOpen })
    socket.setNoDelay(true)
    await once(socket, 'connect')
    const raw = new Raw(socket)
    let head = Buffer.alloc(0)
    socket.on('data', (d: Buffer) => {
      if (raw.handshake) {
        head = Buffer.concat([head, d])
        const end = head.indexOf('\r\n\r\n')
        if (end < 0) return
        raw.handshake = false
        raw.data = head.subarray(end + 4)
        assert.match(head.subarray(0, end).toString(), /^HTTP\/1\.1 101 /)
        return
      }
      raw.data = Buffer.concat([raw.data, d])
    })
    socket.write('GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n')
    assert.ok(await until(() => !raw.handshake), 'handshake answered')
    return raw
  }

  write (bytes: Buffer | Uint8Array) { this.socket.write(bytes) }

  /** The server's frames so far (server frames are never masked, §5.1). */
  frames (): Frame[] {
    const out: Frame[] = []
    let d = this.data
    while (d.length >= 2) {
      let length = d[1]! & 0x7f
      let offset = 2
      if (length === 126) {
        if (d.length < 4) break
        length = d.readUInt16BE(2)
        offset = 4
      } else if (length === 127) {
        if (d.length < 10) break
        length = Number(d.readBigUInt64BE(2))
        offset = 10
      }
      if (d.length < offset + length) break
      out.push({ fin: (d[0]! & 0x80) !== 0, opcode: d[0]! & 0x0f, payload: d.subarray(offset, offset + length) })
      d = d.subarray(offset + length)
    }
    return out
  }

  async frame (opcode: number, ms = 2_000): Promise<Frame | undefined> {
    await until(() => this.frames().some((f) => f.opcode === opcode), ms)
    return this.frames().find((f) => f.opcode === opcode)
  }

  /** The status code of the server's close frame: null for an empty one, undefined for none. */
  async closeCode (ms = 2_000): Promise<number | null | undefined> {
    const f = await this.frame(0x8, ms)
    if (!f) return undefined
    return f.payload.length >= 2 ? f.payload.readUInt16BE(0) : null
  }
}

const MASK = Buffer.from([0x37, 0xfa, 0x21, 0x3d])

/**
 * One client frame, masked (§5.3) unless told otherwise. `length` overrides the payload length written
 * in the header (to claim more than is sent); it picks the shortest encoding that holds it (§5.2).
 */
function frame (opcode: number, payload: Buffer | string = Buffer.alloc(0), o: { fin?: boolean, rsv?: number, masked?: boolean, length?: bigint } = {}): Buffer {
  const body = Buffer.from(payload)
  const n = o.length ?? BigInt(body.length)
  const masked = o.masked !== false
  let head: Buffer
  if (n < 126n) {
    head = Buffer.from([0, Number(n)])
  } else if (n < 65536n) {
    head = Buffer.from([0, 126, 0, 0])
    head.writeUInt16BE(Number(n), 2)
  } else {
    head = Buffer.alloc(10)
    head[1] = 127
    head.writeBigUInt64BE(n, 2)
  }
  head[0] = (o.fin === false ? 0 : 0x80) | ((o.rsv ?? 0) << 4) | opcode
  if (!masked) return Buffer.concat([head, body])
  head[1]! |= 0x80
  for (let i = 0; i < body.length; i++) body[i]! ^= MASK[i & 3]!
  return Buffer.concat([head, MASK, body])
}
const closePayload = (code: number, reason: Buffer | string = '') => Buffer.concat([Buffer.from([code >> 8, code & 0xff]), Buffer.from(reason)])

/** Opens a raw client, sends `bytes` and returns the status code of the server's close frame. */
async function closeCodeFor (s: Awaited<ReturnType<typeof serve>>, bytes: Buffer) {
  const raw = await s.raw()
  raw.write(bytes)
  const code = await raw.closeCode()
  return code
}

test('an ordinary ws client: text round trip, a fragmented message, ping/pong, clean close 1000', async (t) => {
  const s = await serve(t)
  const ws = new WebSocket(`ws://127.0.0.1:${s.port}/`)
  await once(ws, 'open')
  ws.send('echo:hello, wörld')
  const [data, isBinary] = await once(ws, 'message')
  assert.equal(String(data), 'echo:hello, wörld')
  assert.equal(isBinary, false)

  ws.send('echo:in ', { fin: false })
  ws.send('three ', { fin: false })
  ws.send('parts', { fin: true })
  assert.equal(String((await once(ws, 'message'))[0]), 'echo:in three parts')

  ws.ping('are you there')
  assert.equal(String((await once(ws, 'pong'))[0]), 'are you there')

  ws.close(1000, 'done')
  const [code] = await once(ws, 'close')
  assert.equal(code, 1000)
  assert.ok(await until(() => s.wss.connections.size === 0), 'the server let the connection go')
  assert.equal(s.closed.length, 1)
  assert.deepEqual(s.limits, [])
})

test('an idle connection holds no objects of its own beyond the socket, and shares its listeners', async (t) => {
  const s = await serve(t)
  const a = await s.raw()
  const b = await s.raw()
  // Some traffic first, split so that partial-frame state was held and let go again.
  const f = frame(0x1, `echo:${'x'.repeat(300)}`)
  a.write(f.subarray(0, 7))
  await sleep(20)
  a.write(f.subarray(7))
  assert.ok(await a.frame(0x1))
  const [ca, cb] = [...s.wss.connections]
  for (const conn of [ca!, cb!]) {
    for (const [key, value] of Object.entries(conn)) {
      if (key === 'socket') continue
      assert.ok(value === null || typeof value !== 'object', `${key} is a primitive or null on an idle connection`)
      if (typeof value === 'number') assert.ok(Number.isSafeInteger(value), `${key} is an integer`)
    }
  }
  for (const event of ['data', 'close', 'error']) {
    assert.equal(ca!.socket.listeners(event)[0], cb!.socket.listeners(event)[0], `one shared '${event}' listener`)
  }
  void b
})

test('fragments count towards the limits: zero-length continuations, too many fragments, too many bytes', async (t) => {
  const s = await serve(t)
  // The attack: one fragment, then continuation frames carrying nothing, forever. Each cost a Buffer
  // and kept its TCP chunk alive, and none counted. Default limit: 64 frames per message.
  const flood = Buffer.concat([frame(0x1, 'a', { fin: false }), ...Array.from({ length: 2000 }, () => frame(0x0, '', { fin: false }))])
  const raw = await s.raw()
  raw.write(flood)
  assert.equal(await raw.closeCode(), CloseCode.TooBig, 'too many fragments')
  assert.equal(raw.frames().filter((f) => f.opcode === 0x8).length, 1, 'one close frame, not one per excess fragment')
  assert.deepEqual(s.limits, ['maxFragments'])

  // Exactly the limit is fine, one more is not.
  const few = await serve(t, { maxFragments: 4 })
  const parts = (n: number) => Buffer.concat(Array.from({ length: n }, (_, i) => frame(i === 0 ? 0x1 : 0x0, i === 0 ? 'echo:' : String(i), { fin: i === n - 1 })))
  const ok = await few.raw()
  ok.write(parts(4))
  assert.equal((await ok.frame(0x1))?.payload.toString(), 'echo:123')
  assert.equal(await closeCodeFor(few, parts(5)), CloseCode.TooBig)
  assert.deepEqual(few.limits, ['maxFragments'])

  // Bytes: two fragments of 600 each against maxPayload 1024, the second refused from its header alone.
  const bytes = await s.raw()
  bytes.write(frame(0x1, Buffer.alloc(600, 0x61), { fin: false }))
  bytes.write(frame(0x0, Buffer.alloc(0), { length: 600n }).subarray(0, 8))
  assert.equal(await bytes.closeCode(), CloseCode.TooBig)
  assert.deepEqual(s.limits, ['maxFragments', 'maxPayload'])
  assert.equal(s.messages.length, 0)
})

test('fragment payloads are copied out of the TCP chunk they came in', async (t) => {
  const s = await serve(t, { maxPayload: 256 * 1024 })
  const raw = await s.raw()
  // A small first fragment, then most of a big continuation in the same write: one big chunk.
  const big = frame(0x0, Buffer.alloc(100_000, 0x62))
  raw.write(Buffer.concat([frame(0x1, 'echo:small', { fin: false }), big.subarray(0, 60_000)]))
  const conn = s.last() as Connection & { fragments: { parts: Buffer[] } | null }
  assert.ok(await until(() => (conn.fragments?.parts.length ?? 0) > 0))
  for (const part of conn.fragments!.parts) {
    assert.equal(part.buffer.byteLength, part.byteLength, 'a fragment owns its memory: it keeps no TCP chunk alive')
  }
  raw.write(big.subarray(60_000))
  const echoed = await raw.frame(0x1)
  assert.equal(echoed?.payload.length, 'echo:small'.length + 100_000)

  // With the count limit lifted, 600 KB of empty continuation frames hold nothing but a count.
  const lifted = await serve(t, { maxFragments: 1_000_000 })
  const flood = await lifted.raw()
  flood.write(Buffer.concat([frame(0x1, 'echo:', { fin: false }), ...Array.from({ length: 100_000 }, () => frame(0x0, '', { fin: false }))]))
  const fc = lifted.last() as Connection & { fragments: { parts: Buffer[], count: number } | null }
  assert.ok(await until(() => (fc.fragments?.count ?? 0) === 100_001), 'every frame counted')
  assert.equal(fc.fragments!.parts.length, 1, 'one part kept: the only one with bytes')
  flood.write(frame(0x0, 'done'))
  assert.equal((await flood.frame(0x1))?.payload.toString(), 'echo:done')
})

test('reassembly is linear: a 256 KiB message in 100-byte TCP writes costs little CPU', { timeout: 30_000 }, async (t) => {
  const s = await serve(t, { maxPayload: 300 * 1024 })
  const raw = await s.raw()
  const text = Array.from({ length: 256 * 1024 / 16 }, (_, i) => i.toString(16).padStart(16, '.')).join('')
  const bytes = frame(0x1, text)
  const chunksBefore = s.chunks
  const before = process.cpuUsage()
  for (let i = 0; i < bytes.length; i += 100) {
    raw.write(bytes.subarray(i, i + 100))
    // One turn of the event loop between writes: the server reads each piece on its own.
    await tick()
  }
  assert.ok(await until(() => s.messages.length === 1, 20_000))
  const used = process.cpuUsage(before)
  const ms = (used.user + used.system) / 1000
  const chunks = s.chunks - chunksBefore
  t.diagnostic(`256 KiB in ${chunks} TCP chunks: ${ms.toFixed(0)} ms of CPU (client and server)`)
  assert.equal(s.messages[0], text, 'delivered whole and in order')
  assert.ok(chunks > 1000, `the server read it in many small chunks (${chunks})`)
  assert.ok(ms < 200, `CPU for the message: ${ms.toFixed(0)} ms`)
})

test('frames split at every byte boundary, with control frames and fragments in between, arrive intact', { timeout: 30_000 }, async (t) => {
  const s = await serve(t, { maxPayload: 70_000 })
  const long = 'L'.repeat(300)
  const huge = 'H'.repeat(66_000)
  const stream = Buffer.concat([
    frame(0x1, 'echo:a'),
    frame(0x1, 'echo:frag', { fin: false }),
    frame(0x9, 'p1'),
    frame(0x0, 'mented', { fin: false }),
    frame(0x0, '', { fin: false }),
    frame(0x0, '!'),
    frame(0x1, long),
    frame(0x1, ''),
    frame(0x1, huge),
    frame(0x9, 'p2'),
    frame(0x1, 'echo:z')
  ])
  const expected = ['echo:a', 'echo:fragmented!', long, '', huge, 'echo:z']
  for (const size of [1, 2, 3, 5, 7, 13, 125, 4096]) {
    const before = s.messages.length
    const raw = await s.raw()
    // Byte by byte up to the big frame (every header boundary); in `size` pieces after that.
    for (let i = 0, writes = 0; i < stream.length; writes++) {
      const n = i < 400 ? Math.min(size, 7) : size * 64
      raw.write(stream.subarray(i, i + n))
      i += n
      if (i < 400 || writes % 8 === 0) await tick()
    }
    assert.ok(await until(() => s.messages.length === before + expected.length), `size ${size}: all messages`)
    assert.deepEqual(s.messages.slice(before), expected, `size ${size}`)
    assert.ok(await until(() => raw.frames().filter((f) => f.opcode === 0xa).length === 2))
    assert.deepEqual(raw.frames().filter((f) => f.opcode === 0xa).map((f) => f.payload.toString()), ['p1', 'p2'])
    assert.equal(await raw.closeCode(50), undefined, 'nothing closed it')
    const conn = s.last()
    assert.equal(conn.closed, false)
    raw.socket.destroy()
  }
})

test('close frames are checked (RFC 6455 §5.5.1, §7.4): one byte, invalid codes and invalid UTF-8 refused; valid ones echoed', async (t) => {
  const s = await serve(t)
  assert.equal(await closeCodeFor(s, frame(0x8, Buffer.from([0x03]))), CloseCode.ProtocolError, 'a one-byte close payload')
  for (const code of [0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]) {
    assert.equal(await closeCodeFor(s, frame(0x8, closePayload(code))), CloseCode.ProtocolError, `code ${code} is not valid on the wire`)
  }
  assert.equal(await closeCodeFor(s, frame(0x8, closePayload(1000, Buffer.from([0x62, 0xff, 0x65])))), CloseCode.InvalidPayload, 'a reason that is not UTF-8')
  assert.equal(await closeCodeFor(s, frame(0x8, closePayload(1000, Buffer.from([0xe2, 0x82])))), CloseCode.InvalidPayload, 'a reason cut inside a character')
  for (const code of [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4000, 4999]) {
    const raw = await s.raw()
    raw.write(frame(0x8, closePayload(code, 'bye ✓')))
    assert.equal(await raw.closeCode(), code, `code ${code} echoed`)
    await raw.closed
  }
  // No status code at all: the reply carries none either (1005 is what the API reports for it, §7.1.5).
  const empty = await s.raw()
  empty.write(frame(0x8))
  assert.ok([null, 1000].includes((await empty.closeCode())!))
  await empty.closed
  assert.ok(await until(() => s.wss.connections.size === 0))
})

test('a peer that never closes its side after the close handshake is dropped after closeTimeoutMs', async (t) => {
  const s = await serve(t, { closeTimeoutMs: 200 })
  // The peer closes, gets our close frame and FIN, and then keeps its half of the TCP connection.
  const a = await s.raw({ allowHalfOpen: true })
  a.write(frame(0x8, closePayload(1000)))
  assert.equal(await a.closeCode(), 1000)
  assert.ok(await until(() => s.wss.connections.size === 0, 1_500), 'the server let go of it')
  // We close, and the peer neither answers nor closes the TCP connection.
  const b = await s.raw({ allowHalfOpen: true })
  s.wss.close(s.last(), CloseCode.GoingAway, 'bye')
  assert.equal(await b.closeCode(), CloseCode.GoingAway)
  assert.ok(await until(() => s.wss.connections.size === 0, 1_500), 'the server let go of it')
  assert.deepEqual(s.limits, ['closeTimeoutMs', 'closeTimeoutMs'])
})

test('slowloris: a frame or a fragmented message not completed within frameTimeoutMs closes with 1008', { timeout: 20_000 }, async (t) => {
  const s = await serve(t, { frameTimeoutMs: 300 })

  // One byte at a time, never a whole frame.
  const drip = await s.raw()
  const f = frame(0x1, `echo:${'x'.repeat(100)}`)
  let sent = 0
  const dripping = setInterval(() => { if (sent < f.length - 1) drip.write(f.subarray(sent, ++sent)) }, 40)
  t.after(() => clearInterval(dripping))
  const started = Date.now()
  assert.equal(await drip.closeCode(3_000), CloseCode.PolicyViolation)
  const took = Date.now() - started
  assert.ok(took >= 300 && took < 2_000, `closed after ${took} ms`)
  clearInterval(dripping)

  // Whole frames, but a message that never ends: pings keep bytes flowing between its fragments.
  const frag = await s.raw()
  frag.write(frame(0x1, 'echo:', { fin: false }))
  const pinging = setInterval(() => { frag.write(frame(0x9, 'still here')) }, 40)
  t.after(() => clearInterval(pinging))
  assert.equal(await frag.closeCode(3_000), CloseCode.PolicyViolation)
  clearInterval(pinging)
  assert.ok(frag.frames().some((x) => x.opcode === 0xa), 'pings between fragments were answered meanwhile')

  // A busy client whose every TCP write ends inside its next frame is not slow: it is never cut off,
  // as each of its frames completes in time.
  const busy = await s.raw()
  const stream = Buffer.concat(Array.from({ length: 40 }, (_, i) => frame(0x1, `echo:${i}`.padEnd(40, '.'))))
  const before = s.messages.length
  for (let i = 0; i < stream.length; i += 37) {
    busy.write(stream.subarray(i, i + 37))
    await sleep(25)
  }
  assert.ok(await until(() => s.messages.length === before + 40))
  assert.equal(await busy.closeCode(50), undefined, `not closed (${Math.round(stream.length / 37) * 25} ms of traffic)`)
  assert.deepEqual(s.limits, ['frameTimeoutMs', 'frameTimeoutMs'])
})

test('the deadline check is callable: sweep() before and after the deadline', async (t) => {
  const s = await serve(t, { frameTimeoutMs: 150 })
  const raw = await s.raw()
  raw.write(frame(0x1, 'echo:half').subarray(0, 5))
  await sleep(20)
  s.wss.sweep()
  assert.equal(await raw.closeCode(20), undefined, 'not before the deadline')
  await sleep(400)
  s.wss.sweep()
  assert.equal(await raw.closeCode(), CloseCode.PolicyViolation)
})

test('text must be UTF-8 (1007); a character split between fragments is valid', async (t) => {
  const s = await serve(t)
  const invalid: Array<[string, Buffer[]]> = [
    ['a lone 0xff', [Buffer.from([0x61, 0xff])]],
    ['an overlong "/"', [Buffer.from([0xc0, 0xaf])]],
    ['a UTF-16 surrogate', [Buffer.from([0xed, 0xa0, 0x80])]],
    ['beyond U+10FFFF', [Buffer.from([0xf4, 0x90, 0x80, 0x80])]],
    ['cut inside a character at the end', [Buffer.from([0x61, 0xe2, 0x82])]],
    ['invalid across fragments', [Buffer.from([0x61, 0xe2]), Buffer.from([0x28, 0xa1])]]
  ]
  for (const [name, parts] of invalid) {
    const bytes = Buffer.concat(parts.map((p, i) => frame(i === 0 ? 0x1 : 0x0, p, { fin: i === parts.length - 1 })))
    assert.equal(await closeCodeFor(s, bytes), CloseCode.InvalidPayload, name)
  }
  const raw = await s.raw()
  const split = (text: string, at: number[]) => {
    const b = Buffer.from(text)
    const cuts = [0, ...at, b.length]
    return cuts.slice(1).map((end, i) => frame(i === 0 ? 0x1 : 0x0, b.subarray(cuts[i], end), { fin: i === cuts.length - 2 }))
  }
  // 'é' is c3 a9; '😀' is f0 9f 98 80; '€' is e2 82 ac. Cut inside each, a ping in the middle of one.
  raw.write(Buffer.concat(split('echo:é', [6])))
  const [p, q, r] = split('echo:😀', [6, 8])
  raw.write(Buffer.concat([p!, frame(0x9, 'mid'), q!, r!]))
  raw.write(Buffer.concat(split('echo:€', [6, 7])))
  assert.ok(await until(() => s.messages.length === 3))
  assert.deepEqual(s.messages, ['echo:é', 'echo:😀', 'echo:€'])
  assert.equal(await raw.closeCode(50), undefined)
})

test('after a close frame, nothing more is read: later messages and pings are ignored', async (t) => {
  const s = await serve(t, { closeTimeoutMs: 500 })
  // We close; the peer keeps writing (its half of the connection is still open).
  const a = await s.raw({ allowHalfOpen: true })
  s.wss.close(s.last(), CloseCode.Normal)
  assert.equal(await a.closeCode(), CloseCode.Normal)
  a.write(Buffer.concat([frame(0x1, 'echo:late'), frame(0x9, 'late'), frame(0x8, closePayload(1000))]))
  await sleep(100)
  assert.deepEqual(a.frames().map((f) => f.opcode), [0x8], 'one close frame and nothing after it')
  // The peer's close frame, then more in the same write.
  const b = await s.raw()
  b.write(Buffer.concat([frame(0x1, 'echo:first'), frame(0x8, closePayload(1000)), frame(0x1, 'echo:after'), frame(0x9, 'x')]))
  await b.closed
  assert.deepEqual(b.frames().map((f) => f.opcode), [0x1, 0x8])
  assert.deepEqual(s.messages, ['echo:first'])
})

test('a ping between fragments is answered and the message still arrives; bad control frames are refused from their header', async (t) => {
  const s = await serve(t)
  const raw = await s.raw()
  raw.write(frame(0x1, 'echo:be', { fin: false }))
  raw.write(frame(0x9, 'ping in between'))
  raw.write(frame(0xa, 'an unsolicited pong is ignored'))
  raw.write(frame(0x0, 'fore', { fin: false }))
  raw.write(frame(0x0, ' and after'))
  assert.equal((await raw.frame(0x1))?.payload.toString(), 'echo:before and after')
  assert.equal((await raw.frame(0xa))?.payload.toString(), 'ping in between')

  // Only the header is sent: the server must not wait for (and buffer) a payload it will refuse.
  assert.equal(await closeCodeFor(s, frame(0x9, '', { length: 1000n }).subarray(0, 8)), CloseCode.ProtocolError, 'a 1000-byte ping (§5.5: at most 125)')
  assert.equal(await closeCodeFor(s, frame(0x9, 'x'.repeat(126))), CloseCode.ProtocolError, 'a 126-byte ping')
  assert.equal(await closeCodeFor(s, frame(0x9, 'x', { fin: false })), CloseCode.ProtocolError, 'a fragmented ping')
  assert.equal(await closeCodeFor(s, frame(0x0, '', { length: 500n }).subarray(0, 8)), CloseCode.ProtocolError, 'a continuation without a message')
  assert.equal(await closeCodeFor(s, Buffer.concat([frame(0x1, 'a', { fin: false }), frame(0x1, '', { length: 500n }).subarray(0, 8)])), CloseCode.ProtocolError, 'a new message inside a fragmented one')
})

test('reserved opcodes, reserved bits and unmasked frames close with 1002', async (t) => {
  const s = await serve(t)
  for (const opcode of [0x3, 0x4, 0x5, 0x6, 0x7, 0xb, 0xc, 0xd, 0xe, 0xf]) {
    assert.equal(await closeCodeFor(s, frame(opcode, 'x')), CloseCode.ProtocolError, `opcode ${opcode}`)
    // From the header alone, however long a payload it announces.
    assert.equal(await closeCodeFor(s, frame(opcode, '', { length: 900n }).subarray(0, 8)), CloseCode.ProtocolError, `opcode ${opcode}, header only`)
  }
  for (const rsv of [1, 2, 4]) assert.equal(await closeCodeFor(s, frame(0x1, 'x', { rsv })), CloseCode.ProtocolError, `RSV ${rsv}`)
  assert.equal(await closeCodeFor(s, frame(0x1, 'x', { masked: false })), CloseCode.ProtocolError, 'unmasked')
  assert.deepEqual(s.messages, [])
})

test('lengths beyond maxPayload (16-bit, 64-bit, the 64-bit high bit set) close with 1009 from the header alone', async (t) => {
  const s = await serve(t)
  const heap = process.memoryUsage().arrayBuffers
  for (const [name, length] of [['16-bit', 2000n], ['64-bit', 1n << 20n], ['2^32', 1n << 32n], ['2^63 (high bit)', 1n << 63n], ['2^64 - 1', (1n << 64n) - 1n]] as const) {
    assert.equal(await closeCodeFor(s, frame(0x1, '', { length }).subarray(0, length < 65536n ? 8 : 14)), CloseCode.TooBig, name)
  }
  assert.ok(process.memoryUsage().arrayBuffers - heap < 1024 * 1024, 'nothing of that size was allocated')
  assert.deepEqual(s.limits, ['maxPayload', 'maxPayload', 'maxPayload', 'maxPayload', 'maxPayload'])
})

test('a client that does not read is dropped once maxBuffered bytes wait for it', async (t) => {
  const s = await serve(t, { maxBuffered: 64 * 1024, maxPayload: 1024 })
  const raw = await s.raw()
  raw.socket.pause()
  const conn = s.last()
  const text = 'y'.repeat(64 * 1024)
  for (let i = 0; i < 2_000 && !conn.socket.destroyed; i++) s.wss.send(conn, text)
  assert.equal(conn.socket.destroyed, true)
  assert.ok(await until(() => s.wss.connections.size === 0))
  assert.deepEqual(s.limits, ['maxBuffered'])
})
