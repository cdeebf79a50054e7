// A hand-written BitTorrent peer for attacks on the seeder's wire (peer-proof-attacks.test.ts): the
// handshake, length-prefixed messages, the extended handshake, every message it receives logged.
import { createHash, randomBytes } from 'node:crypto'
import net from 'node:net'
import bencode from 'bencode'

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export const MSG: Record<number, string> = { 0: 'choke', 1: 'unchoke', 2: 'interested', 3: 'uninterested', 4: 'have', 5: 'bitfield', 6: 'request', 7: 'piece', 8: 'cancel', 9: 'port', 13: 'suggest', 14: 'have_all', 15: 'have_none', 16: 'reject', 17: 'allowed_fast', 20: 'extended' }

export interface RawMsg { id: number, name: string, payload: Buffer }

/** A hand-written BitTorrent peer: the handshake, then length-prefixed messages, every one logged. */
export class Raw {
  sock: net.Socket
  buf = Buffer.alloc(0)
  gotHandshake = false
  remotePeerId = ''
  remoteReserved = Buffer.alloc(8)
  log: RawMsg[] = []
  extHandshake: any
  closed = false
  private waiters: Array<() => void> = []
  onMsg?: (m: RawMsg) => void
  port: number
  infoHash: string
  peerId: Buffer
  opts: { fast?: boolean, extended?: boolean, quiet?: boolean, host?: string }
  constructor (port: number, infoHash: string, peerId: Buffer, opts: { fast?: boolean, extended?: boolean, quiet?: boolean, host?: string } = {}) {
    this.port = port; this.infoHash = infoHash; this.peerId = peerId; this.opts = opts
    this.sock = net.connect({ host: opts.host ?? '127.0.0.1', port })
    this.sock.on('data', (d) => this.onData(d))
    this.sock.on('close', () => { this.closed = true; this.wake() })
    this.sock.on('error', () => {})
    const reserved = Buffer.alloc(8)
    if (opts.extended !== false) reserved[5]! |= 0x10
    if (opts.fast) reserved[7]! |= 0x04
    this.sock.write(Buffer.concat([Buffer.from([19]), Buffer.from('BitTorrent protocol'), reserved, Buffer.from(infoHash, 'hex'), peerId]))
  }
  private wake () { for (const w of this.waiters.splice(0)) w() }
  private onData (d: Buffer) {
    this.buf = Buffer.concat([this.buf, d])
    if (!this.gotHandshake) {
      if (this.buf.length < 68) return
      this.remoteReserved = this.buf.subarray(20, 28)
      this.remotePeerId = this.buf.subarray(48, 68).toString('hex')
      this.buf = this.buf.subarray(68)
      this.gotHandshake = true
    }
    while (this.buf.length >= 4) {
      const len = this.buf.readUInt32BE(0)
      if (this.buf.length < 4 + len) break
      const body = this.buf.subarray(4, 4 + len)
      this.buf = this.buf.subarray(4 + len)
      if (len === 0) { this.push({ id: -1, name: 'keepalive', payload: Buffer.alloc(0) }); continue }
      const m: RawMsg = { id: body[0]!, name: MSG[body[0]!] ?? `id${body[0]}`, payload: Buffer.from(body.subarray(1)) }
      if (m.id === 20 && m.payload[0] === 0) {
        try { this.extHandshake = bencode.decode(m.payload.subarray(1)) } catch {}
        m.name = 'ext-handshake'
      } else if (m.id === 20) {
        m.name = `ext#${m.payload[0]}`
      }
      this.push(m)
    }
    this.wake()
  }
  private push (m: RawMsg) {
    this.log.push(m)
    if (!this.opts.quiet) console.log(`  <- ${m.name} (${m.payload.length} bytes)${m.name === 'ext-handshake' ? ' ' + JSON.stringify(describe(this.extHandshake)) : ''}${m.name.startsWith('ext#') ? ' ' + m.payload.subarray(1, 3).toString('hex') : ''}`)
    this.onMsg?.(m)
  }
  send (id: number, payload: Uint8Array = Buffer.alloc(0)) {
    const h = Buffer.alloc(5); h.writeUInt32BE(1 + payload.length); h[4] = id
    this.sock.write(Buffer.concat([h, payload]))
  }
  sendRaw (b: Uint8Array) { this.sock.write(b) }
  ext (extId: number, payload: Uint8Array) { this.send(20, Buffer.concat([Buffer.from([extId]), payload])) }
  extHandshakeSend (dict: Record<string, unknown>) { this.ext(0, bencode.encode(dict)) }
  /** The id the remote side gave an extension in its extended handshake. */
  remoteExt (name: string): number | undefined { const v = this.extHandshake?.m?.[name]; return v === undefined ? undefined : Number(v) }
  async until (pred: () => boolean, ms = 5000): Promise<boolean> {
    const end = Date.now() + ms
    while (!pred()) {
      if (this.closed || Date.now() > end) return pred()
      await new Promise<void>((r) => { this.waiters.push(r); setTimeout(r, Math.min(100, end - Date.now())) })
    }
    return true
  }
  names () { return this.log.map((m) => m.name) }
  destroy () { this.sock.destroy() }
}

