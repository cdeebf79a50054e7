// `npm run trickle -- seed FILE --price 100 --asset USD --scale 2 [--pointer URL]`
//   makes a licensed, private torrent of FILE, registers it with the companion (admin token), lets the
//   companion seed it (or seeds it here) and prints the magnet.
// `npm run trickle -- download MAGNET --out DIR`
//   checks the price with the tracker, pays it from a local sender over the companion's BTP endpoint
//   to the license's pointer, credits the receipts to a fresh balance id, announces with that id and
//   downloads, showing progress. Errors are said in plain words; exit code 1 (2 for bad usage).
import { createHash, randomBytes, randomUUID } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { mkdir, stat } from 'node:fs/promises'
import { createRequire } from 'node:module'
import path from 'node:path'
import { parseArgs } from 'node:util'
import type { Torrent } from 'webtorrent'
import { createConnection } from '../server/src/ilp/stream.ts'
import { privateClientOptions } from '../server/src/seeder/service.ts'
import { installEndOfCandidatesFix } from '../server/src/seeder/webrtc-fix.ts'
import { createTorrent, formatPrice, parsePrice, TorrentError, torrentToBase64, type License } from '../server/src/torrent/license.ts'
import { decodeMagnet } from '../server/src/torrent/magnet.ts'

const USAGE = `Usage:
  trickle seed FILE --price AMOUNT [--asset USD] [--scale 2] [--pointer URL] [--companion URL] [--token TOKEN] [--keep-seeding] [--webrtc]
      AMOUNT is in units of the scale: --price 100 --scale 2 is 1.00. --pointer defaults to the companion's
      demo wallet; the admin token comes from --token or TRICKLE_ADMIN_TOKEN (npm start prints it).
  trickle download MAGNET --out DIR [--btp URL] [--balance ID] [--timeout SECONDS] [--webrtc]
      Pays the price over BTP (default: the companion's embedded connector), credits the receipts and
      downloads. --balance reuses a balance id that already paid (e.g. after an interrupted download).`

/** A failure to report to the user in plain words. */
class Failure extends Error {}

const say = (line: string) => process.stdout.write(line + '\n')
const MiB = (n: number) => `${(n / 1048576).toFixed(n < 10 * 1048576 ? 2 : 1)} MiB`

async function http<T> (what: string, url: string, init: RequestInit = {}): Promise<{ status: number, body: T }> {
  let res: Response
  try {
    res = await fetch(url, { ...init, signal: AbortSignal.timeout(15_000) })
  } catch (err) {
    throw new Failure(`Could not reach ${what} at ${new URL(url).origin}: ${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message}. Is the companion running (npm start)?`)
  }
  const text = await res.text()
  let body: unknown = text
  try { body = JSON.parse(text) } catch {}
  return { status: res.status, body: body as T }
}

const problem = (body: unknown) => typeof body === 'object' && body !== null && 'message' in body ? String((body as { message: unknown }).message) : String(body)

// ---------------------------------------------------------------------------------------------------
// seed

