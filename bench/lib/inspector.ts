// The V8 inspector of a process under test, from outside: lets a measurement collect its garbage and
// read its heap without any hook in the product. The process is started with
// `NODE_OPTIONS=--inspect=127.0.0.1:<port>` (`inspectOptions`); nothing connects until a measurement
// opens a session. Protocol: https://chromedevtools.github.io/devtools-protocol/v8/
import { waitUntil } from './util.ts'

/** NODE_OPTIONS that open the inspector on a loopback port, kept with any the bench already sets. */
export const inspectOptions = (port: number, existing = process.env.NODE_OPTIONS ?? '') => `${existing} --inspect=127.0.0.1:${port}`.trim()

export class InspectorSession {
  private readonly socket: WebSocket
  private readonly pending = new Map<number, { resolve: (v: Record<string, unknown>) => void, reject: (err: Error) => void }>()
  private nextId = 1

  private constructor (socket: WebSocket) {
    this.socket = socket
    socket.addEventListener('message', (ev) => {
      const m = JSON.parse(String(ev.data)) as { id?: number, result?: Record<string, unknown>, error?: { message: string } }
      const call = m.id === undefined ? undefined : this.pending.get(m.id)
      if (!call) return
      this.pending.delete(m.id!)
      if (m.error) call.reject(new Error(m.error.message))
      else call.resolve(m.result ?? {})
    })
    socket.addEventListener('close', () => {
      for (const call of this.pending.values()) call.reject(new Error('inspector session closed'))
      this.pending.clear()
    })
  }

  /** Connects to the first target of the inspector on `port` (waits for it to listen). */
  static async open (port: number, timeoutMs = 10_000): Promise<InspectorSession> {
    const url = await waitUntil(`the inspector on port ${port}`, async () => {
      try {
        const list = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json() as Array<{ webSocketDebuggerUrl?: string }>
        return list[0]?.webSocketDebuggerUrl
      } catch {
        return undefined
      }
    }, timeoutMs, 200)
    const socket = new WebSocket(url)
    await new Promise<void>((resolve, reject) => {
      socket.addEventListener('open', () => { resolve() }, { once: true })
      socket.addEventListener('error', () => { reject(new Error(`could not connect to ${url}`)) }, { once: true })
    })
    return new InspectorSession(socket)
  }

  call (method: string, params: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject })
      this.socket.send(JSON.stringify({ id, method, params }))
    })
  }

  /** A full, memory-reducing collection (what DevTools' "collect garbage" does). */
  async collectGarbage (): Promise<void> {
    await this.call('HeapProfiler.collectGarbage')
  }

  /** Evaluates an expression in the process and returns its value (JSON-serialisable). */
  async evaluate<T> (expression: string): Promise<T> {
    const r = await this.call('Runtime.evaluate', { expression, returnByValue: true }) as { result?: { value?: T }, exceptionDetails?: unknown }
    if (r.exceptionDetails) throw new Error(`evaluating ${expression}: ${JSON.stringify(r.exceptionDetails)}`)
    return r.result?.value as T
  }

  close (): void {
    this.socket.close()
  }
}
