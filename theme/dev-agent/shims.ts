// Node globals that ilp-protocol-stream, ilp-packet and ilp-plugin-btp expect, for the browser bundle
// (esbuild `inject`). setImmediate is needed at run time: without it BTP fails with
// "setImmediate is not defined".
import { Buffer } from 'buffer'
import process from 'process'

const setImmediate = (fn: (...args: unknown[]) => void, ...args: unknown[]) => setTimeout(fn, 0, ...args)
const clearImmediate = (id: ReturnType<typeof setTimeout>) => clearTimeout(id)

export { Buffer, process, setImmediate, clearImmediate }