function describe (v: any): any {
  if (v instanceof Uint8Array) return v.length <= 40 ? Buffer.from(v).toString('utf8').replace(/[^\x20-\x7e]/g, '.') : `<${v.length} bytes>`
  if (Array.isArray(v)) return v.map(describe)
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, describe(x)]))
  return v
}

export const randomPeerId = () => Buffer.concat([Buffer.from('-AT0001-'), randomBytes(12)])

/** Learn the seeder's peer id with a throwaway connection (same for every torrent of the process). */
export async function seederPeerId (port: number, infoHash: string): Promise<string> {
  const r = new Raw(port, infoHash, randomPeerId(), { quiet: true })
  await r.until(() => r.gotHandshake, 5000)
  r.destroy()
  return r.remotePeerId
}

export const LT = 3
export const UM = 2
export const isGate = (m: RawMsg, type: number) => m.name === `ext#${LT}` && m.payload[1] === type
export const gateMsg = (r: Raw, type: number) => r.log.find((m) => isGate(m, type))?.payload.subarray(1)

/** After being admitted on `r`: the info dict over ut_metadata, then every block; returns the file. */
export async function takeFile (r: Raw, infoHash: string): Promise<{ meta: boolean, file: Buffer }> {
  const sUM = r.remoteExt('ut_metadata')!
  const size = Number(r.extHandshake.metadata_size)
  const n = Math.ceil(size / 16384)
  for (let i = 0; i < n; i++) r.ext(sUM, bencode.encode({ msg_type: 0, piece: i }))
  await r.until(() => r.log.filter((m) => m.name === `ext#${UM}`).length >= n, 5000)
  const meta = Buffer.concat(r.log.filter((m) => m.name === `ext#${UM}`).map((m) => {
    const p = m.payload.subarray(1); return p.subarray(p.indexOf('ee') + 2)
  }))
  const metaOk = createHash('sha1').update(meta).digest('hex') === infoHash
  const info = bencode.decode(meta) as any
  const pieceLength = info['piece length'] as number
  const length = info.length as number
  r.send(2)
  await r.until(() => r.log.some((m) => m.name === 'unchoke'), 5000)
  const blocks: Array<[number, number, number]> = []
  for (let off = 0; off < length; off += 16384) blocks.push([Math.floor(off / pieceLength), off % pieceLength, Math.min(16384, length - off)])
  const out = Buffer.alloc(length)
  let got = 0
  r.onMsg = (m) => {
    if (m.name !== 'piece') return
    m.payload.subarray(8).copy(out, m.payload.readUInt32BE(0) * pieceLength + m.payload.readUInt32BE(4)); got++
  }
  for (const [p, b, l] of blocks) { const q = Buffer.alloc(12); q.writeUInt32BE(p); q.writeUInt32BE(b, 4); q.writeUInt32BE(l, 8); r.send(6, q) }
  await r.until(() => got >= blocks.length, 20000)
  return { meta: metaOk, file: out }
}

export const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')
