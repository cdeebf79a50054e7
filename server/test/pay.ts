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
