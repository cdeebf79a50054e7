// The storage contract of the companion. SQLite (store/sqlite.ts) implements it today; a PostgreSQL or
// Redis store implements the same methods. Every method is async so that a networked store fits, and
// each method that moves money is one atomic step: implementations must never let two concurrent
// calls both read the same old balance.
//
// Amounts are bigint in memory and decimal strings at rest: receipts carry u64 totals, which do not fit
// in SQLite's or PostgreSQL's signed 64-bit integers.

export interface WalletAccount {
  name: string
  createdAt: number
  received: bigint
}

export interface ProxyRecord {
  id: string
  paymentPointer: string
  spspEndpoint: string
  createdAt: number
}

export interface NonceRecord {
  /** base64 of the 16 nonce bytes */
  nonce: string
  proxyId: string
  spspEndpoint: string
  issuedAt: number
}

export interface CreditReceiptInput {
  nonce: string
  streamId: number
  totalReceived: bigint
  /** Undefined for POST /verify: record the new high-water mark and credit nothing. */
  balanceId?: string
  /** A credit that would take the balance above this is refused whole. */
  maxBalance: bigint
  /**
   * When set, the nonce must have been stored (putNonce) with `issuedAt` at or after this time, checked
   * in the same atomic step: one round to the store per receipt instead of two.
   */
  nonceIssuedAfter?: number
}

export type CreditReceiptResult =
  | {
    kind: 'credited'
    amount: bigint
    /** What the balance now holds for `receiver` */
    balance: bigint
    /** The proxy id behind the receipt's nonce ('' for a nonce this store never issued) */
    receiver: string
    /** with nonceIssuedAfter */
    nonce?: NonceRecord
  }
  | { kind: 'not_newer', previous: bigint }
  | { kind: 'balance_overflow', balance: bigint }
  | { kind: 'unknown_nonce' }
  | { kind: 'expired_nonce' }

export interface CreditIncomingPaymentInput {
  /** The incoming payment's URL */
  incomingPayment: string
  balanceId: string
  /** The proxy id the money counts for (the creator wallet the payment reached) */
  receiver: string
  /** The payment's receivedAmount now, read from its wallet: only the increase over what was credited counts */
  received: bigint
  maxBalance: bigint
  now: number
}

export type CreditIncomingPaymentResult =
  | { kind: 'credited', amount: bigint, balance: bigint, credited: bigint }
  /** Another balance credited this incoming payment first: it counts for that one only */
  | { kind: 'claimed' }
  | { kind: 'balance_overflow', balance: bigint }

export type SpendResult =
  | { kind: 'spent', balance: bigint }
  | { kind: 'unknown_balance' }
  | { kind: 'insufficient', balance: bigint }

export interface GrantInput {
  balanceId: string
  /** Whose money pays: the proxy id of the receiver the content's payments go to */
  receiver: string
  /** What the grant is for, e.g. a sealed section: one grant per (balance, key) */
  grantKey: string
  amount: bigint
  now: number
  /** When a new grant ends (ms since epoch) */
  expiresAt: number
}

export type GrantResult =
  | { kind: 'granted', charged: bigint, balance: bigint, expiresAt: number }
  | { kind: 'unknown_balance' }
  | { kind: 'insufficient', balance: bigint }

export interface Store {
  readonly kind: string
  /** Returns the stored value, or stores `value` if none exists yet and returns it. */
  metaGetOrSet (key: string, value: string): Promise<string>

  createAccount (name: string, now: number): Promise<{ created: boolean, account: WalletAccount }>
  getAccount (name: string): Promise<WalletAccount | undefined>
  listAccounts (): Promise<WalletAccount[]>
  addReceived (name: string, amount: bigint): Promise<bigint>

  putProxy (record: ProxyRecord): Promise<{ created: boolean, proxy: ProxyRecord }>
  getProxy (id: string): Promise<ProxyRecord | undefined>
  listProxies (): Promise<ProxyRecord[]>
  deleteProxy (id: string): Promise<boolean>

  putNonce (record: NonceRecord): Promise<void>
  getNonce (nonce: string): Promise<NonceRecord | undefined>
  /** Deletes nonces (and their receipt marks) issued before `issuedBefore`. Returns how many. */
  purgeNonces (issuedBefore: number): Promise<number>

  /**
   * Moves the (nonce, streamId) high-water mark up and credits the difference, atomically, to what
   * the balance holds for the receiver behind the nonce (its proxy id): money paid to one creator
   * never buys another's content.
   */
  creditReceipt (input: CreditReceiptInput): Promise<CreditReceiptResult>
  /** Spends from what the balance holds for `receiver` ('' : money whose receiver is unknown). */
  spend (balanceId: string, amount: bigint, receiver?: string): Promise<SpendResult>
  /**
   * Credits what an Open Payments incoming payment received since it was last credited, to the one
   * balance that first claimed it, in one atomic step (monotone per payment, once across balances).
   */
  creditIncomingPayment (input: CreditIncomingPaymentInput): Promise<CreditIncomingPaymentResult>
  /** What the balance holds for `receiver`, or for all receivers together when none is named. */
  getBalance (balanceId: string, receiver?: string): Promise<bigint | undefined>
  /** What the balance holds for each receiver. */
  listBalances (balanceId: string): Promise<Array<{ receiver: string, amount: bigint }>>
  /**
   * Pays for something once per grant: an unexpired grant for (balance, grantKey) costs nothing;
   * otherwise `amount` is spent and a grant until `expiresAt` recorded, in one atomic step, so
   * concurrent requests (a reload, two tabs) never charge twice.
   */
  spendForGrant (input: GrantInput): Promise<GrantResult>

  /**
   * Periodic work that a deployment needs done once, not once per instance (purges): runs `fn` when
   * no other instance sharing this store runs the same `job` now, else returns undefined at once.
   */
  exclusive<T> (job: string, fn: () => Promise<T>, opts?: ExclusiveOptions): Promise<T | undefined>

  close (): Promise<void>
}

export interface ExclusiveOptions {
  /**
   * Run at most once per this many ms across the deployment: the start of each run is recorded in the
   * store, and an instance whose turn comes sooner after another's skips (its timer fires anyway).
   */
  everyMs?: number
  /** The clock the record is kept in (default Date.now). */
  now?: number
}