async function seed (file: string, opts: Record<string, string | boolean | undefined>) {
  const companion = String(opts.companion ?? process.env.TRICKLE_PUBLIC_URL ?? `http://localhost:${process.env.PORT ?? 3000}`).replace(/\/+$/, '')
  const token = (opts.token as string | undefined) ?? process.env.TRICKLE_ADMIN_TOKEN
  if (!token) throw new Failure('The companion needs its admin token to register a file: pass --token or set TRICKLE_ADMIN_TOKEN (npm start prints it).')
  if (opts.price === undefined) throw new Failure('Say what the file costs: --price 100 --asset USD --scale 2 is 1.00 USD.')
  const price = parsePrice(`${String(opts.price)} ${String(opts.asset ?? 'USD')}/${String(opts.scale ?? '2')}`, '--price/--asset/--scale')
  const auth = { authorization: `Bearer ${token}`, 'content-type': 'application/json' }

  const absolute = path.resolve(file)
  const info = await stat(absolute).catch(() => undefined)
  if (!info?.isFile()) throw new Failure(`${absolute} is not a file.`)

  // The license must name a proxy pointer at the companion, so the receipts readers get are verifiable there.
  let pointer = String(opts.pointer ?? `${companion}/wallet/demo`)
  if (!pointer.startsWith(`${companion}/p/`)) {
    const r = await http<{ proxyPointer: string }>('the companion', `${companion}/proxies`, { method: 'POST', headers: auth, body: JSON.stringify({ paymentPointer: pointer }) })
    if (r.status === 401) throw new Failure('The companion refused the admin token.')
    if (r.status >= 300) throw new Failure(`The companion cannot take payments for ${pointer}: ${problem(r.body)}`)
    pointer = r.body.proxyPointer
  }
  const license: License = { paymentPointer: pointer, verifier: companion, ...price }
  const announce = `${companion.replace(/^http/, 'ws')}/announce`
  say(`Hashing ${absolute} (${MiB(info.size)})…`)
  const created = await createTorrent({ name: path.basename(absolute), data: createReadStream(absolute), length: info.size, announce, license })

  const r = await http<{ magnet: string, seederToken: string, seeding: boolean, seedError?: string, spendAmount?: string }>('the companion', `${companion}/torrents`, {
    method: 'POST', headers: auth, body: JSON.stringify({ torrent: torrentToBase64(created.torrent), path: absolute })
  })
  if (r.status === 401) throw new Failure('The companion refused the admin token.')
  if (r.status >= 300) throw new Failure(`The companion did not register the file: ${problem(r.body)}`)
  say(`Registered "${created.name}" for ${formatPrice(price)} (infohash ${created.infoHash}).`)
  say(`Magnet: ${r.body.magnet}`)

  if (r.body.seeding && !opts['keep-seeding']) {
    say('The companion seeds it, now and after restarts. Nothing more to do here.')
    return
  }
  if (r.body.seedError) say(`The companion cannot read the file itself (${r.body.seedError}); seeding from here.`)
  const webrtc = Boolean(opts.webrtc)
  if (webrtc) await installEndOfCandidatesFix()
  const { default: WebTorrent } = await import('webtorrent')
  const client = new WebTorrent(privateClientOptions(webrtc))
  const torrent = client.add(created.torrent, {
    path: path.dirname(absolute),
    announce: [`${companion}/announce`],
    skipVerify: true, // hashed a moment ago
    getAnnounceOpts: () => ({ seeder_token: r.body.seederToken })
  })
  torrent.on('warning', (err: Error) => { if (!/Unsupported tracker protocol/.test(err.message)) say(`Tracker: ${err.message}`) })
  say('Seeding from this process; stop with Ctrl+C.')
  const timer = setInterval(() => say(`  ${torrent.numPeers} peer(s), ${MiB(torrent.uploaded)} uploaded`), 10_000)
  await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()))
  clearInterval(timer)
  await new Promise<void>((resolve) => { client.destroy(() => resolve()) })
}

// ---------------------------------------------------------------------------------------------------
// download

interface Registered { license?: License, spendAmount?: string, name: string, length: number }

const BtpPlugin = createRequire(import.meta.url)('ilp-plugin-btp') as new (opts: { server: string }) => { connect (): Promise<void>, disconnect (): Promise<void> }

