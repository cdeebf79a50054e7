// The feature stores (tracker registrations, pull agreements and their webhook outbox, the embedded
// wallet's Open Payments state) on PostgreSQL, beside the core store (postgres.ts) in the same schema.
// The same interfaces as their SQLite versions, and the same row shapes (their row mappers are
// reused); read-modify-write steps lock the row they change (SELECT … FOR UPDATE), and the webhook
// outbox is claimed with FOR UPDATE SKIP LOCKED, so several companions never deliver one twice.
import { POSTGRES_SCHEMA as CALLS_SCHEMA } from '../calls/store.ts'
import type pg from 'pg'
import { inPgTransaction } from './pg-transaction.ts'
import { tokenHash, toGrant, toPayment as toIncomingPayment, toToken, type OpenPaymentsStore, type ReceiveResult } from '../open-payments/store.ts'
import { COLUMNS, toAgreement, toDelivery, type PullAgreement, type PullStore } from '../pull/store.ts'
import { toPayment as toTorrentPayment, toTorrent, type TrackerStore } from '../tracker/store.ts'

const SCHEMA = `
CREATE TABLE IF NOT EXISTS tracker_torrents (
  info_hash TEXT PRIMARY KEY, name TEXT NOT NULL, length BIGINT NOT NULL, torrent BYTEA NOT NULL,
  license TEXT, spend_amount TEXT, seed_path TEXT, created_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS tracker_payments (
  balance_id TEXT NOT NULL, info_hash TEXT NOT NULL, amount TEXT NOT NULL, paid_at BIGINT NOT NULL, PRIMARY KEY (balance_id, info_hash)
);
CREATE TABLE IF NOT EXISTS pull_agreements (
  id TEXT PRIMARY KEY, token TEXT, amount TEXT NOT NULL, asset_code TEXT NOT NULL, asset_scale INTEGER NOT NULL, interval TEXT NOT NULL,
  cycles INTEGER NOT NULL, cap INTEGER NOT NULL, start_at BIGINT NOT NULL, expiry_at BIGINT, webhook TEXT, created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL, cancelled_at BIGINT, total TEXT NOT NULL DEFAULT '0', interval_pulled TEXT NOT NULL DEFAULT '0',
  interval_cycle INTEGER NOT NULL DEFAULT 0, lease_holder TEXT, lease_until BIGINT
);
CREATE TABLE IF NOT EXISTS pull_webhooks (
  id TEXT PRIMARY KEY, agreement_id TEXT NOT NULL, url TEXT NOT NULL, body TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL, next_at BIGINT, last_error TEXT
);
CREATE INDEX IF NOT EXISTS pull_webhooks_next_at ON pull_webhooks (next_at);
CREATE TABLE IF NOT EXISTS op_client_keys (account TEXT NOT NULL, kid TEXT NOT NULL, jwk TEXT NOT NULL, created_at BIGINT NOT NULL, PRIMARY KEY (account, kid));
CREATE TABLE IF NOT EXISTS op_grants (
  id TEXT PRIMARY KEY, client TEXT NOT NULL, client_jwk TEXT, access TEXT NOT NULL, continue_token TEXT NOT NULL, created_at BIGINT NOT NULL, revoked_at BIGINT
);
CREATE TABLE IF NOT EXISTS op_tokens (manage_id TEXT PRIMARY KEY, token TEXT NOT NULL UNIQUE, grant_id TEXT NOT NULL, expires_at BIGINT NOT NULL, revoked_at BIGINT);
CREATE INDEX IF NOT EXISTS op_tokens_grant ON op_tokens (grant_id);
CREATE TABLE IF NOT EXISTS op_incoming_payments (
  id TEXT PRIMARY KEY, account TEXT NOT NULL, client TEXT NOT NULL, incoming_amount TEXT, received TEXT NOT NULL, completed INTEGER NOT NULL DEFAULT 0,
  metadata TEXT, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL, expires_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS op_incoming_payments_account ON op_incoming_payments (account, created_at, id);
`

type Row = Record<string, unknown>
type Client = pg.PoolClient

/** Creates the feature tables (the caller holds the migration lock). */
export async function migrateFeatures (c: Client): Promise<void> {
  await c.query(SCHEMA)
  await c.query(CALLS_SCHEMA)
}

const tx = inPgTransaction
const first = async (c: pg.Pool | Client, sql: string, params: unknown[] = []): Promise<Row | undefined> => (await c.query(sql, params)).rows[0] as Row | undefined
const all = async (c: pg.Pool | Client, sql: string, params: unknown[] = []): Promise<Row[]> => (await c.query(sql, params)).rows as Row[]

