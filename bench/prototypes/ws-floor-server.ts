// Idle-connection memory floors in Node, for the WebSocket tracker (see run.ts): MODE is
//   net  a bare net.Server that keeps each socket (no HTTP, no WebSocket): the floor of any design;
//   ws   the `ws` library's WebSocketServer answering announces (what bittorrent-tracker and
//        @fastify/websocket use), without any tracker state;
//   raw  node:http's upgrade event, a hand-written handshake and frame, the request dropped;
//   net-ws  WebSocket by hand on a bare net.Server (handshake and frames parsed here, no node:http):
//        what a tracker transport would need to reach the goal of 4 KB per idle peer;
//   trickle  the product's tracker protocol (server/src/tracker/protocol.ts and its WebSocket
//        transport) on a plain node:http server, swarms included, without the rest of the companion.
// Usage: ws-floor-server.ts MODE PORT (prints {"ready":true}).
import { createHash } from 'node:crypto'
import http from 'node:http'
import { createServer } from 'node:net'
import { WebSocketServer } from 'ws'
import { createTrackerProtocol } from '../../server/src/tracker/protocol.ts'

const [mode, portText] = process.argv.slice(2)
const port = Number(portText)
const reply = Buffer.from('{"action":"announce","interval":120}')
const ready = () => { process.stdout.write('{"ready":true}\n') }
const kept: unknown[] = []

if (mode === 'net') {
  createServer((s) => { kept.push(s); s.on('data', () => {}) }).listen(port, '127.0.0.1', ready)
} else if (mode === 'ws') {
  const wss = new WebSocketServer({ host: '127.0.0.1', port, perMessageDeflate: false, clientTracking: false })
  wss.on('connection', (s) => { s.on('message', () => { s.send(reply) }) })
  wss.on('listening', ready)
} else if (mode === 'net-ws') {
  const accept = (key: string) => createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64')
  createServer((socket) => {
    let open = false
    socket.on('data', (chunk: Buffer) => {
      if (!open) {
        // The upgrade request arrives in one segment on loopback; a real transport would buffer it.
        const key = /sec-websocket-key:\s*(\S+)/i.exec(chunk.toString('latin1'))?.[1]
        if (!key) return socket.destroy()
        socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept(key)}\r\n\r\n`)
        open = true
        return
      }
      // A masked client frame: unmask the payload (an announce), answer with one text frame.
      let len = chunk[1]! & 0x7f
      let at = 2
      if (len === 126) { len = chunk.readUInt16BE(2); at = 4 }
      const mask = chunk.subarray(at, at + 4)
      const payload = Buffer.from(chunk.subarray(at + 4, at + 4 + len))
      for (let i = 0; i < payload.length; i++) payload[i]! ^= mask[i % 4]!
      socket.write(Buffer.concat([Buffer.from([0x81, reply.length]), reply]))
    })
    socket.on('error', () => {})
  }).listen(port, '127.0.0.1', ready)
} else if (mode === 'trickle') {
  const silent = { info () {}, error () {}, warn () {}, debug () {}, trace () {}, fatal () {}, child () { return silent }, level: 'silent', silent () {} }
  const protocol = createTrackerProtocol({ authorize: () => ({ ok: true, role: 'free' }), log: silent as never, intervalMs: 150_000 })
  const srv = http.createServer()
  srv.on('upgrade', (req, socket, head: Buffer) => { protocol.upgrade(req, socket, head) })
  srv.listen(port, '127.0.0.1', ready)
} else {
  const srv = http.createServer()
  srv.on('upgrade', (req, socket) => {
    const accept = createHash('sha1').update(`${req.headers['sec-websocket-key']}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64')
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`)
    // One unmasked text frame per message received (every announce here is one small frame).
    socket.on('data', () => { socket.write(Buffer.concat([Buffer.from([0x81, reply.length]), reply])) })
  })
  srv.listen(port, '127.0.0.1', ready)
}
process.on('SIGTERM', () => process.exit(0))