/** Pays `amount` (receiver units) to an SPSP pointer over BTP; returns the last receipt (it carries the total). */
async function payPointer (pointer: string, amount: string, btpUrl: string): Promise<string> {
  const spsp = await http<{ destination_account?: string, shared_secret?: string, receipts_enabled?: boolean }>('the payment pointer', pointer, { headers: { accept: 'application/spsp4+json' } })
  if (spsp.status !== 200 || !spsp.body.destination_account || !spsp.body.shared_secret) throw new Failure(`The payment pointer ${pointer} did not answer with payment details: ${problem(spsp.body)}`)
  if (spsp.body.receipts_enabled !== true) throw new Failure(`The payment pointer ${pointer} gives no receipts, so the verifier could not count this payment. Not paying.`)
  const server = new URL(btpUrl)
  if (!server.username) { server.username = `reader${randomBytes(4).toString('hex')}`; server.password = randomBytes(16).toString('hex') }
  const plugin = new BtpPlugin({ server: server.href })
  let connection
  try {
    connection = await createConnection({ plugin: plugin as never, destinationAccount: spsp.body.destination_account, sharedSecret: Buffer.from(spsp.body.shared_secret, 'base64') })
  } catch (err) {
    await plugin.disconnect().catch(() => {})
    throw new Failure(`Could not open a payment over ${btpUrl.replace(/\/\/[^@]*@/, '//')}: ${(err as Error).message}`)
  }
  try {
    if (connection.sourceAssetCode !== connection.destinationAssetCode || connection.sourceAssetScale !== connection.destinationAssetScale) {
      throw new Failure(`This sender pays in ${connection.sourceAssetCode}/${connection.sourceAssetScale}, the receiver gets ${connection.destinationAssetCode}/${connection.destinationAssetScale}; the CLI does not convert.`)
    }
    const stream = connection.createStream()
    let receipt: string | undefined
    stream.on('outgoing_money', () => { receipt = stream.receipt?.toString('base64') ?? receipt })
    try {
      await stream.sendTotal(amount)
    } catch (err) {
      throw new Failure(`The payment stopped after ${connection.totalDelivered} of ${amount} units: ${(err as Error).message}`)
    }
    if (!receipt) throw new Failure('The payment went through but brought no receipt back.')
    return receipt
  } finally {
    await connection.end().catch(() => {})
    await plugin.disconnect().catch(() => {})
  }
}

async function download (magnetUri: string, opts: Record<string, string | boolean | undefined>) {
  if (!opts.out) throw new Failure('Say where to save the file: --out DIR.')
  const out = path.resolve(String(opts.out))
  const magnet = decodeMagnet(magnetUri)
  const license = magnet.license
  let balanceId = opts.balance as string | undefined
  const timeoutMs = Number(opts.timeout ?? 60) * 1000

  if (license) {
    const verifier = license.verifier.replace(/\/+$/, '')
    // The tracker charges what the creator registered, not what a magnet says: check before paying.
    const reg = await http<Registered>('the tracker', `${verifier}/torrents/${magnet.infoHash}`)
    if (reg.status === 404) throw new Failure(`This file is not registered at ${verifier}: nobody can sell it to you there. (Was the magnet altered?)`)
    if (reg.status !== 200) throw new Failure(`The tracker at ${verifier} could not say what the file costs: ${problem(reg.body)}`)
    const registered = reg.body.license
    if (!registered || JSON.stringify(registered) !== JSON.stringify(license)) {
      throw new Failure(`The magnet's price or pointer differs from what the creator registered (${registered ? `${formatPrice(registered)} to ${registered.paymentPointer}` : 'free'}). Not paying.`)
    }
    const amount = reg.body.spendAmount!
    if (balanceId) {
      say(`Using balance "${balanceId}" (no new payment).`)
    } else {
      balanceId = `dl-${randomUUID()}`
      let btp = opts.btp as string | undefined
      if (!btp) {
        const health = await http<{ network?: { btpUrl?: string } }>('the companion', `${verifier}/health`)
        btp = health.body.network?.btpUrl
        if (!btp) throw new Failure('The companion does not say where to join its Interledger network; pass --btp btp+ws://host:port.')
      }
      say(`Paying ${formatPrice(license)} (${amount} units) to ${license.paymentPointer}…`)
      const receipt = await payPointer(license.paymentPointer, amount, btp)
      const credit = await http<string>('the verifier', `${verifier}/balances/${balanceId}:creditReceipt`, { method: 'POST', body: receipt })
      if (credit.status !== 200) throw new Failure(`The verifier did not accept the payment receipt: ${problem(credit.body)}`)
      if (BigInt(String(credit.body)) < BigInt(amount)) throw new Failure(`Only ${String(credit.body)} of ${amount} units were credited to balance "${balanceId}".`)
      say(`Paid. Balance id: ${balanceId} (pass --balance ${balanceId} to download again without paying).`)
    }
  }

  await mkdir(out, { recursive: true })
  const webrtc = Boolean(opts.webrtc)
  if (webrtc) await installEndOfCandidatesFix()
  const { default: WebTorrent } = await import('webtorrent')
  const client = new WebTorrent(privateClientOptions(webrtc))
  // The WebSocket tracker (the magnet's tr) gives WebRTC peers; the same tracker over HTTP gives TCP peers.
  const httpTrackers = magnet.trackers.filter((tr) => /^wss?:/.test(tr)).map((tr) => tr.replace(/^ws/, 'http'))
  const torrent: Torrent = client.add(magnetUri, {
    path: out,
    announce: httpTrackers,
    ...(balanceId ? { getAnnounceOpts: () => ({ balance: balanceId }) } : {})
  })
  const finish = () => new Promise<void>((resolve) => { client.destroy(() => resolve()) })
  try {
    await new Promise<void>((resolve, reject) => {
      const noPeers = setTimeout(() => reject(new Failure(`No peer sent anything within ${timeoutMs / 1000} s: is the creator's companion running and seeding this file?`)), timeoutMs)
      const progress = setInterval(() => {
        if (!torrent.ready) return
        const left = Number.isFinite(torrent.timeRemaining) ? `, ${Math.ceil(torrent.timeRemaining / 1000)} s left` : ''
        say(`  ${Math.floor(torrent.progress * 100)}%  ${MiB(torrent.downloaded)} of ${MiB(torrent.length)}, ${torrent.numPeers} peer(s), ${MiB(torrent.downloadSpeed)}/s${left}`)
      }, 1000)
      const stop = () => { clearTimeout(noPeers); clearInterval(progress) }
      torrent.on('warning', (err: Error) => {
        if (/Unsupported tracker protocol/.test(err.message)) return // WebRTC off: the ws tracker is skipped
        // A refusal ends in "(code)" (README, "Paid downloads").
        if (/\((payment_required|unknown_balance|insufficient_balance|invalid_balance_id|not_registered|closed_tracker)\)$/.test(err.message)) {
          stop()
          reject(new Failure(`The tracker refused: ${err.message}`))
        }
      })
      torrent.on('error', (err: Error | string) => { stop(); reject(new Failure(`The download failed: ${String(err instanceof Error ? err.message : err)}`)) })
      torrent.once('wire', () => clearTimeout(noPeers))
      torrent.once('metadata', () => say(`Downloading "${torrent.name}" (${MiB(torrent.length)}) into ${out}`))
      torrent.once('done', () => { stop(); resolve() })
    })
  } catch (err) {
    await finish()
    throw err
  }
  const hashes = await Promise.all(torrent.files.map(async (f) => {
    const hash = createHash('sha256')
    for await (const chunk of createReadStream(path.join(out, f.path))) hash.update(chunk as Buffer)
    return `${path.join(out, f.path)}  sha-256 ${hash.digest('hex')}`
  }))
  await finish()
  say('Done: every piece matched its hash in the torrent.')
  for (const line of hashes) say(`  ${line}`)
}