export function postgresTrackerStore (pool: pg.Pool): TrackerStore {
  return {
    async putTorrent (t) {
      const created = (await pool.query('INSERT INTO tracker_torrents (info_hash, name, length, torrent, license, spend_amount, seed_path, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING',
        [t.infoHash, t.name, t.length, Buffer.from(t.torrent), t.license ? JSON.stringify(t.license) : null, t.spendAmount?.toString() ?? null, t.seedPath ?? null, t.createdAt])).rowCount === 1
      if (!created && t.seedPath !== undefined) await pool.query('UPDATE tracker_torrents SET seed_path = $1 WHERE info_hash = $2', [t.seedPath, t.infoHash])
      return { created, torrent: toTorrent((await first(pool, 'SELECT * FROM tracker_torrents WHERE info_hash = $1', [t.infoHash]))!) }
    },
    async getTorrent (infoHash) {
      const row = await first(pool, 'SELECT * FROM tracker_torrents WHERE info_hash = $1', [infoHash])
      return row && toTorrent(row)
    },
    async listTorrents () {
      return (await all(pool, 'SELECT * FROM tracker_torrents ORDER BY created_at, info_hash')).map(toTorrent)
    },
    async deleteTorrent (infoHash) {
      return (await pool.query('DELETE FROM tracker_torrents WHERE info_hash = $1', [infoHash])).rowCount === 1
    },
    async getPayment (balanceId, infoHash) {
      const row = await first(pool, 'SELECT * FROM tracker_payments WHERE balance_id = $1 AND info_hash = $2', [balanceId, infoHash])
      return row && toTorrentPayment(row)
    },
    async recordPayment (p) {
      return (await pool.query('INSERT INTO tracker_payments (balance_id, info_hash, amount, paid_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING', [p.balanceId, p.infoHash, p.amount.toString(), p.paidAt])).rowCount === 1
    }
  }
}

