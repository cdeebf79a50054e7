// bittorrent-tracker 11 ships no typings; this is the part Trickle uses (the server is embedded in the
// companion, the client appears in tests and the CLI).
declare module 'bittorrent-tracker/server' {
  import { EventEmitter } from 'node:events'
  import type { IncomingMessage, ServerResponse } from 'node:http'

  /** An announce after parse-http.js / parse-websocket.js: unknown query or JSON fields are kept. */
  export interface AnnounceParams {
    type: 'http' | 'ws' | 'udp'
    action: number
    /** lowercase hex */
    info_hash: string
    /** lowercase hex */
    peer_id: string
    event?: string
    left: number
    numwant: number
    offers?: Array<{ offer: unknown, offer_id: string }>
    answer?: unknown
    to_peer_id?: string
    offer_id?: string
    /** the WebSocket (ws announces only) */
    socket?: object
    ip?: string
    port?: number
    addr?: string
    [extra: string]: unknown
  }

  export interface SwarmPeer {
    type: string
    complete: boolean
    peerId: string
    ip?: string
    port?: number
    socket?: object
  }

  export interface Swarm {
    infoHash: string
    complete: number
    incomplete: number
    peers: { keys: string[], peek (id: string): SwarmPeer | undefined }
  }

  export interface ServerOptions {
    interval?: number
    trustProxy?: boolean
    http?: boolean | object
    udp?: boolean | object
    ws?: boolean | object
    stats?: boolean
    /** Called for every announce (answers included) before the swarm sees it; an error refuses it. */
    filter?: (infoHash: string, params: AnnounceParams, cb: (err?: Error | null) => void) => void
  }

  export default class Server extends EventEmitter {
    constructor (opts?: ServerOptions)
    intervalMs: number
    torrents: Record<string, Swarm>
    onHttpRequest (req: IncomingMessage, res: ServerResponse, opts?: { action?: 'announce' | 'scrape', trustProxy?: boolean }): void
    onWebSocketConnection (socket: object, opts?: { trustProxy?: boolean }): void
    close (cb?: (err?: Error | null) => void): void
  }
}

declare module 'bittorrent-tracker' {
  import { EventEmitter } from 'node:events'
  export { default as Server } from 'bittorrent-tracker/server'

  export interface ClientOptions {
    infoHash: string | Uint8Array
    peerId: string | Uint8Array
    announce: string | string[]
    port?: number
    getAnnounceOpts?: () => Record<string, unknown>
    rtcConfig?: object
    wrtc?: unknown
  }

  export class Client extends EventEmitter {
    constructor (opts: ClientOptions)
    start (opts?: Record<string, unknown>): void
    stop (opts?: Record<string, unknown>): void
    complete (opts?: Record<string, unknown>): void
    update (opts?: Record<string, unknown>): void
    scrape (opts?: Record<string, unknown>): void
    destroy (cb?: (err?: Error | null) => void): void
  }
  export default Client
}