// ---------------------------------------------------------------------------------------------------

async function main (argv: string[]): Promise<number> {
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        price: { type: 'string' }, asset: { type: 'string' }, scale: { type: 'string' }, pointer: { type: 'string' },
        companion: { type: 'string' }, token: { type: 'string' }, 'keep-seeding': { type: 'boolean' }, webrtc: { type: 'boolean' },
        out: { type: 'string' }, btp: { type: 'string' }, balance: { type: 'string' }, timeout: { type: 'string' },
        help: { type: 'boolean', short: 'h' }
      }
    })
  } catch (err) {
    console.error(`trickle: ${(err as Error).message}\n\n${USAGE}`)
    return 2
  }
  const [command, target, ...extra] = parsed.positionals
  if (parsed.values.help || !command) { say(USAGE); return command ? 0 : 2 }
  if (!target || extra.length > 0 || (command !== 'seed' && command !== 'download')) {
    console.error(`trickle: expected "seed FILE" or "download MAGNET"\n\n${USAGE}`)
    return 2
  }
  try {
    if (command === 'seed') await seed(target, parsed.values)
    else await download(target, parsed.values)
    return 0
  } catch (err) {
    if (err instanceof Failure || err instanceof TorrentError) {
      console.error(`trickle: ${err.message}`)
      return 1
    }
    throw err
  }
}

if (import.meta.main || process.argv[1]?.endsWith('scripts/trickle.ts')) process.exit(await main(process.argv.slice(2)))
