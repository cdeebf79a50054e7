// The anchor for payments: a bare ilp-protocol-stream 2.7.1 server (no receipts, no accounts, no
// store) on the companion's connector, over its own BTP connection, with a minimal SPSP endpoint so
// the sender does exactly what it does with Trickle. Usage: bare-receiver.ts BTP_URL HTTP_PORT
import { randomBytes } from 'node:crypto'
import { createServer as createHttpServer } from 'node:http'
import { createRequire } from 'node:module'
import { createServer, type DataAndMoneyStream } from '../../server/src/ilp/stream.ts'

const BtpPlugin = createRequire(import.meta.url)('ilp-plugin-btp') as new (opts: { server: string }) => { connect (): Promise<void>, disconnect (): Promise<void> }
const [btpUrl, httpPort] = process.argv.slice(2)
const btp = new URL(btpUrl!)
btp.username = 'bare'
btp.password = randomBytes(12).toString('hex')
const plugin = new BtpPlugin({ server: btp.href })
const server = await createServer({ plugin: plugin as never, serverSecret: randomBytes(32) })
let received = 0n
server.on('connection', (connection) => {
  connection.on('stream', (stream: DataAndMoneyStream) => {
    stream.setReceiveMax('18446744073709551615')
    stream.on('money', (amount: string) => { received += BigInt(amount) })
  })
  connection.on('error', () => {})
})
const http = createHttpServer((_req, res) => {
  const { destinationAccount, sharedSecret } = server.generateAddressAndSecret()
  res.setHeader('content-type', 'application/spsp4+json')
  res.end(JSON.stringify({ destination_account: destinationAccount, shared_secret: sharedSecret.toString('base64') }))
})
http.listen(Number(httpPort), '127.0.0.1', () => { process.stdout.write(`{"ready":true}\n`) })
process.on('SIGTERM', () => {
  process.stdout.write(`{"received":"${received}"}\n`)
  process.exit(0)
})
