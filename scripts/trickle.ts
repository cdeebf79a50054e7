// `npm run trickle -- seed FILE --price 100 --asset USD --scale 2 [--pointer URL]`
//   makes a licensed, private torrent of FILE, registers it with the companion (admin token), lets the
//   companion seed it (or seeds it here) and prints the magnet.
// `npm run trickle -- build SITE_DIR --companion URL --site URL`
//   the production build of a Hugo site, sealed for that companion (scripts/build.ts).
// `npm run trickle -- download MAGNET --out DIR`
//   checks that the magnet names one companion and the price it registered, buys the download with
//   this reader's balance (paying over the companion's BTP endpoint only what the balance lacks and
//   crediting the receipts to its public id), gets a ticket for this client's peer id, announces with
//   it (renewed before it expires) and downloads, showing progress. Errors are said in plain words;
//   exit code 1 (2 for bad usage).
//
// The reader's balance secret lives in a file of the data folder (TRICKLE_DATA_DIR, ./data by default,
// or --data), mode 0600: whoever holds it can spend the balance, so it is sent only in request bodies
// and never printed; the CLI prints the public balance id. Within a purchase (30 days by default) a
// second download by the same reader costs nothing.
import { createHash, randomBytes } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import path from 'node:path'
import { parseArgs } from 'node:util'
import type { Torrent } from 'webtorrent'
import { createConnection } from '../server/src/ilp/stream.ts'
import { privateClientOptions } from '../server/src/seeder/service.ts'
import { installEndOfCandidatesFix } from '../server/src/seeder/webrtc-fix.ts'
import { createTorrent, formatPrice, parsePrice, TorrentError, torrentToBase64, type License } from '../server/src/torrent/license.ts'
import { decodeMagnet } from '../packages/trickle-core/src/magnet.ts'
import { receiverIdOfPointer } from '../packages/trickle-core/src/pointers.ts'
import { createIncomingPayment, getWalletAddress, incomingPaymentGrant, newClientKey } from '../theme/dev-agent/open-payments.ts'
import { BALANCE_SECRET, balanceIdOf, newBalanceSecret } from '../server/src/verifier/owner.ts'
import { magnetMismatch } from '../theme/assets/ts/companion.ts'
import { formatBytes } from '../theme/assets/ts/sizes.ts'
import { base64url, fromBase64url, newPayerKey, type PayerKey } from '../theme/assets/ts/proof/codec.ts'
import { gateTorrent, type GateEvent } from '../theme/assets/ts/proof/gate.ts'

/** The reader's balance secret, in the data folder */
const SECRET_FILE = 'reader-balance.secret'

const USAGE = `Usage:
  trickle seed FILE --price AMOUNT [--asset USD] [--scale 2] [--pointer URL] [--companion URL] [--token TOKEN] [--keep-seeding] [--webrtc]
      AMOUNT is in units of the scale: --price 100 --scale 2 is 1.00. --pointer (a wallet address, or a
      proxy pointer of the companion for readers whose agent sends receipts) defaults to the companion's
      demo wallet address; the admin token comes from --token or TRICKLE_ADMIN_TOKEN (npm start prints it).
  trickle download MAGNET --out DIR [--btp URL] [--data DIR] [--timeout SECONDS] [--webrtc]
      Pays the price over BTP (default: the companion's embedded connector): to a wallet address through
      an Open Payments incoming payment, to a proxy pointer with STREAM receipts; has it credited and
      downloads. Your balance secret is kept in ${SECRET_FILE} in the data folder (--data, else
      TRICKLE_DATA_DIR, default ./data): downloading the same file again within the purchase pays nothing.
  trickle build SITE_DIR --companion URL --site URL [--out DIR]
      Builds a Hugo site for production and seals its exclusive sections for the companion. The site's
      seal key comes from TRICKLE_SITE_SEAL_KEY, or is asked of the companion with TRICKLE_ADMIN_TOKEN.`

/** A failure to report to the user in plain words. */
class Failure extends Error {}

const say = (line: string) => process.stdout.write(line + '\n')
/** Sizes as the page shows them (decimal units, theme/assets/ts/sizes.ts). */
const size = (n: number) => formatBytes(n, 'en')

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
// flags, checked before anything is sent or paid

