// A Trickle companion in its own process, as `node server/src/server.ts` runs it, on free loopback
// ports, with a SQLite file in a temporary folder (the default store, as a user runs it) and known
// tokens and receipt seed, so the bench can sign receipts for it offline.
import { randomBytes } from 'node:crypto'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { start, type Proc } from './proc.ts'
import { freePort, tempDir, waitUntil } from './util.ts'

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url))
/**
 * The checkout whose companion is measured: this one, or BENCH_TRICKLE_ROOT (e.g. an export of an
 * older commit with node_modules linked in) to get "before" figures for a change.
 */
export const trickleRoot = process.env.BENCH_TRICKLE_ROOT ?? repoRoot

export interface Companion {
  proc: Proc
  url: string
  port: number
  btpPort: number
  btpUrl: string
  admin: string
  spend: string
  /** RECEIPT_SEED (32 bytes) */
  seed: Buffer
  database: string
  dir: string
  auth: (which: 'admin' | 'spend') => Record<string, string>
}

export async function startCompanion (name: string, env: Record<string, string> = {}): Promise<Companion> {
  const port = await freePort()
  const btpPort = await freePort()
  const dir = tempDir(name)
  const seed = randomBytes(32)
  const admin = randomBytes(18).toString('base64url')
  const spend = randomBytes(18).toString('base64url')
  const database = path.join(dir, 'trickle.sqlite')
  const url = `http://127.0.0.1:${port}`
  const proc = start({
    name,
    script: path.join(trickleRoot, 'server/src/server.ts'),
    cwd: dir,
    env: {
      HOST: '127.0.0.1',
      PORT: String(port),
      TRICKLE_PUBLIC_URL: url,
      TRICKLE_BTP_HOST: '127.0.0.1',
      TRICKLE_BTP_PORT: String(btpPort),
      TRICKLE_DATABASE: database,
      TRICKLE_ADMIN_TOKEN: admin,
      TRICKLE_SPEND_TOKEN: spend,
      RECEIPT_SEED: seed.toString('base64'),
      // The load runs longer than the default 300 s TTL allows for nonces issued before it.
      RECEIPT_TTL: '3600',
      TRICKLE_SEED_WEBRTC: 'false',
      // As a server logs in production: JSON lines at the default level (info), here into a file.
      LOG_FORMAT: 'json',
      // Every load generator here is one address (127.0.0.1), where a real companion sees thousands:
      // the per-address limits stay on, and so cost what they cost, but high enough never to bite.
      TRICKLE_RATE_LIMIT: '100000000',
      TRICKLE_SPSP_RATE_LIMIT_PER_ADDRESS: '100000000',
      TRICKLE_SPSP_RATE_LIMIT_PER_PROXY: '100000000',
      TRICKLE_TRACKER_MAX_CONNECTIONS_PER_ADDRESS: '10000000',
      ...env,
      // BENCH_PROFILE_DIR=./bench-profiles: a V8 CPU profile of each companion, written when it stops
      // (with any NODE_OPTIONS the caller gives, e.g. the memory measurement's --inspect).
      ...(process.env.BENCH_PROFILE_DIR ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${process.env.BENCH_PROFILE_DIR} ${env.NODE_OPTIONS ?? ''}`.trim() } : {})
    }
  })
  await waitUntil(`${name} to answer /health`, async () => {
    if (proc.exitCode !== undefined) throw new Error(`${name} exited (${proc.exitCode}) while starting:\n${proc.tail()}`)
    try {
      const res = await fetch(`${url}/health`)
      return res.ok
    } catch {
      return false
    }
  }, 60_000, 200)
  return {
    proc, url, port, btpPort, btpUrl: `btp+ws://127.0.0.1:${btpPort}`, admin, spend, seed, database, dir,
    auth: (which) => ({ authorization: `Bearer ${which === 'admin' ? admin : spend}` })
  }
}

/** The demo account's proxy pointer and wallet pointer, as `npm start` prints them. */
export async function demoPointers (c: Companion): Promise<{ proxyId: string, proxyPointer: string, walletPointer: string }> {
  const res = await fetch(`${c.url}/proxies`, { headers: c.auth('admin') })
  const list = await res.json() as Array<{ id: string, proxyPointer: string, spspEndpoint: string }>
  const demo = list.find((p) => p.spspEndpoint.endsWith('/wallet/demo'))
  if (!demo) throw new Error('the companion registered no demo proxy pointer')
  return { proxyId: demo.id, proxyPointer: demo.proxyPointer, walletPointer: demo.spspEndpoint }
}
