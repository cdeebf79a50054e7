// One download, timed, in a fresh process: for a paid magnet it first pays the price (as
// `trickle download` does: check the registered price, pay the license's pointer over STREAM, credit
// the receipt to a fresh reader's balance id, buy a ticket for the client's peer id with the
// reader's secret), then downloads over TCP with WebTorrent, announcing with that ticket. Prints
// {"result":…} with the timings and the SHA-256 of what it wrote.
// Usage: leech.ts '{"magnet":…,"out":…,"timeoutMs":120000}'
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import path from 'node:path'
import { privateClientOptions } from '../../server/src/seeder/service.ts'
import { decodeMagnet } from '../../packages/trickle-core/src/magnet.ts'
import { balanceIdOf, newBalanceSecret } from '../../server/src/verifier/owner.ts'
import { payPointer } from '../lib/pay.ts'
import { base64url, fromBase64url, newPayerKey } from '../../theme/assets/ts/proof/codec.ts'
import { gateTorrent } from '../../theme/assets/ts/proof/gate.ts'

const o = JSON.parse(process.argv[2]!) as { magnet: string, out: string, timeoutMs: number }
const deadline = setTimeout(() => { console.error('leech: timed out'); process.exit(2) }, o.timeoutMs)
const magnet = decodeMagnet(o.magnet)
const httpTrackers = magnet.trackers.map((tr) => tr.replace(/^ws/, 'http'))

let secret: string | undefined
let payMs = 0
if (magnet.license) {
  const t = performance.now()
  const verifier = magnet.license.verifier.replace(/\/+$/, '')
  const reg = await (await fetch(`${verifier}/torrents/${magnet.infoHash}`)).json() as { spendAmount: string }
  const health = await (await fetch(`${verifier}/health`)).json() as { network: { btpUrl: string } }
  const receipt = await payPointer(magnet.license.paymentPointer, reg.spendAmount, health.network.btpUrl)
  secret = newBalanceSecret()
  const credit = await fetch(`${verifier}/balances/${balanceIdOf(secret)}:creditReceipt`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: receipt })
  if (credit.status !== 200) throw new Error(`credit refused: ${await credit.text()}`)
  payMs = performance.now() - t
}

const { default: WebTorrent } = await import('webtorrent')
const client = new WebTorrent(privateClientOptions(false))
let ticket: string | undefined
let proof: Uint8Array | undefined
const payerKey = await newPayerKey()
if (secret) {
  const t = performance.now()
  const res = await fetch(`${magnet.license!.verifier.replace(/\/+$/, '')}/torrents/${magnet.infoHash}/access`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ secret, peerId: client.peerId, payerKey: base64url(payerKey.publicKey) }) })
  const body = await res.json() as { ticket?: string, proof?: string }
  ticket = body.ticket
  proof = body.proof ? fromBase64url(body.proof) : undefined
  if (!ticket || !proof) throw new Error(`no ticket or proof: ${res.status}`)
  payMs += performance.now() - t
}
const cpu0 = process.cpuUsage()
const t0 = performance.now()
let metadataMs = 0
let firstWireMs = 0
const torrent = client.add(o.magnet, {
  path: o.out,
  announce: httpTrackers,
  ...(ticket ? { private: true, getAnnounceOpts: () => ({ ticket }) } : {})
})
// The seeder admits this peer once it proved payment (lt_trickle), as every Trickle client does.
if (proof) gateTorrent(torrent as never, { credentials: () => ({ proof: proof!, sign: payerKey.sign }) })
await new Promise<void>((resolve, reject) => {
  torrent.on('warning', (err: Error) => {
    if (/\((payment_required|ticket_required|invalid_ticket|not_registered|closed_tracker)\)$/.test(err.message)) reject(err)
  })
  torrent.on('error', (err: Error | string) => reject(err instanceof Error ? err : new Error(err)))
  torrent.once('wire', () => { firstWireMs = performance.now() - t0 })
  torrent.once('metadata', () => { metadataMs = performance.now() - t0 })
  torrent.once('done', () => resolve())
})
const downloadMs = performance.now() - t0
const cpu = process.cpuUsage(cpu0)
const hash = createHash('sha256')
for await (const chunk of createReadStream(path.join(o.out, torrent.files[0]!.path))) hash.update(chunk as Buffer)
clearTimeout(deadline)
process.stdout.write(`${JSON.stringify({ result: true, bytes: torrent.length, payMs, downloadMs, metadataMs, firstWireMs, leecherCpuMs: (cpu.user + cpu.system) / 1000, sha256: hash.digest('hex') })}\n`)
process.exit(0)
