// Trickle's development payment agent. No Web Monetization extension runs in a test browser, so this
// does the agent's job for real on the local Interledger network, in one of two modes:
//  - extension (default): as the Interledger Foundation's Web Monetization extension does. For every
//    enabled <link rel="monetization"> (a wallet address), it reads the wallet address, gets a
//    non-interactive incoming-payment grant, creates an incoming payment (no amount, expiring in 10
//    minutes, then a new one), pays it over STREAM, and fires a `monetization` event with amountSent
//    and incomingPayment as each payment starts, before it settles. Several links share the amount.
//  - receipts (params.trickle.devAgent.mode = "receipts"): the Coil-era agent. It queries SPSP at the
//    first link's href, streams to it, and fires both event families with the STREAM receipt of every
//    fulfilled packet (see events.ts).
// Either way the money moves over BTP/WebSocket into the companion's connector at a configurable rate.
//
// Included only in development builds (`hugo server`, `--environment development`) or when the site
// sets params.trickle.devAgent.enabled; never in a production build by default.
import BtpPluginModule from 'ilp-plugin-btp'
import { createConnection } from 'ilp-protocol-stream'
import { decimal, DevMonetizationEvent, LegacyMonetization, type Payment } from './events.ts'
import { createIncomingPayment, getWalletAddress, incomingPaymentGrant, newClientKey, type ClientKey } from './open-payments.ts'

export type AgentMode = 'extension' | 'receipts'

export interface AgentConfig {
  /** BTP endpoint of the local network, without credentials: btp+ws://127.0.0.1:7768 */
  btp: string
  /** Units of the network's asset sent per payment (shared among the page's links in extension mode) */
  amount: string
  /** Milliseconds between payments */
  intervalMs: number
  /** receipts: re-query SPSP this often, so receipt nonces never outlive the verifier's TTL */
  renewMs: number
  mode: AgentMode
  /** extension: lifetime of each incoming payment (the extension's is 10 minutes) */
  incomingPaymentMs: number
}

const DEFAULTS: AgentConfig = { btp: 'btp+ws://127.0.0.1:7768', amount: '100000', intervalMs: 500, renewMs: 240_000, mode: 'extension', incomingPaymentMs: 600_000 }

type Status = 'idle' | 'connecting' | 'streaming' | 'stopped' | 'error'

declare global {
  interface Document { monetization?: EventTarget & { state?: string } }
  interface Window { trickleDevAgent?: DevAgent }
}

interface BtpClient { connect (): Promise<void>, disconnect (): Promise<void> }
// ilp-plugin-btp is CommonJS (`module.exports = Plugin`); its typings describe a namespace.
const BtpPlugin = BtpPluginModule as unknown as new (opts: { server: string }) => BtpClient

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const randomHex = (bytes: number) => Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, '0')).join('')
const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]'])

/** The extension pays https wallet addresses only; http is allowed on this machine, for development. */
function payable (href: string): boolean {
  try {
    const url = new URL(href)
    return url.protocol === 'https:' || (url.protocol === 'http:' && LOOPBACK.has(url.hostname))
  } catch { return false }
}

interface Destination { ilpAddress: string, sharedSecret: Uint8Array, incomingPayment?: string, until: number }

/** One payment session: one link, one destination at a time (an SPSP query or an incoming payment), one STREAM connection. */
class Session {
  readonly pointer: string
  readonly requestId = crypto.randomUUID()
  private stopped = false
  private plugin?: BtpClient
  private closeConnection?: () => Promise<void>
  private readonly link: HTMLLinkElement
  private readonly agent: DevAgent
  totalSent = 0n
  status: Status = 'idle'
  error?: string
  /** extension mode: the incoming payment being paid */
  incomingPayment?: string

  constructor (pointer: string, link: HTMLLinkElement, agent: DevAgent) {
    this.pointer = pointer
    this.link = link
    this.agent = agent
  }

  private get config () { return this.agent.config }
  private get legacy () { return this.agent.legacy }

  async run (): Promise<void> {
    if (this.config.mode === 'receipts') this.legacy?.pending(this.pointer, this.requestId)
    while (!this.stopped) {
      try {
        await this.connectAndStream()
      } catch (err) {
        if (this.stopped) break
        this.status = 'error'
        this.error = (err as Error).message
        console.warn(`[trickle dev agent] ${this.pointer}: ${this.error}; retrying in 3 s`)
        await this.disconnect()
        await sleep(3000)
      }
    }
  }

