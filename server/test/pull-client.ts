// The payee's side of a pull payment, with the published client: ilp-protocol-spsp's `pull()` over its
// own BTP connection to the companion's embedded connector.
import { randomBytes } from 'node:crypto'
import { createRequire } from 'node:module'
// ilp-protocol-spsp uses the hoisted ilp-protocol-stream (root package.json `overrides`); the Node >= 18
// fix must be applied to it before pull() creates a stream.
import '../src/ilp/stream.ts'
import { adminAuth } from './helper.ts'

const require = createRequire(import.meta.url)
interface Plugin { connect (): Promise<void>, disconnect (): Promise<void> }
const BtpPlugin = require('ilp-plugin-btp') as new (opts: { server: string }) => Plugin
const SPSP = require('ilp-protocol-spsp') as {
  pull (plugin: Plugin, opts: { pointer: string, amount?: string }): Promise<{ totalReceived: string }>
  PaymentError: new (...args: never[]) => Error & { totalReceived: string }
}

export interface Pulled {
  received: bigint
  /** true when the whole requested amount arrived (pull() resolved rather than threw a PaymentError) */
  complete: boolean
}

/**
 * Pulls from a pointer; `amount` undefined pulls whatever is available (receiveMax Infinity). One BTP
 * plugin per pull: ilp-protocol-stream disconnects the plugin when the connection closes.
 */
export async function pullFrom (btpPort: number, pointer: string, amount?: bigint | number): Promise<Pulled> {
  const plugin = new BtpPlugin({ server: `btp+ws://payee${randomBytes(4).toString('hex')}:${randomBytes(8).toString('hex')}@127.0.0.1:${btpPort}` })
  try {
    const result = await SPSP.pull(plugin, amount === undefined ? { pointer } : { pointer, amount: amount.toString() })
    return { received: BigInt(result.totalReceived), complete: true }
  } catch (err) {
    if (err instanceof SPSP.PaymentError) return { received: BigInt(err.totalReceived ?? '0'), complete: false }
    throw err
  } finally {
    await plugin.disconnect().catch(() => {})
  }
}

export interface SpspPull {
  destination_account: string
  shared_secret: string
  pull: {
    balance: { total: string, interval: string, available: string }
    cycle: number
    agreement: { amount: string, start: string, expiry?: string, interval: string, cycles: number, cap: boolean, asset: { code: string, scale: number } }
  }
}

export async function queryPull (pointer: string): Promise<{ status: number, body: SpspPull & { code?: string, id?: string, message?: string }, contentType: string | null }> {
  const res = await fetch(pointer, { headers: { accept: 'application/spsp4+json' } })
  return { status: res.status, body: await res.json() as SpspPull, contentType: res.headers.get('content-type') }
}

export const json = { ...adminAuth, 'content-type': 'application/json' }

export interface AgreementReply {
  id: string
  pointer: string
  status: string
  cycle: number
  balance: { total: string, interval: string, available: string }
  webhookSecret?: string
  [field: string]: unknown
}

export async function createAgreement (url: string, terms: Record<string, unknown>): Promise<AgreementReply> {
  const res = await fetch(`${url}/pull`, { method: 'POST', headers: json, body: JSON.stringify(terms) })
  const body = await res.json() as AgreementReply
  if (res.status !== 201) throw new Error(`POST /pull: ${res.status} ${JSON.stringify(body)}`)
  return body
}
