// The message bus several companions share (issue: one tracker swarm across instances). What crosses
// it is soft state that clients announce again anyway (who is in which swarm, WebRTC offers and
// answers on their way to a peer on another instance), so at-most-once delivery is enough; money never
// crosses it (balances, grants and receipts are in the shared database, see store/postgres.ts).
//
// NATS rather than Redis: the tracker needs subject-addressed messages (an offer goes to the one
// instance holding its target peer, `…tracker.to.<instance>`) and fan-out (a peer joined), with no
// storage; NATS core does exactly that, in one small server, and its client reconnects by itself.
// Redis pub/sub would do the same but ties delivery to a data store the companion does not use.
import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import type { FastifyBaseLogger } from 'fastify'

export interface Bus {
  /** This process's name on the bus: random per start, so a restarted instance is a new one. */
  readonly instanceId: string
  /** Fire and forget; subjects are relative to the deployment's prefix. */
  publish (subject: string, payload: Uint8Array): void
  subscribe (subject: string, handler: (payload: Uint8Array) => void): void
  /** Runs after the connection to the bus came back (what was published meanwhile is lost). */
  onReconnect (fn: () => void): void
  close (): Promise<void>
}

export class BusOpenError extends Error {
  constructor (url: string, cause: unknown) {
    super(`could not connect to the message bus at ${url.replace(/\/\/[^@/]*@/, '//…@')} (TRICKLE_BUS): ${(cause as Error).message ?? String(cause)}`)
    this.name = 'BusOpenError'
  }
}

export const newInstanceId = () => `${hostname().replace(/[^A-Za-z0-9-]/g, '').slice(0, 24) || 'host'}-${process.pid}-${randomBytes(3).toString('hex')}`

/** A NATS URL (`nats://[user:pass@]host:port`, several comma-separated for a NATS cluster). */
export function isBusUrl (value: string): boolean {
  return value.split(',').every((s) => /^(nats|tls):\/\/[^\s/]+(:\d+)?\/?$/.test(s.trim()))
}

/** Subject tokens: letters, digits, `-` and `_` (NATS splits on `.` and treats `*` and `>` as wildcards). */
export const SUBJECT_PREFIX = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/

export async function connectNatsBus (opts: { url: string, prefix: string, log: FastifyBaseLogger, instanceId?: string }): Promise<Bus> {
  const { connect } = await import('@nats-io/transport-node')
  const instanceId = opts.instanceId ?? newInstanceId()
  const log = opts.log.child({ service: 'bus' })
  let nc: Awaited<ReturnType<typeof connect>>
  try {
    nc = await connect({
      servers: opts.url.split(',').map((s) => s.trim()),
      name: `trickle ${instanceId}`,
      // Our own broadcasts are not news to us.
      noEcho: true,
      // A companion outlives a bus restart: it keeps serving its own clients and rejoins when it can.
      maxReconnectAttempts: -1,
      reconnectTimeWait: 1000,
      timeout: 5000
    })
  } catch (err) {
    throw new BusOpenError(opts.url, err)
  }
  log.info({ instance: instanceId, server: nc.getServer() }, 'joined the message bus')
  const reconnected: Array<() => void> = []
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') log.warn({ server: s.server }, 'lost the message bus; peers on other instances are out of reach until it is back')
      else if (s.type === 'reconnect') {
        log.info({ server: s.server }, 'message bus back')
        for (const fn of reconnected) fn()
      }
    }
  })().catch(() => {})
  const full = (subject: string) => `${opts.prefix}.${subject}`
  return {
    instanceId,
    publish (subject, payload) {
      if (nc.isClosed()) return
      try { nc.publish(full(subject), payload) } catch (err) { log.warn({ err: (err as Error).message, subject }, 'bus publish failed') }
    },
    subscribe (subject, handler) {
      nc.subscribe(full(subject), {
        callback: (err, msg) => {
          if (err) return
          try { handler(msg.data) } catch (e) { log.warn({ err: (e as Error).message, subject }, 'bus message could not be handled') }
        }
      })
    },
    onReconnect (fn) { reconnected.push(fn) },
    async close () {
      if (nc.isClosed()) return
      // Sends what is queued (a goodbye, say) before closing.
      await nc.drain().catch(() => nc.close())
    }
  }
}
