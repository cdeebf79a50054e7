// Small helpers shared by every measurement: free ports, waiting, medians, the machine's load.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { loadavg, tmpdir, cpus } from 'node:os'
import path from 'node:path'

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** A port nobody listens on right now (the kernel picks it; loopback only). */
export function freePort (): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number }
      srv.close(() => resolve(port))
    })
  })
}

export function median (values: number[]): number {
  if (values.length === 0) return Number.NaN
  const s = [...values].sort((a, b) => a - b)
  const mid = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}

/** A temporary folder removed by cleanupTemps() (run.ts calls it on every exit path). */
const temps: string[] = []
export function tempDir (name: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), `trickle-bench-${name}-`))
  temps.push(dir)
  return dir
}
export function cleanupTemps (): void {
  for (const dir of temps.splice(0)) rmSync(dir, { recursive: true, force: true })
}

export interface LoadCheck {
  /** 1- and 5-minute load averages when the measurement started */
  load1: number
  load5: number
  /** share of all cores busy (0-1) over a few seconds just before, while the bench itself was idle */
  busy: number
  cores: number
  /** seconds spent waiting for the machine to calm down */
  waitedS: number
  /** false: the machine stayed busy for the whole wait; the numbers are noisier */
  quiet: boolean
}

/** Busy share of all cores over `ms`, from /proc/stat (user, nice, system, irq, softirq, steal). */
export async function cpuBusy (ms: number): Promise<number> {
  const read = () => {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number)
    const idle = f[3]! + f[4]!
    return { idle, total: f.slice(0, 8).reduce((a, b) => a + b, 0) }
  }
  const a = read()
  await sleep(ms)
  const b = read()
  return b.total === a.total ? 0 : 1 - (b.idle - a.idle) / (b.total - a.total)
}

/**
 * Waits until the machine is quiet: other engineers run tests on this 2-core machine, and a busy
 * neighbour halves any throughput figure. Quiet means the cores were at most `maxBusy` busy over 3 s
 * while the bench itself did nothing, and the 1-minute load average is at most `maxLoad` (the bench's
 * own previous run lifts it for a minute, hence the direct measure). Polls for up to `waitS`.
 */
export async function waitForQuiet (maxBusy: number, maxLoad: number, waitS: number, say: (s: string) => void): Promise<LoadCheck> {
  const start = Date.now()
  let announced = false
  for (;;) {
    const busy = await cpuBusy(3000)
    const [load1, load5] = loadavg() as [number, number, number]
    const waitedS = Math.round((Date.now() - start) / 1000)
    const check = { load1, load5, busy, cores: cpus().length, waitedS }
    if (busy <= maxBusy && load1 <= maxLoad) return { ...check, quiet: true }
    if (waitedS >= waitS) {
      say(`  still busy after ${waitedS} s (cores ${Math.round(busy * 100)}% busy, load average ${load1.toFixed(2)}): measuring anyway, noted in the results`)
      return { ...check, quiet: false }
    }
    if (!announced) say(`  machine busy (cores ${Math.round(busy * 100)}% busy, load average ${load1.toFixed(2)}): waiting for it to calm down (up to ${waitS} s)…`)
    announced = true
    await sleep(7000)
  }
}

/** Polls `fn` until it returns something truthy or `timeoutMs` passes. */
export async function waitUntil<T> (what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs: number, everyMs = 100): Promise<T> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const v = await fn()
    if (v) return v
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(everyMs)
  }
}

export const round = (x: number, digits = 0) => {
  const f = 10 ** digits
  return Math.round(x * f) / f
}
