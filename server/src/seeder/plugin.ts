// Seeds what the site publishes once the companion listens (its own tracker must answer the first
// announce): the files and folders of TRICKLE_SEED, each made into a licensed torrent, registered and
// seeded; then every registered torrent that has a file on this machine (e.g. from `trickle seed`).
import { createReadStream } from 'node:fs'
import { readdir, stat } from 'node:fs/promises'
import path from 'node:path'
import fp from 'fastify-plugin'
import { createTorrent, formatPrice, parseTorrent, type Price } from '../torrent/license.ts'
import { isTrackerFailure, trackerErrorMessage } from '../tracker/errors.ts'
import { isSeederFailure, type SeederService, type SeedRequest } from './service.ts'
import { createSupervisedSeeder } from './supervisor.ts'

export interface SeedEntry {
  /** absolute path of a file, or of a folder whose files (not hidden, not in subfolders) are seeded */
  path: string
  price: Price | 'free'
}

export interface SeederPluginOptions {
  publicUrl: string
  seeds: SeedEntry[]
  /** Payment pointer for the licenses; a proxy pointer is registered for it. Default: the demo account's. */
  pointer?: string
  webrtc: boolean
  /** Interface and port of the seeder's BitTorrent TCP port */
  host?: string
  torrentPort?: number
}

/** Seeder proofs last a week and are renewed every day, so a companion that runs for months keeps proving. */
const SEEDER_PROOF_TTL_MS = 7 * 24 * 3600 * 1000
const SEEDER_PROOF_RENEWAL_MS = 24 * 3600 * 1000

export interface Seeder extends SeederService {
  /** Settles when the configured and registered files have been tried (after listen). */
  started (): Promise<void>
}

declare module 'fastify' {
  interface FastifyInstance { seeder: Seeder }
}

async function expand (entries: SeedEntry[]): Promise<Array<{ file: string, price: Price | 'free' }>> {
  const out: Array<{ file: string, price: Price | 'free' }> = []
  for (const entry of entries) {
    const info = await stat(entry.path).catch(() => undefined)
    if (info?.isDirectory()) {
      const names = (await readdir(entry.path, { withFileTypes: true })).filter((d) => d.isFile() && !d.name.startsWith('.')).map((d) => d.name).sort()
      for (const name of names) out.push({ file: path.join(entry.path, name), price: entry.price })
    } else {
      out.push({ file: entry.path, price: entry.price })
    }
  }
  return out
}

export default fp(async function seederPlugin (app, opts: SeederPluginOptions) {
  const publicUrl = opts.publicUrl.replace(/\/+$/, '')
  const log = app.log.child({ service: 'seeder' })
  const service = createSupervisedSeeder({
    log: app.log,
    announce: [app.tracker.announceUrls.http],
    webrtc: opts.webrtc,
    ...(opts.host ? { host: opts.host } : {}),
    ...(opts.torrentPort ? { torrentPort: opts.torrentPort } : {}),
    peerKeySeed: app.tracker.proofs.seederSeed
  })
  const seederProof = (infoHash: string) => app.tracker.seederProof(infoHash, app.tracker.proofs.seederKey, SEEDER_PROOF_TTL_MS).proof
  /** Paid torrents are seeded with the seeder's proof of payment (readers' clients gate too). */
  async function seed (request: SeedRequest) {
    const parsed = await parseTorrent(request.torrent).catch(() => undefined)
    return service.seed(parsed?.license ? { ...request, proof: seederProof(parsed.infoHash) } : request)
  }
  const renewal = setInterval(() => {
    for (const s of service.list()) {
      void app.tracker.get(s.infoHash).then((r) => {
        if ('record' in r && r.record.license) return service.renewProof(s.infoHash, seederProof(s.infoHash))
        return undefined
      }).catch((err: unknown) => log.error({ infoHash: s.infoHash, err }, 'could not renew the seeder\'s proof'))
    }
  }, SEEDER_PROOF_RENEWAL_MS).unref()
  let startup: Promise<void> = Promise.resolve()
  app.decorate('seeder', { ...service, seed, started: () => startup })

  /**
   * Who the seeded files' licenses pay. By default the demo account's wallet address itself, as a
   * production site names its creator's: today's Web Monetization pays it through Open Payments.
   * TRICKLE_SEED_POINTER names another: a proxy pointer of this companion as it is (for agents that
   * send STREAM receipts), anything else registered as a receiver and named as it is.
   */
  async function licensePointer (): Promise<string | undefined> {
    if (!opts.pointer) return app.demo?.paymentPointer
    if (opts.pointer.startsWith(`${publicUrl}/p/`)) return opts.pointer
    const proxy = await app.verifier.registerProxy(opts.pointer)
    if (typeof proxy === 'string') {
      log.error({ pointer: opts.pointer, error: proxy }, 'TRICKLE_SEED_POINTER cannot be registered as a receiver')
      return undefined
    }
    return opts.pointer
  }

  async function seedConfigured (seeded: Set<string>) {
    const files = await expand(opts.seeds)
    if (files.length === 0) return
    const pointer = files.some((f) => f.price !== 'free') ? await licensePointer() : undefined
    for (const { file, price } of files) {
      try {
        if (price !== 'free' && !pointer) {
          log.error({ file }, 'not seeding a paid file: no payment pointer (set TRICKLE_SEED_POINTER or TRICKLE_DEMO_ACCOUNT)')
          continue
        }
        const info = await stat(file)
        const created = await createTorrent({
          name: path.basename(file),
          data: createReadStream(file),
          length: info.size,
          announce: app.tracker.announceUrls.ws,
          ...(price === 'free' ? {} : { license: { paymentPointer: pointer!, verifier: publicUrl, ...price, proofKey: app.tracker.proofs.proofKey } })
        })
        const registered = await app.tracker.register(created.torrent, { seedPath: file })
        if (isTrackerFailure(registered)) {
          log.error({ file, error: registered.error, detail: registered.detail ?? trackerErrorMessage[registered.error] }, 'could not register a file to seed')
          continue
        }
        const result = await seed({ torrent: created.torrent, file, seederToken: app.tracker.seederToken(created.infoHash), verified: true })
        if (isSeederFailure(result)) {
          log.error({ file, error: result.error, detail: result.message }, 'could not seed a file')
          continue
        }
        seeded.add(created.infoHash)
        log.info({ file, infoHash: created.infoHash, price: created.license ? formatPrice(created.license) : 'free', magnet: app.tracker.magnet(registered) }, 'seeding a published file')
      } catch (err) {
        log.error({ file, err: (err as Error).message }, 'could not seed a file')
      }
    }
  }

  async function seedRegistered (seeded: Set<string>) {
    for (const r of await app.tracker.list()) {
      const file = r.record.seedPath
      if (!file || seeded.has(r.record.infoHash)) continue
      const result = await seed({ torrent: r.record.torrent, file, seederToken: app.tracker.seederToken(r.record.infoHash) })
      if (isSeederFailure(result)) {
        log.warn({ file, infoHash: r.record.infoHash, error: result.error, detail: result.message }, 'not seeding a registered torrent')
        continue
      }
      seeded.add(r.record.infoHash)
    }
  }

  app.addHook('onListen', async () => {
    const seeded = new Set<string>()
    startup = seedConfigured(seeded).then(() => seedRegistered(seeded)).catch((err: unknown) => {
      log.error({ err }, 'seeding failed')
    })
  })
  app.addHook('onClose', async () => {
    clearInterval(renewal)
    await startup
    await service.close()
  })
}, { name: 'seeder', fastify: '5.x', dependencies: ['tracker', 'verifier'] })
