import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { ConfigError, loadConfig, SETTINGS, settingsTable } from '../src/config.ts'

test('defaults need no environment at all', () => {
  const c = loadConfig({}, '/srv/site')
  assert.equal(c.port, 3000)
  assert.equal(c.publicUrl, 'http://localhost:3000')
  assert.equal(c.database, '/srv/site/data/trickle.sqlite')
  assert.equal(c.btpPort, 7768)
  assert.equal(c.uplink, undefined)
  assert.equal(c.rateLimitPerMinute, 0)
  assert.equal(c.demoAccount, 'demo')
  assert.equal(c.receiptTtlSeconds, 300)
})

test('a bad setting is refused with its name and the problem', () => {
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ PORT: 'eighty' }, /^PORT: expected a whole number/],
    [{ PORT: '70000' }, /^PORT: must be between/],
    [{ RECEIPT_TTL: '0' }, /^RECEIPT_TTL/],
    [{ RECEIPT_SEED: 'c2hvcnQ=' }, /^RECEIPT_SEED: must be at least 32 bytes/],
    [{ TRICKLE_ILP_MAX_PACKET_AMOUNT: '1.5' }, /^TRICKLE_ILP_MAX_PACKET_AMOUNT/],
    [{ TRICKLE_ILP_MAX_PACKET_AMOUNT: '18446744073709551616' }, /^TRICKLE_ILP_MAX_PACKET_AMOUNT/],
    [{ ILP_BTP_SERVER: 'http://x' }, /^ILP_BTP_SERVER: expected btp\+ws/],
    [{ TRICKLE_BTP_ALLOWED_ORIGINS: '([' }, /^TRICKLE_BTP_ALLOWED_ORIGINS: not a regular expression/],
    [{ TRICKLE_PUBLIC_URL: 'ftp://x' }, /^TRICKLE_PUBLIC_URL/],
    [{ LOG_FORMAT: 'xml' }, /^LOG_FORMAT/],
    [{ TRICKLE_DEMO_ACCOUNT: 'no spaces' }, /^TRICKLE_DEMO_ACCOUNT/],
    [{ TRICKLE_DATABASE: 'postgres://root@127.0.0.1/test?schema=Bad-Name' }, /^TRICKLE_DATABASE: schema "Bad-Name" must be a lower-case SQL identifier/],
    [{ TRICKLE_DATABASE: 'postgres://root:secret@[bad/test' }, /^TRICKLE_DATABASE: "postgres:\/\/root:\*\*\*@\[bad\/test" is not a URL/],
    [{ TRICKLE_BUS: 'redis://127.0.0.1:6379' }, /^TRICKLE_BUS: expected nats:\/\/host:port/],
    [{ TRICKLE_BUS_SUBJECT: 'a.*' }, /^TRICKLE_BUS_SUBJECT: use letters/]
  ]
  for (const [env, message] of cases) {
    assert.throws(() => loadConfig(env), (err: Error) => err instanceof ConfigError && message.test(err.message), JSON.stringify(env))
  }
})

test('the README documents every setting with its default', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')
  assert.ok(readme.includes(settingsTable()), 'README settings table is current: run `npm run settings-table` and paste')
  for (const s of SETTINGS) assert.ok(readme.includes(`\`${s.env}\``), s.env)
})
