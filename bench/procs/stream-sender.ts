// A STREAM sender as Web Monetization agents are: an SPSP query per connection, then
// ilp-protocol-stream over its own BTP connection to the connector, sending as fast as the network
// takes it. Counts fulfilled packets (one `outgoing_money` per packet: one stream per connection)
// between the end of the warm-up and the end of the run, then prints the result and exits.
// Usage: stream-sender.ts '{"pointer":…,"btpUrl":…,"connections":4,"warmupMs":2000,"durationMs":10000,"maxPackets":200000,"packetAmount":"1000"}'
import { randomBytes } from 'node:crypto'
import { createRequire } from 'node:module'
import { createConnection } from '../../server/src/ilp/stream.ts'

const BtpPlugin = createRequire(import.meta.url)('ilp-plugin-btp') as new (opts: { server: string }) => { connect (): Promise<void>, disconnect (): Promise<void> }

const o = JSON.parse(process.argv[2]!) as { pointer: string, btpUrl: string, connections: number, warmupMs: number, durationMs: number, maxPackets: number, packetAmount: string }
let packets = 0
const receipts: string[] = []

async function sender (k: number) {
  const res = await fetch(o.pointer, { headers: { accept: 'application/spsp4+json' } })
  if (!res.ok) throw new Error(`SPSP query ${o.pointer}: HTTP ${res.status}`)
  const spsp = await res.json() as { destination_account: string, shared_secret: string }
  const btp = new URL(o.btpUrl)
  btp.username = `bench${k}${randomBytes(3).toString('hex')}`
  btp.password = randomBytes(12).toString('hex')
  const plugin = new BtpPlugin({ server: btp.href })
  const connection = await createConnection({ plugin: plugin as never, destinationAccount: spsp.destination_account, sharedSecret: Buffer.from(spsp.shared_secret, 'base64') })
  const stream = connection.createStream()
  stream.on('outgoing_money', () => {
    packets++
    const r = stream.receipt
    if (r) receipts[k] = r.toString('base64')
  })
  // Bounded in count as well as in time: at most maxPackets packets of packetAmount in all.
  stream.setSendMax((BigInt(Math.ceil(o.maxPackets / o.connections)) * BigInt(o.packetAmount)).toString())
}

const deadline = setTimeout(() => { console.error('stream-sender: did not finish in time'); process.exit(2) }, o.warmupMs + o.durationMs + 30_000)
await Promise.all(Array.from({ length: o.connections }, (_v, k) => sender(k)))
await new Promise((resolve) => setTimeout(resolve, o.warmupMs))
const p0 = packets
const t0 = performance.now()
await new Promise((resolve) => setTimeout(resolve, o.durationMs))
const p1 = packets
const t1 = performance.now()
clearTimeout(deadline)
process.stdout.write(`${JSON.stringify({ result: true, packets: p1 - p0, seconds: (t1 - t0) / 1000, packetsPerS: (p1 - p0) / ((t1 - t0) / 1000), totalPackets: p1, receipts: receipts.filter(Boolean) })}\n`)
// No graceful close: the run is over, and ending STREAM connections mid-flight takes seconds.
process.exit(0)
