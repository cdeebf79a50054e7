// The floor under any verifier written for node:http: a bare node:http server that reads each request's
// body and answers 200 with a short decimal text, doing nothing else (no routing, no verification, no
// store, no logging). Measured with the same requests as the verifiers, it says how many requests per
// second Node's HTTP server alone can answer on this machine with this load generator.
// Usage: http-floor.ts PORT
import { createServer } from 'node:http'

const port = Number(process.argv[2])
const reply = '1000000'
const server = createServer((req, res) => {
  req.resume()
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'content-length': reply.length })
    res.end(reply)
  })
})
server.listen(port, '127.0.0.1', () => { process.stdout.write(`{"ready":true,"port":${port}}\n`) })
process.on('SIGTERM', () => { server.close(() => process.exit(0)); server.closeAllConnections() })
