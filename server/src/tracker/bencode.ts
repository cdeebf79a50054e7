// The bencoding a tracker writes (BEP 3): integers, byte strings, lists and dictionaries with sorted
// keys. Only encoding: a tracker reads query strings and JSON, never bencode. Small on purpose, and
// building Buffers directly, because every HTTP announce ends here.
export type Bencodable = number | bigint | string | Uint8Array | Bencodable[] | { [key: string]: Bencodable | undefined }

function push (out: Buffer[], value: Bencodable): void {
  if (typeof value === 'number' || typeof value === 'bigint') {
    if (typeof value === 'number' && !Number.isInteger(value)) throw new TypeError(`bencode: ${value} is not an integer`)
    out.push(Buffer.from(`i${value}e`, 'latin1'))
  } else if (typeof value === 'string') {
    const bytes = Buffer.from(value)
    out.push(Buffer.from(`${bytes.length}:`, 'latin1'), bytes)
  } else if (value instanceof Uint8Array) {
    out.push(Buffer.from(`${value.length}:`, 'latin1'), Buffer.from(value.buffer, value.byteOffset, value.length))
  } else if (Array.isArray(value)) {
    out.push(Buffer.from('l'))
    for (const item of value) push(out, item)
    out.push(Buffer.from('e'))
  } else {
    out.push(Buffer.from('d'))
    // Keys are compared as raw byte strings (BEP 3); binary keys (infohashes in a scrape) are latin1.
    for (const key of Object.keys(value).sort((a, b) => Buffer.compare(Buffer.from(a, 'latin1'), Buffer.from(b, 'latin1')))) {
      const v = value[key]
      if (v === undefined) continue
      const k = Buffer.from(key, 'latin1')
      out.push(Buffer.from(`${k.length}:`, 'latin1'), k)
      push(out, v)
    }
    out.push(Buffer.from('e'))
  }
}

/** Bencodes a value. Dictionary keys are byte strings given as latin1 (one char per byte). */
export function bencode (value: Bencodable): Buffer {
  const out: Buffer[] = []
  push(out, value)
  return Buffer.concat(out)
}

/** `d14:failure reason…e`: what a BitTorrent client shows its user when an announce is refused. */
export function failureReply (reason: string): Buffer {
  return bencode({ 'failure reason': reason })
}
