// The seeder's process: the WebTorrent client (service.ts) runs here, on its own event loop and heap,
// and supervisor.ts in the companion calls it through IPC messages. Started by supervisor.ts only:
// fork(worker.ts, [JSON of SeederDeps without log]) with 'advanced' serialization.
//
// Why: in the companion's process, serving a download competed
// with every HTTP request, payment and receipt, and each garbage collection walked the companion's whole
// heap while the transfer churned through Buffers: a paid download ran at 0.86-0.98 of plain WebTorrent.
// A process of its own gives the transfer a heap the size of WebTorrent's and a core when one is free,
// and keeps a WebTorrent crash from taking the companion down.
import type { FastifyBaseLogger } from 'fastify'
import { createSeeder, type SeederDeps, type SeederService } from './service.ts'
import type { SeederCall, SeederMessage, WorkerLogLevel } from './supervisor.ts'

const send = (m: SeederMessage) => { if (process.connected) process.send!(m) }

/** A logger with pino's call shape that hands every line to the companion's logger. */
function forwardingLogger (bindings: Record<string, unknown>): FastifyBaseLogger {
  const line = (level: WorkerLogLevel) => (obj: unknown, msg?: string) => {
    const fields = typeof obj === 'object' && obj !== null ? obj as Record<string, unknown> : {}
    let safe: Record<string, unknown>
    try {
      safe = structuredClone(fields)
    } catch {
      safe = JSON.parse(JSON.stringify(fields, (_k, v: unknown) => v instanceof Error ? v.message : v)) as Record<string, unknown>
    }
    send({ kind: 'log', level, bindings, fields: safe, ...(typeof obj === 'string' ? { msg: obj } : msg !== undefined ? { msg } : {}) })
  }
  const logger = {
    level: 'trace',
    trace: line('trace'),
    debug: line('debug'),
    info: line('info'),
    warn: line('warn'),
    error: line('error'),
    fatal: line('fatal'),
    silent: () => {},
    child: (more: Record<string, unknown>) => forwardingLogger({ ...bindings, ...more })
  }
  return logger as unknown as FastifyBaseLogger
}

const deps = JSON.parse(process.argv[2]!) as Omit<SeederDeps, 'log' | 'peerKeySeed'>
const seed = process.env.TRICKLE_SEEDER_PEER_KEY_SEED
delete process.env.TRICKLE_SEEDER_PEER_KEY_SEED
const seeder: SeederService = createSeeder({ ...deps, log: forwardingLogger({}), ...(seed ? { peerKeySeed: new Uint8Array(Buffer.from(seed, 'base64url')) } : {}) })
const state = () => ({ seeds: seeder.list(), port: seeder.port() })

process.on('message', (call: SeederCall) => {
  void (async () => {
    try {
      const result = await (seeder[call.method] as (...args: unknown[]) => unknown)(...call.args)
      send({ kind: 'reply', id: call.id, result, state: state() })
    } catch (err) {
      send({ kind: 'reply', id: call.id, error: (err as Error).message ?? String(err), state: state() })
    }
  })()
})

// Peers and bytes uploaded change without a call: the companion's list() reads this copy.
const ticker = setInterval(() => { send({ kind: 'state', state: state() }) }, 1000)
send({ kind: 'state', state: state() })
// Ctrl+C in a terminal, and a service manager stopping the companion's control group, signal every
// process at once: the companion decides when its seeder stops (by closing the channel, below), so a
// signal alone must not end the seeder first, which the supervisor would take for a crash and restart.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => {})
// The companion closed the channel (it is stopping, or it died): stop seeding and leave.
process.on('disconnect', () => {
  clearInterval(ticker)
  void seeder.close().finally(() => process.exit(0))
})
