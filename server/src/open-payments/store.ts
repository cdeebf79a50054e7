// Open Payments state of the embedded wallet, in the companion's SQLite file: client keys registered
// for its wallet addresses, GNAP grants and their access tokens, and incoming payments with what they
// received. Tokens are kept as SHA-256 hashes (a copy of the database admits nobody). Amounts are
// decimal strings at rest, bigint in memory; the one step that moves money (receiving into an
// incoming payment) is one transaction that checks expiry, completion and the incoming amount.
import { createHash } from 'node:crypto'
import type { DatabaseSync } from 'node:sqlite'
import { inTransaction } from '../store/sqlite.ts'

const SCHEMA = `
CREATE TABLE IF NOT EXISTS op_client_keys (
  account TEXT NOT NULL, kid TEXT NOT NULL, jwk TEXT NOT NULL, created_at INTEGER NOT NULL, PRIMARY KEY (account, kid)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS op_grants (
  id TEXT PRIMARY KEY, client TEXT NOT NULL, client_jwk TEXT, access TEXT NOT NULL, continue_token TEXT NOT NULL,
  created_at INTEGER NOT NULL, revoked_at INTEGER
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS op_tokens (
  manage_id TEXT PRIMARY KEY, token TEXT NOT NULL UNIQUE, grant_id TEXT NOT NULL, expires_at INTEGER NOT NULL, revoked_at INTEGER
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS op_tokens_grant ON op_tokens (grant_id);
CREATE TABLE IF NOT EXISTS op_incoming_payments (
  id TEXT PRIMARY KEY, account TEXT NOT NULL, client TEXT NOT NULL, incoming_amount TEXT, received TEXT NOT NULL,
  completed INTEGER NOT NULL DEFAULT 0, metadata TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS op_incoming_payments_account ON op_incoming_payments (account, created_at, id);
`

export const tokenHash = (token: string) => createHash('sha256').update(token).digest('base64url')

export interface AccessItem {
  type: 'incoming-payment'
  actions: string[]
  /** The wallet address this access is limited to, when given */
  identifier?: string
}

export interface GrantRecord {
  id: string
  /** The client's wallet address URL, or '' for a directed identity (a JWK of its own) */
  client: string
  clientJwk?: Record<string, unknown>
  access: AccessItem[]
  createdAt: number
  revokedAt?: number
}

export interface TokenRecord {
  manageId: string
  grantId: string
  expiresAt: number
  revokedAt?: number
}

export interface IncomingPaymentRecord {
  id: string
  account: string
  /** Who created it: the grant's client (wallet address URL, or `jwk:{kid}`) */
  client: string
  incomingAmount?: bigint
  received: bigint
  completed: boolean
  metadata?: Record<string, unknown>
  createdAt: number
  updatedAt: number
  expiresAt: number
}

export type ReceiveResult =
  | { kind: 'received', payment: IncomingPaymentRecord }
  | { kind: 'unknown' | 'expired' | 'completed' }
  | { kind: 'too_much', room: bigint }

export interface OpenPaymentsStore {
  addClientKey (account: string, jwk: Record<string, unknown> & { kid: string }, now: number): Promise<boolean>
  clientKeys (account: string): Promise<Array<Record<string, unknown>>>
  putGrant (grant: GrantRecord, continueToken: string): Promise<void>
  getGrant (id: string): Promise<GrantRecord | undefined>
  /** The grant whose continuation token this is */
  grantByContinueToken (id: string, continueToken: string): Promise<GrantRecord | undefined>
  revokeGrant (id: string, now: number): Promise<boolean>
  putToken (token: string, record: TokenRecord): Promise<void>
  /** An access token's record and grant, if it is neither revoked nor expired, nor its grant revoked */
  token (token: string, now: number): Promise<{ token: TokenRecord, grant: GrantRecord } | undefined>
  tokenByManageId (manageId: string, token: string, now: number): Promise<{ token: TokenRecord, grant: GrantRecord } | undefined>
  revokeToken (manageId: string, now: number): Promise<boolean>
  putIncomingPayment (record: IncomingPaymentRecord): Promise<void>
  getIncomingPayment (id: string): Promise<IncomingPaymentRecord | undefined>
  /** Newest first is not Open Payments' order: oldest first, `after` the cursor's id */
  listIncomingPayments (account: string, opts: { client?: string, after?: string, limit: number }): Promise<IncomingPaymentRecord[]>
  completeIncomingPayment (id: string, now: number): Promise<IncomingPaymentRecord | undefined>
  /** Adds `amount` to what the payment received, if it is open, unexpired and has room for it. */
  receive (id: string, amount: bigint, now: number): Promise<ReceiveResult>
  /**
   * Forgets what can no longer be used: tokens expired or revoked, grants cancelled or older than
   * `grantTtlMs` with no live token, incoming payments expired more than `paymentRetentionMs` ago.
   */
  purge (now: number, opts: { grantTtlMs: number, paymentRetentionMs: number }): Promise<{ tokens: number, grants: number, payments: number }>
}