  /** Where the money goes: an SPSP query (receipts), or a new incoming payment at the wallet address (extension). */
  private async destination (): Promise<Destination> {
    if (this.config.mode === 'receipts') {
      const res = await fetch(this.pointer, { headers: { accept: 'application/spsp4+json' }, cache: 'no-store' })
      if (!res.ok) throw new Error(`SPSP query answered HTTP ${res.status}`)
      const spsp = await res.json() as { destination_account: string, shared_secret: string }
      return { ilpAddress: spsp.destination_account, sharedSecret: Uint8Array.from(atob(spsp.shared_secret), (c) => c.charCodeAt(0)), until: Date.now() + this.config.renewMs }
    }
    if (!payable(this.pointer)) throw new Error('not an https wallet address; the extension would not pay it')
    const wa = await getWalletAddress(this.pointer)
    const key = await this.agent.clientKey()
    const token = await incomingPaymentGrant(wa, key)
    const expiresAt = Date.now() + this.config.incomingPaymentMs
    const ip = await createIncomingPayment(wa, token, key, new Date(expiresAt))
    this.incomingPayment = ip.id
    // A new incoming payment before this one expires (the extension renews them the same way).
    return { ilpAddress: ip.ilpAddress, sharedSecret: ip.sharedSecret, incomingPayment: ip.id, until: Math.min(Date.parse(ip.expiresAt), expiresAt) - 5000 }
  }

  private async connectAndStream (): Promise<void> {
    this.status = 'connecting'
    const to = await this.destination()
    // Each session joins as its own mini-accounts client: btp+ws://<name>:<secret>@host:port
    const server = this.config.btp.replace(/^btp\+(wss?):\/\//, `btp+$1://agent${randomHex(4)}:${randomHex(16)}@`)
    const plugin = this.plugin = new BtpPlugin({ server })
    const connection = await createConnection({
      plugin: plugin as never,
      destinationAccount: to.ilpAddress,
      sharedSecret: Buffer.from(to.sharedSecret)
    })
    // A graceful end waits for the receiver to close its side, which it may never do: bounded.
    this.closeConnection = async () => {
      const ended = await Promise.race([connection.end().then(() => true, () => true), sleep(2000).then(() => false)])
      if (!ended) void connection.destroy().catch(() => {})
    }
    const stream = connection.createStream()
    const assetCode = connection.sourceAssetCode
    const assetScale = connection.sourceAssetScale
    let started = false
    if (this.config.mode === 'receipts') {
      stream.on('outgoing_money', (amount: string) => {
        this.totalSent += BigInt(amount)
        if (!started) {
          started = true
          this.legacy?.start(this.pointer, this.requestId)
        }
        const payment: Payment = {
          paymentPointer: this.pointer,
          requestId: this.requestId,
          amount,
          assetCode,
          assetScale,
          receipt: stream.receipt ? stream.receipt.toString('base64') : null
        }
        // Today's event first, on the link element, bubbling (spec §MonetizationEvent); then the legacy
        // one. Pages that hear both count the link event (see theme/assets/ts/monetization.ts).
        this.dispatch(DevMonetizationEvent.fromReceipt(payment))
        this.legacy?.progress(payment)
      })
    } else {
      stream.on('outgoing_money', (amount: string) => { this.totalSent += BigInt(amount) })
    }
    this.status = 'streaming'
    let target = 0n
    while (!this.stopped && Date.now() < to.until) {
      const share = this.agent.shareOf(this)
      target += share
      if (this.config.mode === 'extension' && share > 0n) {
        // The extension fires as soon as the outgoing payment is created: before the money settles,
        // and whether it ever does. Only the wallet's receivedAmount proves it arrived.
        this.dispatch(new DevMonetizationEvent({ paymentPointer: this.pointer, amountSent: { currency: assetCode, value: decimal(share.toString(), assetScale) }, incomingPayment: to.incomingPayment! }))
      }
      await stream.sendTotal(target.toString(), { timeout: 30_000 })
      await sleep(this.config.intervalMs)
    }
    await this.disconnect()
  }

  private dispatch (event: DevMonetizationEvent) {
    if (this.link.isConnected) this.link.dispatchEvent(event)
    else document.dispatchEvent(event)
  }

  private async disconnect () {
    const close = this.closeConnection
    this.closeConnection = undefined
    await close?.().catch(() => {})
    const plugin = this.plugin
    this.plugin = undefined
    await plugin?.disconnect().catch(() => {})
  }

  async stop (): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    this.status = 'stopped'
    await this.disconnect()
    if (this.config.mode === 'receipts') this.legacy?.stop(this.pointer, this.requestId, true)
  }
}

export class DevAgent {
  /** Active sessions by href, in the page's link order */
  private sessions = new Map<string, Session>()
  /** The Coil-era document.monetization: receipt mode only (the extension installs none) */
  readonly legacy?: LegacyMonetization
  readonly config: AgentConfig
  private paused = false
  private key?: Promise<ClientKey>
  /** What was sent to each pointer during this page's life, in the network's smallest unit */
  readonly sentByPointer = new Map<string, bigint>()

