// Paid video calls end to end in Chromium, with a fake camera and microphone (fixtures/call-scenario.ts):
// the host and a paying reader see each other's video (frames counted, not a connected state), a
// room of two refuses a third, a reader whose payment stops is removed within a period and the grace
// and dropped from the host's page, an unpaid page never opens the call's signalling, and no built
// file names the signalling or the host's token. Browser WebRTC does not use loopback, so it runs in
// a network namespace with a veth pair that this test creates and removes.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { repoRoot } from '../scripts/hugo.ts'
import { browserNamespace, namespaceSkip } from './support/netns.ts'

test('a paid call in Chromium: host and reader see each other, a full room refuses, a reader who stops paying is removed, an unpaid page hears nothing', { skip: namespaceSkip(), timeout: 180_000 }, async (t) => {
  const output = await browserNamespace(t, 'call', 9).run(`${repoRoot}test/fixtures/call-scenario.ts`, 170_000)
  const line = output.split('\n').find((l) => l.startsWith('RESULT '))
  assert.ok(line, `the scenario reported: ${output.slice(-2000)}`)
  const r = JSON.parse(line.slice(7)) as Record<string, unknown>
  t.diagnostic(JSON.stringify({ hostFrames: r.hostFrames, readerFrames: r.readerFrames, removedAfterMs: r.removedAfterMs, balanceWhenStopped: r.balanceWhenStopped, readerPaid: r.readerPaid }))
  assert.equal(r.ok, true, String(r.error ?? ''))
  assert.deepEqual(r.leaks, [], 'no built file names the signalling, a ticket or the host token')
  assert.equal(r.checkCatches, true, 'the leak check finds a leak where there is one')
  assert.match(String(r.price), /\$0\.01 per minute/)
  assert.equal(r.cameraAskedBeforeJoin, 0, 'neither camera nor microphone asked, no video, before joining')
  assert.equal(r.cameraAskedWhenJoined, 1, 'asked once, on joining')
  assert.equal(r.readerWaitedForPayment, true, 'the reader waited for the first period to be paid')
  const frames = (v: unknown) => (v as number[])
  assert.equal(frames(r.hostFrames).length, 1)
  assert.ok(frames(r.hostFrames)[0]! >= 20, `the host received the reader's video: ${JSON.stringify(r.hostFrames)} frames in 3 s`)
  assert.ok(frames(r.readerFrames)[0]! >= 20, `the reader received the host's video: ${JSON.stringify(r.readerFrames)} frames in 3 s`)
  assert.match(String(r.readerPaid), /Paid so far: \$0\.00/)
  assert.match(String(r.fullStatus), /The call is full/)
  assert.ok(Number(r.removedAfterMs) <= 4000 + 2000 + 2500, `removed ${String(r.removedAfterMs)} ms after the payment stopped (period 4 s, grace 2 s)`)
  assert.match(String(r.removedStatus), /Your payment stopped/)
  assert.equal(r.hostDroppedReader, true)
  assert.equal(r.unpaidState, 'waiting')
  assert.deepEqual(r.unpaidSockets, [], 'an unpaid page never opens the call\'s signalling, so never receives an offer')
  assert.equal(r.unpaidVideos, 0)
  assert.equal(r.unpaidCameraAsks, 0, 'a reader who has not paid is never asked for the camera')
  assert.deepEqual(r.axeJoined, [], 'axe: the block in a call, host and reader')
  assert.deepEqual(r.axeRemoved, [], 'axe: the block after removal')
  assert.deepEqual(r.errors, [])
})
