// Storage of pull agreements and their webhook outbox, in the companion's SQLite file (app.sqlite).
// The interface is small and async so a PostgreSQL or Redis store can implement it; every method that
// moves money or claims work is one atomic step (BEGIN IMMEDIATE … COMMIT here: node:sqlite is
// synchronous, so a step never interleaves with another in this process, and the write lock
// serialises processes sharing the file). Amounts are decimal strings at rest, bigint in memory.
import type { DatabaseSync } from 'node:sqlite'
import { inTransaction } from '../store/sqlite.ts'

export interface PullAgreement {
  id: string
  /** The offline token this agreement was registered from; undefined when created online. */
  token?: string
  amount: bigint
  assetCode: string
  assetScale: number
  /** ISO 8601 duration, as agreed */
  interval: string
  cycles: number
  cap: boolean
  start: number
  expiry?: number
  webhook?: string
  createdAt: number
  updatedAt: number
  cancelledAt?: number
  /** Pulled since start, in the agreement's asset. */
  total: bigint
  /** Pulled during cycle `intervalCycle`. */
  intervalPulled: bigint
  intervalCycle: number
}

export interface WebhookDelivery {
  id: string
  agreementId: string
  url: string
  body: string
  /** Attempts made so far */
  attempts: number
  createdAt: number
}

export interface PullStore {
  /** Inserts unless the id exists; returns what is stored. */
  insert (agreement: PullAgreement): Promise<{ created: boolean, agreement: PullAgreement }>
  get (id: string): Promise<PullAgreement | undefined>
  list (): Promise<PullAgreement[]>
  /**
   * Atomic read-modify-write. `fn` sees the stored agreement and returns the new one, or an error
   * string that is returned as is (nothing written). Undefined when the id is unknown. `fn` must be
   * synchronous.
   */
  update<E extends string> (id: string, fn: (current: PullAgreement) => PullAgreement | E): Promise<PullAgreement | E | undefined>
  /**
   * Takes the agreement's send lease (RFC 0036: only one sendMax at a time) unless another holder has
   * it until after `now`. Wall-clock ms: a crashed holder's lease lapses on its own.
   */
  acquireLease (id: string, holder: string, now: number, until: number): Promise<PullAgreement | 'busy' | undefined>
  releaseLease (id: string, holder: string): Promise<void>
  /** Adds what was pulled (agreement asset) to the total and to `cycle`'s interval balance, atomically. */
  recordPulled (id: string, amount: bigint, cycle: number, now: number): Promise<PullAgreement | undefined>