/** The folder the user ran the command in: npm runs scripts in the package root and says where in INIT_CWD. */
const userCwd = () => process.env.INIT_CWD || process.cwd()
const userPath = (p: string) => path.resolve(userCwd(), p)

function companionUrl (opts: Record<string, string | boolean | undefined>): string {
  const text = String(opts.companion ?? process.env.TRICKLE_PUBLIC_URL ?? `http://localhost:${process.env.PORT ?? 3000}`)
  let url: URL
  try { url = new URL(text) } catch { throw new Failure(`--companion "${text}" is not a URL; give the companion's base URL, e.g. http://localhost:3000.`) }
  if (!/^https?:$/.test(url.protocol) || url.search || url.hash) throw new Failure(`--companion "${text}" must be an http(s) base URL, e.g. http://localhost:3000.`)
  return url.href.replace(/\/+$/, '')
}

function btpUrl (text: string): string {
  let url: URL | undefined
  try { url = new URL(text) } catch {}
  if (!url || !/^btp\+wss?:$/.test(url.protocol)) throw new Failure(`--btp "${text}" is not a BTP endpoint; it looks like btp+ws://127.0.0.1:7768 (btp+wss:// with TLS).`)
  return text
}

function timeoutFlag (value: string | boolean | undefined): number {
  if (value === undefined) return 60_000
  const s = String(value)
  if (!/^[0-9]{1,6}(\.[0-9]+)?$/.test(s) || Number(s) <= 0) throw new Failure(`--timeout "${s}" is not a number of seconds (e.g. --timeout 120).`)
  return Number(s) * 1000
}

/** The output folder: a folder, or one that can be made (its nearest existing parent is a folder). */
async function outputFolder (value: string): Promise<string> {
  const out = userPath(value)
  const info = await stat(out).catch(() => undefined)
  if (info && !info.isDirectory()) throw new Failure(`--out ${out} is a file; name a folder to save into. Nothing was paid.`)
  if (!info) {
    let parent = path.dirname(out)
    for (;;) {
      const p = await stat(parent).catch(() => undefined)
      if (p) {
        if (!p.isDirectory()) throw new Failure(`--out ${out} cannot be made: ${parent} is a file. Nothing was paid.`)
        break
      }
      if (path.dirname(parent) === parent) break
      parent = path.dirname(parent)
    }
  }
  return out
}

// ---------------------------------------------------------------------------------------------------
// seed

