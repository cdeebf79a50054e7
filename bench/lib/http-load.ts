// HTTP load with autocannon (pinned in bench/package.json), bounded in time (`durationS`) and in count
// (`maxRequests`), loopback only. Each request can be built by `next` (distinct receipts, peers…).
import type { Request, Result } from 'autocannon'

export interface LoadOptions {
  url: string
  method?: 'GET' | 'POST'
  headers?: Record<string, string>
  connections: number
  durationS: number
  maxRequests: number
  /** The path and body of the next request; called once per request. */
  next: () => { path: string, body?: string }
}

export interface LoadResult {
  /** 2xx responses per second of the run */
  rps: number
  ok: number
  non2xx: number
  errors: number
  durationS: number
  p50ms: number
  p99ms: number
  statusCodes: Record<string, number>
}

export async function runLoad (o: LoadOptions): Promise<LoadResult> {
  const url = new URL(o.url)
  if (url.hostname !== '127.0.0.1') throw new Error(`loopback only: ${o.url}`)
  const { default: autocannon } = await import('autocannon')
  const request: Request = {
    method: o.method ?? 'GET',
    setupRequest (req) {
      const n = o.next()
      req.path = n.path
      if (n.body !== undefined) req.body = n.body
      return req
    }
  }
  // Throughput from our own clock: autocannon's `duration` ends on its 1 s sampling tick, which
  // would count up to a second of nothing when the count bound ends a run early.
  let ok2xx = 0
  let last = 0
  const t0 = performance.now()
  const instance = autocannon({
    url: o.url,
    connections: o.connections,
    pipelining: 1,
    duration: o.durationS,
    // Not `amount`: autocannon lets `amount` override the duration; this one ends the run at whichever
    // bound comes first.
    maxOverallRequests: o.maxRequests,
    timeout: 10,
    headers: o.headers ?? {},
    requests: [request]
  })
  instance.on('response', (_client: unknown, status: number) => {
    if (status >= 200 && status < 300) ok2xx++
    last = performance.now()
  })
  const result: Result = await instance
  const statusCodes: Record<string, number> = {}
  for (const [code, s] of Object.entries(result.statusCodeStats ?? {})) statusCodes[code] = s.count
  const ok = result['2xx']
  const seconds = (last - t0) / 1000
  return {
    rps: ok2xx / seconds,
    ok,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    durationS: seconds,
    p50ms: result.latency.p50,
    p99ms: result.latency.p99,
    statusCodes
  }
}
