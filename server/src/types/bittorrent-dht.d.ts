// bittorrent-dht ships no typings; the part the tests use (a local bootstrap node that records queries).
declare module 'bittorrent-dht' {
  import { EventEmitter } from 'node:events'
  export default class DHT extends EventEmitter {
    constructor (opts?: { bootstrap?: false | string[] })
    listen (port: number, host: string, cb?: () => void): void
    address (): { address: string, port: number }
    destroy (cb?: () => void): void
  }
}