async function seed (file: string, opts: Record<string, string | boolean | undefined>) {
  const companion = companionUrl(opts)
  const token = (opts.token as string | undefined) ?? process.env.TRICKLE_ADMIN_TOKEN
  if (!token) throw new Failure('The companion needs its admin token to register a file: pass --token or set TRICKLE_ADMIN_TOKEN (npm start prints it).')
  if (opts.price === undefined) throw new Failure('Say what the file costs: --price "100 USD/2" (or --price 100 --asset USD --scale 2) is 1.00 USD.')
  // One price syntax everywhere: "100 USD/2" (as TRICKLE_SEED_PRICE and the sealing step take it), or
  // the amount alone with --asset and --scale.
  const whole = String(opts.price)
  if (/\s/.test(whole.trim()) && (opts.asset !== undefined || opts.scale !== undefined)) {
    throw new Failure(`--price "${whole}" already names its asset and scale; drop --asset and --scale, or give --price the amount alone.`)
  }
  const price = parsePrice(/\s/.test(whole.trim()) ? whole : `${whole} ${String(opts.asset ?? 'USD')}/${String(opts.scale ?? '2')}`, '--price')
  const auth = { authorization: `Bearer ${token}`, 'content-type': 'application/json' }

  const absolute = userPath(file)
  const info = await stat(absolute).catch(() => undefined)
  if (!info?.isFile()) throw new Failure(`${absolute} is not a file.`)

  // The license names the creator's wallet address, which readers pay through Open Payments and the
  // companion must sell for (registered as a receiver); or a proxy pointer of the companion, for
  // agents that send STREAM receipts.
  const pointer = String(opts.pointer ?? `${companion}/wallet/demo`)
  if (!pointer.startsWith(`${companion}/p/`)) {
    const r = await http<{ proxyPointer: string }>('the companion', `${companion}/proxies`, { method: 'POST', headers: auth, body: JSON.stringify({ paymentPointer: pointer }) })
    if (r.status === 401) throw new Failure('The companion refused the admin token.')
    if (r.status >= 300) throw new Failure(`The companion cannot take payments for ${pointer}: ${problem(r.body)}`)
  }
  // Peers check proofs of payment against the companion's key, named in the license (so in the infohash).
  const keyReply = await http<{ proofKey?: string }>('the companion', `${companion}/torrents/proof-key`)
  if (keyReply.status !== 200 || !keyReply.body.proofKey) throw new Failure(`The companion did not say which key signs its proofs of payment: ${problem(keyReply.body)}`)
  const license: License = { paymentPointer: pointer, verifier: companion, ...price, proofKey: keyReply.body.proofKey }
  const announce = `${companion.replace(/^http/, 'ws')}/announce`
  say(`Hashing ${absolute} (${size(info.size)})…`)
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
  // Readers' clients admit only peers with a proof of payment: the companion gives this seeder one for
  // its own key (admin), renewed daily; and this seeder serves only readers who present theirs.
  const key = await newPayerKey()
  let proof: Uint8Array | undefined
  const getProof = async () => {
    const p = await http<{ proof?: string }>('the companion', `${companion}/torrents/${created.infoHash}/seeder-proof`, { method: 'POST', headers: auth, body: JSON.stringify({ key: base64url(key.publicKey) }) })
    if (p.status !== 200 || !p.body.proof) throw new Failure(`The companion gave no seeder proof: ${problem(p.body)}`)
    proof = fromBase64url(p.body.proof)
  }
  await getProof()
  const renewal = setInterval(() => { getProof().catch((err: Error) => say(`Could not renew the seeder's proof: ${err.message}`)) }, 24 * 3600 * 1000)
  const torrent = client.add(created.torrent, {
    path: path.dirname(absolute),
    announce: [`${companion}/announce`],
    skipVerify: true, // hashed a moment ago
    private: true,
    getAnnounceOpts: () => ({ seeder_token: r.body.seederToken })
  })
  gateTorrent(torrent as never, { credentials: () => proof && { proof, sign: key.sign }, onEvent: (e) => { if (e.kind === 'refused') say(`  refused ${e.peer}: ${e.reason}`) } })
  torrent.on('warning', (err: Error) => { if (!/Unsupported tracker protocol/.test(err.message)) say(`Tracker: ${err.message}`) })
  say('Seeding from this process; stop with Ctrl+C.')
  const timer = setInterval(() => say(`  ${torrent.numPeers} peer(s), ${size(torrent.uploaded)} uploaded`), 10_000)
  await new Promise<void>((resolve) => process.once('SIGINT', () => resolve()))
  clearInterval(timer)
  clearInterval(renewal)
  await new Promise<void>((resolve) => { client.destroy(() => resolve()) })
}

// ---------------------------------------------------------------------------------------------------
// download

interface Registered { license?: License, spendAmount?: string, receiver?: string, name: string, length: number }

const BtpPlugin = createRequire(import.meta.url)('ilp-plugin-btp') as new (opts: { server: string }) => { connect (): Promise<void>, disconnect (): Promise<void> }

const CONNECT_TIMEOUT_MS = Number(process.env.TRICKLE_CONNECT_TIMEOUT_MS) > 0 ? Number(process.env.TRICKLE_CONNECT_TIMEOUT_MS) : 15_000

