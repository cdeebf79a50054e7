// The peers of one torrent. Two kinds never mix (as in bittorrent-tracker): HTTP/TCP peers, which get
// each other's addresses, and WebSocket (WebRTC) peers, which get each other's offers and answers.
//
// Each kind is a Map kept in least-recently-announced order (an announce moves its peer to the end),
// so expiry and eviction read from the front and stop at the first fresh peer, plus an array for
// picking peers at random in O(numwant). bittorrent-tracker's LRU instead copies every key of the swarm
// (`lru.keys`) on each announce, which is what made its announces slow on big swarms.
export interface Peer {
  /** HTTP: "ip:port"; WebSocket: the peer id, hex. */
  readonly key: string
  /** Hex peer id (HTTP clients that send one). */
  readonly peerId: string
  /** HTTP: the address other peers get. WebSocket: '' and 0 (WebRTC peers meet through offers, not addresses). */
  readonly ip: string
  readonly port: number
  complete: boolean
  /** The tracker's clock (whole seconds) at the last announce. */
  seen: number
  /** Position in its list (for O(1) removal). */
  index: number
  /** HTTP: the compact form (BEP 23 / BEP 7), made once. */
  readonly compact?: Buffer
  /** WebSocket: the connection the peer announced on, which offers and answers go to. */
  readonly conn?: object
  /** WebSocket: the swarm it is in (a connection leaves all of its swarms when it closes). */
  readonly swarm?: Swarm
  /**
   * Several companions on one bus: the instance that last heard from this peer (undefined: this one).
   * A WebSocket peer of another instance has no `conn`; what is for it goes over the bus.
   */
  instance?: string
}

export class PeerList {
  readonly byKey = new Map<string, Peer>()
  readonly list: Peer[] = []

  get size (): number { return this.list.length }

  get (key: string): Peer | undefined { return this.byKey.get(key) }

  add (peer: Peer): void {
    peer.index = this.list.length
    this.list.push(peer)
    this.byKey.set(peer.key, peer)
  }

  /** Marks a peer as just announced: to the end of the expiry order. */
  touch (peer: Peer, now: number): void {
    peer.seen = now
    this.byKey.delete(peer.key)
    this.byKey.set(peer.key, peer)
  }

  remove (peer: Peer): boolean {
    if (this.byKey.get(peer.key) !== peer) return false
    this.byKey.delete(peer.key)
    const last = this.list.pop()!
    if (last !== peer) {
      this.list[peer.index] = last
      last.index = peer.index
    }
    return true
  }

  /** The least recently announced peer. */
  oldest (): Peer | undefined {
    for (const peer of this.byKey.values()) return peer
    return undefined
  }

  /** Up to `count` peers other than `self`, from a random starting point. */
  pick (count: number, self: Peer | undefined): Peer[] {
    const n = this.list.length
    const out: Peer[] = []
    if (n === 0 || count <= 0) return out
    const start = Math.floor(Math.random() * n)
    for (let i = 0; i < n && out.length < count; i++) {
      const p = this.list[(start + i) % n]!
      if (p !== self) out.push(p)
    }
    return out
  }
}

export class Swarm {
  readonly http = new PeerList()
  readonly ws = new PeerList()
  /** HTTP peers by peer id: a peer id belongs to its first ip:port, as a WebSocket one to its connection. */
  readonly httpPeerIds = new Map<string, Peer>()
  complete = 0
  /** Completed downloads seen (event=completed), for scrape's `downloaded`. */
  downloaded = 0

  get size (): number { return this.http.size + this.ws.size }
  get incomplete (): number { return this.size - this.complete }

  add (peers: PeerList, peer: Peer): void {
    peers.add(peer)
    if (peers === this.http && !this.httpPeerIds.has(peer.peerId)) this.httpPeerIds.set(peer.peerId, peer)
    if (peer.complete) this.complete++
  }

  remove (peers: PeerList, peer: Peer): boolean {
    if (!peers.remove(peer)) return false
    if (peers === this.http && this.httpPeerIds.get(peer.peerId) === peer) this.httpPeerIds.delete(peer.peerId)
    if (peer.complete) this.complete--
    return true
  }

  setComplete (peer: Peer, complete: boolean): void {
    if (peer.complete === complete) return
    peer.complete = complete
    this.complete += complete ? 1 : -1
  }
}
