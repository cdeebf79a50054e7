// A second companion (or `npm start`) while one runs: every port it needs is checked before anything
// listens or says it listens, and a port in use is one line naming the setting to change, exit code 1,
// no stack trace.
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { createServer, type Server } from 'node:net'
import path from 'node:path'
import { Writable } from 'node:stream'
import { test, type TestContext } from 'node:test'
import { fileURLToPath } from 'node:url'
import { buildApp } from '../src/app.ts'
import { loadConfig } from '../src/config.ts'
import { startNetwork } from '../src/ilp/network.ts'
import { checkPortFree, checkPortsFree, companionPorts, portInUseLine, PortInUseError } from '../src/ports.ts'
import { listenApp, startServer } from '../src/server.ts'
import { build, freePort } from './helper.ts'

const root = fileURLToPath(new URL('../../', import.meta.url))
const node = path.join(root, 'node_modules/.bin/node')

/** The environment of a companion on the given ports, without the settings of whoever runs the tests. */
function companionEnv (port: number, btpPort: number, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (!/^(TRICKLE_|ILP_|PORT$|HOST$|LOG_|RECEIPT_|NODE_TEST|NODE_OPTIONS$)/.test(k)) env[k] = v
  }
  return {
    ...env,
    PORT: String(port),
    TRICKLE_BTP_PORT: String(btpPort),
    TRICKLE_DATABASE: ':memory:',
    TRICKLE_DEMO_ACCOUNT: '',
    TRICKLE_SEED_WEBRTC: 'false',
    LOG_FORMAT: 'json',
    ...extra
  }
}

function companion (env: NodeJS.ProcessEnv): ChildProcess {
  return spawn(node, [path.join(root, 'server/src/server.ts')], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] })
}

interface Ended { code: number | null, signal: string | null, stdout: string, stderr: string }

/** Runs a companion to its end (killed after 30 s, which fails the assertions on the exit code). */
function runToEnd (env: NodeJS.ProcessEnv): Promise<Ended> {
  return new Promise((resolve, reject) => {
    const child = companion(env)
    let stdout = ''
    let stderr = ''
    child.stdout!.setEncoding('utf8').on('data', (s: string) => { stdout += s })
    child.stderr!.setEncoding('utf8').on('data', (s: string) => { stderr += s })
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000)
    child.on('error', reject)
    child.on('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stdout, stderr }) })
  })
}

async function occupy (t: TestContext, port: number): Promise<Server> {
  const server = createServer()
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(port, '127.0.0.1', resolve) })
  t.after(() => new Promise((resolve) => server.close(resolve)))
  return server
}

function assertOneLine (ended: Ended, port: number, setting: string) {
  assert.equal(ended.code, 1, `exit code 1 (stderr: ${ended.stderr})`)
  const lines = ended.stderr.split('\n').filter((l) => l.trim() !== '')
  assert.equal(lines.length, 1, `one line on stderr, got:\n${ended.stderr}`)
  assert.equal(lines[0], `trickle: port ${port} is already in use (${setting}); is another Trickle running? Stop it or set ${setting} to a free port.`)
  assert.doesNotMatch(ended.stderr, /^\s+at /m, 'no stack trace')
  assert.doesNotMatch(ended.stdout + ended.stderr, /listening/i, 'nothing claims to listen')
}

test('the BTP port in use: one line naming TRICKLE_BTP_PORT, exit code 1, nothing claims to listen', async (t) => {
  const port = await freePort()
  const btpPort = await freePort()
  await occupy(t, btpPort)
  assertOneLine(await runToEnd(companionEnv(port, btpPort)), btpPort, 'TRICKLE_BTP_PORT')
})

test('the HTTP port in use: one line naming PORT, exit code 1, nothing claims to listen', async (t) => {
  const port = await freePort()
  const btpPort = await freePort()
  await occupy(t, port)
  assertOneLine(await runToEnd(companionEnv(port, btpPort)), port, 'PORT')
})

test('a second companion on the ports of a running one stops with one line; the first keeps running', async (t) => {
  const port = await freePort()
  const btpPort = await freePort()
  const env = companionEnv(port, btpPort)
  const first = companion(env)
  const exited = new Promise((resolve) => first.on('exit', resolve))
  t.after(async () => { first.kill('SIGTERM'); await exited })
  let out = ''
  first.stderr!.resume()
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no banner within 30 s:\n${out}`)), 30_000)
    first.stdout!.setEncoding('utf8').on('data', (s: string) => {
      out += s
      if (out.includes('Trickle companion is running')) { clearTimeout(timer); resolve() }
    })
    first.on('exit', (code) => { clearTimeout(timer); reject(new Error(`the first companion exited (${code}):\n${out}`)) })
  })

  // The HTTP port is checked first, so that is the one named.
  assertOneLine(await runToEnd(env), port, 'PORT')
  // With another HTTP port, the running one's BTP port is the one in the way.
  const otherPort = await freePort()
  assertOneLine(await runToEnd(companionEnv(otherPort, btpPort)), btpPort, 'TRICKLE_BTP_PORT')
  assert.equal(first.exitCode, null, 'the first companion still runs')
  const health = await fetch(`http://127.0.0.1:${port}/health`)
  assert.equal(health.status, 200)
})

// The race: a port taken after the check. Whatever listens for real must reject with the same error
// (never an unhandled 'error' event), and nothing may log that it listens.

const networkOptions = (btpPort: number) => ({
  log: { debug () {}, warn () {} },
  ilpAddress: 'private.test', assetCode: 'USD', assetScale: 9, btpHost: '127.0.0.1', btpPort,
  allowedOrigins: [], rateLimitPerMinute: 0
})

