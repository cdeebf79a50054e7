// The anchor: a plain bittorrent-tracker 11 Server (HTTP and WebSocket, no UDP, no stats page) on a
// loopback port, in its own process. Usage: bt-tracker.ts PORT
import Server from 'bittorrent-tracker/server'

const port = Number(process.argv[2])
const server = new Server({ udp: false, http: true, ws: true, stats: false }) as Server & { listen (port: number, host: string, cb: () => void): void }
server.on('warning', () => {})
server.on('error', (err: Error) => { console.error(err); process.exit(1) })
server.listen(port, '127.0.0.1', () => { process.stdout.write(`{"ready":true,"port":${port}}\n`) })
process.on('SIGTERM', () => { server.close(() => process.exit(0)) })
