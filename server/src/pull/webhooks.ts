// Webhook deliveries after each pull, from an outbox in the store: a pull only inserts a row (it never
// waits for the site), a worker POSTs it, and failures are retried with backoff a bounded number of
// times, across restarts too. The original server's webhook never fired at all: it passed an object
// where a token string was expected and swallowed the lookup error.
//
// Signature: `Trickle-Signature: sha256=<hex HMAC-SHA256 of the exact body>` with the agreement's
// webhook secret (returned when the agreement is created), as GitHub signs its webhooks. The body
// carries `pulledAt` and the delivery id is in `Trickle-Delivery` (the same on every retry), so a
// receiver can refuse replays and deduplicate.
import { createHmac, randomUUID } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import type { PullStore } from './store.ts'

const CLAIM_MS = 60_000
const TIMEOUT_MS = 10_000
const BATCH = 20
/** How often the outbox is read for deliveries that no timer here knows of. */
const POLL_MS = 5000

export interface WebhookDispatcher {
  /** Queues a delivery of `payload` to `url` and starts it at once. Never throws. */
  enqueue (agreementId: string, url: string, payload: unknown): Promise<void>
  /** Resolves when nothing is being delivered right now (tests). */
  idle (): Promise<void>
  close (): Promise<void>
}

export function webhookSignature (secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`
}

export function createWebhookDispatcher (deps: {
  store: PullStore
  /** Delays before each retry; attempts = backoffMs.length + 1. */
  backoffMs: readonly number[]
  secretOf (agreementId: string): string
  log: FastifyBaseLogger
}): WebhookDispatcher {
  const log = deps.log.child({ component: 'pull-webhooks' })
  let timer: NodeJS.Timeout | undefined
  let running: Promise<void> | undefined
  let again = false
  let closed = false
  const inFlight = new Set<AbortController>()

  async function deliver (d: { id: string, agreementId: string, url: string, body: string, attempts: number }): Promise<void> {
    const attempt = d.attempts + 1
    const controller = new AbortController()
    inFlight.add(controller)
    const timeout = setTimeout(() => controller.abort(new Error(`no answer within ${TIMEOUT_MS} ms`)), TIMEOUT_MS)
    let problem: string | undefined
    try {
      const res = await fetch(d.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'trickle-pull-webhook',
          'trickle-delivery': d.id,
          'trickle-attempt': String(attempt),
          'trickle-signature': webhookSignature(deps.secretOf(d.agreementId), d.body)
        },
        body: d.body,
        redirect: 'manual',
        signal: controller.signal
      })
      await res.body?.cancel().catch(() => {})
      if (res.status < 200 || res.status >= 300) problem = `HTTP ${res.status}`
    } catch (err) {
      problem = err instanceof Error ? (err.cause instanceof Error ? `${err.message}: ${err.cause.message}` : err.message) : String(err)
    } finally {
      clearTimeout(timeout)
      inFlight.delete(controller)
    }
    if (problem === undefined) {
      await deps.store.webhookDelivered(d.id)
      log.debug({ delivery: d.id, agreement: d.agreementId, attempt }, 'pull webhook delivered')
      return
    }
    // Cut short by shutdown: not the site's fault. The claim lapses and the next start sends it again.
    if (closed) return
    const delay = deps.backoffMs[attempt - 1]
    await deps.store.webhookFailed(d.id, attempt, problem, delay === undefined ? undefined : Date.now() + delay)
    if (delay === undefined) log.warn({ delivery: d.id, agreement: d.agreementId, url: d.url, attempts: attempt, problem }, 'pull webhook failed; giving up')
    else log.info({ delivery: d.id, agreement: d.agreementId, attempt, problem, retryInMs: delay }, 'pull webhook failed; will retry')
  }

  async function drain (): Promise<void> {
    do {
      again = false
      for (;;) {
        if (closed) return
        const now = Date.now()
        const due = await deps.store.claimDueWebhooks(now, now + CLAIM_MS, BATCH)
        if (due.length === 0) break
        await Promise.all(due.map((d) => deliver(d).catch((err: unknown) => log.error({ err, delivery: d.id }, 'could not record a webhook attempt'))))
      }
    } while (again)
    schedule()
  }

  function kick (): void {
    if (closed) return
    if (running) { again = true; return }
    running = drain().catch((err: unknown) => log.error({ err }, 'webhook worker failed')).finally(() => { running = undefined })
  }

  function schedule (): void {
    if (closed) return
    deps.store.nextWebhookAt().then((at) => {
      if (timer) clearTimeout(timer)
      timer = undefined
      if (at === undefined || closed) return
      timer = setTimeout(kick, Math.max(0, at - Date.now()))
      timer.unref()
    }, (err: unknown) => log.error({ err }, 'could not schedule webhook retries'))
  }

  // Deliveries left over from before a restart (or claimed by a worker that died) go out now.
  kick()
  // Several companions share one outbox: what another instance queued, or claimed and then died
  // holding, is due here too, and this instance's timer knows nothing of it. Claims are taken with
  // FOR UPDATE SKIP LOCKED, so however many instances look, each delivery goes to one of them.
  const poll = setInterval(kick, POLL_MS)
  poll.unref()

  return {
    async enqueue (agreementId, url, payload) {
      try {
        await deps.store.enqueueWebhook({ id: randomUUID(), agreementId, url, body: JSON.stringify(payload), attempts: 0, createdAt: Date.now() }, Date.now())
        kick()
      } catch (err) {
        log.error({ err, agreement: agreementId }, 'could not queue a pull webhook')
      }
    },
    async idle () {
      while (running) await running
    },
    async close () {
      closed = true
      clearInterval(poll)
      if (timer) clearTimeout(timer)
      for (const c of inFlight) c.abort(new Error('server closing'))
      await running
    }
  }
}
