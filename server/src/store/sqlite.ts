// Embedded store on node:sqlite (Node 24, no native build). node:sqlite is synchronous, so each method
// below runs to completion without yielding: within one process no two calls interleave. BEGIN IMMEDIATE
// takes SQLite's write lock up front, so several processes sharing the file serialise too (busy_timeout
// makes them wait rather than fail).
import { mkdirSync } from 'node:fs'
import path from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import type {
  CreditIncomingPaymentResult, CreditReceiptInput, CreditReceiptResult, NonceRecord, ProxyRecord, SpendResult, Store, WalletAccount
} from './types.ts'

// Receipt high-water marks are keyed by the nonce's issue order (`nonces.seq`), not by the nonce
// itself: nonces are random, so marks keyed by them land on a random page of the table each, and a
// group commit of N credits wrote N pages (most of the verifier's time went into writing and
// checkpointing them). Receipts come for recently issued nonces, whose marks sit together at the end of
// the table: a commit now writes a page or two. `seq` is AUTOINCREMENT so a purged nonce's number is
// never handed out again. `receipt_marks` keeps the marks of nonces this store never issued (only
// callers that skip the nonce check can credit those).
const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS accounts (
  name TEXT PRIMARY KEY, created_at INTEGER NOT NULL, received TEXT NOT NULL DEFAULT '0'
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS proxies (
  id TEXT PRIMARY KEY, payment_pointer TEXT NOT NULL, spsp_endpoint TEXT NOT NULL, created_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS nonces (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, nonce TEXT NOT NULL UNIQUE, proxy_id TEXT NOT NULL, spsp_endpoint TEXT NOT NULL,
  issued_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS nonces_issued_at ON nonces (issued_at);
CREATE TABLE IF NOT EXISTS nonce_marks (
  seq INTEGER NOT NULL, stream_id INTEGER NOT NULL, total TEXT NOT NULL, PRIMARY KEY (seq, stream_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS receipt_marks (
  nonce TEXT NOT NULL, stream_id INTEGER NOT NULL, total TEXT NOT NULL, PRIMARY KEY (nonce, stream_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS balances (
  id TEXT NOT NULL, receiver TEXT NOT NULL, amount TEXT NOT NULL, updated_at INTEGER NOT NULL, PRIMARY KEY (id, receiver)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS incoming_payment_credits (
  incoming_payment TEXT PRIMARY KEY, balance_id TEXT NOT NULL, receiver TEXT NOT NULL, credited TEXT NOT NULL, updated_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS grants (
  balance_id TEXT NOT NULL, grant_key TEXT NOT NULL, expires_at INTEGER NOT NULL, PRIMARY KEY (balance_id, grant_key)
) WITHOUT ROWID;
`

interface Row { [key: string]: unknown }

/**
 * Runs fn inside BEGIN IMMEDIATE … COMMIT, rolling back on any throw. IMMEDIATE takes the write lock
 * up front, so two processes sharing the file never both read a balance before either writes it.
 */
export function inTransaction<T> (db: DatabaseSync, fn: () => T): T {
  db.exec('BEGIN IMMEDIATE')
  try {
    const result = fn()
    db.exec('COMMIT')
    return result
  } catch (err) {
    db.exec('ROLLBACK')
    throw err
  }
}

/**
 * Databases from before `nonces.seq`: nonces keyed by their text (WITHOUT ROWID), every mark in
 * `receipt_marks`. Rebuilds the table in issue order and moves the marks of known nonces to
 * `nonce_marks`, in one transaction (a second process opening the file meanwhile waits, then finds it done).
 */
function migrateNonces (db: DatabaseSync) {
  const hasSeq = () => db.prepare("SELECT 1 FROM pragma_table_info('nonces') WHERE name = 'seq'").get() !== undefined
  if (hasSeq()) return
  inTransaction(db, () => {
    if (hasSeq()) return
    db.exec(`
      CREATE TABLE nonces_by_seq (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, nonce TEXT NOT NULL UNIQUE, proxy_id TEXT NOT NULL, spsp_endpoint TEXT NOT NULL,
        issued_at INTEGER NOT NULL
      );
      INSERT INTO nonces_by_seq (nonce, proxy_id, spsp_endpoint, issued_at)
        SELECT nonce, proxy_id, spsp_endpoint, issued_at FROM nonces ORDER BY issued_at, nonce;
      INSERT INTO nonce_marks (seq, stream_id, total)
        SELECT n.seq, m.stream_id, m.total FROM receipt_marks m JOIN nonces_by_seq n ON n.nonce = m.nonce;
      DELETE FROM receipt_marks WHERE nonce IN (SELECT nonce FROM nonces_by_seq);
      DROP TABLE nonces;
      ALTER TABLE nonces_by_seq RENAME TO nonces;
      CREATE INDEX nonces_issued_at ON nonces (issued_at);
    `)
  })
}

/**
 * Databases from before balances were per receiver: one amount per balance id. Those amounts came
 * from receipts whose receiver was not kept with them; they move to the unknown receiver (''), which
 * only an operator's :spend with `receiver=` can spend, so no creator's content is bought with them.
 */
function migrateBalances (db: DatabaseSync) {
  const hasReceiver = () => db.prepare("SELECT 1 FROM pragma_table_info('balances') WHERE name = 'receiver'").get() !== undefined
  if (hasReceiver()) return
  inTransaction(db, () => {
    if (hasReceiver()) return
    db.exec(`
      CREATE TABLE balances_by_receiver (
        id TEXT NOT NULL, receiver TEXT NOT NULL, amount TEXT NOT NULL, updated_at INTEGER NOT NULL, PRIMARY KEY (id, receiver)
      ) WITHOUT ROWID;
      INSERT INTO balances_by_receiver (id, receiver, amount, updated_at) SELECT id, '', amount, updated_at FROM balances;
      DROP TABLE balances;
      ALTER TABLE balances_by_receiver RENAME TO balances;
    `)
  })
}

/** The SQLite store; `db` lets other features (pull payments, tracker) keep their tables in the same file. */
export interface SqliteStore extends Store {
  readonly db: DatabaseSync
}

export function openSqliteStore (file: string): SqliteStore {
  if (file !== ':memory:') mkdirSync(path.dirname(file), { recursive: true })
  const db = new DatabaseSync(file)
  // busy_timeout first: switching to WAL takes a lock, and a second process opening the file at the
  // same moment must wait for it rather than fail with "database is locked".
  db.exec('PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;')
  // Before the schema: an old `balances` table (no receiver) must be rebuilt, not taken as current.
  if (db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'balances'").get() !== undefined) migrateBalances(db)
  db.exec(SCHEMA)
  migrateNonces(db)

  // Hot reads return arrays, not objects: node:sqlite builds an object per row with its column names,
  // which cost more than the lookup itself (about 2 µs against under 1 µs per row here).
  const arrays = (sql: string) => {
    const statement = db.prepare(sql)
    statement.setReturnArrays(true)
    return statement
  }
  const q = {
    metaGet: db.prepare('SELECT value FROM meta WHERE key = ?'),
    metaInsert: db.prepare('INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)'),
    // Claims a job's turn: inserts its last run, or moves it forward only if the old one is older than the cutoff.
    jobClaim: db.prepare('INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value WHERE CAST(meta.value AS INTEGER) <= ?3'),
    accountInsert: db.prepare('INSERT OR IGNORE INTO accounts (name, created_at, received) VALUES (?, ?, \'0\')'),
    accountGet: db.prepare('SELECT name, created_at, received FROM accounts WHERE name = ?'),
    accountList: db.prepare('SELECT name, created_at, received FROM accounts ORDER BY name'),
    accountReceived: arrays('SELECT received FROM accounts WHERE name = ?'),
    accountSetReceived: db.prepare('UPDATE accounts SET received = ? WHERE name = ?'),
    proxyInsert: db.prepare('INSERT OR IGNORE INTO proxies (id, payment_pointer, spsp_endpoint, created_at) VALUES (?, ?, ?, ?)'),
    proxyGet: db.prepare('SELECT id, payment_pointer, spsp_endpoint, created_at FROM proxies WHERE id = ?'),
    proxyList: db.prepare('SELECT id, payment_pointer, spsp_endpoint, created_at FROM proxies ORDER BY created_at, id'),
    proxyDelete: db.prepare('DELETE FROM proxies WHERE id = ?'),
    nonceInsert: db.prepare('INSERT INTO nonces (nonce, proxy_id, spsp_endpoint, issued_at) VALUES (?, ?, ?, ?)'),
    nonceGet: arrays('SELECT seq, nonce, proxy_id, spsp_endpoint, issued_at FROM nonces WHERE nonce = ?'),
    marksPurge: db.prepare('DELETE FROM nonce_marks WHERE seq IN (SELECT seq FROM nonces WHERE issued_at < ?)'),
    noncePurge: db.prepare('DELETE FROM nonces WHERE issued_at < ?'),
    markGet: arrays('SELECT total FROM nonce_marks WHERE seq = ? AND stream_id = ?'),
    markPut: db.prepare('INSERT INTO nonce_marks (seq, stream_id, total) VALUES (?, ?, ?) ON CONFLICT (seq, stream_id) DO UPDATE SET total = excluded.total'),
    unissuedMarkGet: arrays('SELECT total FROM receipt_marks WHERE nonce = ? AND stream_id = ?'),
    unissuedMarkPut: db.prepare('INSERT INTO receipt_marks (nonce, stream_id, total) VALUES (?, ?, ?) ON CONFLICT (nonce, stream_id) DO UPDATE SET total = excluded.total'),
    balanceGet: arrays('SELECT amount FROM balances WHERE id = ? AND receiver = ?'),
    balanceList: arrays('SELECT receiver, amount FROM balances WHERE id = ? ORDER BY receiver'),
    grantGet: arrays('SELECT expires_at FROM grants WHERE balance_id = ? AND grant_key = ?'),
    grantPut: db.prepare('INSERT INTO grants (balance_id, grant_key, expires_at) VALUES (?, ?, ?) ON CONFLICT (balance_id, grant_key) DO UPDATE SET expires_at = excluded.expires_at'),
    ipCreditGet: db.prepare('SELECT balance_id, receiver, credited FROM incoming_payment_credits WHERE incoming_payment = ?'),
    ipCreditPut: db.prepare('INSERT INTO incoming_payment_credits (incoming_payment, balance_id, receiver, credited, updated_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (incoming_payment) DO UPDATE SET credited = excluded.credited, updated_at = excluded.updated_at'),
    balancePut: db.prepare('INSERT INTO balances (id, receiver, amount, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT (id, receiver) DO UPDATE SET amount = excluded.amount, updated_at = excluded.updated_at')
  }

  const transaction = <T>(fn: () => T): T => inTransaction(db, fn)

  // Group commit. Under load a transaction per credit or spend spends most of its time in BEGIN and
  // COMMIT, not in the statements. So money-moving calls are queued and run together, in the order
  // they came, in one BEGIN IMMEDIATE … COMMIT per turn of the event loop: each call still sees every
  // earlier one's writes, the batch commits (or rolls back) as one, and no caller hears back before
  // the commit. Alone, a call waits one setImmediate; with 30 in flight, one commit serves them all.
  interface Queued { run: () => unknown, resolve: (value: unknown) => void, reject: (err: unknown) => void }
  const MAX_BATCH = 256
  let queue: Queued[] = []
  let scheduled = false
  const flush = () => {
    scheduled = false
    const ops = queue.length > MAX_BATCH ? queue.splice(0, MAX_BATCH) : queue
    if (ops === queue) queue = []
    if (queue.length > 0 && !scheduled) { scheduled = true; setImmediate(flush) }
    if (ops.length === 0 || closed) return
    let results: unknown[]
    try {
      results = transaction(() => ops.map((op) => op.run()))
    } catch {
      // One call threw and took the batch down with it (nothing was committed): run each alone, so
      // that only the one at fault fails.
      for (const op of ops) {
        try { op.resolve(transaction(op.run)) } catch (err) { op.reject(err) }
      }
      return
    }
    for (let i = 0; i < ops.length; i++) ops[i]!.resolve(results[i])
  }
  const batched = <T>(run: () => T): Promise<T> => new Promise<T>((resolve, reject) => {
    if (closed) return reject(new Error('the store is closed'))
    queue.push({ run, resolve: resolve as (value: unknown) => void, reject })
    if (!scheduled) { scheduled = true; setImmediate(flush) }
  })

  const toAccount = (r: Row): WalletAccount => ({ name: String(r.name), createdAt: Number(r.created_at), received: BigInt(String(r.received)) })
  const toProxy = (r: Row): ProxyRecord => ({ id: String(r.id), paymentPointer: String(r.payment_pointer), spspEndpoint: String(r.spsp_endpoint), createdAt: Number(r.created_at) })
  /** A row of q.nonceGet: seq, nonce, proxy_id, spsp_endpoint, issued_at */
  type NonceRow = [number, string, string, string, number]
  const toNonce = (r: NonceRow): NonceRecord => ({ nonce: r[1], proxyId: r[2], spspEndpoint: r[3], issuedAt: r[4] })
  /** First column of a one-column read, if there is a row. */
  const first = (row: unknown) => row === undefined ? undefined : (row as [unknown])[0]
  const balanceOf = (id: string, receiver: string): bigint | undefined => {
    const amount = first(q.balanceGet.get(id, receiver))
    return amount === undefined ? undefined : BigInt(amount as string)
  }
  const balancesOf = (id: string) => (q.balanceList.all(id) as unknown as Array<[string, string]>).map(([receiver, amount]) => ({ receiver, amount: BigInt(amount) }))
  let closed = false
  const running = new Set<string>()

  return {
    kind: 'sqlite',
    db,

    async metaGetOrSet (key, value) {
      q.metaInsert.run(key, value)
      return String((q.metaGet.get(key) as Row).value)
    },

    async createAccount (name, now) {
      const created = Number(q.accountInsert.run(name, now).changes) === 1
      return { created, account: toAccount(q.accountGet.get(name) as Row) }
    },
    async getAccount (name) {
      const row = q.accountGet.get(name) as Row | undefined
      return row && toAccount(row)
    },
    async listAccounts () {
      return (q.accountList.all() as Row[]).map(toAccount)
    },
    async addReceived (name, amount) {
      return batched(() => {
        const before = first(q.accountReceived.get(name))
        if (before === undefined) throw new Error(`unknown wallet account ${name}`)
        const received = BigInt(before as string) + amount
        q.accountSetReceived.run(received.toString(), name)
        return received
      })
    },

    async putProxy (record) {
      const created = Number(q.proxyInsert.run(record.id, record.paymentPointer, record.spspEndpoint, record.createdAt).changes) === 1
      return { created, proxy: toProxy(q.proxyGet.get(record.id) as Row) }
    },
    async getProxy (id) {
      const row = q.proxyGet.get(id) as Row | undefined
      return row && toProxy(row)
    },
    async listProxies () {
      return (q.proxyList.all() as Row[]).map(toProxy)
    },
    async deleteProxy (id) {
      return Number(q.proxyDelete.run(id).changes) === 1
    },

    async putNonce (r) {
      q.nonceInsert.run(r.nonce, r.proxyId, r.spspEndpoint, r.issuedAt)
    },
    async getNonce (nonce) {
      const row = q.nonceGet.get(nonce) as NonceRow | undefined
      return row && toNonce(row)
    },
    async purgeNonces (issuedBefore) {
      return transaction(() => {
        q.marksPurge.run(issuedBefore)
        return Number(q.noncePurge.run(issuedBefore).changes)
      })
    },

    async creditReceipt (input: CreditReceiptInput): Promise<CreditReceiptResult> {
      return batched((): CreditReceiptResult => {
        const row = q.nonceGet.get(input.nonce) as NonceRow | undefined
        let nonce: NonceRecord | undefined
        if (input.nonceIssuedAfter !== undefined) {
          if (!row) return { kind: 'unknown_nonce' }
          nonce = toNonce(row)
          if (nonce.issuedAt < input.nonceIssuedAfter) return { kind: 'expired_nonce' }
        }
        const seq = row === undefined ? undefined : row[0]
        const mark = first(seq === undefined ? q.unissuedMarkGet.get(input.nonce, input.streamId) : q.markGet.get(seq, input.streamId))
        const previous = mark === undefined ? 0n : BigInt(mark as string)
        if (input.totalReceived <= previous) return { kind: 'not_newer', previous }
        const amount = input.totalReceived - previous
        // The money reached the receiver behind the nonce's proxy: it counts towards that one only.
        const receiver = row === undefined ? '' : row[2]
        let balance = 0n
        if (input.balanceId !== undefined) {
          balance = (balanceOf(input.balanceId, receiver) ?? 0n) + amount
          if (balance > input.maxBalance) return { kind: 'balance_overflow', balance: balance - amount }
          q.balancePut.run(input.balanceId, receiver, balance.toString(), Date.now())
        }
        if (seq === undefined) q.unissuedMarkPut.run(input.nonce, input.streamId, input.totalReceived.toString())
        else q.markPut.run(seq, input.streamId, input.totalReceived.toString())
        return nonce ? { kind: 'credited', amount, balance, receiver, nonce } : { kind: 'credited', amount, balance, receiver }
      })
    },
    async spend (balanceId, amount, receiver = ''): Promise<SpendResult> {
      return batched((): SpendResult => {
        const balance = balanceOf(balanceId, receiver)
        if (balance === undefined) return { kind: 'unknown_balance' }
        if (balance < amount) return { kind: 'insufficient', balance }
        const left = balance - amount
        q.balancePut.run(balanceId, receiver, left.toString(), Date.now())
        return { kind: 'spent', balance: left }
      })
    },
    async creditIncomingPayment (input): Promise<CreditIncomingPaymentResult> {
      return batched((): CreditIncomingPaymentResult => {
        const row = q.ipCreditGet.get(input.incomingPayment) as Row | undefined
        if (row && (row.balance_id !== input.balanceId || row.receiver !== input.receiver)) return { kind: 'claimed' }
        const before = row ? BigInt(row.credited as string) : 0n
        const balanceBefore = balanceOf(input.balanceId, input.receiver) ?? 0n
        // receivedAmount only grows; a smaller reading (a stale read) credits nothing.
        const amount = input.received > before ? input.received - before : 0n
        if (balanceBefore + amount > input.maxBalance) return { kind: 'balance_overflow', balance: balanceBefore }
        q.ipCreditPut.run(input.incomingPayment, input.balanceId, input.receiver, (before + amount).toString(), input.now)
        if (amount > 0n || balanceOf(input.balanceId, input.receiver) === undefined) q.balancePut.run(input.balanceId, input.receiver, (balanceBefore + amount).toString(), input.now)
        return { kind: 'credited', amount, balance: balanceBefore + amount, credited: before + amount }
      })
    },
    async getBalance (balanceId, receiver) {
      if (receiver !== undefined) return balanceOf(balanceId, receiver)
      const all = balancesOf(balanceId)
      return all.length === 0 ? undefined : all.reduce((sum, b) => sum + b.amount, 0n)
    },
    async listBalances (balanceId) {
      return balancesOf(balanceId)
    },
    async spendForGrant (input) {
      return batched(() => {
        // A purchase that lasts is kept whatever the balance holds now.
        const balance = balanceOf(input.balanceId, input.receiver)
        const grantEnds = first(q.grantGet.get(input.balanceId, input.grantKey))
        if (grantEnds !== undefined && Number(grantEnds) > input.now) return { kind: 'granted' as const, charged: 0n, balance: balance ?? 0n, expiresAt: Number(grantEnds) }
        if (balance === undefined) return { kind: 'unknown_balance' as const }
        if (balance < input.amount) return { kind: 'insufficient' as const, balance }
        const left = balance - input.amount
        q.balancePut.run(input.balanceId, input.receiver, left.toString(), input.now)
        q.grantPut.run(input.balanceId, input.grantKey, input.expiresAt)
        return { kind: 'granted' as const, charged: input.amount, balance: left, expiresAt: input.expiresAt }
      })
    },

    // One file is one deployment's store. Within this process, one run of a job at a time; with
    // `everyMs`, the last run's start (in meta, read and written in one statement) makes other
    // processes sharing the file skip until the interval has passed.
    async exclusive (job, fn, opts = {}) {
      if (running.has(job)) return undefined
      if (opts.everyMs !== undefined) {
        const t = opts.now ?? Date.now()
        const claimed = q.jobClaim.run(`job-ran:${job}`, String(t), t - opts.everyMs)
        if (Number(claimed.changes) === 0) return undefined
      }
      running.add(job)
      try { return await fn() } finally { running.delete(job) }
    },

    async close () {
      if (closed) return
      // What is queued was asked before the close: it commits first.
      while (queue.length > 0) flush()
      closed = true
      db.close()
    }
  }
}
