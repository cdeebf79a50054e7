// ilp-protocol-stream 2.7.1 (npm `latest`) crashes on Node >= 18 as soon as a stream is created:
//   TypeError: Cannot set property closed of #<Readable> which has only a getter
// Node 18 made Readable#closed a getter-only accessor and DataAndMoneyStream's constructor assigns
// `this.closed = false` (interledgerjs/interledgerjs#284). The fix (PR #423) was only published as
// 2.7.2-alpha.x. Giving the subclass its own accessor is enough; patching at load time (instead of
// editing node_modules) survives every clean `npm ci`. The browser build needs none of this:
// stream-browserify's Duplex has no `closed` getter.
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const CLOSED = Symbol('ilpStreamClosed')

export function patchDataAndMoneyStream (DataAndMoneyStream: { prototype: object }): void {
  const own = Object.getOwnPropertyDescriptor(DataAndMoneyStream.prototype, 'closed')
  if (own?.set) return
  Object.defineProperty(DataAndMoneyStream.prototype, 'closed', {
    get (this: Record<symbol, boolean>) { return this[CLOSED] === true },
    set (this: Record<symbol, boolean>, value: boolean) { this[CLOSED] = value },
    configurable: true
  })
}

patchDataAndMoneyStream(require('ilp-protocol-stream/dist/src/stream').DataAndMoneyStream)
