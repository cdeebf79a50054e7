// Trickle's development payment agent. No Web Monetization extension runs in a test browser, so this
// does the agent's job for real on the local Interledger network: it finds the page's
// <link rel="monetization">, queries SPSP at its href, streams STREAM payments over BTP/WebSocket into
// the companion's connector at a configurable rate, and fires the events a real agent fires (both
// families, see events.ts), with the STREAM receipt of every fulfilled packet.
//
// Included only in development builds (`hugo server`, `--environment development`) or when the site
// sets params.trickle.devAgent.enabled; never in a production build by default.
import BtpPluginModule from 'ilp-plugin-btp'
import { createConnection } from 'ilp-protocol-stream'
import { DevMonetizationEvent, LegacyMonetization, type Payment } from './events.ts'

export interface AgentConfig {
  /** BTP endpoint of the local network, without credentials: btp+ws://127.0.0.1:7768 */
  btp: string
  /** Units of the network's asset sent per payment */
  amount: string
  /** Milliseconds between payments */
  intervalMs: number
  /** Re-query SPSP this often, so receipt nonces never outlive the verifier's TTL */
  renewMs: number
}

const DEFAULTS: AgentConfig = { btp: 'btp+ws://127.0.0.1:7768', amount: '100000', intervalMs: 500, renewMs: 240_000 }

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

/** One payment session: one pointer, one SPSP query, one STREAM connection. */
class Session {
  readonly pointer: string
  readonly requestId = crypto.randomUUID()
  private stopped = false
  private plugin?: BtpClient
  private closeConnection?: () => Promise<void>
  private readonly link: HTMLLinkElement
  private readonly config: AgentConfig
  private readonly legacy: LegacyMonetization
  totalSent = 0n
  status: Status = 'idle'
  error?: string

  constructor (pointer: string, link: HTMLLinkElement, config: AgentConfig, legacy: LegacyMonetization) {
    this.pointer = pointer
    this.link = link
    this.config = config
    this.legacy = legacy
  }

  async run (): Promise<void> {
    this.legacy.pending(this.pointer, this.requestId)
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

  private async connectAndStream (): Promise<void> {
    this.status = 'connecting'
    const res = await fetch(this.pointer, { headers: { accept: 'application/spsp4+json' }, cache: 'no-store' })
    if (!res.ok) throw new Error(`SPSP query answered HTTP ${res.status}`)
    const spsp = await res.json() as { destination_account: string, shared_secret: string }
    // Each session joins as its own mini-accounts client: btp+ws://<name>:<secret>@host:port
    const server = this.config.btp.replace(/^btp\+(wss?):\/\//, `btp+$1://agent${randomHex(4)}:${randomHex(16)}@`)
    const plugin = this.plugin = new BtpPlugin({ server })
    const connection = await createConnection({
      plugin: plugin as never,
      destinationAccount: spsp.destination_account,
      sharedSecret: Buffer.from(spsp.shared_secret, 'base64')
    })
    this.closeConnection = () => connection.end()
    const stream = connection.createStream()
    const assetCode = connection.sourceAssetCode
    const assetScale = connection.sourceAssetScale
    let started = false
    stream.on('outgoing_money', (amount: string) => {
      this.totalSent += BigInt(amount)
      if (!started) {
        started = true
        this.legacy.start(this.pointer, this.requestId)
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
      if (this.link.isConnected) this.link.dispatchEvent(new DevMonetizationEvent(payment))
      else document.dispatchEvent(new DevMonetizationEvent(payment))
      this.legacy.progress(payment)
    })
    this.status = 'streaming'
    const renewAt = Date.now() + this.config.renewMs
    let target = 0n
    while (!this.stopped && Date.now() < renewAt) {
      target += BigInt(this.config.amount)
      await stream.sendTotal(target.toString(), { timeout: 30_000 })
      await sleep(this.config.intervalMs)
    }
    await this.disconnect()
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
    this.legacy.stop(this.pointer, this.requestId, true)
  }
}

export class DevAgent {
  private session?: Session
  private readonly legacy: LegacyMonetization
  private readonly config: AgentConfig
  private paused = false
  /** What was sent to each pointer during this page's life, in the network's smallest unit */
  readonly sentByPointer = new Map<string, bigint>()

  constructor (config: AgentConfig) {
    this.config = config
    const existing = document.monetization
    this.legacy = existing instanceof LegacyMonetization ? existing : new LegacyMonetization()
    if (!existing) Object.defineProperty(document, 'monetization', { value: this.legacy, configurable: true })
  }

  get status () { return this.session?.status ?? 'idle' }
  get pointer () { return this.session?.pointer }

  /** Follows the first enabled monetization link; switches when it changes (gallery) or goes. */
  watch (): void {
    const sync = () => { void this.sync() }
    new MutationObserver(sync).observe(document.documentElement, {
      subtree: true, childList: true, attributes: true, attributeFilter: ['href', 'rel', 'disabled']
    })
    document.addEventListener('visibilitychange', sync)
    sync()
  }

  private activeLink (): HTMLLinkElement | undefined {
    return Array.from(document.querySelectorAll<HTMLLinkElement>('link[rel~="monetization"]')).find((l) => !l.disabled && l.href)
  }

  private syncing: Promise<void> = Promise.resolve()

  /** Serialised: overlapping mutations must not start two sessions for one pointer. */
  private sync (): Promise<void> {
    this.syncing = this.syncing.then(() => this.syncNow(), () => this.syncNow())
    return this.syncing
  }

  private async syncNow (): Promise<void> {
    const link = this.paused || document.visibilityState === 'hidden' ? undefined : this.activeLink()
    const href = link?.href
    if (this.session && this.session.pointer === href) return
    const previous = this.session
    this.session = undefined
    if (previous) {
      this.sentByPointer.set(previous.pointer, (this.sentByPointer.get(previous.pointer) ?? 0n) + previous.totalSent)
      await previous.stop()
    }
    if (link && href) {
      const session = this.session = new Session(href, link, this.config, this.legacy)
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
    const current = this.session?.pointer === pointer ? this.session.totalSent : 0n
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
    renewMs: Number(given.renewMs) > 0 ? Number(given.renewMs) : DEFAULTS.renewMs
  }
}

const agent = new DevAgent(readConfig())
window.trickleDevAgent = agent
console.info('[trickle dev agent] paying this page over the local Interledger network (development only)')
agent.watch()
