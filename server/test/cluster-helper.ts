// Several companions on one PostgreSQL schema and one NATS bus, as a deployment runs them: built in
// this process (inject, app internals) by `cluster`, or as processes (kill -9) by `startCompanion`.
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import path from 'node:path'
import type { TestContext } from 'node:test'
import { fileURLToPath } from 'node:url'
import { openPostgresStore } from '../src/store/postgres.ts'
import { build, freePort, type Built } from './helper.ts'

export const POSTGRES = process.env.TRICKLE_TEST_POSTGRES ?? 'postgres://root@127.0.0.1:5432/test'
export const NATS = process.env.TRICKLE_TEST_NATS ?? 'nats://127.0.0.1:4222'
const server = path.join(path.dirname(fileURLToPath(import.meta.url)), '../src/server.ts')

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Polls `check` until it returns something truthy (or throws after `ms`). */
export async function eventually<T> (what: string, check: () => T | Promise<T>, ms = 10_000): Promise<NonNullable<T>> {
  const until = Date.now() + ms
  for (;;) {
    const v = await check()
    if (v) return v as NonNullable<T>
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`)
    await sleep(50)
  }
}

/** A schema of its own and a bus subject of its own, both gone after the test. */
export async function deployment (t: TestContext) {
  const id = randomBytes(5).toString('hex')
  const schema = `trickle_cluster_${id}`
  // The schema first, by one store, so the instances do not all create it at once.
  const store = await openPostgresStore({ url: POSTGRES, schema })
  t.after(async () => { await store.dropSchema(); await store.close() })
  return {
    store,
    env: {
      TRICKLE_DATABASE: `${POSTGRES}?schema=${schema}`,
      TRICKLE_BUS: NATS,
      TRICKLE_BUS_SUBJECT: `trickle-test-${id}`,
      RECEIPT_SEED: randomBytes(32).toString('base64')
    } as Record<string, string>
  }
}

/**
 * `n` companions in this process on one deployment. As behind a load balancer, all have one public
 * URL (the first one's: pointers, licenses and announce URLs name it), and each is asked directly.
 */
export async function cluster (t: TestContext, n: number, env: Record<string, string> = {}): Promise<Built[]> {
  const d = await deployment(t)
  const out: Built[] = []
  for (let i = 0; i < n; i++) out.push(await build(t, { ...d.env, ...(out[0] ? { TRICKLE_PUBLIC_URL: out[0].url } : {}), ...env }))
  // Each has heard of the others (they say hello on joining, and are alive every 2 s).
  await eventually('every instance to hear the others', () => out.every((b) => (b.app.tracker.federation?.peers().length ?? 0) >= n - 1), 10_000)
  return out
}

/** A companion process (server.ts, as `npm start` runs it); killed after the test. */
export async function startCompanion (t: TestContext, env: Record<string, string>, opts: { port?: number } = {}): Promise<{ child: ChildProcess, url: string, port: number, log: () => string }> {
  const port = opts.port ?? await freePort()
  const url = `http://127.0.0.1:${port}`
  let log = ''
  const child = spawn(process.execPath, [server], {
    env: { ...process.env, TRICKLE_PUBLIC_URL: url, LOG_LEVEL: 'warn', LOG_FORMAT: 'json', TRICKLE_RATE_LIMIT: '0', ...env, PORT: String(port), TRICKLE_BTP_PORT: String(await freePort()) },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  child.stdout!.on('data', (d: Buffer) => { log += d.toString() })
  child.stderr!.on('data', (d: Buffer) => { log += d.toString() })
  t.after(() => { child.kill('SIGKILL') })
  for (let i = 0; i < 300; i++) {
    try { if ((await fetch(`${url}/health`)).ok) return { child, url, port, log: () => log } } catch {}
    if (child.exitCode !== null) break
    await sleep(100)
  }
  child.kill('SIGKILL')
  throw new Error(`a companion did not start:\n${log}`)
}
