// The one door to ilp-protocol-stream: importing it from here guarantees the Node >= 18 fix is applied
// before any stream exists.
import './stream-node-fix.ts'
import ilpStream from 'ilp-protocol-stream'

export const { createServer, createConnection } = ilpStream
export type { Server as StreamServer, Connection as StreamConnection, DataAndMoneyStream } from 'ilp-protocol-stream'
