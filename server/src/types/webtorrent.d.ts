// webtorrent 3 ships no typings (and @types/webtorrent describes 1.x); this is the part Trickle uses.
declare module 'webtorrent' {
  import { EventEmitter } from 'node:events'

  export interface WebTorrentOptions {
    dht?: boolean | object
    lsd?: boolean
    utPex?: boolean
    natUpnp?: boolean | 'permanent'
    natPmp?: boolean
    webSeeds?: boolean
    utp?: boolean
    torrentPort?: number
    maxConns?: number
    /** false: no trackers; an object: bittorrent-tracker client options (rtcConfig, wrtc: false, getAnnounceOpts…) */
    tracker?: false | Record<string, unknown>
  }

  export interface AddOptions {
    /** folder the torrent's files are read from and written to */
    path?: string
    /** trackers added to the torrent's own */
    announce?: string[]
    /** extra announce parameters, asked before every announce */
    getAnnounceOpts?: () => Record<string, unknown>
    private?: boolean
    skipVerify?: boolean
    destroyStoreOnDestroy?: boolean
    /** pieces cached in memory per torrent (default 20); 0: none */
    storeCacheSlots?: number
  }

  export interface TorrentFile {
    name: string
    path: string
    length: number
  }

  export interface Torrent extends EventEmitter {
    infoHash: string
    name: string
    length: number
    path: string
    files: TorrentFile[]
    ready: boolean
    done: boolean
    destroyed: boolean
    downloaded: number
    uploaded: number
    received: number
    downloadSpeed: number
    uploadSpeed: number
    progress: number
    numPeers: number
    timeRemaining: number
    announce: string[]
    wires: Array<{ type: string, remoteAddress?: string, uploaded: number, downloaded: number }>
    destroy (opts?: { destroyStore?: boolean } | null, cb?: (err?: Error | null) => void): void
    /** connects to a peer at host:port (no tracker needed) */
    addPeer (peer: string): boolean
  }

  export default class WebTorrent extends EventEmitter {
    constructor (opts?: WebTorrentOptions)
    static WEBRTC_SUPPORT: boolean
    peerId: string
    torrents: Torrent[]
    torrentPort: number
    listening: boolean
    add (torrentId: string | Uint8Array, opts?: AddOptions, ontorrent?: (torrent: Torrent) => void): Torrent
    get (torrentId: string | Uint8Array | Torrent): Promise<Torrent | null>
    remove (torrentId: string | Torrent, opts?: { destroyStore?: boolean } | null, cb?: (err?: Error | null) => void): Promise<void>
    address (): { address: string, family: string, port: number } | null
    destroy (cb?: (err?: Error | null) => void): void
  }
}
