// The development site server (`npm start`, browser tests): it serves one folder and nothing beside it,
// answers malformed requests with 4xx instead of crashing, and keeps the content types, index.html for
// folders, 404.html for misses and `cache-control: no-store`.
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, test } from 'node:test'
import { serveStatic, type StaticSite } from '../scripts/static-server.ts'

const SECRET = 'secret outside the root'
let dir: string
let site: StaticSite
let port: number

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'trickle-static-'))
  const root = path.join(dir, 'site')
  mkdirSync(path.join(root, 'posts', 'one'), { recursive: true })
  writeFileSync(path.join(root, 'index.html'), '<p>home</p>')
  writeFileSync(path.join(root, '404.html'), '<p>missing</p>')
  writeFileSync(path.join(root, 'style.css'), 'p{}')
  writeFileSync(path.join(root, 'posts', 'one', 'index.html'), '<p>one</p>')
  // Beside the root: a folder whose name merely starts with the root's name, and an unrelated one.
  for (const sibling of ['site-other', 'sibling']) {
    mkdirSync(path.join(dir, sibling))
    writeFileSync(path.join(dir, sibling, 'secret.txt'), SECRET)
  }
  writeFileSync(path.join(dir, 'secret.txt'), SECRET)
  // Symbolic links: out of the root (refused) and within it (served).
  symlinkSync(path.join(dir, 'sibling', 'secret.txt'), path.join(root, 'link.txt'))
  symlinkSync(path.join(dir, 'sibling'), path.join(root, 'linkdir'))
  symlinkSync(path.join(root, 'style.css'), path.join(root, 'alias.css'))
  site = await serveStatic(root)
  port = Number(new URL(site.url).port)
})

after(async () => {
  await site?.close()
  rmSync(dir, { recursive: true, force: true })
})

interface Answer { status: number, headers: http.IncomingHttpHeaders, body: string }

/** A raw request: the path goes on the wire as written (fetch would normalise `..` away). */
function request (rawPath: string, method = 'GET'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: rawPath, method, agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { body += chunk })
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end()
  })
}

function assertRefused (answer: Answer, what: string) {
  assert.ok(answer.status >= 400 && answer.status < 500, `${what}: expected a 4xx, got ${answer.status}`)
  assert.ok(!answer.body.includes(SECRET), `${what}: served a file from outside the root`)
}

test('serves files with their types, index.html for folders, no caching', async () => {
  const home = await request('/')
  assert.equal(home.status, 200)
  assert.equal(home.body, '<p>home</p>')
  assert.equal(home.headers['content-type'], 'text/html; charset=utf-8')
  assert.equal(home.headers['cache-control'], 'no-store')
  const post = await request('/posts/one/?utm=x')
  assert.equal(post.status, 200)
  assert.equal(post.body, '<p>one</p>')
  assert.equal((await request('/posts/one')).body, '<p>one</p>')
  const css = await request('/style.css')
  assert.equal(css.headers['content-type'], 'text/css; charset=utf-8')
  assert.equal(css.body, 'p{}')
  assert.equal((await request('/%73tyle.css')).body, 'p{}', 'percent-escapes are decoded')
})

test('a miss gets 404.html', async () => {
  const miss = await request('/nope/')
  assert.equal(miss.status, 404)
  assert.equal(miss.body, '<p>missing</p>')
  assert.equal(miss.headers['content-type'], 'text/html; charset=utf-8')
})

test('encoded dot segments do not leave the root', async () => {
  for (const p of [
    '/..%2Fsibling%2Fsecret.txt',
    '/..%2Fsecret.txt',
    '/..%2Fsite-other%2Fsecret.txt',
    '/%2e%2e/sibling/secret.txt',
    '/%2e%2e%2fsite-other%2fsecret.txt',
    '/posts/..%2F..%2F..%2Fsite-other/secret.txt',
    '/%2E%2E%2F%2E%2E%2Fsite-other%2Fsecret.txt'
  ]) assertRefused(await request(p), p)
})

test('a sibling folder whose name starts with the root\'s name is outside it', async () => {
  const answer = await request('/..%2Fsite-other%2Fsecret.txt')
  assertRefused(answer, 'site-other')
  assert.equal(answer.status, 403)
})

test('backslashes, encoded or not, do not leave the root', async () => {
  for (const p of [
    '/..%5Csite-other%5Csecret.txt',
    '/..%5csecret.txt',
    '/..\\site-other\\secret.txt',
    '/%2e%2e%5csite-other%5csecret.txt'
  ]) assertRefused(await request(p), p)
})

test('a symbolic link pointing out of the root is refused; one within it is served', async () => {
  assertRefused(await request('/link.txt'), 'link to a file outside')
  assertRefused(await request('/linkdir/secret.txt'), 'link to a folder outside')
  const alias = await request('/alias.css')
  assert.equal(alias.status, 200)
  assert.equal(alias.body, 'p{}')
})

test('malformed percent-escapes and NUL bytes get 400, and the server still answers', async () => {
  for (const p of ['/%E0%A4%A', '/%', '/%zz', '/a%00b', '/%00', '/index.html%00.css']) {
    const answer = await request(p)
    assert.equal(answer.status, 400, p)
  }
  assert.equal((await request('/')).status, 200, 'still serving')
})

test('HEAD answers headers without a body', async () => {
  const head = await request('/style.css', 'HEAD')
  assert.equal(head.status, 200)
  assert.equal(head.body, '')
  assert.equal(head.headers['content-type'], 'text/css; charset=utf-8')
  assert.equal(head.headers['content-length'], '3')
  assert.equal(head.headers['cache-control'], 'no-store')
})

test('other methods get 405 with Allow', async () => {
  for (const method of ['POST', 'PUT', 'DELETE', 'OPTIONS']) {
    const answer = await request('/', method)
    assert.equal(answer.status, 405, method)
    assert.equal(answer.headers.allow, 'GET, HEAD', method)
  }
  assert.equal((await request('/')).status, 200)
})

test('a root that does not exist yet is served once it does (the URL is needed before the build)', async () => {
  const later = path.join(dir, 'later')
  const early = await serveStatic(later)
  try {
    const answer = (p: string) => new Promise<number>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: Number(new URL(early.url).port), path: p, agent: false }, (res) => { res.resume(); resolve(res.statusCode!) }).on('error', reject)
    })
    assert.equal(await answer('/'), 404)
    mkdirSync(later)
    writeFileSync(path.join(later, 'index.html'), 'built')
    assert.equal(await answer('/'), 200)
  } finally {
    await early.close()
  }
})

test('a port in use rejects serveStatic instead of throwing an error event', async () => {
  const busy = createServer()
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve))
  const { port: taken } = busy.address() as { port: number }
  try {
    await assert.rejects(serveStatic(path.join(dir, 'site'), taken), { code: 'EADDRINUSE' })
  } finally {
    await new Promise((resolve) => busy.close(resolve))
  }
})
