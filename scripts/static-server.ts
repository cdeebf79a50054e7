// A static file server for built sites (tests and `npm start`): correct types, 404.html, no caching.
import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import path from 'node:path'

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml', '.xml': 'application/xml; charset=utf-8', '.json': 'application/json',
  '.txt': 'text/plain; charset=utf-8', '.png': 'image/png', '.jpg': 'image/jpeg', '.webp': 'image/webp',
  '.ico': 'image/x-icon', '.torrent': 'application/x-bittorrent', '.woff2': 'font/woff2'
}

export interface StaticSite { url: string, server: Server, close (): Promise<void> }

export async function serveStatic (root: string, port = 0, host = '127.0.0.1'): Promise<StaticSite> {
  const resolvedRoot = path.resolve(root)
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x')
    let file = path.join(resolvedRoot, decodeURIComponent(url.pathname))
    if (!file.startsWith(resolvedRoot)) { res.writeHead(403).end(); return }
    try {
      if ((await stat(file)).isDirectory()) file = path.join(file, 'index.html')
      await stat(file)
      res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' })
      createReadStream(file).pipe(res)
    } catch {
      const notFound = path.join(resolvedRoot, '404.html')
      try {
        await stat(notFound)
        res.writeHead(404, { 'content-type': TYPES['.html']! })
        createReadStream(notFound).pipe(res)
      } catch {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found')
      }
    }
  })
  await new Promise<void>((resolve) => server.listen(port, host, resolve))
  const { port: actual } = server.address() as { port: number }
  return {
    url: `http://${host}:${actual}`,
    server,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()) })
  }
}
