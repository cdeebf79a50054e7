// The store contract (types.ts) on PostgreSQL, for deployments of several companions on one database.
// Every money-moving step is one transaction that locks the rows it reads (SELECT … FOR UPDATE, after
// an INSERT … ON CONFLICT DO NOTHING where the row may not exist yet), so any number of instances
// crediting and spending at once never lose or double an amount: two spends of one balance wait for
// each other, not read the same value. Amounts are NUMERIC(40, 0), read back as decimal text into
// bigint. The schema is created on open (CREATE … IF NOT EXISTS); `schema` puts the tables in a schema
// of their own (tests use one each).
//
// The feature stores (tracker, pull payments, Open Payments) keep their tables in the same schema
// (postgres-features.ts), created here too.
import pg from 'pg'
import { redactDatabaseUrl } from './database-url.ts'
import { inPgTransaction } from './pg-transaction.ts'
import { migrateFeatures } from './postgres-features.ts'
import type {
  CreditIncomingPaymentResult, CreditReceiptInput, CreditReceiptResult, GrantResult, NonceRecord, ProxyRecord, SpendResult, Store, WalletAccount
} from './types.ts'

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS accounts (name TEXT PRIMARY KEY, created_at BIGINT NOT NULL, received NUMERIC(40, 0) NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS proxies (id TEXT PRIMARY KEY, payment_pointer TEXT NOT NULL, spsp_endpoint TEXT NOT NULL, created_at BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS nonces (
  seq BIGSERIAL PRIMARY KEY, nonce TEXT NOT NULL UNIQUE, proxy_id TEXT NOT NULL, spsp_endpoint TEXT NOT NULL, issued_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS nonces_issued_at ON nonces (issued_at);
CREATE TABLE IF NOT EXISTS nonce_marks (seq BIGINT NOT NULL, stream_id BIGINT NOT NULL, total NUMERIC(40, 0) NOT NULL, PRIMARY KEY (seq, stream_id));
CREATE TABLE IF NOT EXISTS receipt_marks (nonce TEXT NOT NULL, stream_id BIGINT NOT NULL, total NUMERIC(40, 0) NOT NULL, PRIMARY KEY (nonce, stream_id));
CREATE TABLE IF NOT EXISTS balances (
  id TEXT NOT NULL, receiver TEXT NOT NULL, amount NUMERIC(40, 0) NOT NULL, updated_at BIGINT NOT NULL, PRIMARY KEY (id, receiver)
);
CREATE TABLE IF NOT EXISTS incoming_payment_credits (
  incoming_payment TEXT PRIMARY KEY, balance_id TEXT NOT NULL, receiver TEXT NOT NULL, credited NUMERIC(40, 0) NOT NULL, updated_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS grants (balance_id TEXT NOT NULL, grant_key TEXT NOT NULL, expires_at BIGINT NOT NULL, PRIMARY KEY (balance_id, grant_key));
`

export interface PostgresStoreOptions {
  /** postgres://user@host:port/database */
  url: string
  /** Tables in this schema (created if missing) instead of the connection's default */
  schema?: string
  /** Pooled connections (default 10) */
  maxConnections?: number
}

export interface PostgresStore extends Store {
  /** The pool the feature stores share (postgres-features.ts) */
  readonly pool: pg.Pool
  /** Drops the schema and everything in it (tests). */
  dropSchema (): Promise<void>
}


type Client = pg.PoolClient

export async function openPostgresStore (opts: PostgresStoreOptions): Promise<PostgresStore> {
  if (opts.schema !== undefined && !/^[a-z_][a-z0-9_]{0,62}$/.test(opts.schema)) throw new Error(`schema "${opts.schema}" must be a lower-case SQL identifier`)
  const schema = opts.schema
  const pool = new pg.Pool({ connectionString: opts.url, max: opts.maxConnections ?? 10, ...(schema ? { options: `-c search_path=${schema}` } : {}) })
  // A connection that breaks while idle must not end the process (the pool makes a new one).
  pool.on('error', () => {})
  {
    let c: pg.PoolClient
    try {
      c = await pool.connect()
    } catch (err) {
      await pool.end().catch(() => {})
      throw new StoreOpenError(`could not connect to PostgreSQL at ${redactDatabaseUrl(opts.url)}: ${(err as Error).message || (err as { code?: string }).code}`)
    }
    try {
      // One instance migrates at a time: the others wait on the lock, then find the tables there.
      await c.query('SELECT pg_advisory_lock(hashtext($1))', [`trickle-migrate:${schema ?? ''}`])
      if (schema) await c.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`)
      await c.query(SCHEMA)
      await migrateFeatures(c)
      await c.query('SELECT pg_advisory_unlock(hashtext($1))', [`trickle-migrate:${schema ?? ''}`])
    } finally {
      c.release()
    }
  }

  const tx = <T>(fn: (c: Client) => Promise<T>) => inPgTransaction(pool, fn)
  const one = async <R extends pg.QueryResultRow>(c: Client | pg.Pool, sql: string, params: unknown[]): Promise<R | undefined> => (await c.query<R>(sql, params)).rows[0]
  /** The balance row, locked until the transaction ends; created at 0 first when `create`. */
  async function lockBalance (c: Client, id: string, receiver: string, now: number, create: boolean): Promise<bigint | undefined> {
    if (create) await c.query('INSERT INTO balances (id, receiver, amount, updated_at) VALUES ($1, $2, 0, $3) ON CONFLICT DO NOTHING', [id, receiver, now])
    const row = await one<{ amount: string }>(c, 'SELECT amount FROM balances WHERE id = $1 AND receiver = $2 FOR UPDATE', [id, receiver])
    return row === undefined ? undefined : BigInt(row.amount)
  }
  const setBalance = (c: Client, id: string, receiver: string, amount: bigint, now: number) =>
    c.query('UPDATE balances SET amount = $3, updated_at = $4 WHERE id = $1 AND receiver = $2', [id, receiver, amount.toString(), now])

  const toAccount = (r: { name: string, created_at: string, received: string }): WalletAccount => ({ name: r.name, createdAt: Number(r.created_at), received: BigInt(r.received) })
  const toProxy = (r: { id: string, payment_pointer: string, spsp_endpoint: string, created_at: string }): ProxyRecord => ({ id: r.id, paymentPointer: r.payment_pointer, spspEndpoint: r.spsp_endpoint, createdAt: Number(r.created_at) })
  const toNonce = (r: { nonce: string, proxy_id: string, spsp_endpoint: string, issued_at: string }): NonceRecord => ({ nonce: r.nonce, proxyId: r.proxy_id, spspEndpoint: r.spsp_endpoint, issuedAt: Number(r.issued_at) })
  let closed = false

  return {
    kind: 'postgres',
    pool,

    async metaGetOrSet (key, value) {
      await pool.query('INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT DO NOTHING', [key, value])
      return (await one<{ value: string }>(pool, 'SELECT value FROM meta WHERE key = $1', [key]))!.value
    },

    async createAccount (name, now) {
      const created = (await pool.query('INSERT INTO accounts (name, created_at, received) VALUES ($1, $2, 0) ON CONFLICT DO NOTHING', [name, now])).rowCount === 1
      return { created, account: toAccount((await one(pool, 'SELECT name, created_at, received FROM accounts WHERE name = $1', [name]))!) }
    },
    async getAccount (name) {
      const row = await one<{ name: string, created_at: string, received: string }>(pool, 'SELECT name, created_at, received FROM accounts WHERE name = $1', [name])
      return row && toAccount(row)
    },
    async listAccounts () {
      return (await pool.query<{ name: string, created_at: string, received: string }>('SELECT name, created_at, received FROM accounts ORDER BY name')).rows.map(toAccount)
    },
    async addReceived (name, amount) {
      // One statement: concurrent additions each add their own amount.
      const row = await one<{ received: string }>(pool, 'UPDATE accounts SET received = received + $2 WHERE name = $1 RETURNING received', [name, amount.toString()])
      if (!row) throw new Error(`unknown wallet account ${name}`)
      return BigInt(row.received)
    },

    async putProxy (record) {
      const created = (await pool.query('INSERT INTO proxies (id, payment_pointer, spsp_endpoint, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING', [record.id, record.paymentPointer, record.spspEndpoint, record.createdAt])).rowCount === 1
      return { created, proxy: toProxy((await one(pool, 'SELECT id, payment_pointer, spsp_endpoint, created_at FROM proxies WHERE id = $1', [record.id]))!) }
    },
    async getProxy (id) {
      const row = await one<{ id: string, payment_pointer: string, spsp_endpoint: string, created_at: string }>(pool, 'SELECT id, payment_pointer, spsp_endpoint, created_at FROM proxies WHERE id = $1', [id])
      return row && toProxy(row)
    },
    async listProxies () {
      return (await pool.query<{ id: string, payment_pointer: string, spsp_endpoint: string, created_at: string }>('SELECT id, payment_pointer, spsp_endpoint, created_at FROM proxies ORDER BY created_at, id')).rows.map(toProxy)
    },
    async deleteProxy (id) {
      return (await pool.query('DELETE FROM proxies WHERE id = $1', [id])).rowCount === 1
    },

    async putNonce (r) {
      await pool.query('INSERT INTO nonces (nonce, proxy_id, spsp_endpoint, issued_at) VALUES ($1, $2, $3, $4)', [r.nonce, r.proxyId, r.spspEndpoint, r.issuedAt])
    },
    async getNonce (nonce) {
      const row = await one<{ nonce: string, proxy_id: string, spsp_endpoint: string, issued_at: string }>(pool, 'SELECT nonce, proxy_id, spsp_endpoint, issued_at FROM nonces WHERE nonce = $1', [nonce])
      return row && toNonce(row)
    },
    async purgeNonces (issuedBefore) {
      return tx(async (c) => {
        await c.query('DELETE FROM nonce_marks WHERE seq IN (SELECT seq FROM nonces WHERE issued_at < $1)', [issuedBefore])
        return (await c.query('DELETE FROM nonces WHERE issued_at < $1', [issuedBefore])).rowCount ?? 0
      })
    },

    async creditReceipt (input: CreditReceiptInput): Promise<CreditReceiptResult> {
      return tx(async (c): Promise<CreditReceiptResult> => {
        const row = await one<{ seq: string, nonce: string, proxy_id: string, spsp_endpoint: string, issued_at: string }>(c, 'SELECT seq, nonce, proxy_id, spsp_endpoint, issued_at FROM nonces WHERE nonce = $1', [input.nonce])
        let nonce: NonceRecord | undefined
        if (input.nonceIssuedAfter !== undefined) {
          if (!row) return { kind: 'unknown_nonce' }
          nonce = toNonce(row)
          if (nonce.issuedAt < input.nonceIssuedAfter) return { kind: 'expired_nonce' }
        }
        // The mark is locked for the rest of the transaction: two credits of one receipt serialise.
        const [table, key] = row ? ['nonce_marks', 'seq'] : ['receipt_marks', 'nonce']
        const keyValue = row ? row.seq : input.nonce
        await c.query(`INSERT INTO ${table} (${key}, stream_id, total) VALUES ($1, $2, 0) ON CONFLICT DO NOTHING`, [keyValue, input.streamId])
        const mark = await one<{ total: string }>(c, `SELECT total FROM ${table} WHERE ${key} = $1 AND stream_id = $2 FOR UPDATE`, [keyValue, input.streamId])
        const previous = BigInt(mark!.total)
        if (input.totalReceived <= previous) return { kind: 'not_newer', previous }
        const amount = input.totalReceived - previous
        const receiver = row ? row.proxy_id : ''
        let balance = 0n
        if (input.balanceId !== undefined) {
          const now = Date.now()
          balance = (await lockBalance(c, input.balanceId, receiver, now, true))! + amount
          if (balance > input.maxBalance) throw new Overflow(balance - amount)
          await setBalance(c, input.balanceId, receiver, balance, now)
        }
        await c.query(`UPDATE ${table} SET total = $3 WHERE ${key} = $1 AND stream_id = $2`, [keyValue, input.streamId, input.totalReceived.toString()])
        return nonce ? { kind: 'credited', amount, balance, receiver, nonce } : { kind: 'credited', amount, balance, receiver }
      }).catch((err: unknown) => { if (err instanceof Overflow) return { kind: 'balance_overflow' as const, balance: err.balance }; throw err })
    },
    async spend (balanceId, amount, receiver = ''): Promise<SpendResult> {
      return tx(async (c): Promise<SpendResult> => {
        const balance = await lockBalance(c, balanceId, receiver, Date.now(), false)
        if (balance === undefined) return { kind: 'unknown_balance' }
        if (balance < amount) return { kind: 'insufficient', balance }
        const left = balance - amount
        await setBalance(c, balanceId, receiver, left, Date.now())
        return { kind: 'spent', balance: left }
      })
    },
    async creditIncomingPayment (input): Promise<CreditIncomingPaymentResult> {
      return tx(async (c): Promise<CreditIncomingPaymentResult> => {
        // The first balance to claim a payment keeps it; its row is locked while this credit runs.
        await c.query('INSERT INTO incoming_payment_credits (incoming_payment, balance_id, receiver, credited, updated_at) VALUES ($1, $2, $3, 0, $4) ON CONFLICT DO NOTHING', [input.incomingPayment, input.balanceId, input.receiver, input.now])
        const row = (await one<{ balance_id: string, receiver: string, credited: string }>(c, 'SELECT balance_id, receiver, credited FROM incoming_payment_credits WHERE incoming_payment = $1 FOR UPDATE', [input.incomingPayment]))!
        if (row.balance_id !== input.balanceId || row.receiver !== input.receiver) return { kind: 'claimed' }
        const before = BigInt(row.credited)
        const balanceBefore = (await lockBalance(c, input.balanceId, input.receiver, input.now, true))!
        // receivedAmount only grows; a smaller reading (a stale read) credits nothing.
        const amount = input.received > before ? input.received - before : 0n
        if (balanceBefore + amount > input.maxBalance) throw new Overflow(balanceBefore)
        await c.query('UPDATE incoming_payment_credits SET credited = $2, updated_at = $3 WHERE incoming_payment = $1', [input.incomingPayment, (before + amount).toString(), input.now])
        await setBalance(c, input.balanceId, input.receiver, balanceBefore + amount, input.now)
        return { kind: 'credited', amount, balance: balanceBefore + amount, credited: before + amount }
      }).catch((err: unknown) => { if (err instanceof Overflow) return { kind: 'balance_overflow' as const, balance: err.balance }; throw err })
    },
    async getBalance (balanceId, receiver) {
      if (receiver !== undefined) {
        const row = await one<{ amount: string }>(pool, 'SELECT amount FROM balances WHERE id = $1 AND receiver = $2', [balanceId, receiver])
        return row === undefined ? undefined : BigInt(row.amount)
      }
      const row = await one<{ n: string, total: string | null }>(pool, 'SELECT count(*) AS n, sum(amount)::text AS total FROM balances WHERE id = $1', [balanceId])
      return row && Number(row.n) > 0 ? BigInt(row.total ?? '0') : undefined
    },
    async listBalances (balanceId) {
      return (await pool.query<{ receiver: string, amount: string }>('SELECT receiver, amount FROM balances WHERE id = $1 ORDER BY receiver', [balanceId])).rows.map((r) => ({ receiver: r.receiver, amount: BigInt(r.amount) }))
    },
    async spendForGrant (input): Promise<GrantResult> {
      return tx(async (c): Promise<GrantResult> => {
        // The grant row is locked (made at 0 if new), so two requests of one purchase charge once.
        await c.query('INSERT INTO grants (balance_id, grant_key, expires_at) VALUES ($1, $2, 0) ON CONFLICT DO NOTHING', [input.balanceId, input.grantKey])
        const grantEnds = Number((await one<{ expires_at: string }>(c, 'SELECT expires_at FROM grants WHERE balance_id = $1 AND grant_key = $2 FOR UPDATE', [input.balanceId, input.grantKey]))!.expires_at)
        const balance = await lockBalance(c, input.balanceId, input.receiver, input.now, false)
        if (grantEnds > input.now) return { kind: 'granted', charged: 0n, balance: balance ?? 0n, expiresAt: grantEnds }
        if (balance === undefined) return { kind: 'unknown_balance' }
        if (balance < input.amount) return { kind: 'insufficient', balance }
        const left = balance - input.amount
        await setBalance(c, input.balanceId, input.receiver, left, input.now)
        await c.query('UPDATE grants SET expires_at = $3 WHERE balance_id = $1 AND grant_key = $2', [input.balanceId, input.grantKey, input.expiresAt])
        return { kind: 'granted', charged: input.amount, balance: left, expiresAt: input.expiresAt }
      })
    },

    async exclusive (job, fn, opts = {}) {
      // A session-level advisory lock, held on one connection while `fn` runs: another instance's
      // try finds it taken and skips this turn. With `everyMs`, the last run's start (in meta) makes
      // the other instances' timers skip until the interval has passed: once per deployment.
      const c = await pool.connect()
      const key = `trickle-job:${schema ?? ''}:${job}`
      try {
        const got = (await c.query<{ ok: boolean }>('SELECT pg_try_advisory_lock(hashtext($1)) AS ok', [key])).rows[0]!.ok
        if (!got) return undefined
        try {
          if (opts.everyMs !== undefined) {
            const t = opts.now ?? Date.now()
            const last = Number((await one<{ value: string }>(c, 'SELECT value FROM meta WHERE key = $1', [`job-ran:${job}`]))?.value ?? 0)
            if (t - last < opts.everyMs) return undefined
            await c.query('INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value', [`job-ran:${job}`, String(t)])
          }
          return await fn()
        } finally { await c.query('SELECT pg_advisory_unlock(hashtext($1))', [key]) }
      } finally {
        c.release()
      }
    },

    async dropSchema () {
      if (schema) await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
    },
    async close () {
      if (closed) return
      closed = true
      await pool.end()
    }
  }
}

/** A credit that would take a balance past its maximum: rolls the transaction back, then becomes a result. */
class Overflow extends Error {
  readonly balance: bigint
  constructor (balance: bigint) {
    super('balance overflow')
    this.balance = balance
  }
}

/** The database could not be opened: the message says which and why (no stack needed). */
export class StoreOpenError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'StoreOpenError'
  }
}
