// build(t): a companion on free ports with an in-memory store (or a given file), closed after the test.
import { createServer } from 'node:net'
import type { TestContext } from 'node:test'
import type { FastifyInstance } from 'fastify'
import { buildApp, type BuildOptions } from '../src/app.ts'
import { loadConfig } from '../src/config.ts'
import { encodeReceipt, receiptSecret } from '../src/receipts/codec.ts'
import { randomBytes } from 'node:crypto'

export const ADMIN = 'test-admin-token'
export const SPEND = 'test-spend-token'
export const adminAuth = { authorization: `Bearer ${ADMIN}` }
export const spendAuth = { authorization: `Bearer ${SPEND}` }

/** Ports handed out lately: the kernel may give a just-closed port to the next bind(0) again. */
const handedOut = new Set<number>()

export async function freePort (): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const srv = createServer()
      srv.once('error', reject)
      srv.listen(0, '127.0.0.1', () => {
        const { port } = srv.address() as { port: number }
        srv.close(() => resolve(port))
      })
    })
    if (handedOut.has(port)) continue
    handedOut.add(port)
    if (handedOut.size > 1000) handedOut.delete(handedOut.values().next().value!)
    return port
  }
}

export interface Built {
  app: FastifyInstance
  url: string
  btpPort: number
}

/**
 * TRICKLE_TEST_DATABASE=postgres runs every companion a test builds on PostgreSQL
 * (TRICKLE_TEST_POSTGRES, default the machine's), each in a schema of its own, dropped after.
 */
const POSTGRES = process.env.TRICKLE_TEST_POSTGRES ?? 'postgres://root@127.0.0.1:5432/test'
const onPostgres = process.env.TRICKLE_TEST_DATABASE === 'postgres'

async function dropSchema (schema: string) {
  const { default: pg } = await import('pg')
  const client = new pg.Client({ connectionString: POSTGRES })
  await client.connect()
  try { await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`) } finally { await client.end() }
}

/** Builds and (unless listen is false) starts a companion; env overrides any setting. */
export async function build (t: TestContext | undefined, env: Record<string, string> = {}, opts: BuildOptions & { listen?: boolean } = {}): Promise<Built> {
  const port = await freePort()
  const btpPort = await freePort()
  const schema = `trickle_t_${randomBytes(6).toString('hex')}`
  const config = loadConfig({
    PORT: String(port),
    TRICKLE_PUBLIC_URL: `http://127.0.0.1:${port}`,
    TRICKLE_BTP_PORT: String(btpPort),
    TRICKLE_DATABASE: onPostgres ? `${POSTGRES}?schema=${schema}` : ':memory:',
    TRICKLE_ADMIN_TOKEN: ADMIN,
    TRICKLE_SPEND_TOKEN: SPEND,
    TRICKLE_DEMO_ACCOUNT: 'demo',
    LOG_FORMAT: 'json',
    ...env
  })
  const app = await buildApp(config, { logger: opts.logger ?? false, now: opts.now })
  t?.after(async () => {
    await app.close()
    if (onPostgres && !env.TRICKLE_DATABASE) await dropSchema(schema)
  })
  if (opts.listen !== false) await app.listen({ host: '127.0.0.1', port })
  return { app, url: `http://127.0.0.1:${port}`, btpPort }
}

/**
 * Issues a nonce the way a proxy SPSP query does (stored, with the secret from the app's seed) and
 * returns a function that signs receipts for it, as the receiver would.
 */
export async function issueNonce (app: FastifyInstance, issuedAt = Date.now()) {
  const nonce = randomBytes(16)
  await app.store.putNonce({ nonce: nonce.toString('base64'), proxyId: 'test', spspEndpoint: 'http://receiver.test/spsp', issuedAt })
  const secret = receiptSecret(app.secrets.receiptKey, nonce)
  return {
    nonce,
    secret,
    receipt: (totalReceived: bigint | number, streamId = 1) =>
      encodeReceipt({ nonce, streamId, totalReceived: BigInt(totalReceived), secret }).toString('base64')
  }
}

/**
 * Wallet accounts and proxy pointers for the example site's creators, as `npm start` makes them, as
 * TOML lines of [params.creators] (`    alice = "http://…/p/…"`).
 */
export async function creatorLines (app: FastifyInstance, names = ['alice', 'bob', 'carol']): Promise<string[]> {
  const lines: string[] = []
  for (const name of names) {
    const proxy = await app.verifier.registerProxy((await app.wallet.ensureAccount(name)).paymentPointer)
    if (typeof proxy === 'string') throw new Error(proxy)
    lines.push(`    ${name} = "${proxy.proxy.proxyPointer}"`)
  }
  return lines
}
