// scratch: true retained memory per idle peer (heap after GC, external, rss) for the product protocol on node:http
import http from 'node:http'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createTrackerProtocol } from '../../server/src/tracker/protocol.ts'
const silent = { info () {}, error () {}, warn () {}, debug () {}, child () { return silent } }
const protocol = createTrackerProtocol({ authorize: () => ({ ok: true, role: 'free' }), log: silent as never, intervalMs: 150_000 })
const srv = http.createServer()
srv.on('upgrade', (req, socket, head: Buffer) => { protocol.upgrade(req, socket, head, (socket as import('node:net').Socket).remoteAddress ?? '') })
srv.listen(0, '127.0.0.1'); await once(srv, 'listening')
const port = (srv.address() as { port: number }).port
const gc = (globalThis as { gc?: () => void }).gc!
const mem = () => { gc(); gc(); const m = process.memoryUsage(); return m }
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const warm = spawn(process.execPath, ['bench/procs/ws-peers.ts', `ws://127.0.0.1:${port}/announce`, '300', '10', '30000'], { stdio: ['ignore', 'pipe', 'inherit'] })
await once(warm.stdout, 'data'); warm.kill(); await sleep(1000)
const a = mem()
const n = 5000
const peers = spawn(process.execPath, ['bench/procs/ws-peers.ts', `ws://127.0.0.1:${port}/announce`, String(n), '10', '60000'], { stdio: ['ignore', 'pipe', 'inherit'] })
await once(peers.stdout, 'data'); await sleep(1000)
const b = mem()
for (const k of ['rss', 'heapTotal', 'heapUsed', 'external', 'arrayBuffers'] as const) console.log(k, Math.round((b[k] - a[k]) / n), 'B/peer')
console.log('connections', protocol.connections)
peers.kill(); process.exit(0)
