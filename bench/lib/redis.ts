// A few Redis commands over RESP, pipelined, on one database index of the local Redis
// (127.0.0.1:6379): enough to seed @coil/receipt-verifier's nonce cache and to clean up after it,
// without another dependency. Replies: simple strings, errors, integers and bulk strings.
import { Socket, connect } from 'node:net'

type Reply = string | number | null | Error

export class RedisConnection {
  private readonly socket: Socket
  private buffer: Buffer = Buffer.alloc(0)
  private readonly pending: Array<(r: Reply) => void> = []

  private constructor (socket: Socket) {
    this.socket = socket
    socket.on('data', (chunk: Buffer) => {
      this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk])
      this.drain()
    })
  }

  static open (host = '127.0.0.1', port = 6379): Promise<RedisConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host, port })
      socket.once('error', reject)
      socket.once('connect', () => { socket.off('error', reject); resolve(new RedisConnection(socket)) })
    })
  }

  private drain () {
    for (;;) {
      const parsed = this.parse()
      if (parsed === undefined) return
      this.pending.shift()?.(parsed)
    }
  }

  private parse (): Reply | undefined {
    const end = this.buffer.indexOf('\r\n')
    if (end === -1) return undefined
    const type = String.fromCharCode(this.buffer[0]!)
    const line = this.buffer.toString('utf8', 1, end)
    if (type === '$') {
      const len = Number(line)
      if (len === -1) { this.buffer = this.buffer.subarray(end + 2); return null }
      if (this.buffer.length < end + 2 + len + 2) return undefined
      const value = this.buffer.toString('utf8', end + 2, end + 2 + len)
      this.buffer = this.buffer.subarray(end + 2 + len + 2)
      return value
    }
    this.buffer = this.buffer.subarray(end + 2)
    if (type === '+') return line
    if (type === ':') return Number(line)
    if (type === '-') return new Error(line)
    throw new Error(`unexpected Redis reply type ${type}`)
  }

  private encode (args: string[]): string {
    return `*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')
  }

  /** One command; rejects on an error reply. */
  async command (...args: string[]): Promise<Reply> {
    const [reply] = await this.pipeline([args])
    return reply!
  }

  /** Many commands in one write; resolves with every reply, rejects on the first error reply. */
  pipeline (commands: string[][]): Promise<Reply[]> {
    const replies: Reply[] = []
    return new Promise((resolve, reject) => {
      if (commands.length === 0) return resolve(replies)
      let failed: Error | undefined
      for (const cmd of commands) {
        this.pending.push((r) => {
          if (r instanceof Error) failed ??= r
          replies.push(r)
          if (replies.length === commands.length) {
            if (failed) reject(failed)
            else resolve(replies)
          }
        })
      }
      this.socket.write(commands.map((c) => this.encode(c)).join(''))
    })
  }

  close (): void { this.socket.end() }
}
