// Who may spend a balance. A balance's id is public: it is in credit URLs, logs and the companion's
// replies. Spending takes the secret behind it, which only the reader's browser or CLI holds:
//
//   secret     = 32 random bytes, base64url (43 characters), kept by the reader
//   balance id = base64url(SHA-256("trickle-balance-v1\n" || secret))   (43 characters)
//
// Anyone may credit receipts to an id (money only goes in), but keys, grants and downloads are spent
// only for a request that carries the secret (in a body or a WebSocket message, never in a URL), and
// the companion logs and returns only the id. The browser computes the same hash with WebCrypto
// (theme/assets/ts/balance.ts).
import { createHash, randomBytes } from 'node:crypto'

/** A reader's balance secret: 32 bytes, base64url without padding. */
export const BALANCE_SECRET = /^[A-Za-z0-9_-]{43}$/

export const BALANCE_ID_PREFIX = 'trickle-balance-v1\n'

/** The public balance id of a secret. */
export function balanceIdOf (secret: string): string {
  return createHash('sha256').update(BALANCE_ID_PREFIX).update(secret).digest('base64url')
}

/** A new secret, for readers that have none (the CLI; browsers make theirs with crypto.getRandomValues). */
export function newBalanceSecret (): string {
  return randomBytes(32).toString('base64url')
}

/** The balance id a request may spend from, or undefined when the secret is missing or malformed. */
export function ownedBalance (secret: unknown): string | undefined {
  return typeof secret === 'string' && BALANCE_SECRET.test(secret) ? balanceIdOf(secret) : undefined
}