  enqueueWebhook (delivery: WebhookDelivery, dueAt: number): Promise<void>
  /** Claims deliveries due at `now` until `claimUntil` (so no other worker takes them) and returns them. */
  claimDueWebhooks (now: number, claimUntil: number, limit: number): Promise<WebhookDelivery[]>
  /** When the next pending delivery is due, if any. */
  nextWebhookAt (): Promise<number | undefined>
  webhookDelivered (id: string): Promise<void>
  /** Records a failed attempt: retried at `nextAt`, or given up (kept, for inspection) when undefined. */
  webhookFailed (id: string, attempts: number, error: string, nextAt: number | undefined): Promise<void>
  /** Deliveries that were given up on, newest first. */
  failedWebhooks (agreementId?: string): Promise<Array<WebhookDelivery & { lastError: string }>>
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS pull_agreements (
  id TEXT PRIMARY KEY,
  token TEXT,
  amount TEXT NOT NULL,
  asset_code TEXT NOT NULL,
  asset_scale INTEGER NOT NULL,
  interval TEXT NOT NULL,
  cycles INTEGER NOT NULL,
  cap INTEGER NOT NULL,
  start_at INTEGER NOT NULL,
  expiry_at INTEGER,
  webhook TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  cancelled_at INTEGER,
  total TEXT NOT NULL DEFAULT '0',
  interval_pulled TEXT NOT NULL DEFAULT '0',
  interval_cycle INTEGER NOT NULL DEFAULT 0,
  lease_holder TEXT,
  lease_until INTEGER
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS pull_webhooks (
  id TEXT PRIMARY KEY,
  agreement_id TEXT NOT NULL,
  url TEXT NOT NULL,
  body TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  next_at INTEGER,
  last_error TEXT
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS pull_webhooks_next_at ON pull_webhooks (next_at);
`

interface Row { [key: string]: unknown }

export const COLUMNS = 'id, token, amount, asset_code, asset_scale, interval, cycles, cap, start_at, expiry_at, webhook, created_at, updated_at, cancelled_at, total, interval_pulled, interval_cycle'

export function toAgreement (r: Row): PullAgreement {
  const optional = (v: unknown) => (v === null || v === undefined ? undefined : v)
  const token = optional(r.token)
  const expiry = optional(r.expiry_at)
  const webhook = optional(r.webhook)
  const cancelledAt = optional(r.cancelled_at)
  return {
    id: String(r.id),
    ...(token === undefined ? {} : { token: String(token) }),
    amount: BigInt(String(r.amount)),
    assetCode: String(r.asset_code),
    assetScale: Number(r.asset_scale),
    interval: String(r.interval),
    cycles: Number(r.cycles),
    cap: Number(r.cap) === 1,
    start: Number(r.start_at),
    ...(expiry === undefined ? {} : { expiry: Number(expiry) }),
    ...(webhook === undefined ? {} : { webhook: String(webhook) }),
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
    ...(cancelledAt === undefined ? {} : { cancelledAt: Number(cancelledAt) }),
    total: BigInt(String(r.total)),
    intervalPulled: BigInt(String(r.interval_pulled)),
    intervalCycle: Number(r.interval_cycle)
  }
}

export const toDelivery = (r: Row): WebhookDelivery => ({
  id: String(r.id), agreementId: String(r.agreement_id), url: String(r.url), body: String(r.body), attempts: Number(r.attempts), createdAt: Number(r.created_at)
})

/** Creates the pull tables in `db` (if missing) and returns the store over them. */
export function openSqlitePullStore (db: DatabaseSync): PullStore {
  db.exec(SCHEMA)
  const values = (a: PullAgreement) => [
    a.id, a.token ?? null, a.amount.toString(), a.assetCode, a.assetScale, a.interval, a.cycles, a.cap ? 1 : 0, a.start,
    a.expiry ?? null, a.webhook ?? null, a.createdAt, a.updatedAt, a.cancelledAt ?? null, a.total.toString(),
    a.intervalPulled.toString(), a.intervalCycle
  ] as const
  const q = {
    insert: db.prepare(`INSERT OR IGNORE INTO pull_agreements (${COLUMNS}) VALUES (${COLUMNS.split(',').map(() => '?').join(', ')})`),
    get: db.prepare(`SELECT ${COLUMNS} FROM pull_agreements WHERE id = ?`),
    list: db.prepare(`SELECT ${COLUMNS} FROM pull_agreements ORDER BY created_at, id`),
    put: db.prepare(`UPDATE pull_agreements SET token = ?, amount = ?, asset_code = ?, asset_scale = ?, interval = ?, cycles = ?, cap = ?,
      start_at = ?, expiry_at = ?, webhook = ?, created_at = ?, updated_at = ?, cancelled_at = ?, total = ?, interval_pulled = ?,
      interval_cycle = ? WHERE id = ?`),
    lease: db.prepare('SELECT lease_holder, lease_until FROM pull_agreements WHERE id = ?'),
    setLease: db.prepare('UPDATE pull_agreements SET lease_holder = ?, lease_until = ? WHERE id = ?'),
    release: db.prepare('UPDATE pull_agreements SET lease_holder = NULL, lease_until = NULL WHERE id = ? AND lease_holder = ?'),
    webhookInsert: db.prepare('INSERT INTO pull_webhooks (id, agreement_id, url, body, attempts, created_at, next_at) VALUES (?, ?, ?, ?, ?, ?, ?)'),
    webhookDue: db.prepare('SELECT id, agreement_id, url, body, attempts, created_at FROM pull_webhooks WHERE next_at IS NOT NULL AND next_at <= ? ORDER BY next_at LIMIT ?'),
    webhookClaim: db.prepare('UPDATE pull_webhooks SET next_at = ? WHERE id = ?'),
    webhookNext: db.prepare('SELECT MIN(next_at) AS next_at FROM pull_webhooks WHERE next_at IS NOT NULL'),
    webhookDelete: db.prepare('DELETE FROM pull_webhooks WHERE id = ?'),
    webhookFail: db.prepare('UPDATE pull_webhooks SET attempts = ?, last_error = ?, next_at = ? WHERE id = ?'),
    webhookFailed: db.prepare('SELECT id, agreement_id, url, body, attempts, created_at, last_error FROM pull_webhooks WHERE next_at IS NULL ORDER BY created_at DESC'),
    webhookFailedOf: db.prepare('SELECT id, agreement_id, url, body, attempts, created_at, last_error FROM pull_webhooks WHERE next_at IS NULL AND agreement_id = ? ORDER BY created_at DESC')
  }

  const transaction = <T>(fn: () => T): T => inTransaction(db, fn)
  const read = (id: string) => {
    const row = q.get.get(id) as Row | undefined
    return row && toAgreement(row)
  }
  const write = (a: PullAgreement) => {
    const [id, ...rest] = values(a)
    q.put.run(...rest, id)
  }

  return {
    async insert (agreement) {
      return transaction(() => {
        const created = Number(q.insert.run(...values(agreement)).changes) === 1
        return { created, agreement: read(agreement.id)! }
      })
    },
    async get (id) {
      return read(id)
    },
    async list () {
      return (q.list.all() as Row[]).map(toAgreement)
    },
    async update (id, fn) {
      return transaction(() => {
        const current = read(id)
        if (!current) return undefined
        const next = fn(current)
        if (typeof next === 'string') return next
        write({ ...next, id })
        return read(id)!
      })
    },
    async acquireLease (id, holder, now, until) {
      return transaction(() => {
        const row = q.lease.get(id) as Row | undefined
        if (!row) return undefined
        if (row.lease_holder !== null && row.lease_holder !== holder && Number(row.lease_until) > now) return 'busy' as const
        q.setLease.run(holder, until, id)
        return read(id)!
      })
    },
    async releaseLease (id, holder) {
      q.release.run(id, holder)
    },
    async recordPulled (id, amount, cycle, now) {
      return transaction(() => {
        const a = read(id)
        if (!a) return undefined
        const next = { ...a, total: a.total + amount, updatedAt: now }
        // The interval balance belongs to one cycle: a pull in a later cycle starts it afresh.
        if (cycle > a.intervalCycle) Object.assign(next, { intervalCycle: cycle, intervalPulled: amount })
        else if (cycle === a.intervalCycle) next.intervalPulled = a.intervalPulled + amount
        write(next)
        return read(id)!
      })
    },

    async enqueueWebhook (d, dueAt) {
      q.webhookInsert.run(d.id, d.agreementId, d.url, d.body, d.attempts, d.createdAt, dueAt)
    },
    async claimDueWebhooks (now, claimUntil, limit) {
      return transaction(() => {
        const due = (q.webhookDue.all(now, limit) as Row[]).map(toDelivery)
        for (const d of due) q.webhookClaim.run(claimUntil, d.id)
        return due
      })
    },
    async nextWebhookAt () {
      const row = q.webhookNext.get() as Row | undefined
      return row?.next_at === null || row?.next_at === undefined ? undefined : Number(row.next_at)
    },
    async webhookDelivered (id) {
      q.webhookDelete.run(id)
    },
    async webhookFailed (id, attempts, error, nextAt) {
      q.webhookFail.run(attempts, error.slice(0, 500), nextAt ?? null, id)
    },
    async failedWebhooks (agreementId) {
      const rows = (agreementId === undefined ? q.webhookFailed.all() : q.webhookFailedOf.all(agreementId)) as Row[]
      return rows.map((r) => ({ ...toDelivery(r), lastError: String(r.last_error ?? '') }))
    }
  }
}
