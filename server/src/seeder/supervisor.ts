// The seeder as the companion uses it: the same SeederService, with the WebTorrent client in a child
// process of its own (worker.ts says why). It starts with the first call, so a companion with nothing
// to seed starts none; if it dies, a new one starts at once and seeds again what was seeded.
import { fork, type ChildProcess } from 'node:child_process'
import type { FastifyBaseLogger } from 'fastify'
import { SeederError, type SeederDeps, type SeederFailure, type SeederService, type SeedRequest, type SeedView } from './service.ts'

export type WorkerLogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal'

type Method = 'checkFile' | 'seed' | 'stop' | 'renewProof' | 'close'
export interface SeederCall { id: number, method: Method, args: unknown[] }
interface SeederState { seeds: SeedView[], port: number }
export type SeederMessage =
  | { kind: 'reply', id: number, result?: unknown, error?: string, state: SeederState }
  | { kind: 'state', state: SeederState }
  | { kind: 'log', level: WorkerLogLevel, bindings: Record<string, unknown>, fields: Record<string, unknown>, msg?: string }

export function createSupervisedSeeder (deps: SeederDeps): SeederService {
  const log: FastifyBaseLogger = deps.log
  const { log: _log, peerKeySeed, ...childDeps } = deps
  let child: ChildProcess | undefined
  let nextId = 1
  const pending = new Map<number, { resolve: (v: unknown) => void, reject: (e: Error) => void }>()
  let state: SeederState = { seeds: [], port: 0 }
  // What was seeded, to seed again in a new process after a crash (its pieces were checked once).
  const seeded = new Map<string, SeedRequest>()
  let closed = false
  /** When the process exited lately (restarts are rationed). */
  let exits: number[] = []

  function start (): ChildProcess {
    // A process, not a worker thread: node-datachannel (WebRTC) enters V8 from its own threads and
    // aborts the process when a second isolate loads it ("Entering the V8 API without proper locking").
    // 'advanced' serialization carries the .torrent's Uint8Array as it is.
    const c = fork(new URL('./worker.ts', import.meta.url), [JSON.stringify(childDeps)], {
      serialization: 'advanced',
      // The peer key's seed is a secret: in the environment (readable by this user only), not in argv.
      env: { ...process.env, ...(peerKeySeed ? { TRICKLE_SEEDER_PEER_KEY_SEED: Buffer.from(peerKeySeed).toString('base64url') } : {}) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      execArgv: []
    })
    c.on('message', (m: SeederMessage) => {
      if (m.kind === 'log') {
        const target = Object.keys(m.bindings).length > 0 ? log.child(m.bindings) : log
        target[m.level](m.fields, m.msg)
        return
      }
      state = m.state
      if (m.kind === 'reply') {
        const call = pending.get(m.id)
        pending.delete(m.id)
        if (m.error !== undefined) call?.reject(new Error(m.error))
        else call?.resolve(m.result)
      }
    })
    c.on('error', (err) => { log.error({ err: err.message }, 'the seeder process failed') })
    c.on('exit', (code, signal) => {
      if (child === c) child = undefined
      state = { seeds: [], port: 0 }
      for (const call of pending.values()) call.reject(new Error(`the seeder process exited (${signal ?? `code ${code}`})`))
      pending.clear()
      if (closed || seeded.size === 0) return
      // A process that dies as it starts (a broken install, a file that crashes WebTorrent) must not be
      // restarted in a tight loop: wait a second each time, and after five deaths in a minute half a
      // minute. It is never given up for good: a peer able to crash it would otherwise stop all seeding.
      const now = Date.now()
      exits = [...exits.filter((t) => t > now - 60_000), now]
      const delay = exits.length >= 5 ? 30_000 : 1000
      log.error({ code, signal, seeds: seeded.size, restartInMs: delay }, exits.length >= 5 ? 'the seeder process keeps exiting; starting it again in 30 s' : 'the seeder process exited; seeding again in a new one')
      setTimeout(() => {
        if (closed || child) return
        for (const request of seeded.values()) {
          void seed(request).then((r) => { if ('error' in r) log.error({ error: r.error, detail: r.message }, 'could not seed again') })
        }
      }, delay).unref()
    })
    return c
  }

  function call<T> (method: Method, ...args: unknown[]): Promise<T> {
    if (closed) return Promise.reject(new Error('the seeder is closed'))
    child ??= start()
    const id = nextId++
    const target = child
    return new Promise<T>((resolve, reject) => {
      pending.set(id, { resolve: resolve as (v: unknown) => void, reject })
      target.send({ id, method, args } satisfies SeederCall)
    })
  }

  const failed = (err: unknown): SeederFailure => ({ error: SeederError.ClientFailed, message: `the seeder could not do it: ${(err as Error).message}` })

  async function seed (request: SeedRequest): Promise<SeedView | SeederFailure> {
    const result = await call<SeedView | SeederFailure>('seed', request).catch(failed)
    if (!('error' in result)) seeded.set(result.infoHash, { ...request, verified: true })
    return result
  }

  return {
    checkFile: (file, torrent) => call<SeederFailure | undefined>('checkFile', file, torrent).catch(failed),
    seed,
    async renewProof (infoHash, proof) {
      const request = seeded.get(infoHash)
      if (request) seeded.set(infoHash, { ...request, proof })
      if (!child) return false
      return call<boolean>('renewProof', infoHash, proof).catch(() => false)
    },
    async stop (infoHash) {
      seeded.delete(infoHash)
      if (!child) return false
      return call<boolean>('stop', infoHash).catch(() => false)
    },
    list: () => state.seeds,
    port: () => state.port,
    async close () {
      if (!child) { closed = true; return }
      await call('close').catch(() => undefined)
      closed = true
      const c = child
      child = undefined
      if (c && c.exitCode === null && c.signalCode === null) {
        const exited = new Promise((resolve) => c.once('exit', resolve))
        // It leaves when its channel closes; one that hangs is killed.
        c.disconnect()
        const timer = setTimeout(() => c.kill('SIGKILL'), 5000)
        await exited
        clearTimeout(timer)
      }
    }
  }
}
