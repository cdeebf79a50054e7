// A static file server for built sites (tests and `npm start`): correct types, 404.html, no caching.
// It is reachable by any page the developer opens, so it serves the root folder and nothing else:
// the decoded path is resolved and must stay inside the root, symbolic links included, and no request
// (malformed escapes, odd methods, files vanishing mid-read) can throw out of the handler and end
// `npm start`.
import { open, realpath, stat } from 'node:fs/promises'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import path from 'node:path'
import { pipeline } from 'node:stream'

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml', '.xml': 'application/xml; charset=utf-8', '.json': 'application/json',
  '.txt': 'text/plain; charset=utf-8', '.png': 'image/png', '.jpg': 'image/jpeg', '.webp': 'image/webp',
  '.ico': 'image/x-icon', '.torrent': 'application/x-bittorrent', '.woff2': 'font/woff2'
}

export interface StaticSite { url: string, server: Server, close (): Promise<void> }

/** Whether `file` (absolute, normalised) is `root` or lies below it; a mere name prefix does not count. */
function inside (root: string, file: string): boolean {
  return file === root || file.startsWith(root.endsWith(path.sep) ? root : root + path.sep)
}

/**
 * The request's path, percent-decoded, or undefined when it cannot name a file: malformed escapes,
 * NUL bytes (which the file system APIs reject) or a target that is not a path.
 */
function requestPath (target: string): string | undefined {
  let raw = target.split('?')[0]!
  if (!raw.startsWith('/')) {
    // Absolute-form (`GET http://host/path`), as a proxy would send it.
    try { raw = new URL(raw).pathname } catch { return undefined }
  }
  let decoded: string
  try { decoded = decodeURIComponent(raw) } catch { return undefined }
  if (decoded.includes('\0')) return undefined
  // A backslash is a separator on Windows; treat it as one everywhere so `..\` is caught below too.
  return decoded.replaceAll('\\', '/')
}

function plain (res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', ...headers }).end(body)
}

export async function serveStatic (root: string, port = 0, host = '127.0.0.1'): Promise<StaticSite> {
  const resolvedRoot = path.resolve(root)

  /** The real path of a regular file inside the root, or undefined (missing, a folder, or outside). */
  async function regularFile (file: string): Promise<string | undefined> {
    const info = await stat(file).catch(() => undefined)
    if (!info?.isFile()) return undefined
    // Symbolic links are judged by where they lead, so the root is compared in the same terms (it may
    // itself sit under a link, as temporary folders do on some systems). Resolved per request: callers
    // start serving before the site is built into the root, and a rebuild may recreate it.
    const realRoot = await realpath(resolvedRoot).catch(() => undefined)
    const real = await realpath(file).catch(() => undefined)
    return realRoot !== undefined && real !== undefined && inside(realRoot, real) ? real : undefined
  }

  async function send (req: IncomingMessage, res: ServerResponse, file: string, status: number): Promise<void> {
    // Opened before the status is sent, so a file that vanished since stat() still gets an error status.
    const handle = await open(file, 'r')
    let size: number
    try {
      size = (await handle.stat()).size
    } catch (err) {
      await handle.close().catch(() => {})
      throw err
    }
    res.writeHead(status, {
      'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream',
      'content-length': String(size),
      'cache-control': 'no-store'
    })
    if (req.method === 'HEAD') {
      await handle.close().catch(() => {})
      res.end()
      return
    }
    // pipeline() destroys the response on a read error (the client sees a cut-off body) and closes
    // the file either way; nothing is thrown or left as an unhandled 'error' event.
    pipeline(handle.createReadStream(), res, () => {})
  }

  async function handle (req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      plain(res, 405, 'method not allowed', { allow: 'GET, HEAD' })
      return
    }
    const decoded = requestPath(req.url ?? '/')
    if (decoded === undefined) { plain(res, 400, 'bad request'); return }
    // Resolved after decoding: `..%2F` becomes a real `..` only now, and must not climb out.
    let file = path.resolve(resolvedRoot, '.' + decoded)
    if (!inside(resolvedRoot, file)) { plain(res, 403, 'forbidden'); return }
    if ((await stat(file).catch(() => undefined))?.isDirectory()) file = path.join(file, 'index.html')
    const found = await regularFile(file)
    if (found !== undefined) { await send(req, res, found, 200); return }
    // A link leading out of the root is refused outright rather than answered with 404.html.
    if ((await stat(file).catch(() => undefined))?.isFile()) { plain(res, 403, 'forbidden'); return }
    const notFound = await regularFile(path.join(resolvedRoot, '404.html'))
    if (notFound !== undefined) await send(req, res, notFound, 404)
    else plain(res, 404, 'not found')
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      // An unexpected failure costs this request, never the process.
      try {
        if (!res.headersSent) plain(res, 500, 'internal error')
        else res.destroy()
      } catch {
        res.destroy()
      }
    })
  })
  await new Promise<void>((resolve, reject) => {
    // A port in use rejects here, where the caller can report it, instead of an unhandled 'error' event.
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  // Later server errors (e.g. running out of file descriptors while accepting) must not end the
  // process either; the next connection may well succeed.
  server.on('error', (err) => { console.error(`static server: ${err.message}`) })
  const { port: actual } = server.address() as { port: number }
  return {
    url: `http://${host}:${actual}`,
    server,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()) })
  }
}
