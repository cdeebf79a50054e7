// Measures the prototypes behind the tracker recommendations (not part of `npm run bench`):
//   1. fast-tracker.ts against plain bittorrent-tracker, same HTTP announce load as bench/tracker.ts;
//   2. memory per idle connection: bare TCP socket, WebSocket by hand on net, hand-written upgrade on
//      node:http, the `ws` library, and the product's tracker protocol on node:http (ws-floor-server.ts).
// Usage: node_modules/.bin/node bench/prototypes/run.ts [announce|memory] [modes, e.g. raw,trickle]
import path from 'node:path'
import type { Ctx } from '../lib/context.ts'
import { settledRss, start, stopAll } from '../lib/proc.ts'
import { repoRoot } from '../lib/trickle.ts'
import { cleanupTemps, freePort, sleep, waitForQuiet } from '../lib/util.ts'
import { loadSwarm } from '../tracker.ts'

const say = (s: string) => { process.stdout.write(`${s}\n`) }
const ctx: Ctx = { say, quick: false, durationS: 10, checkLoad: () => waitForQuiet(0.25, 2.5, 300, say) }
const script = (name: string) => path.join(repoRoot, 'bench/prototypes', name)

try {
  const paidHash = 'e'.repeat(40)
  const only = process.argv[2] // 'announce' or 'memory': one half only
  for (const [label, file, args] of only === 'memory' ? [] : [
    ['bittorrent-tracker 11.2.3', path.join(repoRoot, 'bench/procs/bt-tracker.ts'), []],
    ['prototype, free torrent', script('fast-tracker.ts'), []],
    ['prototype, paid torrent', script('fast-tracker.ts'), [paidHash]]
  ] as const) {
    const port = await freePort()
    const p = start({ name: label, script: file, args: [String(port), ...args] })
    try {
      await p.waitForJson('ready', 30_000)
      const paid = label.includes('paid')
      await loadSwarm(ctx, { label, url: `http://127.0.0.1:${port}`, proc: p, infoHash: paid ? paidHash : 'f'.repeat(40), extra: (i) => paid ? `&balance=b${i}` : '' })
    } finally {
      await p.stop()
    }
  }

  const count = 5000
  // A third argument picks the memory modes, e.g. `memory raw,trickle`.
  for (const mode of only === 'announce' ? [] : process.argv[3]?.split(',') ?? ['net', 'net-ws', 'raw', 'ws', 'trickle']) {
    const port = await freePort()
    const server = start({ name: `ws-floor-${mode}`, script: script('ws-floor-server.ts'), args: [mode, String(port)] })
    try {
      await server.waitForJson('ready', 10_000)
      const before = await settledRss(server, 2000, 5)
      const clients = mode === 'net'
        ? start({ name: 'tcp-clients', command: process.execPath, args: ['-e', `const net=require('net');let n=0;const a=[];for(let i=0;i<${count};i++)a.push(net.connect(${port},'127.0.0.1',()=>{if(++n===${count})console.log('{"ready":true}')}));process.on('SIGTERM',()=>process.exit(0))`] })
        : start({ name: 'ws-clients', script: path.join(repoRoot, 'bench/procs/ws-peers.ts'), args: [`ws://127.0.0.1:${port}`, String(count), '10', '60000'] })
      await clients.waitForJson('ready', 70_000)
      await sleep(1000)
      const after = await settledRss(server, 3000, 7)
      say(`  ${mode}: ${Math.round((after - before) * 1024 / count)} B per idle connection (${count} connections)`)
      await clients.stop()
    } finally {
      await server.stop()
    }
  }
} finally {
  await stopAll()
  cleanupTemps()
}
