// Every setting of the companion server, in one table: the README's settings table is generated
// from it (`npm run settings-table`) and a test checks that the two agree.
import { readFileSync } from 'node:fs'
import path from 'node:path'
import type { SeedEntry } from './seeder/plugin.ts'
import { parseSeedSettings } from './seeder/settings.ts'
import { parseDatabaseUrl } from './store/database-url.ts'
import { isBusUrl, SUBJECT_PREFIX } from './bus/bus.ts'
import { parseRates, type ExchangeRate } from './prices/rates.ts'
import type { TrackerLimits } from './tracker/protocol.ts'

export type SettingKind = 'string' | 'port' | 'integer' | 'amount' | 'list' | 'boolean'

export interface Setting {
  env: string
  kind: SettingKind
  /** Default as the user would type it; '' means unset. */
  default: string
  description: string
}

export const SETTINGS = [
  { env: 'HOST', kind: 'string', default: '127.0.0.1', description: 'Interface the HTTP API listens on.' },
  { env: 'PORT', kind: 'port', default: '3000', description: 'Port of the HTTP API (SPSP, wallet, verifier, OpenAPI docs at `/docs`).' },
  { env: 'TRICKLE_PUBLIC_URL', kind: 'string', default: '', description: 'Base URL readers reach the companion at; payment pointers and proxy pointers are built from it. Default `http://localhost:PORT`.' },
  { env: 'TRICKLE_DATA_DIR', kind: 'string', default: './data', description: 'Folder for the embedded SQLite database (`trickle.sqlite`), relative to the working directory.' },
  { env: 'TRICKLE_DATABASE', kind: 'string', default: '', description: 'SQLite file to use instead of `TRICKLE_DATA_DIR/trickle.sqlite`; `:memory:` keeps nothing; or `postgres://user@host:port/database[?schema=name]` for PostgreSQL (several companions on one database).' },
  { env: 'TRICKLE_BUS', kind: 'string', default: '', description: 'NATS server(s) several companions share, as `nats://[user:password@]host:4222` (comma-separated for a NATS cluster): the tracker\'s swarms then span every instance, so peers announced to one meet peers announced to another. Unset: one instance. See docs/deployment.md.' },
  { env: 'TRICKLE_BUS_SUBJECT', kind: 'string', default: 'trickle', description: 'Prefix of the NATS subjects the companions use, so several deployments can share one NATS server; the same on every instance of one deployment.' },
  { env: 'TRICKLE_ADMIN_TOKEN', kind: 'string', default: '', description: 'Bearer token for admin routes (accounts, proxy pointers). Generated on first start and kept in the database when unset.' },
  { env: 'TRICKLE_SPEND_TOKEN', kind: 'string', default: '', description: 'Bearer token for `POST /balances/{id}:spend` (the admin token works too). Generated and kept when unset.' },
  { env: 'RECEIPT_SEED', kind: 'string', default: '', description: 'Base64 seed (32 bytes) from which receipt secrets are derived. Generated and kept when unset; changing it invalidates outstanding nonces.' },
  { env: 'RECEIPT_TTL', kind: 'integer', default: '300', description: 'Seconds a receipt nonce stays valid after the SPSP query that issued it.' },
  { env: 'ILP_BTP_SERVER', kind: 'string', default: '', description: 'Uplink, as ilp-plugin reads it (`btp+ws://user:secret@host:port`). When set, no connector is started and the wallet joins this network instead.' },
  { env: 'TRICKLE_ILP_ADDRESS', kind: 'string', default: 'private.trickle', description: 'ILP address of the embedded connector.' },
  { env: 'TRICKLE_ILP_ASSET_CODE', kind: 'string', default: 'USD', description: 'Asset of the embedded network.' },
  { env: 'TRICKLE_ILP_ASSET_SCALE', kind: 'integer', default: '9', description: 'Asset scale of the embedded network (9: one unit is a billionth of a dollar).' },
  { env: 'TRICKLE_BTP_HOST', kind: 'string', default: '127.0.0.1', description: 'Interface of the embedded BTP endpoint (ilp-plugin-mini-accounts).' },
  { env: 'TRICKLE_BTP_PORT', kind: 'port', default: '7768', description: 'Port of the embedded BTP endpoint (7768, as `moneyd local`).' },
  { env: 'TRICKLE_BTP_ALLOWED_ORIGINS', kind: 'list', default: '^https?://(localhost|127\\.0\\.0\\.1|\\[::1\\])(:[0-9]+)?$', description: 'Comma-separated regular expressions of browser origins allowed to open BTP WebSockets (Node clients send no Origin).' },
  { env: 'TRICKLE_ILP_MAX_PACKET_AMOUNT', kind: 'amount', default: '', description: 'Largest amount one ILP packet may carry on the embedded network; unset means no limit.' },
  { env: 'TRICKLE_ILP_RATE_LIMIT', kind: 'integer', default: '0', description: 'Packets per minute the embedded connector accepts from all BTP clients together; 0 disables the limit.' },
  { env: 'TRICKLE_CORS_ORIGIN', kind: 'string', default: '*', description: 'Value of Access-Control-Allow-Origin on public routes (SPSP, credit, verify) so pages on another origin can pay and credit.' },
  { env: 'TRICKLE_DEMO_ACCOUNT', kind: 'string', default: 'demo', description: 'Wallet account (and proxy pointer) created at start for newcomers; empty for none.' },
  { env: 'TRICKLE_PULL_TOKEN', kind: 'string', default: '', description: 'Bearer token that may create, update and cancel pull agreements (`/pull`), e.g. for a wallet front end; the admin token always may.' },
  { env: 'TRICKLE_PULL_SIGNING_KEY', kind: 'string', default: '', description: 'Base64 key (32 bytes or more) that signs offline pull pointers (JWS, HS256). Generated and kept when unset; set it to sign tokens elsewhere. Changing it refuses tokens not yet used.' },
  { env: 'TRICKLE_RATES', kind: 'list', default: '', description: 'Exchange rates, as `FROM:TO=rate` (e.g. `EUR:USD=1.08,XRP:USD=0.5`; each also works in reverse), exact decimals: prices of torrents and sealed sections in another asset than the receiving wallet\'s are converted with them when registered or sealed (rounded up, for the creator), and pull agreements in another asset than the network\'s (rounded down, for the sender). Same code with another scale needs none.' },
  { env: 'TRICKLE_PULL_RATES', kind: 'list', default: '', description: 'Older name of `TRICKLE_RATES`, still read (its rates are added to those).' },
  { env: 'TRICKLE_PULL_WEBHOOK_BACKOFF', kind: 'list', default: '1000,10000,60000,600000,3600000', description: 'Milliseconds to wait before each retry of a failed pull webhook; one attempt plus one per entry, then it is given up.' },
  { env: 'TRICKLE_TRACKER_OPEN', kind: 'boolean', default: 'true', description: 'Whether the tracker (`/announce`) also serves infohashes nobody registered (free torrents), as a public tracker does; paid torrents are always registered (`POST /torrents`).' },
  { env: 'TRICKLE_TRACKER_INTERVAL', kind: 'integer', default: '150', description: 'Seconds between the announces the tracker asks of HTTP clients; WebSocket (WebRTC) clients are asked every fifth of it, which is also how soon a failed WebRTC connection is tried again.' },
  { env: 'TRICKLE_DOWNLOAD_GRANT_TTL', kind: 'integer', default: '2592000', description: 'Seconds a bought download lasts (30 days): until then the reader who bought it gets new tickets (a reload, another device with the same secret) without paying again.' },
  { env: 'TRICKLE_DOWNLOAD_TICKET_TTL', kind: 'integer', default: '3600', description: 'Seconds one download ticket admits its peer id to the swarm; clients ask for a new one (free within the purchase) before it ends.' },
  { env: 'TRICKLE_DOWNLOAD_MAX_PEERS', kind: 'integer', default: '8', description: 'Distinct peer ids one purchase is issued tickets for within one ticket lifetime (each page load or CLI run is a new peer id).' },
  { env: 'TRICKLE_TRACKER_MAX_CONNECTIONS', kind: 'integer', default: '', description: 'WebSocket tracker connections open at once, from everyone; more are refused (503) until some close. Default: three quarters of the process\'s open-file limit (`ulimit -n`), at most 50000, so HTTP requests and the database always have descriptors left.' },
  { env: 'TRICKLE_TRACKER_MAX_CONNECTIONS_PER_ADDRESS', kind: 'integer', default: '64', description: 'WebSocket tracker connections open at once from one IP address (a browser opens one per tracker); 0 for no limit.' },
  { env: 'TRICKLE_TRACKER_MAX_SWARMS', kind: 'integer', default: '100000', description: 'Swarms (infohashes with peers) the tracker keeps; announces that would start another are refused until swarms empty. Registered torrents always get theirs.' },
  { env: 'TRICKLE_TRACKER_MAX_SWARMS_PER_CONNECTION', kind: 'integer', default: '100', description: 'Swarms one WebSocket connection may be in at once (one client shares its socket between its torrents); the creator\'s seeders are exempt.' },
  { env: 'TRICKLE_TRACKER_MAX_MESSAGES_PER_MINUTE', kind: 'integer', default: '600', description: 'Messages (announces, answers, scrapes) one WebSocket connection may send per minute, in bursts of as many; a connection that sends more is closed (1008).' },
  { env: 'TRICKLE_TRACKER_FULL_SCRAPE', kind: 'boolean', default: 'false', description: 'Whether `/scrape` without `info_hash` lists every active swarm; by default it answers only for the infohashes asked for.' },
  { env: 'TRICKLE_HTTP_REQUEST_TIMEOUT', kind: 'integer', default: '30', description: 'Seconds a client has to send a whole HTTP request (headers within 10 of them), after which it gets 408 and the connection closes; WebSocket frames get 10 s each.' },
  { env: 'TRICKLE_RATE_LIMIT', kind: 'integer', default: '1000', description: 'Requests per minute one IP address may make to the HTTP API (announce and scrape have their own limits); then 429 with `Retry-After`. 0 turns it off.' },
  { env: 'TRICKLE_SPSP_RATE_LIMIT_PER_ADDRESS', kind: 'integer', default: '30', description: 'SPSP queries per minute one IP address may make to one proxy pointer (`/p/{id}`; each asks the receiver and issues a receipt nonce). 0 turns it off.' },
  { env: 'TRICKLE_SPSP_RATE_LIMIT_PER_PROXY', kind: 'integer', default: '1200', description: 'SPSP queries per minute one proxy pointer answers, from all addresses together. 0 turns it off.' },
  { env: 'TRICKLE_TRUST_PROXY', kind: 'boolean', default: 'false', description: 'Whether the companion runs behind a reverse proxy whose `X-Forwarded-For` names the client: rate limits and per-address limits then count the forwarded address. Leave it off when clients connect directly (they could forge the header).' },
  { env: 'TRICKLE_SEED', kind: 'list', default: '', description: 'Files or folders (the files directly inside) the companion seeds over TCP and WebRTC, comma-separated, relative to the working directory; `FILE=PRICE` gives one its own price, `=free` makes it free.' },
  { env: 'TRICKLE_SEED_PRICE', kind: 'string', default: '', description: 'Price of each `TRICKLE_SEED` file without its own, as `AMOUNT CODE/SCALE` (`100 USD/2` is 1.00 USD), or `free`.' },
  { env: 'TRICKLE_SEED_POINTER', kind: 'string', default: '', description: 'Who seeded files are paid to: a wallet address (registered as a receiver, named in the license as it is; readers pay it through Open Payments) or a proxy pointer of this companion (for agents that send STREAM receipts). Default: the demo account\'s wallet address.' },
  { env: 'TRICKLE_SEED_WEBRTC', kind: 'boolean', default: 'true', description: 'Seed to browsers over WebRTC (node-datachannel) as well as over TCP.' },
  { env: 'TRICKLE_OP_CLIENT_WALLET', kind: 'string', default: '', description: 'Wallet address the companion identifies as when it reads incoming payments at creators\' wallets (add its key, GET /op/client-key, there as a developer key). Unset: a directed identity (its key in each grant request), which the embedded wallet and Rafiki 2.4+ accept.' },
  { env: 'TRICKLE_SEED_HOST', kind: 'string', default: '', description: 'Interface the seeder\'s BitTorrent TCP port listens on. Default: `HOST`. Peers must reach it for TCP downloads; it serves paid torrents only to peers that present a proof of payment.' },
  { env: 'TRICKLE_SEED_PORT', kind: 'integer', default: '0', description: 'The seeder\'s BitTorrent TCP port; 0 picks a free one at each start.' },
  { env: 'TRICKLE_SEAL_SECRET', kind: 'string', default: '', description: 'Base64 secret (32 bytes or more) from which the keys of sealed exclusive sections derive; the sealing step (`trickle-seal`) needs the same. Generated and kept when unset.' },
  { env: 'TRICKLE_SEAL_GRANT_TTL', kind: 'integer', default: '1800', description: 'Seconds after buying a sealed section during which the same balance gets its key again without paying (reloads, other tabs).' },
  { env: 'TRICKLE_CALL_PERIOD', kind: 'integer', default: '60', description: 'Seconds of a paid call one charge buys: an attendee pays the first period to join and each next one as it starts (the rate is per minute; a period costs its share, rounded up).' },
  { env: 'TRICKLE_CALL_GRACE', kind: 'integer', default: '10', description: 'Seconds after a period starts during which its charge may still succeed (a payment on its way); then an attendee whose balance does not cover it is removed from the call.' },
  { env: 'TRICKLE_CALL_MAX_MESH', kind: 'integer', default: '6', description: 'Largest room of the peer-to-peer (WebRTC mesh) calls, the host included: each participant sends video to every other. Larger rooms need Jitsi.' },
  { env: 'TRICKLE_CALL_ICE_SERVERS', kind: 'string', default: '', description: 'ICE servers for calls: comma-separated `stun:`/`turn:` URLs, or a JSON array of RTCIceServer objects (with `username` and `credential` for TURN). None by default (peers on one network, as on localhost).' },
  { env: 'TRICKLE_JITSI_DOMAIN', kind: 'string', default: '', description: 'A self-hosted Jitsi Meet with token authentication (e.g. `meet.example.com`): rooms created with `jitsi: true` give paying attendees a short-lived JWT for it instead of the mesh. See docs/calls.md.' },
  { env: 'TRICKLE_JITSI_APP_ID', kind: 'string', default: '', description: 'Jitsi\'s `app_id` (the JWT `iss`), as in its Prosody configuration.' },
  { env: 'TRICKLE_JITSI_SECRET', kind: 'string', default: '', description: 'Jitsi\'s `app_secret`, which signs the JWTs (HS256).' },
  { env: 'LOG_LEVEL', kind: 'string', default: 'info', description: 'Log level (fatal, error, warn, info, debug, trace). At info: what was set up, registered, spent and paid for, and one line a minute summing the receipts credited; at debug also each credit and each request.' },
  { env: 'LOG_FORMAT', kind: 'string', default: 'pretty', description: '`pretty` for readable lines, `json` for one JSON object per line.' }
] as const satisfies readonly Setting[]