  constructor (config: AgentConfig) {
    this.config = config
    if (config.mode === 'receipts') {
      const existing = document.monetization
      this.legacy = existing instanceof LegacyMonetization ? existing : new LegacyMonetization()
      if (!existing) Object.defineProperty(document, 'monetization', { value: this.legacy, configurable: true })
    }
  }

  get mode () { return this.config.mode }
  get status () { return this.sessions.values().next().value?.status ?? 'idle' }
  get pointer () { return this.sessions.keys().next().value }
  /** Every link paid now (extension mode pays them all) */
  get pointers () { return [...this.sessions.keys()] }
  /** extension mode: the incoming payment each link's money goes to now */
  get incomingPayments () { return Object.fromEntries([...this.sessions].map(([href, s]) => [href, s.incomingPayment])) }

  /** One key for the page's life: the agent's directed identity at every wallet it pays. */
  clientKey (): Promise<ClientKey> {
    return this.key ??= newClientKey()
  }

  /** A session's part of each payment: the amount split evenly, the remainder to the first link. */
  shareOf (session: Session): bigint {
    const all = [...this.sessions.values()]
    const i = all.indexOf(session)
    if (i < 0) return 0n
    const amount = BigInt(this.config.amount)
    const n = BigInt(all.length)
    return amount / n + (i === 0 ? amount % n : 0n)
  }

  /** Follows the enabled monetization links; switches when they change (gallery) or go. */
  watch (): void {
    const sync = () => { void this.sync() }
    new MutationObserver(sync).observe(document.documentElement, {
      subtree: true, childList: true, attributes: true, attributeFilter: ['href', 'rel', 'disabled']
    })
    document.addEventListener('visibilitychange', sync)
    sync()
  }

  /** The links to pay: all enabled ones (extension), or the first (receipts, as Coil's agent). */
  private activeLinks (): HTMLLinkElement[] {
    const links = Array.from(document.querySelectorAll<HTMLLinkElement>('link[rel~="monetization"]')).filter((l) => !l.disabled && l.href)
    const unique = links.filter((l, i) => links.findIndex((o) => o.href === l.href) === i)
    return this.config.mode === 'receipts' ? unique.slice(0, 1) : unique
  }

  private syncing: Promise<void> = Promise.resolve()

  /** Serialised: overlapping mutations must not start two sessions for one pointer. */
  private sync (): Promise<void> {
    this.syncing = this.syncing.then(() => this.syncNow(), () => this.syncNow())
    return this.syncing
  }

  private async syncNow (): Promise<void> {
    const links = this.paused || document.visibilityState === 'hidden' ? [] : this.activeLinks()
    const wanted = new Map(links.map((l) => [l.href, l]))
    for (const [href, session] of this.sessions) {
      if (wanted.has(href)) continue
      this.sessions.delete(href)
      this.sentByPointer.set(href, (this.sentByPointer.get(href) ?? 0n) + session.totalSent)
      await session.stop()
    }
    for (const [href, link] of wanted) {
      if (this.sessions.has(href)) continue
      const session = new Session(href, link, this)
      this.sessions.set(href, session)
      void session.run()
    }
  }

  /** Stops paying (tests compare totals after this). */
  async stop (): Promise<void> {
    this.paused = true
    await this.sync()
  }

  async start (): Promise<void> {
    this.paused = false
    await this.sync()
  }

  /** Total sent to a pointer so far, current session included. */
  sentTo (pointer: string): string {
    const current = this.sessions.get(pointer)?.totalSent ?? 0n
    return ((this.sentByPointer.get(pointer) ?? 0n) + current).toString()
  }
}

function readConfig (): AgentConfig {
  const el = document.getElementById('trickle-dev-agent-config')
  const given = el?.textContent ? JSON.parse(el.textContent) as Partial<AgentConfig> : {}
  return {
    btp: given.btp || DEFAULTS.btp,
    amount: /^[1-9][0-9]*$/.test(String(given.amount ?? '')) ? String(given.amount) : DEFAULTS.amount,
    intervalMs: Number(given.intervalMs) > 0 ? Number(given.intervalMs) : DEFAULTS.intervalMs,
    renewMs: Number(given.renewMs) > 0 ? Number(given.renewMs) : DEFAULTS.renewMs,
    mode: given.mode === 'receipts' ? 'receipts' : DEFAULTS.mode,
    incomingPaymentMs: Number(given.incomingPaymentMs) >= 10_000 ? Number(given.incomingPaymentMs) : DEFAULTS.incomingPaymentMs
  }
}

const agent = new DevAgent(readConfig())
window.trickleDevAgent = agent
console.info(`[trickle dev agent] paying this page over the local Interledger network (development only; ${agent.mode === 'extension' ? 'as the Web Monetization extension, through Open Payments' : 'legacy mode, with STREAM receipts'})`)
agent.watch()
