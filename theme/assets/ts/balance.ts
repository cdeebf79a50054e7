// One balance per reader and site at the companion, kept across pages and reloads: receipts credited on
// one page pay for sealed sections and downloads on another, and grants make a reload free.
//
// The balance id is public (it is in every credit URL and in the companion's logs), so it only receives
// money. Spending takes the secret behind it, which stays in this browser and travels only in request
// bodies: id = base64url(SHA-256("trickle-balance-v1\n" + secret)), as the companion derives it. The
// old `trickle-balance` id is not migrated: it never had a secret, so anyone who saw it could spend it.
export interface Balance {
  /** Public: credit receipts to it */
  id: string
  /** Private: 32 random bytes, base64url; only POST bodies to the companion carry it */
  secret: string
}

const KEY = 'trickle-balance-secret'
const SECRET = /^[A-Za-z0-9_-]{43}$/
const base64url = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')

let balance: Promise<Balance> | undefined

/** This reader's balance; the secret is made (crypto.getRandomValues) and kept on first use. */
export function readerBalance (): Promise<Balance> {
  return balance ??= (async () => {
    let secret: string | null = null
    try { secret = localStorage.getItem(KEY) } catch {}
    if (!secret || !SECRET.test(secret)) {
      secret = base64url(crypto.getRandomValues(new Uint8Array(32)))
      // Without storage (blocked, private mode) the secret lives as long as the page: nothing leaks.
      try { localStorage.setItem(KEY, secret) } catch {}
    }
    const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(`trickle-balance-v1\n${secret}`))
    return { id: base64url(new Uint8Array(digest)), secret }
  })()
}