export type SettingName = typeof SETTINGS[number]['env']

export interface Config {
  host: string
  port: number
  publicUrl: string
  database: string
  /** NATS URL(s) of the bus shared by several instances. */
  bus?: string
  busSubject: string
  adminToken?: string
  spendToken?: string
  receiptSeed?: Buffer
  receiptTtlSeconds: number
  uplink?: string
  ilpAddress: string
  assetCode: string
  assetScale: number
  btpHost: string
  btpPort: number
  btpAllowedOrigins: string[]
  maxPacketAmount?: string
  rateLimitPerMinute: number
  corsOrigin: string
  demoAccount?: string
  pullToken?: string
  pullSigningKey?: Buffer
  pullRates: ExchangeRate[]
  pullWebhookBackoffMs: number[]
  trackerOpen: boolean
  trackerIntervalSeconds: number
  trackerLimits: TrackerLimits
  downloadGrantTtlSeconds: number
  downloadTicketTtlSeconds: number
  downloadMaxPeers: number
  httpRequestTimeoutSeconds: number
  httpRateLimitPerMinute: number
  spspRateLimitPerAddress: number
  spspRateLimitPerProxy: number
  trustProxy: boolean
  seeds: SeedEntry[]
  seedPointer?: string
  seedWebrtc: boolean
  seedHost: string
  opClientWallet?: string
  seedPort: number
  sealSecret?: Buffer
  sealGrantTtlSeconds: number
  calls: {
    periodSeconds: number
    graceSeconds: number
    maxMesh: number
    iceServers: Array<{ urls: string | string[], username?: string, credential?: string }>
    jitsi?: { domain: string, appId: string, secret: string }
  }
  logLevel: string
  logFormat: 'pretty' | 'json'
}

