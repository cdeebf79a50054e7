// Memory floors behind the tracker's WebSocket design (not part of `npm run bench`): memory per idle
// connection for a bare TCP socket, a WebSocket by hand on net, a hand-written upgrade on node:http,
// the `ws` library, and the product's tracker protocol on node:http (ws-floor-server.ts). Each is read
// twice: RSS as it stands, and RSS after a full collection asked for through the server's inspector
// (what the connections keep, without the garbage of the burst that opened them).
// (The announce-path prototype that lived here is now the product: server/src/tracker/protocol.ts.)
// Usage: node_modules/.bin/node bench/prototypes/run.ts [modes, e.g. raw,trickle]
import path from 'node:path'
import { InspectorSession, inspectOptions } from '../lib/inspector.ts'
import { settledRss, start, stopAll } from '../lib/proc.ts'
import { repoRoot } from '../lib/trickle.ts'
import { cleanupTemps, freePort, sleep } from '../lib/util.ts'

const say = (s: string) => { process.stdout.write(`${s}\n`) }
const script = (name: string) => path.join(repoRoot, 'bench/prototypes', name)

try {
  const count = 5000
  // An argument picks the modes, e.g. `raw,trickle`.
  for (const mode of process.argv[2]?.split(',') ?? ['net', 'net-ws', 'raw', 'ws', 'trickle']) {
    const port = await freePort()
    const inspectPort = await freePort()
    const server = start({ name: `ws-floor-${mode}`, script: script('ws-floor-server.ts'), args: [mode, String(port)], env: { NODE_OPTIONS: inspectOptions(inspectPort) } })
    let session: InspectorSession | undefined
    try {
      await server.waitForJson('ready', 10_000)
      session = await InspectorSession.open(inspectPort)
      const collected = async () => {
        await session!.collectGarbage()
        await session!.collectGarbage()
        return settledRss(server, 2000, 5)
      }
      // One baseline for both figures, after a collection (the server has done nothing yet).
      const before = await collected()
      const clients = mode === 'net'
        ? start({ name: 'tcp-clients', command: process.execPath, args: ['-e', `const net=require('net');let n=0;const a=[];for(let i=0;i<${count};i++)a.push(net.connect(${port},'127.0.0.1',()=>{if(++n===${count})console.log('{"ready":true}')}));process.on('SIGTERM',()=>process.exit(0))`] })
        : start({ name: 'ws-clients', script: path.join(repoRoot, 'bench/procs/ws-peers.ts'), args: [`ws://127.0.0.1:${port}`, String(count), '10', '60000'] })
      await clients.waitForJson('ready', 70_000)
      await sleep(1000)
      const after = await settledRss(server, 3000, 7)
      const afterGc = await collected()
      say(`  ${mode}: ${Math.round((after - before) * 1024 / count)} B per idle connection, ${Math.round((afterGc - before) * 1024 / count)} B after a collection (${count} connections)`)
      await clients.stop()
    } finally {
      session?.close()
      await server.stop()
    }
  }
} finally {
  await stopAll()
  cleanupTemps()
}
