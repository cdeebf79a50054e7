// Proof of payment from Open Payments: a reader's page (or the CLI) submits the `incomingPayment` URL
// of a `monetization` event for its balance; the companion reads it at the creator's wallet,
// authenticated, and credits what it received to the same balances receipts feed. The event fires
// before the payment settles (the extension emits it once the outgoing payment is created), so the
// amount it names proves nothing: only the receiving wallet's receivedAmount does, read here and then
// polled with backoff until the payment completes or expires.
//
// Ownership is checked, not assumed: many wallets share one resource server, so a URL under the
// creator's resource server could be a cheater's own incoming payment. The read uses a read-all
// grant scoped with `identifier` to the creator's wallet address, and the payment's `walletAddress`
// must be that address. Credits are monotone per payment and go to the one balance that claimed it
// first (a shared or replayed URL credits once). Plain factory; expected failures are values.
import type { FastifyBaseLogger } from 'fastify'
import type { Store } from '../store/types.ts'
import type { VerifierService } from '../verifier/service.ts'
import type { OpenPaymentsClient } from './client.ts'
import { IncomingPaymentError } from './errors.ts'

export interface IncomingPaymentCredit {
  /** Credited by this request */
  credited: bigint
  /** What the balance holds for the receiver now */
  balance: bigint
  receiver: string
  receivedAmount: bigint
  completed: boolean
  /** The companion keeps reading it until it completes or expires */
  polling: boolean
}

export interface IncomingPaymentVerifier {
  credit (balanceId: string, incomingPayment: unknown, walletAddress: unknown): Promise<IncomingPaymentCredit | { error: IncomingPaymentError, message: string }>
  close (): void
}

export interface IncomingPaymentVerifierDeps {
  client: Pick<OpenPaymentsClient, 'sdk' | 'readToken' | 'forget'>
  store: Pick<Store, 'creditIncomingPayment'>
  verifier: Pick<VerifierService, 'proxyFor'>
  /** The asset a receiver's payments count in (its wallet's), or why it is unknown */
  assetOf: (receiver: string) => Promise<{ assetCode: string, assetScale: number } | { problem: string, detail: string }>
  log: FastifyBaseLogger
  now?: () => number
  maxBalance: bigint
  /** Delays between reads of an unsettled payment (the last repeats until it completes or expires) */
  pollDelaysMs?: number[]
  /** At most this many payments polled at once, and per balance */
  maxPolls?: number
  maxPollsPerBalance?: number
  /** A payment is read for at most this long after it was submitted (the extension's expire in 10 minutes) */
  maxPollMs?: number
}

const fail = (error: IncomingPaymentError, message: string) => ({ error, message })
const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]'])

/** https, or http on loopback (development): never credentials, a fragment or a query. */
function httpsUrl (value: unknown): URL | undefined {
  if (typeof value !== 'string' || value.length > 2048) return undefined
  let url: URL
  try { url = new URL(value) } catch { return undefined }
  if (url.username || url.password || url.hash || url.search) return undefined
  if (url.protocol === 'https:' || (url.protocol === 'http:' && LOOPBACK.has(url.hostname))) return url
  return undefined
}