/** TRICKLE_CALL_ICE_SERVERS: a list of stun:/turn: URLs, or a JSON array of RTCIceServer objects. */
export function parseIceServers (text: string): Config['calls']['iceServers'] | string {
  const t = text.trim()
  if (t === '') return []
  const isUrl = (u: unknown) => typeof u === 'string' && /^(stun|stuns|turn|turns):[^\s,]+$/.test(u)
  if (t.startsWith('[')) {
    let v: unknown
    try { v = JSON.parse(t) } catch { return 'not valid JSON' }
    if (!Array.isArray(v) || v.length > 10) return 'expected an array of at most 10 RTCIceServer objects'
    const out: Config['calls']['iceServers'] = []
    for (const e of v as unknown[]) {
      const o = e as { urls?: unknown, username?: unknown, credential?: unknown }
      const urls = Array.isArray(o?.urls) ? o.urls : [o?.urls]
      if (typeof e !== 'object' || e === null || urls.length === 0 || !urls.every(isUrl)) return 'each entry needs urls: stun:/turn: URL(s)'
      if ((o.username !== undefined && typeof o.username !== 'string') || (o.credential !== undefined && typeof o.credential !== 'string')) return 'username and credential are strings'
      out.push({ urls: o.urls as string | string[], ...(o.username !== undefined ? { username: o.username as string } : {}), ...(o.credential !== undefined ? { credential: o.credential as string } : {}) })
    }
    return out
  }
  const urls = t.split(',').map((u) => u.trim()).filter(Boolean)
  const bad = urls.find((u) => !isUrl(u))
  if (bad !== undefined) return `"${bad}" is not a stun: or turn: URL`
  return urls.map((urls) => ({ urls }))
}

