// The tracker's announce and scrape are answered straight from node:http on a listening server
// (app.rawGet: they are most of a tracker's requests), while `inject` goes through the
// Fastify routes that document them. Both must answer alike; everything else still goes to Fastify; a
// raw handler that throws costs a 500, not the server.
import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { test } from 'node:test'
import { build } from './helper.ts'

const pct = (bytes: Buffer) => Array.from(bytes, (b) => `%${b.toString(16).padStart(2, '0')}`).join('')
const infoHash = Buffer.alloc(20, 0xab)
const announceUrl = (peer: number, extra = '') =>
  `/announce?info_hash=${pct(infoHash)}&peer_id=${pct(Buffer.from(`-TR0001-${String(peer).padStart(12, '0')}`))}&port=${7000 + peer}&left=0&compact=1&numwant=10${extra}`

test('announce and scrape: the short way on a listening server and the Fastify route through inject give the same bytes', async (t) => {
  const lines: Array<Record<string, unknown>> = []
  const stream = new Writable({ write (chunk: Buffer, _enc, done) { for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>); done() } })
  const { app, url } = await build(t, {}, { logger: { level: 'debug', stream } })

  // Peer 1 over HTTP (the short way), peer 2 through inject (Fastify): each sees the other.
  const first = await fetch(`${url}${announceUrl(1, '&event=started')}`)
  assert.equal(first.status, 200)
  assert.equal(first.headers.get('content-type'), 'text/plain; charset=binary')
  const second = await app.inject({ method: 'GET', url: announceUrl(2, '&event=started') })
  assert.equal(second.statusCode, 200)
  const viaHttp = Buffer.from(await (await fetch(`${url}${announceUrl(2)}`)).arrayBuffer()).toString('latin1')
  const viaInject = (await app.inject({ method: 'GET', url: announceUrl(2) })).rawPayload.toString('latin1')
  assert.match(viaHttp, /^d8:completei2e10:incompletei0e8:intervali\d+e5:peers6:/)
  assert.equal(viaHttp, viaInject, 'both ways give the same reply')

  const scrapeHttp = Buffer.from(await (await fetch(`${url}/scrape?info_hash=${pct(infoHash)}`)).arrayBuffer()).toString('latin1')
  const scrapeInject = (await app.inject({ method: 'GET', url: `/scrape?info_hash=${pct(infoHash)}` })).rawPayload.toString('latin1')
  assert.equal(scrapeHttp, scrapeInject)
  assert.match(scrapeHttp, /8:completei2e/)

  // A bad announce is a bencoded failure either way, not a JSON 400.
  const bad = Buffer.from(await (await fetch(`${url}/announce?info_hash=short`)).arrayBuffer()).toString('latin1')
  assert.equal(bad, (await app.inject({ method: 'GET', url: '/announce?info_hash=short' })).rawPayload.toString('latin1'))
  assert.match(bad, /failure reason/)

  // Other paths and methods are Fastify's.
  assert.equal((await fetch(`${url}/health`)).status, 200)
  const post = await fetch(`${url}/announce`, { method: 'POST' })
  assert.equal(post.status, 404)
  assert.equal((await post.json() as { code: string }).code, 'not_found', 'answered by Fastify')

  // At debug, the short way logs each request as Fastify's hook does.
  const logged = lines.filter((l) => l.msg === 'request' && typeof l.url === 'string' && (l.url as string).startsWith('/scrape'))
  assert.deepEqual(logged.map((l) => [l.method, l.status, typeof l.ms]), [['GET', 200, 'number'], ['GET', 200, 'number']])
})

test('a short-way handler that throws answers 500 and the server goes on', async (t) => {
  const { app, url } = await build(t, {}, { listen: false })
  app.rawGet('/boom', () => { throw new Error('boom') })
  await app.listen({ host: '127.0.0.1', port: Number(new URL(url).port) })
  const res = await fetch(`${url}/boom`)
  assert.equal(res.status, 500)
  assert.equal(await res.text(), 'internal server error\n')
  assert.equal((await fetch(`${url}/health`)).status, 200, 'still serving')
})
