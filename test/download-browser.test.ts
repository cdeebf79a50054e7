// End to end in Chromium: a reader pays through the development agent (as the Web Monetization extension, through Open Payments), the tracker spends the price and
// hands out the Node seeder, the file downloads over WebRTC and its bytes match; the wallet received the
// price. Browser WebRTC does not use loopback, so everything runs in a network namespace with a veth
// pair that this test creates and removes (addresses of this machine's own test hosts only).
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import { buildDevAgent } from '../scripts/build-dev-agent.ts'
import { hugoBuild, repoRoot } from '../scripts/hugo.ts'
import { serveStatic } from '../scripts/static-server.ts'
import { launchChromium, screenshot, watchErrors } from './support/browser.ts'
import { browserNamespace } from './support/netns.ts'


test('a paid download in the browser: paid once, peers after payment, bytes intact; then a second reader gets it from the first reader\'s tab', async (t) => {
  const output = await browserNamespace(t, 'dl', 7).run(`${repoRoot}test/fixtures/download-scenario.ts`, 150_000)
  const line = output.split('\n').find((l) => l.startsWith('RESULT '))
  assert.ok(line, `the scenario reported: ${output.slice(-2000)}`)
  const result = JSON.parse(line.slice(7)) as Record<string, unknown>
  assert.equal(result.ok, true, String(result.error ?? ''))
  assert.equal(result.bytesMatch, true, 'the downloaded bytes are the seeded file')
  assert.ok(BigInt(String(result.received)) >= BigInt(String(result.spendAmount)), `the wallet received at least the price (${String(result.received)} >= ${String(result.spendAmount)})`)
  assert.match(String(result.price), /\$0\.0003/)
  assert.match(String(result.status), /Downloaded and verified/)
  assert.deepEqual(result.errors, [])
  // Bought once with the balance's secret; the reload got a new ticket for free.
  assert.deepEqual(result.charges, [String(result.spendAmount), '0'], 'the first ticket spent the price, the reload\'s nothing')
  assert.equal(result.balanceNotSpent, true, 'the reload spent nothing from the balance')
  assert.match(String(result.reloadStatus), /Downloaded and verified/)
  assert.equal(result.creditedToId, true, 'incoming payments were credited to the public id')
  assert.equal(result.secretInUrls, 0, 'no URL carried the secret')
  // With the companion's seeder stopped, a second paying reader got the file from the first one's tab.
  assert.equal(result.fromReaderMatch, true, 'a paying reader downloaded from another paying reader who seeds')
  assert.ok(BigInt(String(result.receivedAfterSecond)) >= 2n * BigInt(String(result.spendAmount)), 'and paid for it')
})

test('a magnet whose tracker is not its verifier\'s companion is refused in the block, before any request to the pointer or verifier', async (t) => {
  // Stands for the magnet's pointer and verifier: it records every request that reaches it.
  const seen: string[] = []
  const recorder = createServer((req, res) => { seen.push(`${req.method} ${req.url}`); res.writeHead(404, { 'access-control-allow-origin': '*' }).end() })
  await new Promise<void>((resolve) => recorder.listen(0, '127.0.0.1', resolve))
  t.after(() => recorder.close())
  const here = `http://127.0.0.1:${(recorder.address() as { port: number }).port}`
  const magnet = (tr: string, pp: string) => `magnet:?xt=urn:btih:${'34'.repeat(20)}&dn=guide.txt&xl=1000&tr=${encodeURIComponent(tr)}&pp=${encodeURIComponent(pp)}&vr=${encodeURIComponent(here)}&pa=300000&pc=USD&ps=9`
  const cases = {
    tracker: magnet('ws://127.0.0.1:9/announce', `${here}/p/${'ab'.repeat(16)}`), // pp and vr of one host, tr of another
    pointer: magnet(`${here.replace('http', 'ws')}/announce`, `http://127.0.0.1:9/p/${'ab'.repeat(16)}`)
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'trickle-mismatch-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  await buildDevAgent()
  const site = await serveStatic(dir)
  t.after(() => site.close())
  const browser = await launchChromium()
  t.after(() => browser.close())
  for (const [name, uri] of Object.entries(cases)) {
    const override = path.join(dir, `${name}.toml`)
    writeFileSync(override, `[params]\n  [params.downloads]\n    trickle-field-guide = "${uri.replace(/&/g, '\\u0026')}"\n`)
    await hugoBuild({ source: `${repoRoot}site-example`, destination: path.join(dir, name), configs: [override], baseURL: `${site.url}/${name}/` })
    const page = await browser.newPage()
    const errors = watchErrors(page)
    const asked: string[] = []
    page.on('request', (r) => { if (r.url().startsWith(here) || r.url().includes('127.0.0.1:9')) asked.push(r.url()) })
    await page.goto(`${site.url}/${name}/posts/download/`)
    const status = page.locator('[data-trickle-download-status]')
    await page.waitForFunction(() => document.querySelector('[data-trickle-download-status]')?.textContent !== '')
    const field = name === 'tracker' ? 'tr' : 'pp'
    assert.match(await status.textContent() ?? '', new RegExp(`^This download link is not consistent: its ${field} is \\S+, but it must be \\S+\\. .*Nothing was paid and nothing was sent\\.$`))
    assert.equal(await page.isDisabled('[data-trickle-download-start]'), true, 'the button cannot start a payment')
    await page.click('[data-trickle-download-start]', { force: true })
    await page.waitForTimeout(500)
    if (name === 'tracker') await screenshot(page, 'download-mismatch')
    assert.deepEqual(asked, [], `${name}: the page asked nothing of the pointer, the verifier or the tracker`)
    assert.deepEqual(errors, [])
    await page.close()
  }
  assert.deepEqual(seen, [], 'nothing reached the recorder')
})
