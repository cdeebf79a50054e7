// Joined call attendees for bench/calls.ts: opens one signalling WebSocket per ticket in TICKETS_FILE
// (JSON [{ticket, attendee, room}]), says hello, and prints {"ready": n} once every one is welcomed.
// After DELAY_MS, each attendee sends MESSAGES/count offer-sized signals (a 3 KB SDP) to another
// member of its room, and it prints {"sent": …, "received": …} when they have arrived. Then it stays
// connected until SIGTERM. Usage: call-attendees.ts SIGNAL_URL TICKETS_FILE DELAY_MS MESSAGES
import { readFileSync } from 'node:fs'
import WebSocket from 'ws'

const [url, file, delayText, messagesText] = process.argv.slice(2)
const tickets = JSON.parse(readFileSync(file!, 'utf8')) as Array<{ ticket: string, attendee: string, room: string }>
const sdp = `v=0\r\n${'a=candidate:1 1 udp 2122260223 10.0.0.1 50000 typ host\r\n'.repeat(50)}`.slice(0, 3000)
let welcomed = 0
let received = 0
const sockets: WebSocket[] = []
const peersOf = new Map<string, string[]>()
for (const t of tickets) peersOf.set(t.room, [...(peersOf.get(t.room) ?? []), t.attendee])

await Promise.all(tickets.map((t) => new Promise<void>((resolve) => {
  const ws = new WebSocket(url!, { perMessageDeflate: false })
  sockets.push(ws)
  ws.on('open', () => ws.send(JSON.stringify({ type: 'hello', ticket: t.ticket })))
  ws.on('message', (d) => {
    const m = JSON.parse(String(d)) as { type: string }
    if (m.type === 'welcome') { welcomed++; resolve() }
    if (m.type === 'signal') received++
  })
  ws.on('error', () => resolve())
})))
process.stdout.write(JSON.stringify({ ready: welcomed }) + '\n')

await new Promise((resolve) => setTimeout(resolve, Number(delayText)))
const total = Number(messagesText)
const each = Math.ceil(total / tickets.length)
let sent = 0
tickets.forEach((t, i) => {
  const others = peersOf.get(t.room)!.filter((a) => a !== t.attendee)
  for (let k = 0; k < each && sent < total && others.length > 0; k++) {
    sockets[i]!.send(JSON.stringify({ type: 'signal', to: others[k % others.length], data: { type: 'offer', sdp } }))
    sent++
  }
})
const until = Date.now() + 60_000
while (received < sent && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 50))
process.stdout.write(JSON.stringify({ sent, received }) + '\n')
process.on('SIGTERM', () => { for (const s of sockets) s.terminate(); process.exit(0) })
setInterval(() => {}, 1 << 30)