test('the embedded connector rejects when the BTP port is in use, and can start once it is free', async (t) => {
  const btpPort = await freePort()
  const busy = await occupy(t, btpPort)
  const err = await startNetwork(networkOptions(btpPort)).then(() => undefined, (e: unknown) => e)
  assert.ok(err instanceof PortInUseError, `rejected with PortInUseError, got ${String(err)}`)
  assert.equal(err.port, btpPort)
  assert.equal(err.setting, 'TRICKLE_BTP_PORT')
  // An 'error' event would surface as an uncaught exception (failing this test) by now.
  await new Promise((resolve) => setTimeout(resolve, 100))
  await new Promise((resolve) => busy.close(resolve))
  const network = await startNetwork(networkOptions(btpPort))
  assert.equal(network.btpUrl, `btp+ws://127.0.0.1:${btpPort}`)
  await network.close()
  await checkPortFree({ host: '127.0.0.1', port: btpPort, setting: 'TRICKLE_BTP_PORT' })
})

test('TRICKLE_BTP_PORT=0 picks a free port, and the BTP URL names it', async () => {
  const network = await startNetwork(networkOptions(0))
  const port = Number(new URL(network.btpUrl.replace('btp+ws:', 'http:')).port)
  assert.ok(port > 0)
  await assert.rejects(checkPortFree({ host: '127.0.0.1', port, setting: 'TRICKLE_BTP_PORT' }), PortInUseError)
  await network.close()
})

/** A logger that keeps every line, to see what a failed start said. */
function captureLogs () {
  const lines: string[] = []
  const stream = new Writable({ write (chunk: Buffer, _enc, done) { lines.push(chunk.toString('utf8')); done() } })
  return { lines, logger: { level: 'debug', stream } }
}

function testConfig (port: number, btpPort: number) {
  return loadConfig({ PORT: String(port), TRICKLE_BTP_PORT: String(btpPort), TRICKLE_DATABASE: ':memory:', TRICKLE_DEMO_ACCOUNT: '', TRICKLE_SEED_WEBRTC: 'false', LOG_FORMAT: 'json' })
}

test('building the app with the BTP port taken rejects with PortInUseError and never logs that it listens', async (t) => {
  const btpPort = await freePort()
  await occupy(t, btpPort)
  const { lines, logger } = captureLogs()
  const err = await buildApp(testConfig(await freePort(), btpPort), { logger }).then(() => undefined, (e: unknown) => e)
  assert.ok(err instanceof PortInUseError, `rejected with PortInUseError, got ${String(err)}`)
  assert.equal(portInUseLine(err), `trickle: port ${btpPort} is already in use (TRICKLE_BTP_PORT); is another Trickle running? Stop it or set TRICKLE_BTP_PORT to a free port.`)
  assert.doesNotMatch(lines.join(''), /listening/i)
})

test('the HTTP listen failing after the build rejects with PortInUseError naming PORT and closes the app', async (t) => {
  const { app, btpPort } = await build(undefined, {}, { listen: false })
  const port = await freePort()
  await occupy(t, port)
  const err = await listenApp(app, { host: '127.0.0.1', port }).then(() => undefined, (e: unknown) => e)
  assert.ok(err instanceof PortInUseError, `rejected with PortInUseError, got ${String(err)}`)
  assert.equal(err.setting, 'PORT')
  assert.equal(err.port, port)
  // Closed: its BTP port is free again.
  await checkPortFree({ host: '127.0.0.1', port: btpPort, setting: 'TRICKLE_BTP_PORT' })
})

test('startServer checks its ports before building anything', async (t) => {
  const port = await freePort()
  const btpPort = await freePort()
  await occupy(t, btpPort)
  await assert.rejects(startServer(testConfig(port, btpPort)), (err: unknown) => err instanceof PortInUseError && err.setting === 'TRICKLE_BTP_PORT')
  // The HTTP port was never taken.
  await checkPortFree({ host: '127.0.0.1', port, setting: 'PORT' })
})

test('with an uplink the BTP port is not needed; otherwise it is', () => {
  const base = { host: '127.0.0.1', port: 3000, btpHost: '127.0.0.1', btpPort: 7768 }
  assert.deepEqual(companionPorts(base).map((n) => n.setting), ['PORT', 'TRICKLE_BTP_PORT'])
  assert.deepEqual(companionPorts({ ...base, uplink: 'btp+ws://a:b@127.0.0.1:7768' }).map((n) => n.setting), ['PORT'])
})

test('the site port (npm start): a port in use is one line naming TRICKLE_SITE_PORT; a free one passes', async (t) => {
  const sitePort = await freePort()
  await checkPortsFree([{ host: '127.0.0.1', port: sitePort, setting: 'TRICKLE_SITE_PORT' }])
  await occupy(t, sitePort)
  const err = await checkPortsFree([
    { host: '127.0.0.1', port: await freePort(), setting: 'PORT' },
    { host: '127.0.0.1', port: sitePort, setting: 'TRICKLE_SITE_PORT' }
  ]).then(() => undefined, (e: unknown) => e)
  assert.equal(portInUseLine(err), `trickle: port ${sitePort} is already in use (TRICKLE_SITE_PORT); is another Trickle running? Stop it or set TRICKLE_SITE_PORT to a free port.`)
  assert.equal(portInUseLine(new Error('other')), undefined, 'other failures are not dressed up as a port in use')
  // Port 0 means "any free port": always fine.
  await checkPortFree({ host: '127.0.0.1', port: 0, setting: 'TRICKLE_SITE_PORT' })
})