export function postgresPullStore (pool: pg.Pool): PullStore {
  const columns = COLUMNS.split(',').map((c) => c.trim())
  const values = (a: PullAgreement) => [
    a.id, a.token ?? null, a.amount.toString(), a.assetCode, a.assetScale, a.interval, a.cycles, a.cap ? 1 : 0, a.start,
    a.expiry ?? null, a.webhook ?? null, a.createdAt, a.updatedAt, a.cancelledAt ?? null, a.total.toString(),
    a.intervalPulled.toString(), a.intervalCycle
  ]
  const read = async (c: pg.Pool | Client, id: string, lock = false) => {
    const row = await first(c, `SELECT ${COLUMNS} FROM pull_agreements WHERE id = $1${lock ? ' FOR UPDATE' : ''}`, [id])
    return row && toAgreement(row)
  }
  const write = (c: Client, a: PullAgreement) => {
    const v = values(a)
    return c.query(`UPDATE pull_agreements SET ${columns.slice(1).map((col, i) => `${col} = $${i + 2}`).join(', ')} WHERE id = $1`, v)
  }
  return {
    async insert (agreement) {
      const created = (await pool.query(`INSERT INTO pull_agreements (${COLUMNS}) VALUES (${columns.map((_, i) => `$${i + 1}`).join(', ')}) ON CONFLICT DO NOTHING`, values(agreement))).rowCount === 1
      return { created, agreement: (await read(pool, agreement.id))! }
    },
    get: (id) => read(pool, id),
    async list () {
      return (await all(pool, `SELECT ${COLUMNS} FROM pull_agreements ORDER BY created_at, id`)).map(toAgreement)
    },
    async update (id, fn) {
      return tx(pool, async (c) => {
        const current = await read(c, id, true)
        if (!current) return undefined
        const next = fn(current)
        if (typeof next === 'string') return next
        await write(c, { ...next, id })
        return (await read(c, id))!
      })
    },
    async acquireLease (id, holder, now, until) {
      return tx(pool, async (c) => {
        const row = await first(c, 'SELECT lease_holder, lease_until FROM pull_agreements WHERE id = $1 FOR UPDATE', [id])
        if (!row) return undefined
        if (row.lease_holder !== null && row.lease_holder !== holder && Number(row.lease_until) > now) return 'busy' as const
        await c.query('UPDATE pull_agreements SET lease_holder = $1, lease_until = $2 WHERE id = $3', [holder, until, id])
        return (await read(c, id))!
      })
    },
    async releaseLease (id, holder) {
      await pool.query('UPDATE pull_agreements SET lease_holder = NULL, lease_until = NULL WHERE id = $1 AND lease_holder = $2', [id, holder])
    },
    async recordPulled (id, amount, cycle, now) {
      return tx(pool, async (c) => {
        const a = await read(c, id, true)
        if (!a) return undefined
        const next = { ...a, total: a.total + amount, updatedAt: now }
        // The interval balance belongs to one cycle: a pull in a later cycle starts it afresh.
        if (cycle > a.intervalCycle) Object.assign(next, { intervalCycle: cycle, intervalPulled: amount })
        else if (cycle === a.intervalCycle) next.intervalPulled = a.intervalPulled + amount
        await write(c, next)
        return (await read(c, id))!
      })
    },
    async enqueueWebhook (d, dueAt) {
      await pool.query('INSERT INTO pull_webhooks (id, agreement_id, url, body, attempts, created_at, next_at) VALUES ($1, $2, $3, $4, $5, $6, $7)', [d.id, d.agreementId, d.url, d.body, d.attempts, d.createdAt, dueAt])
    },
    async claimDueWebhooks (now, claimUntil, limit) {
      return tx(pool, async (c) => {
        // SKIP LOCKED: another companion claiming at the same moment takes other deliveries, never these.
        const due = (await all(c, 'SELECT id, agreement_id, url, body, attempts, created_at FROM pull_webhooks WHERE next_at IS NOT NULL AND next_at <= $1 ORDER BY next_at LIMIT $2 FOR UPDATE SKIP LOCKED', [now, limit])).map(toDelivery)
        if (due.length > 0) await c.query('UPDATE pull_webhooks SET next_at = $1 WHERE id = ANY($2)', [claimUntil, due.map((d) => d.id)])
        return due
      })
    },
    async nextWebhookAt () {
      const row = await first(pool, 'SELECT MIN(next_at) AS next_at FROM pull_webhooks WHERE next_at IS NOT NULL')
      return row?.next_at === null || row?.next_at === undefined ? undefined : Number(row.next_at)
    },
    async webhookDelivered (id) {
      await pool.query('DELETE FROM pull_webhooks WHERE id = $1', [id])
    },
    async webhookFailed (id, attempts, error, nextAt) {
      await pool.query('UPDATE pull_webhooks SET attempts = $1, last_error = $2, next_at = $3 WHERE id = $4', [attempts, error.slice(0, 500), nextAt ?? null, id])
    },
    async failedWebhooks (agreementId) {
      const rows = agreementId === undefined
        ? await all(pool, 'SELECT id, agreement_id, url, body, attempts, created_at, last_error FROM pull_webhooks WHERE next_at IS NULL ORDER BY created_at DESC')
        : await all(pool, 'SELECT id, agreement_id, url, body, attempts, created_at, last_error FROM pull_webhooks WHERE next_at IS NULL AND agreement_id = $1 ORDER BY created_at DESC', [agreementId])
      return rows.map((r) => ({ ...toDelivery(r), lastError: String(r.last_error ?? '') }))
    }
  }
}

