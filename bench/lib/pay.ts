// Paying a pointer as a reader's agent does (SPSP query, STREAM over BTP), returning the last receipt
// of the stream: it carries the running total, so crediting it credits everything.
import { randomBytes } from 'node:crypto'
import { createRequire } from 'node:module'
import { createConnection } from '../../server/src/ilp/stream.ts'

const BtpPlugin = createRequire(import.meta.url)('ilp-plugin-btp') as new (opts: { server: string }) => { connect (): Promise<void>, disconnect (): Promise<void> }

export async function payPointer (pointer: string, amount: string, btpUrl: string): Promise<string> {
  const res = await fetch(pointer, { headers: { accept: 'application/spsp4+json' } })
  if (!res.ok) throw new Error(`SPSP query ${pointer}: HTTP ${res.status}`)
  const spsp = await res.json() as { destination_account: string, shared_secret: string, receipts_enabled?: boolean }
  if (spsp.receipts_enabled !== true) throw new Error(`${pointer} gives no receipts`)
  const btp = new URL(btpUrl)
  btp.username = `reader${randomBytes(4).toString('hex')}`
  btp.password = randomBytes(12).toString('hex')
  const plugin = new BtpPlugin({ server: btp.href })
  const connection = await createConnection({ plugin: plugin as never, destinationAccount: spsp.destination_account, sharedSecret: Buffer.from(spsp.shared_secret, 'base64') })
  try {
    const stream = connection.createStream()
    let receipt: string | undefined
    stream.on('outgoing_money', () => { receipt = stream.receipt?.toString('base64') ?? receipt })
    await stream.sendTotal(amount)
    if (!receipt) throw new Error('the payment brought no receipt back')
    return receipt
  } finally {
    await connection.end().catch(() => {})
    await plugin.disconnect().catch(() => {})
  }
}
