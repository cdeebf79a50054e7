// Child processes for the servers under test and the helpers that load them: each runs in its own
// process (its own event loop and, on this 2-core machine, a fair share of the CPU), logs to a file
// in a temporary folder, and is stopped by the measurement that started it (or, on any exit path of
// the bench, by stopAll()).
import { spawn, type ChildProcess } from 'node:child_process'
import { createWriteStream, readdirSync, readFileSync, type WriteStream } from 'node:fs'
import path from 'node:path'
import { sleep, tempDir } from './util.ts'

export interface StartOptions {
  name: string
  /** a .ts/.js file run with this very Node (24: type stripping), or a command with `command` */
  script?: string
  command?: string
  args?: string[]
  env?: Record<string, string>
  cwd?: string
}

const running = new Set<Proc>()
const logDir = () => (logFolder ??= tempDir('logs'))
let logFolder: string | undefined

export class Proc {
  readonly name: string
  readonly child: ChildProcess
  readonly logFile: string
  private readonly log: WriteStream
  private readonly lines: string[] = []
  private readonly waiters: Array<{ re: RegExp, resolve: (line: string) => void }> = []
  private exited: Promise<number | null>
  exitCode: number | null | undefined

  constructor (opts: StartOptions) {
    this.name = opts.name
    this.logFile = path.join(logDir(), `${opts.name.replace(/[^A-Za-z0-9_.-]/g, '_')}-${Date.now()}.log`)
    this.log = createWriteStream(this.logFile)
    const command = opts.command ?? process.execPath
    const args = opts.command ? (opts.args ?? []) : [opts.script!, ...(opts.args ?? [])]
    this.child = spawn(command, args, {
      cwd: opts.cwd,
      env: { ...process.env, ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe']
    })
    running.add(this)
    let pending = ''
    this.child.stdout!.on('data', (chunk: Buffer) => {
      this.log.write(chunk)
      pending += chunk.toString('utf8')
      const parts = pending.split('\n')
      pending = parts.pop() ?? ''
      for (const line of parts) this.onLine(line)
    })
    this.child.stderr!.on('data', (chunk: Buffer) => { this.log.write(chunk) })
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code) => {
        this.exitCode = code
        running.delete(this)
        resolve(code)
      })
    })
  }

  get pid (): number { return this.child.pid! }

  private onLine (line: string) {
    this.lines.push(line)
    if (this.lines.length > 200) this.lines.shift()
    for (const w of [...this.waiters]) {
      if (w.re.test(line)) {
        this.waiters.splice(this.waiters.indexOf(w), 1)
        w.resolve(line)
      }
    }
  }

  /** The first stdout line (past or future) matching `re`. */
  waitForLine (re: RegExp, timeoutMs: number): Promise<string> {
    const seen = this.lines.find((l) => re.test(l))
    if (seen !== undefined) return Promise.resolve(seen)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name}: no line matching ${re} within ${timeoutMs} ms\n${this.tail()}`)), timeoutMs)
      const waiter = { re, resolve: (line: string) => { clearTimeout(timer); resolve(line) } }
      this.waiters.push(waiter)
      void this.exited.then((code) => {
        if (!this.waiters.includes(waiter)) return
        clearTimeout(timer)
        reject(new Error(`${this.name} exited (${code}) before printing ${re}\n${this.tail()}`))
      })
    })
  }

  /** The JSON object printed on the first stdout line that starts with `{"<key>"`. */
  async waitForJson<T> (key: string, timeoutMs: number): Promise<T> {
    const line = await this.waitForLine(new RegExp(`^\\{"${key}"`), timeoutMs)
    return JSON.parse(line) as T
  }

  /** The last lines of its log, for error messages. */
  tail (n = 30): string {
    try {
      return readFileSync(this.logFile, 'utf8').split('\n').slice(-n).join('\n')
    } catch {
      return this.lines.slice(-n).join('\n')
    }
  }

  /** Resident set size in KiB (VmRSS), or NaN once it exited. */
  rssKb (): number {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${this.pid}/status`, 'utf8'))
      return m ? Number(m[1]) : Number.NaN
    } catch {
      return Number.NaN
    }
  }

  /**
   * CPU seconds (user + system) used so far by the process and its live descendants (the companion
   * seeds from a child process of its own: its CPU is the seeder's too).
   */
  cpuSeconds (): number {
    const ticks = (pid: number): number => {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ')
      // fields[11] and [12] are utime and stime (fields 14 and 15 of proc(5)), in clock ticks (100/s).
      return Number(fields[11]) + Number(fields[12])
    }
    const children = (pid: number): number[] => {
      try {
        return readdirSync(`/proc/${pid}/task`).flatMap((tid) =>
          readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim().split(' ').filter(Boolean).map(Number))
      } catch {
        return []
      }
    }
    try {
      let total = ticks(this.pid)
      for (let queue = children(this.pid); queue.length > 0;) {
        const pid = queue.shift()!
        try { total += ticks(pid) } catch { continue }
        queue.push(...children(pid))
      }
      return total / 100
    } catch {
      return Number.NaN
    }
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it exited. */
  async stop (graceMs = 10_000): Promise<void> {
    if (this.exitCode !== undefined) return
    this.child.kill('SIGTERM')
    const timer = setTimeout(() => { if (this.exitCode === undefined) this.child.kill('SIGKILL') }, graceMs)
    await this.exited
    clearTimeout(timer)
    this.log.end()
  }

  wait (): Promise<number | null> { return this.exited }
}

export function start (opts: StartOptions): Proc {
  return new Proc(opts)
}

/** Stops every process still running (the bench's exit paths call this). */
export async function stopAll (): Promise<void> {
  await Promise.all([...running].map((p) => p.stop(3000)))
}

/** Synchronous last resort on process exit: kill what is left. */
export function killAllSync (): void {
  for (const p of running) {
    try { p.child.kill('SIGKILL') } catch {}
  }
}

/** Reads RSS a few times over `ms` and returns the median (GC makes single readings jumpy). */
export async function settledRss (p: Proc, ms = 2000, samples = 5): Promise<number> {
  const values: number[] = []
  for (let i = 0; i < samples; i++) {
    await sleep(ms / samples)
    values.push(p.rssKb())
  }
  values.sort((a, b) => a - b)
  return values[Math.floor(values.length / 2)]!
}