interface Row { [key: string]: unknown }

export const toGrant = (r: Row): GrantRecord => ({
  id: r.id as string,
  client: r.client as string,
  ...(r.client_jwk ? { clientJwk: JSON.parse(r.client_jwk as string) as Record<string, unknown> } : {}),
  access: JSON.parse(r.access as string) as AccessItem[],
  createdAt: Number(r.created_at),
  ...(r.revoked_at != null ? { revokedAt: Number(r.revoked_at) } : {})
})
export const toToken = (r: Row): TokenRecord => ({
  manageId: r.manage_id as string, grantId: r.grant_id as string, expiresAt: Number(r.expires_at),
  ...(r.revoked_at != null ? { revokedAt: Number(r.revoked_at) } : {})
})
export const toPayment = (r: Row): IncomingPaymentRecord => ({
  id: r.id as string,
  account: r.account as string,
  client: r.client as string,
  ...(r.incoming_amount != null ? { incomingAmount: BigInt(r.incoming_amount as string) } : {}),
  received: BigInt(r.received as string),
  completed: Number(r.completed) === 1,
  ...(r.metadata != null ? { metadata: JSON.parse(r.metadata as string) as Record<string, unknown> } : {}),
  createdAt: Number(r.created_at),
  updatedAt: Number(r.updated_at),
  expiresAt: Number(r.expires_at)
})