/**
 * Three quarters of the soft open-file limit (Linux: /proc/self/limits), at most 50,000. Every
 * WebSocket is a descriptor; past the limit accept() fails for everyone, HTTP and database included.
 */
export function defaultMaxConnections (limitsText?: string): number {
  let limit = 1024
  try {
    const text = limitsText ?? readFileSync('/proc/self/limits', 'utf8')
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(text)
    if (m) limit = m[1] === 'unlimited' ? 1_000_000 : Number(m[1])
  } catch {
    // Not Linux: assume the common default of 1024.
  }
  return Math.max(16, Math.min(50_000, Math.floor(limit * 0.75)))
}

export class ConfigError extends Error {
  constructor (setting: string, problem: string) {
    super(`${setting}: ${problem}`)
    this.name = 'ConfigError'
  }
}

type Env = Record<string, string | undefined>

function read (env: Env, name: SettingName): string {
  const setting = SETTINGS.find((s) => s.env === name)!
  const raw = env[name]
  return raw === undefined ? setting.default : raw.trim()
}

function integer (env: Env, name: SettingName, min: number, max: number): number {
  const raw = read(env, name)
  if (!/^\d+$/.test(raw)) throw new ConfigError(name, `expected a whole number, got "${raw}"`)
  const n = Number(raw)
  if (n < min || n > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${n}`)
  return n
}

const U64_MAX = 18446744073709551615n

/** Reads the settings from an environment (process.env by default); throws ConfigError naming the bad setting. */
export function loadConfig (env: Env = process.env, cwd = process.cwd()): Config {
  const port = integer(env, 'PORT', 0, 65535)
  const publicUrl = (read(env, 'TRICKLE_PUBLIC_URL') || `http://localhost:${port}`).replace(/\/+$/, '')
  try {
    const u = new URL(publicUrl)
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('not http')
  } catch {
    throw new ConfigError('TRICKLE_PUBLIC_URL', `expected an http(s) URL, got "${publicUrl}"`)
  }
  const database = read(env, 'TRICKLE_DATABASE') ||
    path.join(path.resolve(cwd, read(env, 'TRICKLE_DATA_DIR')), 'trickle.sqlite')
  try { parseDatabaseUrl(database) } catch (err) { throw new ConfigError('TRICKLE_DATABASE', (err as Error).message) }

  let receiptSeed: Buffer | undefined
  const seed = read(env, 'RECEIPT_SEED')
  if (seed !== '') {
    receiptSeed = Buffer.from(seed, 'base64')
    if (receiptSeed.length < 32) throw new ConfigError('RECEIPT_SEED', 'must be at least 32 bytes, base64-encoded')
  }

  const maxPacketAmount = read(env, 'TRICKLE_ILP_MAX_PACKET_AMOUNT')
  if (maxPacketAmount !== '' && (!/^[1-9]\d*$/.test(maxPacketAmount) || BigInt(maxPacketAmount) > U64_MAX)) {
    throw new ConfigError('TRICKLE_ILP_MAX_PACKET_AMOUNT', `expected a positive whole amount up to 2^64-1, got "${maxPacketAmount}"`)
  }
  const bus = read(env, 'TRICKLE_BUS')
  if (bus !== '' && !isBusUrl(bus)) throw new ConfigError('TRICKLE_BUS', `expected nats://host:port (or several, comma-separated), got "${bus}"`)
  const busSubject = read(env, 'TRICKLE_BUS_SUBJECT')
  if (!SUBJECT_PREFIX.test(busSubject)) throw new ConfigError('TRICKLE_BUS_SUBJECT', 'use letters, digits, "-" and "_", in dot-separated parts (no "*" or ">")')
  const uplink = read(env, 'ILP_BTP_SERVER')
  if (uplink !== '' && !/^btp\+wss?:\/\//.test(uplink)) {
    throw new ConfigError('ILP_BTP_SERVER', 'expected btp+ws://… or btp+wss://…')
  }
  const btpAllowedOrigins = read(env, 'TRICKLE_BTP_ALLOWED_ORIGINS').split(',').map((s) => s.trim()).filter(Boolean)
  for (const pattern of btpAllowedOrigins) {
    try { new RegExp(pattern) } catch { throw new ConfigError('TRICKLE_BTP_ALLOWED_ORIGINS', `not a regular expression: ${pattern}`) }
  }
  const logFormat = read(env, 'LOG_FORMAT')
  if (logFormat !== 'pretty' && logFormat !== 'json') throw new ConfigError('LOG_FORMAT', 'expected pretty or json')
  const demoAccount = read(env, 'TRICKLE_DEMO_ACCOUNT')
  if (demoAccount !== '' && !ACCOUNT_NAME.test(demoAccount)) {
    throw new ConfigError('TRICKLE_DEMO_ACCOUNT', 'use 1-64 letters, digits, "-" or "_"')
  }
  let pullSigningKey: Buffer | undefined
  if (read(env, 'TRICKLE_PULL_SIGNING_KEY') !== '') {
    pullSigningKey = Buffer.from(read(env, 'TRICKLE_PULL_SIGNING_KEY'), 'base64')
    if (pullSigningKey.length < 32) throw new ConfigError('TRICKLE_PULL_SIGNING_KEY', 'must be at least 32 bytes, base64-encoded')
  }
  let pullRates: ExchangeRate[]
  try { pullRates = parseRates(read(env, 'TRICKLE_RATES')) } catch (err) { throw new ConfigError('TRICKLE_RATES', (err as Error).message) }
  try { pullRates.push(...parseRates(read(env, 'TRICKLE_PULL_RATES'))) } catch (err) { throw new ConfigError('TRICKLE_PULL_RATES', (err as Error).message) }
  const backoff = read(env, 'TRICKLE_PULL_WEBHOOK_BACKOFF').split(',').map((s) => s.trim()).filter(Boolean)
  if (backoff.some((ms) => !/^\d{1,9}$/.test(ms)) || backoff.length > 20) throw new ConfigError('TRICKLE_PULL_WEBHOOK_BACKOFF', 'expected up to 20 comma-separated whole numbers of milliseconds')
  const flag = (name: SettingName) => {
    const v = read(env, name).toLowerCase()
    if (!/^(true|false|1|0|yes|no)$/.test(v)) throw new ConfigError(name, `expected true or false, got "${v}"`)
    return /^(true|1|yes)$/.test(v)
  }
  const seeds = parseSeedSettings(read(env, 'TRICKLE_SEED'), read(env, 'TRICKLE_SEED_PRICE'), cwd)
  if (!Array.isArray(seeds)) throw new ConfigError(seeds.setting, seeds.problem)
  const optional = (name: SettingName) => read(env, name) || undefined
  let sealSecret: Buffer | undefined
  if (read(env, 'TRICKLE_SEAL_SECRET') !== '') {
    sealSecret = Buffer.from(read(env, 'TRICKLE_SEAL_SECRET'), 'base64')
    if (sealSecret.length < 32) throw new ConfigError('TRICKLE_SEAL_SECRET', 'must be at least 32 bytes, base64-encoded')
  }

  const iceServers = parseIceServers(read(env, 'TRICKLE_CALL_ICE_SERVERS'))
  if (typeof iceServers === 'string') throw new ConfigError('TRICKLE_CALL_ICE_SERVERS', iceServers)
  const jitsiParts = [read(env, 'TRICKLE_JITSI_DOMAIN'), read(env, 'TRICKLE_JITSI_APP_ID'), read(env, 'TRICKLE_JITSI_SECRET')]
  if (jitsiParts.some(Boolean) && !jitsiParts.every(Boolean)) throw new ConfigError('TRICKLE_JITSI_DOMAIN', 'Jitsi needs all three of TRICKLE_JITSI_DOMAIN, TRICKLE_JITSI_APP_ID and TRICKLE_JITSI_SECRET')
  if (jitsiParts[0] && !/^[a-z0-9.-]+(:\d+)?$/i.test(jitsiParts[0])) throw new ConfigError('TRICKLE_JITSI_DOMAIN', `expected a host name like meet.example.com, got "${jitsiParts[0]}"`)
  if (jitsiParts[2] && jitsiParts[2].length < 16) throw new ConfigError('TRICKLE_JITSI_SECRET', 'use at least 16 characters')

  return {
    host: read(env, 'HOST'),
    port,
    publicUrl,
    database,
    ...(bus !== '' ? { bus } : {}),
    busSubject,
    adminToken: optional('TRICKLE_ADMIN_TOKEN'),
    spendToken: optional('TRICKLE_SPEND_TOKEN'),
    receiptSeed,
    receiptTtlSeconds: integer(env, 'RECEIPT_TTL', 1, 7 * 24 * 3600),
    uplink: uplink || undefined,
    ilpAddress: read(env, 'TRICKLE_ILP_ADDRESS'),
    assetCode: read(env, 'TRICKLE_ILP_ASSET_CODE'),
    assetScale: integer(env, 'TRICKLE_ILP_ASSET_SCALE', 0, 255),
    btpHost: read(env, 'TRICKLE_BTP_HOST'),
    btpPort: integer(env, 'TRICKLE_BTP_PORT', 0, 65535),
    btpAllowedOrigins,
    maxPacketAmount: maxPacketAmount || undefined,
    rateLimitPerMinute: integer(env, 'TRICKLE_ILP_RATE_LIMIT', 0, 1e9),
    corsOrigin: read(env, 'TRICKLE_CORS_ORIGIN'),
    demoAccount: demoAccount || undefined,
    pullToken: optional('TRICKLE_PULL_TOKEN'),
    pullSigningKey,
    pullRates,
    pullWebhookBackoffMs: backoff.map(Number),
    trackerOpen: flag('TRICKLE_TRACKER_OPEN'),
    trackerIntervalSeconds: integer(env, 'TRICKLE_TRACKER_INTERVAL', 5, 24 * 3600),
    downloadGrantTtlSeconds: integer(env, 'TRICKLE_DOWNLOAD_GRANT_TTL', 60, 10 * 365 * 24 * 3600),
    downloadTicketTtlSeconds: integer(env, 'TRICKLE_DOWNLOAD_TICKET_TTL', 60, 30 * 24 * 3600),
    downloadMaxPeers: integer(env, 'TRICKLE_DOWNLOAD_MAX_PEERS', 1, 1000),
    trackerLimits: {
      maxConnections: read(env, 'TRICKLE_TRACKER_MAX_CONNECTIONS') === '' ? defaultMaxConnections() : integer(env, 'TRICKLE_TRACKER_MAX_CONNECTIONS', 1, 10_000_000),
      maxConnectionsPerAddress: integer(env, 'TRICKLE_TRACKER_MAX_CONNECTIONS_PER_ADDRESS', 0, 10_000_000),
      maxSwarms: integer(env, 'TRICKLE_TRACKER_MAX_SWARMS', 1, 100_000_000),
      maxSwarmsPerConnection: integer(env, 'TRICKLE_TRACKER_MAX_SWARMS_PER_CONNECTION', 1, 1_000_000),
      maxMessagesPerMinute: integer(env, 'TRICKLE_TRACKER_MAX_MESSAGES_PER_MINUTE', 1, 100_000_000),
      fullScrape: flag('TRICKLE_TRACKER_FULL_SCRAPE')
    },
    httpRequestTimeoutSeconds: integer(env, 'TRICKLE_HTTP_REQUEST_TIMEOUT', 1, 3600),
    httpRateLimitPerMinute: integer(env, 'TRICKLE_RATE_LIMIT', 0, 100_000_000),
    spspRateLimitPerAddress: integer(env, 'TRICKLE_SPSP_RATE_LIMIT_PER_ADDRESS', 0, 100_000_000),
    spspRateLimitPerProxy: integer(env, 'TRICKLE_SPSP_RATE_LIMIT_PER_PROXY', 0, 100_000_000),
    trustProxy: flag('TRICKLE_TRUST_PROXY'),
    seeds,
    seedPointer: optional('TRICKLE_SEED_POINTER'),
    seedWebrtc: flag('TRICKLE_SEED_WEBRTC'),
    seedHost: read(env, 'TRICKLE_SEED_HOST') || read(env, 'HOST'),
    opClientWallet: optional('TRICKLE_OP_CLIENT_WALLET'),
    seedPort: integer(env, 'TRICKLE_SEED_PORT', 0, 65535),
    sealSecret,
    sealGrantTtlSeconds: integer(env, 'TRICKLE_SEAL_GRANT_TTL', 0, 30 * 24 * 3600),
    calls: {
      periodSeconds: integer(env, 'TRICKLE_CALL_PERIOD', 1, 3600),
      graceSeconds: integer(env, 'TRICKLE_CALL_GRACE', 0, 600),
      maxMesh: integer(env, 'TRICKLE_CALL_MAX_MESH', 2, 16),
      iceServers,
      ...(jitsiParts.every(Boolean) ? { jitsi: { domain: jitsiParts[0]!, appId: jitsiParts[1]!, secret: jitsiParts[2]! } } : {})
    },
    logLevel: read(env, 'LOG_LEVEL'),
    logFormat
  }
}

/** Wallet account names: they appear in URLs and ILP addresses. */
export const ACCOUNT_NAME = /^[A-Za-z0-9_-]{1,64}$/

/** A Markdown table of every setting, for the README. */
export function settingsTable (): string {
  const rows = SETTINGS.map((s) => `| \`${s.env}\` | ${s.default === '' ? '(unset)' : '`' + s.default.replace(/\|/g, '\\|') + '`'} | ${s.description} |`)
  return ['| Setting | Default | What it does |', '|---|---|---|', ...rows].join('\n')
}
