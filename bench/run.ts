// `npm run bench`: every measurement of bench/README.md in one go, on this machine, loopback only. Installs the
// anchors into bench/node_modules first when needed, waits for a quiet machine before each load, starts
// and stops every process it uses, prints the table and writes bench/results/<date>.json and latest.json.
//
//   npm run bench                      everything (about 6-8 minutes on 2 cores)
//   npm run bench -- --only verifier,site
//   npm run bench -- --quick           shorter runs, rougher numbers
//   BENCH_MAX_BUSY=0.25 BENCH_MAX_LOAD=2.5 BENCH_WAIT_S=300 npm run bench   (what counts as quiet)
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import type { Ctx } from './lib/context.ts'
import { killAllSync, stopAll } from './lib/proc.ts'
import { formatTable, type Row } from './lib/report.ts'
import { repoRoot, trickleRoot } from './lib/trickle.ts'
import { cleanupTemps, waitForQuiet, type LoadCheck } from './lib/util.ts'

const benchDir = path.join(repoRoot, 'bench')

/** Installs bench/package.json's pinned anchors unless exactly those versions are there already. */
function ensureInstalled (say: (s: string) => void): void {
  const pkg = JSON.parse(readFileSync(path.join(benchDir, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }
  const missing = Object.entries(pkg.dependencies).filter(([name, version]) => {
    const file = path.join(benchDir, 'node_modules', name, 'package.json')
    return !existsSync(file) || (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version !== version
  })
  if (missing.length === 0) return
  say(`installing the anchors into bench/node_modules (${missing.map(([n, v]) => `${n}@${v}`).join(', ')})…`)
  const r = spawnSync('npm', ['--prefix', benchDir, 'install', '--no-audit', '--no-fund'], { stdio: 'inherit' })
  if (r.status !== 0) throw new Error('npm --prefix bench install failed')
}

const BENCHES = ['verifier', 'tracker', 'stream', 'download', 'site', 'open-payments', 'stores', 'calls'] as const
type BenchName = typeof BENCHES[number]

async function runBench (name: BenchName, ctx: Ctx): Promise<{ rows: Row[], details: Record<string, unknown> }> {
  switch (name) {
    case 'verifier': return (await import('./verifier.ts')).benchVerifier(ctx)
    case 'tracker': return (await import('./tracker.ts')).benchTracker(ctx)
    case 'stream': return (await import('./stream.ts')).benchStream(ctx)
    case 'download': return (await import('./download.ts')).benchDownload(ctx)
    case 'site': return (await import('./site.ts')).benchSite(ctx)
    case 'open-payments': return (await import('./open-payments.ts')).benchOpenPayments(ctx)
    case 'stores': return (await import('./postgres.ts')).benchPostgres(ctx)
    case 'calls': return (await import('./calls.ts')).benchCalls(ctx)
  }
}

function hugoVersion (): string {
  const local = path.join(repoRoot, 'node_modules/hugo-bin/vendor/hugo')
  const r = spawnSync(existsSync(local) ? local : 'hugo', ['version'], { encoding: 'utf8' })
  // Only the site measurement needs Hugo; the others still run (and say so) without it.
  return r.status === 0 ? r.stdout.trim() : 'not installed'
}

function gitState (root = repoRoot): { commit: string, uncommittedChanges: boolean } {
  const git = (...args: string[]) => spawnSync('git', ['-C', root, ...args], { encoding: 'utf8' }).stdout.trim()
  return { commit: git('rev-parse', 'HEAD'), uncommittedChanges: git('status', '--porcelain', '--', 'server', 'theme', 'scripts').length > 0 }
}

async function main (): Promise<number> {
  const { values } = parseArgs({
    options: {
      only: { type: 'string' },
      quick: { type: 'boolean', default: false },
      duration: { type: 'string' }
    }
  })
  const say = (s: string) => { process.stdout.write(`${s}\n`) }
  const only = values.only ? values.only.split(',').map((s) => s.trim()) : [...BENCHES]
  for (const o of only) if (!(BENCHES as readonly string[]).includes(o)) throw new Error(`unknown bench "${o}" (one of ${BENCHES.join(', ')})`)
  ensureInstalled(say)

  const maxBusy = Number(process.env.BENCH_MAX_BUSY ?? 0.25)
  const maxLoad = Number(process.env.BENCH_MAX_LOAD ?? 2.5)
  const waitS = Number(process.env.BENCH_WAIT_S ?? 300)
  const loads: Array<{ label: string } & LoadCheck> = []
  const ctx: Ctx = {
    say,
    quick: values.quick!,
    durationS: Number(values.duration ?? (values.quick ? 4 : 10)),
    async checkLoad (label) {
      const check = await waitForQuiet(maxBusy, maxLoad, waitS, say)
      loads.push({ label, ...check })
      return check
    }
  }

  const startedAt = new Date()
  const rows: Row[] = []
  const details: Record<string, unknown> = {}
  const failures: Record<string, string> = {}
  for (const name of BENCHES.filter((b) => only.includes(b))) {
    say(`\n== ${name}`)
    try {
      const r = await runBench(name, ctx)
      rows.push(...r.rows)
      details[name] = r.details
    } catch (err) {
      failures[name] = (err as Error).stack ?? String(err)
      say(`  ${name} failed: ${(err as Error).message}`)
    } finally {
      await stopAll()
    }
  }

  const table = formatTable(rows)
  say(`\n${table}\n`)
  const missed = rows.filter((r) => r.pass === false)
  say(`goals: ${rows.filter((r) => r.pass === true).length} met, ${missed.length} missed${missed.length ? ` (${missed.map((r) => r.id).join(', ')})` : ''}`)
  const noisy = loads.filter((l) => !l.quiet)
  if (noisy.length) say(`note: ${noisy.length} load run(s) started on a busy machine; see "loads" in the JSON`)
  for (const [name, f] of Object.entries(failures)) say(`failed: ${name}: ${f.split('\n')[0]}`)

  const result = {
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model,
      memoryGiB: Math.round(totalmem() / 2 ** 30),
      node: process.version,
      hugo: hugoVersion()
    },
    options: { quick: ctx.quick, durationS: ctx.durationS, maxBusy, maxLoad, waitS },
    // Which Trickle was measured: this checkout or the one BENCH_TRICKLE_ROOT named, by its commit and
    // whether it had uncommitted changes (not by its path, which is only this machine's).
    trickle: { ...gitState(trickleRoot), ...(trickleRoot === repoRoot ? {} : { otherCheckout: true }) },
    loads,
    rows,
    table,
    details,
    failures
  }
  const dir = path.join(benchDir, 'results')
  mkdirSync(dir, { recursive: true })
  const stamp = startedAt.toISOString().replace(/:/g, '-').replace(/\.\d+Z$/, 'Z')
  const json = JSON.stringify(result, (_k, v: unknown) => typeof v === 'bigint' ? v.toString() : v, 2) + '\n'
  writeFileSync(path.join(dir, `${stamp}.json`), json)
  writeFileSync(path.join(dir, 'latest.json'), json)
  say(`results: bench/results/${stamp}.json (and bench/results/latest.json)`)
  return Object.keys(failures).length > 0 ? 1 : 0
}

process.on('exit', killAllSync)
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void stopAll().finally(() => { cleanupTemps(); process.exit(130) })
  })
}
let code = 1
try {
  code = await main()
} finally {
  await stopAll()
  cleanupTemps()
}
process.exit(code)
