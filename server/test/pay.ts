// A STREAM sender as a Web Monetization agent would be: SPSP query, then ilp-protocol-stream over its
// own BTP connection, collecting the receipt each fulfilled packet brings back.
import { randomBytes } from 'node:crypto'
import { createRequire } from 'node:module'
import { createConnection } from '../src/ilp/stream.ts'

const BtpPlugin = createRequire(import.meta.url)('ilp-plugin-btp') as new (opts: { server: string }) => { connect (): Promise<void>, disconnect (): Promise<void> }

export interface Paid {
  totalSent: string
  receipts: string[]
}

export async function querySpsp (pointer: string) {
  const res = await fetch(pointer, { headers: { accept: 'application/spsp4+json' } })
  if (!res.ok) throw new Error(`SPSP query ${pointer}: HTTP ${res.status} ${await res.text()}`)
  return await res.json() as { destination_account: string, shared_secret: string, receipts_enabled: boolean }
}

/**
 * Pays up to `amount` over BTP to an Open Payments incoming payment's ILP method (as a wallet pays one);
 * returns what was delivered, which stops short when the receiver refuses more.
 */
export async function payIncomingPayment (btpPort: number, method: { ilpAddress: string, sharedSecret: string }, amount: number | string): Promise<string> {
  const plugin = new BtpPlugin({ server: `btp+ws://sender${randomBytes(4).toString('hex')}:${randomBytes(8).toString('hex')}@127.0.0.1:${btpPort}` })
  const connection = await createConnection({ plugin: plugin as never, destinationAccount: method.ilpAddress, sharedSecret: Buffer.from(method.sharedSecret, 'base64url') })
  try {
    const stream = connection.createStream()
    // A receiver that refuses the rest makes the sender retry until its timeout: stop once it stalls.
    await Promise.race([stream.sendTotal(String(amount)).catch(() => {}), stalled(connection)])
    return connection.totalDelivered
  } finally {
    connection.destroy()
    await plugin.disconnect()
  }
}

/** Resolves once nothing more was delivered for a second. */
function stalled (connection: { totalDelivered: string }): Promise<void> {
  return new Promise((resolve) => {
    let last = connection.totalDelivered
    const timer = setInterval(() => {
      if (connection.totalDelivered === last) { clearInterval(timer); resolve() }
      last = connection.totalDelivered
    }, 1000)
  })
}

/** Pays `amount` to a pointer over BTP and returns every distinct receipt, in order. */
export async function pay (btpPort: number, pointer: string, amount: number | string, streams = 1): Promise<Paid> {
  const spsp = await querySpsp(pointer)
  const plugin = new BtpPlugin({ server: `btp+ws://sender${randomBytes(4).toString("hex")}:${randomBytes(8).toString("hex")}@127.0.0.1:${btpPort}` })
  // ilp-plugin-btp's typings predate the Plugin interface ilp-protocol-stream declares.
  const connection = await createConnection({ plugin: plugin as never, destinationAccount: spsp.destination_account, sharedSecret: Buffer.from(spsp.shared_secret, 'base64') })
  const receipts: string[] = []
  try {
    const each = BigInt(amount) / BigInt(streams)
    await Promise.all(Array.from({ length: streams }, async () => {
      const stream = connection.createStream()
      stream.on('outgoing_money', () => {
        const r = stream.receipt?.toString('base64')
        if (r && !receipts.includes(r)) receipts.push(r)
      })
      await stream.sendTotal(each.toString())
    }))
    return { totalSent: connection.totalDelivered, receipts }
  } finally {
    await connection.end().catch(() => {})
    await plugin.disconnect()
  }
}