export function postgresOpenPaymentsStore (pool: pg.Pool): OpenPaymentsStore {
  const grantOf = async (c: pg.Pool | Client, id: string) => { const r = await first(c, 'SELECT * FROM op_grants WHERE id = $1', [id]); return r && toGrant(r) }
  const live = async (row: Row | undefined, now: number) => {
    if (!row) return undefined
    const token = toToken(row)
    if (token.revokedAt !== undefined || token.expiresAt <= now) return undefined
    const grant = await grantOf(pool, token.grantId)
    if (!grant || grant.revokedAt !== undefined) return undefined
    return { token, grant }
  }
  return {
    async addClientKey (account, jwk, now) {
      return (await pool.query('INSERT INTO op_client_keys (account, kid, jwk, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING', [account, jwk.kid, JSON.stringify(jwk), now])).rowCount === 1
    },
    async clientKeys (account) {
      return (await all(pool, 'SELECT jwk FROM op_client_keys WHERE account = $1 ORDER BY created_at, kid', [account])).map((r) => JSON.parse(r.jwk as string) as Record<string, unknown>)
    },
    async putGrant (grant, continueToken) {
      await pool.query('INSERT INTO op_grants (id, client, client_jwk, access, continue_token, created_at) VALUES ($1, $2, $3, $4, $5, $6)',
        [grant.id, grant.client, grant.clientJwk ? JSON.stringify(grant.clientJwk) : null, JSON.stringify(grant.access), tokenHash(continueToken), grant.createdAt])
    },
    getGrant: (id) => grantOf(pool, id),
    async grantByContinueToken (id, continueToken) {
      const r = await first(pool, 'SELECT * FROM op_grants WHERE id = $1', [id])
      if (!r || r.continue_token !== tokenHash(continueToken)) return undefined
      return toGrant(r)
    },
    async revokeGrant (id, now) {
      return tx(pool, async (c) => {
        const changed = (await c.query('UPDATE op_grants SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL', [now, id])).rowCount === 1
        await c.query('UPDATE op_tokens SET revoked_at = $1 WHERE grant_id = $2 AND revoked_at IS NULL', [now, id])
        return changed
      })
    },
    async putToken (token, record) {
      await pool.query('INSERT INTO op_tokens (manage_id, token, grant_id, expires_at) VALUES ($1, $2, $3, $4)', [record.manageId, tokenHash(token), record.grantId, record.expiresAt])
    },
    async token (token, now) {
      return live(await first(pool, 'SELECT * FROM op_tokens WHERE token = $1', [tokenHash(token)]), now)
    },
    async tokenByManageId (manageId, token, now) {
      const row = await first(pool, 'SELECT * FROM op_tokens WHERE manage_id = $1', [manageId])
      if (!row || row.token !== tokenHash(token)) return undefined
      return live(row, now)
    },
    async revokeToken (manageId, now) {
      return (await pool.query('UPDATE op_tokens SET revoked_at = $1 WHERE manage_id = $2 AND revoked_at IS NULL', [now, manageId])).rowCount === 1
    },
    async putIncomingPayment (p) {
      await pool.query('INSERT INTO op_incoming_payments (id, account, client, incoming_amount, received, completed, metadata, created_at, updated_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)',
        [p.id, p.account, p.client, p.incomingAmount?.toString() ?? null, p.received.toString(), p.completed ? 1 : 0, p.metadata ? JSON.stringify(p.metadata) : null, p.createdAt, p.updatedAt, p.expiresAt])
    },
    async getIncomingPayment (id) {
      const r = await first(pool, 'SELECT * FROM op_incoming_payments WHERE id = $1', [id])
      return r && toIncomingPayment(r)
    },
    async listIncomingPayments (account, opts) {
      let afterAt = -1
      let afterId = ''
      if (opts.after) {
        const r = await first(pool, 'SELECT created_at, id FROM op_incoming_payments WHERE id = $1', [opts.after])
        if (r) { afterAt = Number(r.created_at); afterId = r.id as string }
      }
      return (await all(pool, 'SELECT * FROM op_incoming_payments WHERE account = $1 AND ($2::text IS NULL OR client = $2) AND (created_at, id) > ($3, $4) ORDER BY created_at, id LIMIT $5',
        [account, opts.client ?? null, afterAt, afterId, opts.limit])).map(toIncomingPayment)
    },
    async completeIncomingPayment (id, now) {
      const r = await first(pool, 'UPDATE op_incoming_payments SET completed = 1, updated_at = $1 WHERE id = $2 RETURNING *', [now, id])
      return r && toIncomingPayment(r)
    },
    async receive (id, amount, now) {
      return tx(pool, async (c): Promise<ReceiveResult> => {
        const r = await first(c, 'SELECT * FROM op_incoming_payments WHERE id = $1 FOR UPDATE', [id])
        if (!r) return { kind: 'unknown' }
        const p = toIncomingPayment(r)
        if (p.completed) return { kind: 'completed' }
        if (p.expiresAt <= now) return { kind: 'expired' }
        const received = p.received + amount
        if (p.incomingAmount !== undefined && received > p.incomingAmount) return { kind: 'too_much', room: p.incomingAmount - p.received }
        // An incoming payment that received its whole incoming amount is complete (Open Payments).
        const complete = p.incomingAmount !== undefined && received === p.incomingAmount
        const updated = (await first(c, 'UPDATE op_incoming_payments SET received = $1, updated_at = $2, completed = CASE WHEN $4 THEN 1 ELSE completed END WHERE id = $3 RETURNING *', [received.toString(), now, id, complete]))!
        return { kind: 'received', payment: toIncomingPayment(updated) }
      })
    },
    async purge (now, opts) {
      return tx(pool, async (c) => ({
        tokens: (await c.query('DELETE FROM op_tokens WHERE expires_at <= $1 OR revoked_at IS NOT NULL', [now])).rowCount ?? 0,
        grants: (await c.query('DELETE FROM op_grants WHERE (revoked_at IS NOT NULL OR created_at <= $1) AND id NOT IN (SELECT grant_id FROM op_tokens)', [now - opts.grantTtlMs])).rowCount ?? 0,
        payments: (await c.query('DELETE FROM op_incoming_payments WHERE expires_at <= $1', [now - opts.paymentRetentionMs])).rowCount ?? 0
      }))
    }
  }
}
