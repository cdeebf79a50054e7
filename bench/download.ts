// 4. Downloads: MB/s of a paid download (Trickle: the companion registers and seeds a licensed file;
// the reader pays, credits, announces with its balance and downloads) against the same file as a
// plain WebTorrent torrent (plain bittorrent-tracker, plain WebTorrent seeder), Node to Node over TCP
// on loopback. Each download runs in a fresh process; runs alternate; the median counts.
import { createHash, randomBytes } from 'node:crypto'
import { mkdirSync, openSync, rmSync, writeSync, closeSync } from 'node:fs'
import path from 'node:path'
import bencode from 'bencode'
import { defaultPieceLength } from '../server/src/torrent/license.ts'
import type { Ctx } from './lib/context.ts'
import { start, type Proc } from './lib/proc.ts'
import { row, type Row } from './lib/report.ts'
import { repoRoot, startCompanion } from './lib/trickle.ts'
import { freePort, median, tempDir, waitUntil } from './lib/util.ts'

interface Leech { bytes: number, payMs: number, downloadMs: number, metadataMs: number, firstWireMs: number, leecherCpuMs: number, sha256: string }

function makeFile (dir: string, mib: number): { file: string, sha256: string } {
  const file = path.join(dir, 'files', `bench-${mib}MiB.bin`)
  mkdirSync(path.dirname(file), { recursive: true })
  const fd = openSync(file, 'w')
  const hash = createHash('sha256')
  for (let i = 0; i < mib; i++) {
    const chunk = randomBytes(1 << 20)
    hash.update(chunk)
    writeSync(fd, chunk)
  }
  closeSync(fd)
  return { file, sha256: hash.digest('hex') }
}

/** Seeders in the swarm according to the tracker's scrape. */
async function seeders (trackerUrl: string, infoHash: string): Promise<number> {
  const res = await fetch(`${trackerUrl.replace(/\/announce$/, '/scrape')}?info_hash=${infoHash.replace(/../g, '%$&')}`)
  const reply = bencode.decode(new Uint8Array(await res.arrayBuffer())) as { files?: Map<unknown, unknown> | Record<string, { complete: number }> }
  const files = reply.files
  if (!files) return 0
  const entries = files instanceof Map ? [...files.values()] : Object.values(files)
  return (entries[0] as { complete?: number } | undefined)?.complete ?? 0
}

async function leech (ctx: Ctx, label: string, magnet: string, dir: string, sha256: string, seeder: Proc): Promise<Leech & { seederCpuS: number }> {
  const out = path.join(dir, `out-${randomBytes(4).toString('hex')}`)
  const cpu = seeder.cpuSeconds()
  const p = start({ name: `leech-${label}`, script: path.join(repoRoot, 'bench/procs/leech.ts'), args: [JSON.stringify({ magnet, out, timeoutMs: 120_000 })] })
  try {
    const r = await p.waitForJson<Leech>('result', 130_000)
    if (r.sha256 !== sha256) throw new Error(`${label}: the downloaded file differs from the seeded one`)
    // CPU the seeding process spent on this download (payment included for Trickle's companion).
    const seederCpuS = seeder.cpuSeconds() - cpu
    ctx.say(`  ${label}: ${(r.bytes / r.downloadMs / 1000).toFixed(1)} MB/s (${(r.downloadMs / 1000).toFixed(2)} s${r.payMs ? `, after paying in ${Math.round(r.payMs)} ms` : ''}; metadata at ${Math.round(r.metadataMs)} ms; seeder CPU ${seederCpuS.toFixed(2)} s, leecher CPU ${(r.leecherCpuMs / 1000).toFixed(2)} s)`)
    return { ...r, seederCpuS }
  } finally {
    await p.stop()
    rmSync(out, { recursive: true, force: true })
  }
}

export async function benchDownload (ctx: Ctx): Promise<{ rows: Row[], details: Record<string, unknown> }> {
  const mib = ctx.quick ? 64 : 256
  const runs = ctx.quick ? 2 : 6
  const dir = tempDir('download')
  const { file, sha256 } = makeFile(dir, mib)

  // Trickle: the companion seeds the file as a paid download (1 cent), as TRICKLE_SEED does for a site.
  const c = await startCompanion('download-trickle', { TRICKLE_SEED: file, TRICKLE_SEED_PRICE: '1 USD/2' })
  // The anchor: a plain tracker and a plain WebTorrent seeder, each in its own process.
  const trackerPort = await freePort()
  const tracker = start({ name: 'bittorrent-tracker-dl', script: path.join(repoRoot, 'bench/procs/bt-tracker.ts'), args: [String(trackerPort)] })
  const plainAnnounce = `http://127.0.0.1:${trackerPort}/announce`
  let seeder
  try {
    const paid = await waitUntil('the companion to register the seeded file', async () => {
      const list = await (await fetch(`${c.url}/torrents`)).json() as Array<{ infoHash: string, magnet: string }>
      return list[0]
    }, 120_000, 250)
    await waitUntil('the companion to announce as seeder', async () => await seeders(`${c.url}/announce`, paid.infoHash) > 0, 60_000, 250)
    await tracker.waitForJson('ready', 30_000)
    seeder = start({ name: 'wt-seed', script: path.join(repoRoot, 'bench/procs/wt-seed.ts'), args: [file, plainAnnounce, String(defaultPieceLength((mib * (1 << 20))))] })
    const plain = await seeder.waitForJson<{ magnet: string, infoHash: string }>('magnet', 120_000)
    await waitUntil('the plain seeder to announce', async () => await seeders(plainAnnounce, plain.infoHash) > 0, 60_000, 250)

    const trickleRuns: Leech[] = []
    const plainRuns: Leech[] = []
    const trickle1 = () => leech(ctx, 'Trickle, paid', paid.magnet, dir, sha256, c.proc)
    const plain1 = () => leech(ctx, 'WebTorrent, plain', plain.magnet, dir, sha256, seeder!)
    // One download each that does not count (the seeders' first reads and JIT), then pairs in
    // alternating order, so that neither side always runs right after the other's disk writes.
    ctx.say('  warm-up downloads (not counted):')
    await trickle1()
    await plain1()
    for (let i = 0; i < runs; i++) {
      await ctx.checkLoad(`download run ${i + 1}`)
      if (i % 2 === 0) {
        trickleRuns.push(await trickle1())
        plainRuns.push(await plain1())
      } else {
        plainRuns.push(await plain1())
        trickleRuns.push(await trickle1())
      }
    }
    const mbps = (r: Leech) => r.bytes / r.downloadMs / 1000
    const endToEnd = (r: Leech) => r.bytes / (r.downloadMs + r.payMs) / 1000
    const trickle = median(trickleRuns.map(mbps))
    const anchor = median(plainRuns.map(mbps))
    const rows = [
      row({ id: 'download.mbps', metric: `downloads: MB/s, ${mib} MiB paid vs plain (TCP)`, unit: 'MB/s', trickle, anchor, anchorName: 'WebTorrent 3.0.21 + bittorrent-tracker', goal: { on: 'ratio', op: '>=', target: 0.95, text: '≥ 0.95x' } }),
      row({ id: 'download.mbps.with-payment', metric: 'downloads: MB/s counting the payment too', unit: 'MB/s', trickle: median(trickleRuns.map(endToEnd)), anchor, anchorName: 'WebTorrent 3.0.21 + bittorrent-tracker' })
    ]
    return { rows, details: { mib, runs, trickle: trickleRuns, plain: plainRuns } }
  } finally {
    await seeder?.stop()
    await tracker.stop()
    await c.proc.stop()
  }
}