/** Pays `amount` (receiver units) to an ILP address and shared secret over BTP; returns the last receipt, if any (it carries the total). */
async function streamTo (destinationAccount: string, sharedSecret: Buffer, amount: string, btpUrl: string): Promise<string | undefined> {
  const server = new URL(btpUrl)
  if (!server.username) { server.username = `reader${randomBytes(4).toString('hex')}`; server.password = randomBytes(16).toString('hex') }
  const plugin = new BtpPlugin({ server: server.href })
  let connection
  const where = btpUrl.replace(/\/\/[^@]*@/, '//')
  let timer: ReturnType<typeof setTimeout> | undefined
  try {
    // The BTP client retries an unreachable endpoint for ever: bounded, with a message.
    connection = await Promise.race([
      createConnection({ plugin: plugin as never, destinationAccount, sharedSecret }),
      new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Failure(`Could not reach the Interledger network at ${where} within ${CONNECT_TIMEOUT_MS / 1000} s (is it running? --btp names another). Nothing was paid.`)), CONNECT_TIMEOUT_MS) })
    ])
  } catch (err) {
    await plugin.disconnect().catch(() => {})
    if (err instanceof Failure) throw err
    throw new Failure(`Could not open a payment over ${where}: ${(err as Error).message}`)
  } finally {
    clearTimeout(timer)
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
    return receipt
  } finally {
    await connection.end().catch(() => {})
    await plugin.disconnect().catch(() => {})
  }
}

/** Pays `amount` to an SPSP pointer that gives receipts (a proxy pointer) and credits the receipt; returns the balance. */
async function payWithReceipt (pointer: string, amount: string, btpUrl: string, verifier: string, balanceId: string): Promise<bigint> {
  const spsp = await http<{ destination_account?: string, shared_secret?: string, receipts_enabled?: boolean }>('the payment pointer', pointer, { headers: { accept: 'application/spsp4+json' } })
  if (spsp.status !== 200 || !spsp.body.destination_account || !spsp.body.shared_secret) throw new Failure(`The payment pointer ${pointer} did not answer with payment details: ${problem(spsp.body)}`)
  if (spsp.body.receipts_enabled !== true) throw new Failure(`The payment pointer ${pointer} gives no receipts, so the verifier could not count this payment. Not paying.`)
  const receipt = await streamTo(spsp.body.destination_account, Buffer.from(spsp.body.shared_secret, 'base64'), amount, btpUrl)
  if (!receipt) throw new Failure('The payment went through but brought no receipt back.')
  const credit = await http<string>('the verifier', `${verifier}/balances/${balanceId}:creditReceipt`, { method: 'POST', body: receipt })
  if (credit.status !== 200) throw new Failure(`The verifier did not accept the payment receipt: ${problem(credit.body)}`)
  return BigInt(String(credit.body))
}

/**
 * Pays `amount` to an Open Payments wallet address as the Web Monetization extension does (a
 * non-interactive grant, an incoming payment, STREAM to it), then has the companion read what the
 * wallet received, until it covers `need` or stops rising; returns the balance.
 */
async function payWithIncomingPayment (walletAddress: string, amount: string, need: bigint, btpUrl: string, verifier: string, balanceId: string): Promise<bigint> {
  let ip
  try {
    const wa = await getWalletAddress(walletAddress)
    const key = await newClientKey()
    ip = await createIncomingPayment(wa, await incomingPaymentGrant(wa, key), key, new Date(Date.now() + 600_000))
  } catch (err) {
    throw new Failure(`Could not make an incoming payment at ${walletAddress}: ${(err as Error).message}`)
  }
  await streamTo(ip.ilpAddress, Buffer.from(ip.sharedSecret), amount, btpUrl)
  let balance = 0n
  for (const wait of [0, 250, 500, 1000, 2000, 4000]) {
    await new Promise((resolve) => setTimeout(resolve, wait))
    const credit = await http<{ balance?: string }>('the verifier', `${verifier}/balances/${balanceId}:creditIncomingPayment`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ incomingPayment: ip.id, walletAddress })
    })
    if (credit.status !== 200) throw new Failure(`The companion did not credit the incoming payment ${ip.id}: ${problem(credit.body)}`)
    balance = BigInt(credit.body.balance ?? '0')
    if (balance >= need) break
  }
  return balance
}

