// The companion on PostgreSQL, the whole of it: these test files, each a companion built by
// helper.ts's build(), run again with TRICKLE_TEST_DATABASE=postgres, so every companion they start
// keeps its balances, receipts, wallet accounts, proxies, torrents, pull agreements and Open Payments
// state in a PostgreSQL schema of its own (dropped after). Tests that run in a network namespace
// (WebRTC) cannot reach the machine's PostgreSQL and stay on SQLite.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import path from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const FILES = ['e2e', 'verifier', 'proxy', 'balances-owner', 'prices', 'tracker', 'open-payments', 'incoming-payments', 'pull', 'pull-webhook', 'second-start']

test('the companion\'s own tests pass with every companion on PostgreSQL', { timeout: 600_000 }, async () => {
  // A test run of its own, not a subtest of this one (node:test marks its children with NODE_TEST_CONTEXT).
  const env: NodeJS.ProcessEnv = { ...process.env, TRICKLE_TEST_DATABASE: 'postgres' }
  delete env.NODE_TEST_CONTEXT
  const out = await new Promise<{ code: number, text: string }>((resolve) => {
    execFile(process.execPath, ['--test', '--test-force-exit', '--test-concurrency=1', ...FILES.map((f) => path.join(here, `${f}.test.ts`))], {
      env, timeout: 590_000, maxBuffer: 64 * 1024 * 1024
    }, (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, text: stdout + stderr }))
  })
  const failed = out.text.split('\n').filter((l) => /^✖ /.test(l))
  assert.equal(out.code, 0, `on PostgreSQL:\n${failed.join('\n')}\n${out.text.slice(-3000)}`)
  assert.match(out.text, /ℹ fail 0/)
})