export function createIncomingPaymentVerifier (deps: IncomingPaymentVerifierDeps): IncomingPaymentVerifier {
  const log = deps.log.child({ service: 'incoming-payments' })
  const now = deps.now ?? Date.now
  const delays = deps.pollDelaysMs ?? [250, 500, 1000, 2000, 4000, 8000, 15_000, 30_000]
  const maxPolls = deps.maxPolls ?? 10_000
  const maxPerBalance = deps.maxPollsPerBalance ?? 16
  const maxPollMs = deps.maxPollMs ?? 15 * 60_000
  /** Payments being polled, by URL, with the balance that claimed them */
  const polls = new Map<string, { timer: ReturnType<typeof setTimeout>, balanceId: string }>()
  const pollsOf = new Map<string, number>()
  const stopPolling = (url: string) => {
    const p = polls.get(url)
    if (!p) return
    clearTimeout(p.timer)
    polls.delete(url)
    const n = (pollsOf.get(p.balanceId) ?? 1) - 1
    if (n <= 0) pollsOf.delete(p.balanceId); else pollsOf.set(p.balanceId, n)
  }
  const walletAddresses = new Map<string, { value: Promise<{ id: string, authServer: string, resourceServer: string, assetCode: string, assetScale: number }>, at: number }>()

  function walletAddress (url: string) {
    const cached = walletAddresses.get(url)
    if (cached && cached.at > now() - 300_000) return cached.value
    const value = deps.client.sdk.walletAddress.get({ url })
    walletAddresses.set(url, { value, at: now() })
    value.catch(() => walletAddresses.delete(url))
    return value
  }

  /** Reads the payment at its wallet and credits what it received since the last read. */
  async function readAndCredit (balanceId: string, receiver: string, paymentUrl: string, wa: { id: string, authServer: string }) {
    let payment
    try {
      const accessToken = await deps.client.readToken(wa.authServer, wa.id)
      payment = await deps.client.sdk.incomingPayment.get({ url: paymentUrl, accessToken })
    } catch (err) {
      if ((err as { status?: number }).status === 401) deps.client.forget(wa.authServer, wa.id)
      const status = (err as { status?: number }).status
      return fail(status === 404 || status === 403 ? IncomingPaymentError.NotThisWallet : IncomingPaymentError.Unreachable,
        status === 404 || status === 403 ? `${paymentUrl} is not an incoming payment of ${wa.id}` : `could not read ${paymentUrl}: ${(err as Error).message}`)
    }
    // One payment, one key: credits and polls are keyed by the URL, so it must be the payment's own
    // (a percent-escaped spelling reaches the same payment and would be credited again).
    if (payment.id !== paymentUrl) return fail(IncomingPaymentError.InvalidUrl, `${paymentUrl} is not the payment's own URL (${payment.id})`)
    // The wallet that holds the payment says whose it is; it must be the creator's.
    if (payment.walletAddress !== wa.id) return fail(IncomingPaymentError.NotThisWallet, `${paymentUrl} pays ${payment.walletAddress}, not ${wa.id}`)
    // Balances for a receiver count in its wallet's asset, as its prices are converted into.
    const asset = await deps.assetOf(receiver)
    if ('problem' in asset) return fail(IncomingPaymentError.AssetMismatch, asset.detail)
    if (payment.receivedAmount.assetCode !== asset.assetCode || payment.receivedAmount.assetScale !== asset.assetScale) {
      return fail(IncomingPaymentError.AssetMismatch, `the payment counts in ${payment.receivedAmount.assetCode}/${payment.receivedAmount.assetScale}, this receiver's balances in ${asset.assetCode}/${asset.assetScale}`)
    }
    const received = BigInt(payment.receivedAmount.value)
    const result = await deps.store.creditIncomingPayment({ incomingPayment: paymentUrl, balanceId, receiver, received, maxBalance: deps.maxBalance, now: now() })
    if (result.kind === 'claimed') return fail(IncomingPaymentError.Claimed, 'another balance credited this incoming payment first')
    if (result.kind === 'balance_overflow') return fail(IncomingPaymentError.BalanceOverflow, 'the balance cannot hold more')
    if (result.amount > 0n) log.debug({ balance: balanceId, receiver, incomingPayment: paymentUrl, amount: result.amount.toString(), received: received.toString() }, 'incoming payment credited')
    const expiresAt = payment.expiresAt ? Date.parse(payment.expiresAt) : Infinity
    return { credited: result.amount, balance: result.balance, receiver, receivedAmount: received, completed: payment.completed, open: !payment.completed && expiresAt > now(), expiresAt }
  }

  function poll (balanceId: string, receiver: string, paymentUrl: string, wa: { id: string, authServer: string }, attempt: number, until: number) {
    if (attempt === 0) {
      if (polls.has(paymentUrl)) return true
      // Bounded for everyone and per balance: one reader cannot take every slot with payments that never settle.
      if (polls.size >= maxPolls || (pollsOf.get(balanceId) ?? 0) >= maxPerBalance) return false
      pollsOf.set(balanceId, (pollsOf.get(balanceId) ?? 0) + 1)
    }
    const delay = delays[Math.min(attempt, delays.length - 1)]!
    const timer = setTimeout(() => {
      void readAndCredit(balanceId, receiver, paymentUrl, wa).then((r) => {
        const more = !('error' in r) ? r.open : r.error === IncomingPaymentError.Unreachable
        if (more && now() < until) poll(balanceId, receiver, paymentUrl, wa, attempt + 1, until)
        else stopPolling(paymentUrl)
      }, () => stopPolling(paymentUrl))
    }, delay).unref()
    polls.set(paymentUrl, { timer, balanceId })
    return true
  }

  return {
    async credit (balanceId, incomingPayment, walletAddressValue) {
      const ip = httpsUrl(incomingPayment)
      const waUrl = httpsUrl(walletAddressValue)
      if (!ip || !waUrl) return fail(IncomingPaymentError.InvalidUrl, 'incomingPayment and walletAddress must be https URLs (http on localhost)')
      // Only a creator this companion sells for: the admin registered the wallet address (POST /proxies).
      const proxy = await deps.verifier.proxyFor(waUrl.href.replace(/\/$/, ''))
      if (!proxy) return fail(IncomingPaymentError.UnknownReceiver, `${waUrl.href} is not a receiver registered here (POST /proxies)`)
      let wa
      try { wa = await walletAddress(proxy.paymentPointer) } catch (err) {
        return fail(IncomingPaymentError.Unreachable, `could not read the wallet address ${proxy.paymentPointer}: ${(err as Error).message}`)
      }
      if (!ip.href.startsWith(`${wa.resourceServer.replace(/\/$/, '')}/incoming-payments/`)) {
        return fail(IncomingPaymentError.NotThisWallet, `${ip.href} is not at ${wa.id}'s resource server`)
      }
      const r = await readAndCredit(balanceId, proxy.id, ip.href, wa)
      if ('error' in r) return r
      const polling = r.open ? poll(balanceId, proxy.id, ip.href, wa, 0, Math.min(r.expiresAt + 5000, now() + maxPollMs)) : false
      return { credited: r.credited, balance: r.balance, receiver: r.receiver, receivedAmount: r.receivedAmount, completed: r.completed, polling }
    },
    close () {
      for (const p of polls.values()) clearTimeout(p.timer)
      polls.clear()
      pollsOf.clear()
    }
  }
}