/** The reader's balance: its secret from the data folder (made on first use, mode 0600) and public id. */
async function readerBalance (opts: Record<string, string | boolean | undefined>): Promise<{ secret: string, id: string, file: string }> {
  const dir = userPath(String(opts.data ?? (process.env.TRICKLE_DATA_DIR || './data')))
  const file = path.join(dir, SECRET_FILE)
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 })
    // Exclusive create: two downloads started at once still share one secret.
    await writeFile(file, `${newBalanceSecret()}\n`, { mode: 0o600, flag: 'wx' })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new Failure(`Could not keep your balance secret in ${file}: ${(err as Error).message}`)
  }
  const secret = (await readFile(file, 'utf8').catch((err: Error) => { throw new Failure(`Could not read your balance secret from ${file}: ${err.message}`) })).trim()
  if (!BALANCE_SECRET.test(secret)) throw new Failure(`${file} does not hold a balance secret (43 base64url characters). Move it away and a new balance is made (what the old one held stays with it).`)
  if (((await stat(file)).mode & 0o077) !== 0) {
    // Whoever reads it can spend the balance; tighten it rather than keep going with it exposed.
    await chmod(file, 0o600)
    say(`${file} was readable by others; it is now readable by you alone (mode 0600).`)
  }
  return { secret, id: balanceIdOf(secret), file }
}

interface AccessReply { ticket: string, expiresAt: string, charged: string, balance?: string, grantExpiresAt?: string, proof?: string, code?: string, price?: string, message?: string }