export function createOpenPaymentsStore (db: DatabaseSync): OpenPaymentsStore {
  db.exec(SCHEMA)
  const q = {
    keyInsert: db.prepare('INSERT OR IGNORE INTO op_client_keys (account, kid, jwk, created_at) VALUES (?, ?, ?, ?)'),
    keyList: db.prepare('SELECT jwk FROM op_client_keys WHERE account = ? ORDER BY created_at, kid'),
    grantInsert: db.prepare('INSERT INTO op_grants (id, client, client_jwk, access, continue_token, created_at) VALUES (?, ?, ?, ?, ?, ?)'),
    grantGet: db.prepare('SELECT * FROM op_grants WHERE id = ?'),
    grantRevoke: db.prepare('UPDATE op_grants SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL'),
    tokensOfGrantRevoke: db.prepare('UPDATE op_tokens SET revoked_at = ? WHERE grant_id = ? AND revoked_at IS NULL'),
    tokenInsert: db.prepare('INSERT INTO op_tokens (manage_id, token, grant_id, expires_at) VALUES (?, ?, ?, ?)'),
    tokenGet: db.prepare('SELECT * FROM op_tokens WHERE token = ?'),
    tokenByManage: db.prepare('SELECT * FROM op_tokens WHERE manage_id = ?'),
    tokenRevoke: db.prepare('UPDATE op_tokens SET revoked_at = ? WHERE manage_id = ? AND revoked_at IS NULL'),
    paymentInsert: db.prepare('INSERT INTO op_incoming_payments (id, account, client, incoming_amount, received, completed, metadata, created_at, updated_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)'),
    paymentGet: db.prepare('SELECT * FROM op_incoming_payments WHERE id = ?'),
    paymentList: db.prepare('SELECT * FROM op_incoming_payments WHERE account = ? AND (? IS NULL OR client = ?) AND (created_at, id) > (?, ?) ORDER BY created_at, id LIMIT ?'),
    paymentComplete: db.prepare('UPDATE op_incoming_payments SET completed = 1, updated_at = ? WHERE id = ?'),
    paymentReceived: db.prepare('UPDATE op_incoming_payments SET received = ?, updated_at = ? WHERE id = ?'),
    purgeTokens: db.prepare('DELETE FROM op_tokens WHERE expires_at <= ? OR revoked_at IS NOT NULL'),
    purgeGrants: db.prepare('DELETE FROM op_grants WHERE (revoked_at IS NOT NULL OR created_at <= ?) AND id NOT IN (SELECT grant_id FROM op_tokens)'),
    purgePayments: db.prepare('DELETE FROM op_incoming_payments WHERE expires_at <= ?')
  }
  const grantOf = (id: string) => { const r = q.grantGet.get(id) as Row | undefined; return r && toGrant(r) }
  const live = (row: Row | undefined, now: number) => {
    if (!row) return undefined
    const token = toToken(row)
    if (token.revokedAt !== undefined || token.expiresAt <= now) return undefined
    const grant = grantOf(token.grantId)
    if (!grant || grant.revokedAt !== undefined) return undefined
    return { token, grant }
  }

  return {
    async addClientKey (account, jwk, now) {
      return q.keyInsert.run(account, jwk.kid, JSON.stringify(jwk), now).changes === 1
    },
    async clientKeys (account) {
      return (q.keyList.all(account) as Row[]).map((r) => JSON.parse(r.jwk as string) as Record<string, unknown>)
    },
    async putGrant (grant, continueToken) {
      q.grantInsert.run(grant.id, grant.client, grant.clientJwk ? JSON.stringify(grant.clientJwk) : null, JSON.stringify(grant.access), tokenHash(continueToken), grant.createdAt)
    },
    async getGrant (id) { return grantOf(id) },
    async grantByContinueToken (id, continueToken) {
      const r = q.grantGet.get(id) as Row | undefined
      if (!r || r.continue_token !== tokenHash(continueToken)) return undefined
      return toGrant(r)
    },
    async revokeGrant (id, now) {
      return inTransaction(db, () => {
        const changed = q.grantRevoke.run(now, id).changes === 1
        q.tokensOfGrantRevoke.run(now, id)
        return changed
      })
    },
    async putToken (token, record) {
      q.tokenInsert.run(record.manageId, tokenHash(token), record.grantId, record.expiresAt)
    },
    async token (token, now) {
      return live(q.tokenGet.get(tokenHash(token)) as Row | undefined, now)
    },
    async tokenByManageId (manageId, token, now) {
      const row = q.tokenByManage.get(manageId) as Row | undefined
      if (!row || row.token !== tokenHash(token)) return undefined
      return live(row, now)
    },
    async revokeToken (manageId, now) {
      return q.tokenRevoke.run(now, manageId).changes === 1
    },
    async putIncomingPayment (p) {
      q.paymentInsert.run(p.id, p.account, p.client, p.incomingAmount?.toString() ?? null, p.received.toString(), p.completed ? 1 : 0,
        p.metadata ? JSON.stringify(p.metadata) : null, p.createdAt, p.updatedAt, p.expiresAt)
    },
    async getIncomingPayment (id) {
      const r = q.paymentGet.get(id) as Row | undefined
      return r && toPayment(r)
    },
    async listIncomingPayments (account, opts) {
      let afterAt = -1
      let afterId = ''
      if (opts.after) {
        const r = q.paymentGet.get(opts.after) as Row | undefined
        if (r) { afterAt = Number(r.created_at); afterId = r.id as string }
      }
      const client = opts.client ?? null
      return (q.paymentList.all(account, client, client, afterAt, afterId, opts.limit) as Row[]).map(toPayment)
    },
    async completeIncomingPayment (id, now) {
      return inTransaction(db, () => {
        const r = q.paymentGet.get(id) as Row | undefined
        if (!r) return undefined
        q.paymentComplete.run(now, id)
        return toPayment(q.paymentGet.get(id) as Row)
      })
    },
    async purge (now, opts) {
      return inTransaction(db, () => ({
        tokens: Number(q.purgeTokens.run(now).changes),
        grants: Number(q.purgeGrants.run(now - opts.grantTtlMs).changes),
        payments: Number(q.purgePayments.run(now - opts.paymentRetentionMs).changes)
      }))
    },
    async receive (id, amount, now) {
      return inTransaction(db, (): ReceiveResult => {
        const r = q.paymentGet.get(id) as Row | undefined
        if (!r) return { kind: 'unknown' }
        const p = toPayment(r)
        if (p.completed) return { kind: 'completed' }
        if (p.expiresAt <= now) return { kind: 'expired' }
        const received = p.received + amount
        if (p.incomingAmount !== undefined && received > p.incomingAmount) return { kind: 'too_much', room: p.incomingAmount - p.received }
        q.paymentReceived.run(received.toString(), now, id)
        // An incoming payment that received its whole incoming amount is complete (Open Payments).
        if (p.incomingAmount !== undefined && received === p.incomingAmount) q.paymentComplete.run(now, id)
        return { kind: 'received', payment: toPayment(q.paymentGet.get(id) as Row) }
      })
    }
  }
}
