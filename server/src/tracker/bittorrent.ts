// bittorrent-tracker's Server, wrapped (not forked): its own listeners are off (the companion's HTTP
// routes and WebSocket endpoint feed it) and every announce passes our gate first, through the
// `filter` option, which the Server calls with the parsed params before any swarm sees the announce.
//
// Why the filter is the right place (research/anchors.md §1.7.1): bittorrent-tracker forwards
// `params.offers` to the peers an announce returns and relays `params.answer` to `to_peer_id` only
// after the filter said yes (server.js _onAnnounce -> _onWebSocketRequest). So a refused announce gets
// a failure reason and nothing else: no peers, no offer reaches a seeder, no answer is relayed. ILP
// Torrent's swarm instead called back before its spend resolved, and offers went out regardless.
//
// Since only announces the gate accepted ever enter a swarm, the peers an accepted announce gets (and
// forwards offers to, and answers to_peer_id) are themselves paid leechers or the creator's seeders.
import Server, { type AnnounceParams } from 'bittorrent-tracker/server'
import type { FastifyBaseLogger } from 'fastify'

export type Authorization =
  | { ok: true, role: 'free' | 'seeder' | 'paid' }
  | { ok: false, reason: string }

export interface Credentials {
  /** balance id at the verifier (announce param `balance`) */
  balance?: unknown
  /** the creator's seeder token (announce param `seeder_token`) */
  seederToken?: unknown
}

export interface GatedTracker {
  server: Server
  /** Forget a swarm and every WebSocket peer's authorization for it (a torrent was registered or removed). */
  reset (infoHash: string): void
}

export interface GatedTrackerOptions {
  authorize (infoHash: string, credentials: Credentials): Promise<Authorization>
  log: FastifyBaseLogger
  /** Announce interval for HTTP clients, ms (WebSocket clients get a fifth of it, as bittorrent-tracker does). */
  intervalMs?: number
}

export function createGatedTracker (opts: GatedTrackerOptions): GatedTracker {
  // WebSocket answers carry no credentials (bittorrent-tracker's client sends only to_peer_id, answer and
  // offer_id), so an authorization is remembered for the socket and peer id that earned it. A peer id
  // alone could be copied by anyone who saw it in an offer; a socket is a connection nobody else can
  // borrow, but one process shares it between all its clients (bittorrent-tracker's socketPool), so
  // the pair is what identifies the payer.
  const authorized = new Map<string, WeakMap<object, Set<string>>>()

  const filter = (infoHash: string, params: AnnounceParams, cb: (err?: Error | null) => void) => {
    const socket = params.type === 'ws' ? params.socket : undefined
    if (socket && authorized.get(infoHash)?.get(socket)?.has(params.peer_id)) return cb(null)
    opts.authorize(infoHash, { balance: params.balance, seederToken: params.seeder_token }).then((result) => {
      if (!result.ok) return cb(new Error(result.reason))
      if (socket && result.role !== 'free') {
        let sockets = authorized.get(infoHash)
        if (!sockets) authorized.set(infoHash, sockets = new WeakMap())
        let peers = sockets.get(socket)
        if (!peers) sockets.set(socket, peers = new Set())
        peers.add(params.peer_id)
      }
      cb(null)
    }, (err: unknown) => {
      opts.log.error({ err, infoHash }, 'tracker gate failed')
      cb(new Error('the tracker could not check this announce; try again later (internal_error)'))
    })
  }

  const server = new Server({ http: false, udp: false, ws: false, stats: false, interval: opts.intervalMs, filter })
  // Refused announces and client mistakes arrive as 'warning'; they are the client's problem, not ours.
  server.on('warning', (err: Error) => opts.log.debug({ err: err.message }, 'tracker warning'))

  return {
    server,
    reset (infoHash) {
      authorized.delete(infoHash)
      delete server.torrents[infoHash]
    }
  }
}