async function download (magnetUri: string, opts: Record<string, string | boolean | undefined>) {
  if (opts.balance !== undefined) {
    throw new Failure('--balance is no more: a balance id is public and pays nothing by itself. The CLI keeps your balance secret in its data folder (--data, TRICKLE_DATA_DIR) and reuses it, so downloading again within the purchase pays nothing.')
  }
  if (!opts.out) throw new Failure('Say where to save the file: --out DIR.')
  // Every flag checked before any request or payment.
  const out = await outputFolder(String(opts.out))
  const timeout = timeoutFlag(opts.timeout)
  if (opts.btp !== undefined) btpUrl(String(opts.btp))
  const magnet = decodeMagnet(magnetUri)
  // A shell cuts an unquoted magnet at its first "&": what is left has the infohash and nothing else.
  if (/^magnet:\?xt=[^&]*$/i.test(magnetUri.trim())) {
    throw new Failure('This magnet has its infohash and nothing else: a shell cuts an unquoted magnet at its first "&". Put the whole magnet in quotes: trickle download \'magnet:?xt=…&tr=…\' --out DIR. Nothing was paid or sent.')
  }
  const license = magnet.license
  // Before any request: tracker, pointer and verifier must be one companion, or the payment, the
  // balance secret and the announces could each go to a different server.
  const mismatch = magnetMismatch({ trackers: magnet.trackers, pointer: license?.paymentPointer, verifier: license?.verifier })
  if (mismatch) {
    throw new Failure(`The magnet's ${mismatch.field} is ${mismatch.value ? `"${mismatch.value}"` : 'missing'}, but it must be ${mismatch.expected}: its tracker (tr), payment pointer (pp) and verifier (vr) must be one companion. Nothing was paid or sent.`)
  }

  let paid: { verifier: string, amount: string, secret: string, id: string } | undefined
  if (license) {
    const verifier = license.verifier.replace(/\/+$/, '')
    // The tracker charges what the creator registered, not what a magnet says: check before paying.
    const reg = await http<Registered>('the tracker', `${verifier}/torrents/${magnet.infoHash}`)
    if (reg.status === 404) throw new Failure(`This file is not registered at ${verifier}: nobody can sell it to you there. (Was the magnet altered?)`)
    if (reg.status !== 200) throw new Failure(`The tracker at ${verifier} could not say what the file costs: ${problem(reg.body)}`)
    const registered = reg.body.license
    if (!registered || JSON.stringify(registered) !== JSON.stringify(license) || (reg.body.receiver !== undefined && !license.paymentPointer.endsWith(`/p/${reg.body.receiver}`) && receiverIdOfPointer(license.paymentPointer) !== reg.body.receiver)) {
      throw new Failure(`The magnet's price or pointer differs from what the creator registered (${registered ? `${formatPrice(registered)} to ${registered.paymentPointer}` : 'free'}). Not paying.`)
    }
    const balance = await readerBalance(opts)
    say(`Balance id: ${balance.id} (its secret stays in ${balance.file}).`)
    paid = { verifier, amount: reg.body.spendAmount!, secret: balance.secret, id: balance.id }
  }

  await mkdir(out, { recursive: true })
  const webrtc = Boolean(opts.webrtc)
  if (webrtc) await installEndOfCandidatesFix()
  const { default: WebTorrent } = await import('webtorrent')
  const client = new WebTorrent(privateClientOptions(webrtc))
  const finish = () => new Promise<void>((resolve) => { client.destroy(() => resolve()) })
  let ticket: string | undefined
  let renewal: ReturnType<typeof setTimeout> | undefined
  let done = false
  // The key this download's proofs of payment are bound to: made for this run, never written down.
  let payerKey: PayerKey | undefined
  let proof: Uint8Array | undefined
  try {
    if (paid && license) {
      const { verifier, amount, secret, id } = paid
      payerKey = await newPayerKey()
      const publicKey = base64url(payerKey.publicKey)
      // A ticket admits this client's peer id; the secret goes in the body, never in a URL.
      const access = async () => {
        const r = await http<AccessReply>('the tracker', `${verifier}/torrents/${magnet.infoHash}/access`, {
          method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ secret, peerId: client.peerId, payerKey: publicKey })
        })
        if (r.status === 200 && r.body.proof) proof = fromBase64url(r.body.proof)
        return r
      }
      let granted = await access()
      if (granted.status === 402) {
        // Pay only what the balance lacks for this receiver (nothing was spent: 402 takes nothing).
        const have = BigInt(granted.body.balance ?? '0')
        const missing = BigInt(amount) - have
        let btp = opts.btp as string | undefined
        if (!btp) {
          const health = await http<{ network?: { btpUrl?: string } }>('the companion', `${verifier}/health`)
          btp = health.body.network?.btpUrl
          if (!btp) throw new Failure('The companion does not say where to join its Interledger network; pass --btp btp+ws://host:port.')
        }
        say(have > 0n
          ? `Paying the rest of ${formatPrice(license)} (${missing} of ${amount} units) to ${license.paymentPointer}…`
          : `Paying ${formatPrice(license)} (${amount} units) to ${license.paymentPointer}…`)
        // A proxy pointer of the companion answers with STREAM receipts; a wallet address, through Open Payments.
        const viaReceipt = /\/p\/[0-9a-f]{32}$/.test(license.paymentPointer)
        const balance = viaReceipt
          ? await payWithReceipt(license.paymentPointer, missing.toString(), btp, verifier, id)
          : await payWithIncomingPayment(license.paymentPointer, missing.toString(), BigInt(amount), btp, verifier, id)
        if (balance < BigInt(amount)) throw new Failure(`Only ${balance} of ${amount} units were credited to balance ${id}.`)
        granted = await access()
      }
      if (granted.status !== 200) {
        const code = granted.body.code ? ` (${granted.body.code})` : ''
        throw new Failure(`The tracker did not sell the download: ${problem(granted.body)}${code}`)
      }
      say(granted.body.charged === '0'
        ? 'Already bought: this download costs nothing more.'
        : `Bought: ${granted.body.charged} units spent from balance ${id}${granted.body.balance !== undefined ? `, ${granted.body.balance} left` : ''}.`)
      ticket = granted.body.ticket
      // Renew at half the ticket's lifetime (free within the purchase); a failed try is repeated sooner.
      const halfLife = (expiresAt: string) => Math.max(5000, (Date.parse(expiresAt) - Date.now()) / 2)
      const renew = (ms: number) => {
        renewal = setTimeout(() => {
          access().then((r) => {
            if (done) return
            if (r.status === 200) { ticket = r.body.ticket; renew(halfLife(r.body.expiresAt)) } else say(`Could not renew the download ticket: ${problem(r.body)}`)
          }, () => { if (!done) renew(30_000) })
        }, ms)
      }
      renew(halfLife(granted.body.expiresAt))
    }

    // The WebSocket tracker (the magnet's tr) gives WebRTC peers; the same tracker over HTTP gives TCP peers.
    const httpTrackers = magnet.trackers.filter((tr) => /^wss?:/.test(tr)).map((tr) => tr.replace(/^ws/, 'http'))
    // A paid torrent is private from the start (its metadata, with the private flag, comes later), and
    // every peer, this one included, must prove payment before it gets anything.
    const torrent: Torrent = client.add(magnetUri, {
      path: out,
      announce: httpTrackers,
      ...(paid ? { private: true, getAnnounceOpts: () => ({ ticket }) } : {})
    })
    if (paid && payerKey) {
      const key = payerKey
      const refusedBy: string[] = []
      gateTorrent(torrent as never, {
        credentials: () => proof && { proof, sign: key.sign },
        onEvent: (e: GateEvent) => { if (e.kind === 'refused-by') refusedBy.push(e.reason) }
      })
      torrent.once('done', () => { if (refusedBy.length > 0) say(`  (${refusedBy.length} peer(s) refused this client's proof: ${[...new Set(refusedBy)].join(', ')})`) })
    }
    await new Promise<void>((resolve, reject) => {
      const noPeers = setTimeout(() => reject(new Failure(`No peer sent anything within ${timeout / 1000} s: is the creator's companion running and seeding this file?`)), timeout)
      const progress = setInterval(() => {
        if (!torrent.ready) return
        const left = Number.isFinite(torrent.timeRemaining) ? `, ${Math.ceil(torrent.timeRemaining / 1000)} s left` : ''
        say(`  ${Math.floor(torrent.progress * 100)}%  ${size(torrent.downloaded)} of ${size(torrent.length)}, ${torrent.numPeers} peer(s), ${size(torrent.downloadSpeed)}/s${left}`)
      }, 1000)
      const stop = () => { clearTimeout(noPeers); clearInterval(progress) }
      torrent.on('warning', (err: Error) => {
        if (/Unsupported tracker protocol/.test(err.message)) return // WebRTC off: the ws tracker is skipped
        // A refusal ends in "(code)" (README, "Paid downloads").
        if (/\((payment_required|ticket_required|invalid_ticket|not_registered|closed_tracker)\)$/.test(err.message)) {
          stop()
          reject(new Failure(`The tracker refused: ${err.message}`))
        }
      })
      torrent.on('error', (err: Error | string) => { stop(); reject(new Failure(`The download failed: ${String(err instanceof Error ? err.message : err)}`)) })
      torrent.once('wire', () => clearTimeout(noPeers))
      torrent.once('metadata', () => say(`Downloading "${torrent.name}" (${size(torrent.length)}) into ${out}`))
      torrent.once('done', () => { stop(); resolve() })
    })
    done = true
    clearTimeout(renewal)
    const hashes = await Promise.all(torrent.files.map(async (f) => {
      const hash = createHash('sha256')
      for await (const chunk of createReadStream(path.join(out, f.path))) hash.update(chunk as Buffer)
      return `${path.join(out, f.path)}  sha-256 ${hash.digest('hex')}`
    }))
    say('Done: every piece matched its hash in the torrent.')
    for (const line of hashes) say(`  ${line}`)
  } finally {
    done = true
    clearTimeout(renewal)
    await finish()
  }
}

// ---------------------------------------------------------------------------------------------------

async function main (argv: string[]): Promise<number> {
  // `build` has options of its own (scripts/build.ts).
  if (argv[0] === 'build') return (await import('./build.ts')).buildCommand(argv.slice(1))
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        price: { type: 'string' }, asset: { type: 'string' }, scale: { type: 'string' }, pointer: { type: 'string' },
        companion: { type: 'string' }, token: { type: 'string' }, 'keep-seeding': { type: 'boolean' }, webrtc: { type: 'boolean' },
        out: { type: 'string' }, btp: { type: 'string' }, data: { type: 'string' }, balance: { type: 'string' }, timeout: { type: 'string' },
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
    // Anything else is a bug or the system's refusal: one line, and the stack only when asked for.
    console.error(`trickle: ${(err as Error).message ?? String(err)}${process.env.TRICKLE_DEBUG ? `\n${(err as Error).stack}` : ' (TRICKLE_DEBUG=1 shows where)'}`)
    return 1
  }
}

if (import.meta.main || process.argv[1]?.endsWith('scripts/trickle.ts')) process.exit(await main(process.argv.slice(2)))
