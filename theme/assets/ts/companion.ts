// A paid magnet names its tracker (tr, ws(s)://host/announce) and verifier (vr, http(s)://host), which
// must be one companion, and its payment pointer (pp): a proxy pointer of that companion
// (http(s)://host/p/{id}, for agents with STREAM receipts) or the creator's Open Payments wallet
// address, which may be at any wallet (https; the companion reads what it received there). A magnet
// that mixes companions could send the balance secret to one server and announce to a tracker that
// never saw the purchase; so readers check it before any money moves or any request is made: the
// browser (download.ts) and the CLI (scripts/trickle.ts). Either then checks that the license is the
// one registered at the verifier, so a magnet naming someone else's wallet is never paid.
// Isomorphic: neither DOM nor Node APIs.

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]'])

/** Same host and port; the loopback spellings of one port are one server, as the companion counts them. */
export function sameHost (a: URL, b: URL): boolean {
  return a.host === b.host || (a.port === b.port && LOOPBACK.has(a.hostname) && LOOPBACK.has(b.hostname))
}

export interface MagnetUrls { trackers: string[], pointer?: string | undefined, verifier?: string | undefined }

export interface Mismatch {
  /** The magnet parameter that does not belong to the companion */
  field: 'tr' | 'pp' | 'vr'
  /** Its value as the magnet has it ('' when missing) */
  value: string
  /** What it should look like */
  expected: string
}

const parse = (s: string | undefined) => { try { return s ? new URL(s) : undefined } catch { return undefined } }

/** The first URL of a paid magnet that is not the verifier's companion; undefined when all are (or it is free). */
export function magnetMismatch (m: MagnetUrls): Mismatch | undefined {
  if (!m.pointer && !m.verifier) return undefined
  const vr = parse(m.verifier)
  if (!vr || !/^https?:$/.test(vr.protocol) || vr.username || vr.password || vr.search || vr.hash) {
    return { field: 'vr', value: m.verifier ?? '', expected: 'http(s)://{host}' }
  }
  const base = vr.pathname.replace(/\/+$/, '')
  const origin = `${vr.protocol}//${vr.host}${base}`
  const pp = parse(m.pointer)
  const id = pp?.pathname.startsWith(`${base}/p/`) ? pp.pathname.slice(base.length + 3) : ''
  const proxyShaped = pp !== undefined && /\/p\/[0-9a-f]{32}\/?$/.test(pp.pathname)
  const proxy = pp && pp.protocol === vr.protocol && sameHost(pp, vr) && /^[0-9a-f]{32}$/.test(id)
  // Another companion's proxy pointer is no wallet address: its receipts would be checked elsewhere.
  const walletAddress = pp && !proxyShaped && (pp.protocol === 'https:' || (pp.protocol === 'http:' && LOOPBACK.has(pp.hostname))) && pp.pathname.length > 1
  if (!pp || pp.search || pp.hash || pp.username || pp.password || (!proxy && !walletAddress)) {
    return { field: 'pp', value: m.pointer ?? '', expected: proxyShaped ? `${origin}/p/{id}` : `an https wallet address or ${origin}/p/{id}` }
  }
  // ws pairs with http, wss with https: the tracker is the companion's own, on the same port.
  const schemes = vr.protocol === 'https:' ? ['wss:', 'https:'] : ['ws:', 'http:']
  const tracker = `${schemes[0]}//${vr.host}${base}/announce`
  if (m.trackers.length === 0) return { field: 'tr', value: '', expected: tracker }
  for (const value of m.trackers) {
    const tr = parse(value)
    if (!tr || !schemes.includes(tr.protocol) || !sameHost(tr, vr) || tr.pathname !== `${base}/announce` || tr.search || tr.hash) {
      return { field: 'tr', value, expected: tracker }
    }
  }
  return undefined
}
