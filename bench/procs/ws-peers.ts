// Idle WebTorrent-tracker peers for the memory measurement: opens COUNT WebSockets to the tracker,
// each announces once (no offers) to one of SWARMS infohashes and waits for the reply, then all stay
// connected and silent until SIGTERM. Prints {"ready":…} with how many got their reply.
// Usage: ws-peers.ts WS_URL COUNT SWARMS TIMEOUT_MS [FIRST_SWARM]
// (the infohashes are those of swarms FIRST_SWARM… FIRST_SWARM+SWARMS-1; default 0)
import { randomBytes } from 'node:crypto'
import WebSocket from 'ws'

const [url, countText, swarmsText, timeoutText, firstSwarmText = '0'] = process.argv.slice(2)
const count = Number(countText)
const firstSwarm = Number(firstSwarmText)
const swarms = Array.from({ length: Number(swarmsText) }, (_v, i) => Buffer.from(`${String(firstSwarm + i).padStart(4, '0')}${'b'.repeat(16)}`).toString('latin1'))
const deadline = Date.now() + Number(timeoutText)
const sockets: WebSocket[] = []
let answered = 0
let failed = 0

function open (i: number): Promise<void> {
  return new Promise((resolve) => {
    const socket = new WebSocket(url!, { perMessageDeflate: false })
    sockets.push(socket)
    const done = (ok: boolean) => { if (ok) answered++; else failed++; resolve() }
    const timer = setTimeout(() => done(false), Math.max(1000, deadline - Date.now()))
    socket.once('error', () => { clearTimeout(timer); done(false) })
    socket.once('open', () => {
      socket.send(JSON.stringify({
        action: 'announce',
        info_hash: swarms[i % swarms.length],
        peer_id: randomBytes(10).toString('hex').slice(0, 20),
        numwant: 0,
        uploaded: 0,
        downloaded: 0,
        left: 1000,
        event: 'started',
        offers: []
      }))
    })
    socket.once('message', () => { clearTimeout(timer); done(true) })
  })
}

// 100 handshakes at a time: quick, without a SYN flood on the tracker's accept queue.
for (let i = 0; i < count && Date.now() < deadline; i += 100) {
  await Promise.all(Array.from({ length: Math.min(100, count - i) }, (_v, k) => open(i + k)))
}
process.stdout.write(`${JSON.stringify({ ready: true, answered, failed })}\n`)
process.on('SIGTERM', () => {
  for (const s of sockets) s.terminate()
  process.exit(0)
})
