// The pure parts of pull payments: ISO 8601 durations, calendar addition, cycles, exact rates.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { addDuration, cycleAt, parseDateTime, parseDuration, type Duration } from '../src/pull/duration.ts'
import { ceilDivide, conversionFactor, floorTimes, parseDecimal, parseRates } from '../src/prices/rates.ts'
import { balanceAt } from '../src/pull/service.ts'
import type { PullAgreement } from '../src/pull/store.ts'

const at = (iso: string) => Date.parse(iso)
const iso = (ms: number) => new Date(ms).toISOString()
const d = (text: string) => parseDuration(text)!
const zero: Duration = { years: 0, months: 0, weeks: 0, days: 0, hours: 0, minutes: 0, seconds: 0 }

test('parseDuration: the forms RFC 0036 and people use; nothing zero, negative, fractional or malformed', () => {
  assert.deepEqual(parseDuration('P1M'), { ...zero, months: 1 })
  assert.deepEqual(parseDuration('P0Y1M0DT0H0M0S'), { ...zero, months: 1 })
  assert.deepEqual(parseDuration('P1W'), { ...zero, weeks: 1 })
  assert.deepEqual(parseDuration('PT1H'), { ...zero, hours: 1 })
  assert.deepEqual(parseDuration('PT90M'), { ...zero, minutes: 90 })
  assert.deepEqual(parseDuration('P1Y2M3DT4H5M6S'), { years: 1, months: 2, weeks: 0, days: 3, hours: 4, minutes: 5, seconds: 6 })
  assert.deepEqual(parseDuration('P0Y0M0DT0H1M'), { ...zero, minutes: 1 }, 'the original README\'s example')
  for (const bad of ['', 'P', 'PT', 'P1DT', 'P0D', 'PT0S', 'P0Y0M0DT0H0M0S', '-P1M', 'P-1M', 'P1.5M', 'PT0.5S', 'PT1,5S', 'p1m', 'P1m',
    '1M', 'P1D1M', 'PT1D', 'P1H', 'P 1M', 'P1M ', 'P1234567890Y', 'R12/2019-08-24T14:15:22Z/P1M']) {
    assert.equal(parseDuration(bad), undefined, JSON.stringify(bad))
  }
})

test('calendar addition: month ends clamp, and each cycle is computed from start (no drift)', () => {
  const jan31 = at('2025-01-31T08:00:00Z')
  assert.equal(iso(addDuration(jan31, d('P1M'), 1)), '2025-02-28T08:00:00.000Z', 'not 3 March, not 30 days')
  assert.equal(iso(addDuration(jan31, d('P1M'), 2)), '2025-03-31T08:00:00.000Z', 'back to the 31st: from start, not from 28 Feb')
  assert.equal(iso(addDuration(jan31, d('P1M'), 3)), '2025-04-30T08:00:00.000Z')
  assert.equal(iso(addDuration(jan31, d('P1M'), 12)), '2026-01-31T08:00:00.000Z')
  assert.equal(iso(addDuration(at('2024-01-31T00:00:00Z'), d('P1M'), 1)), '2024-02-29T00:00:00.000Z', 'leap year')
  assert.equal(iso(addDuration(at('2024-02-29T00:00:00Z'), d('P1Y'), 1)), '2025-02-28T00:00:00.000Z')
  assert.equal(iso(addDuration(at('2024-02-29T00:00:00Z'), d('P1Y'), 4)), '2028-02-29T00:00:00.000Z', 'leap day again four years on')
  assert.equal(iso(addDuration(at('2100-01-31T00:00:00Z'), d('P1M'), 1)), '2100-02-28T00:00:00.000Z', '2100 is not a leap year')
  assert.equal(iso(addDuration(at('2000-01-31T00:00:00Z'), d('P1M'), 1)), '2000-02-29T00:00:00.000Z', '2000 is')
  assert.equal(iso(addDuration(at('2025-11-30T00:00:00Z'), d('P3M'), 1)), '2026-02-28T00:00:00.000Z', 'across the year')
  assert.equal(iso(addDuration(jan31, d('P1M1D'), 1)), '2025-03-01T08:00:00.000Z', 'months first, then days')
  assert.equal(iso(addDuration(jan31, d('P1M1D'), 2)), '2025-04-02T08:00:00.000Z', '31 Jan + 2 months = 31 Mar, + 2 days')
  assert.equal(iso(addDuration(jan31, d('P0Y1M0DT0H0M0S'), 1)), '2025-02-28T08:00:00.000Z')
})

test('calendar addition: weeks, days and PT durations are exact in UTC', () => {
  const start = at('2026-03-28T22:30:00Z') // a daylight-saving weekend in Europe: UTC does not care
  assert.equal(iso(addDuration(start, d('P1W'), 1)), '2026-04-04T22:30:00.000Z')
  assert.equal(iso(addDuration(start, d('P1D'), 2)), '2026-03-30T22:30:00.000Z')
  assert.equal(iso(addDuration(start, d('PT1H'), 3)), '2026-03-29T01:30:00.000Z')
  assert.equal(iso(addDuration(start, d('PT90M'), 2)), '2026-03-29T01:30:00.000Z')
  assert.equal(iso(addDuration(start, d('PT45S'), 4)), '2026-03-28T22:33:00.000Z')
  assert.equal(iso(addDuration(start, d('P1DT12H'), 2)), '2026-03-31T22:30:00.000Z')
  assert.equal(iso(addDuration(at('2024-02-28T12:00:00Z'), d('P1D'), 1)), '2024-02-29T12:00:00.000Z')
  assert.equal(addDuration(start, d('P1000Y'), 1000), Number.NaN, 'beyond the range of dates')
})

test('cycleAt: 0 before start, exact boundaries, cycles + 1 once the last one is over', () => {
  const start = at('2024-01-31T00:00:00Z')
  const m = d('P1M')
  assert.equal(cycleAt(start, m, 12, start - 1), 0)
  assert.equal(cycleAt(start, m, 12, start), 1)
  assert.equal(cycleAt(start, m, 12, at('2024-02-28T23:59:59.999Z')), 1)
  assert.equal(cycleAt(start, m, 12, at('2024-02-29T00:00:00Z')), 2)
  assert.equal(cycleAt(start, m, 12, at('2024-03-30T23:59:59Z')), 2)
  assert.equal(cycleAt(start, m, 12, at('2024-03-31T00:00:00Z')), 3)
  assert.equal(cycleAt(start, m, 12, at('2024-12-31T00:00:00Z')), 12)
  assert.equal(cycleAt(start, m, 12, at('2025-01-30T23:59:59Z')), 12)
  assert.equal(cycleAt(start, m, 12, at('2025-01-31T00:00:00Z')), 13, 'over')
  assert.equal(cycleAt(start, m, 12, at('2090-01-01T00:00:00Z')), 13)
  const h = d('PT1H')
  assert.equal(cycleAt(start, h, 1_000_000, start + 999_999 * 3_600_000), 1_000_000, 'a million hourly cycles, by binary search')
})

test('parseDateTime: RFC 0036\'s "2019-01-01T08:00Z", offsets, fractions; nothing without a zone or impossible', () => {
  assert.equal(parseDateTime('2019-01-01T08:00Z'), at('2019-01-01T08:00:00Z'))
  assert.equal(parseDateTime('2021-01-02T00:00:00.500Z'), at('2021-01-02T00:00:00.500Z'))
  assert.equal(parseDateTime('2026-01-31T01:00:00+02:00'), at('2026-01-30T23:00:00Z'))
  for (const bad of ['2019-01-01', '2019-01-01T08:00', '2019-01-01 08:00Z', '2019-02-29T00:00Z', '2024-02-30T00:00Z', '2024-13-01T00:00Z',
    '2024-01-01T24:00Z', '2024-01-01T00:60Z', 'tomorrow', '1714000000']) {
    assert.equal(parseDateTime(bad), undefined, bad)
  }
  assert.equal(parseDateTime('2024-02-29T00:00Z'), at('2024-02-29T00:00:00Z'))
})

test('rates: exact rationals, both directions, scales; floor to send, ceil to account', () => {
  assert.deepEqual(parseDecimal('0.92'), { num: 23n, den: 25n })
  assert.deepEqual(parseDecimal('151.5'), { num: 303n, den: 2n })
  for (const bad of ['0', '0.0', '-1', '1e3', '.5', '1.', 'NaN', '1,5']) assert.equal(parseDecimal(bad), undefined, bad)
  const rates = parseRates(' EUR:USD=1.08 , USD:JPY=151.5,')
  assert.deepEqual(rates.map((r) => [r.from, r.to]), [['EUR', 'USD'], ['USD', 'JPY']])
  for (const bad of ['EUR-USD=1', 'EUR:USD=abc', 'EUR:USD=0', 'EUR:EUR=1', 'EUR:USD', 'E U:USD=1']) {
    assert.throws(() => parseRates(bad), Error, bad)
  }
  assert.deepEqual(conversionFactor({ code: 'USD', scale: 2 }, { code: 'USD', scale: 9 }, []), { num: 10_000_000n, den: 1n })
  assert.deepEqual(conversionFactor({ code: 'USD', scale: 9 }, { code: 'USD', scale: 6 }, []), { num: 1n, den: 1000n })
  assert.deepEqual(conversionFactor({ code: 'EUR', scale: 2 }, { code: 'USD', scale: 2 }, rates), { num: 27n, den: 25n })
  assert.deepEqual(conversionFactor({ code: 'JPY', scale: 0 }, { code: 'USD', scale: 2 }, rates), { num: 200n, den: 303n }, 'the inverse of USD:JPY')
  assert.equal(conversionFactor({ code: 'GBP', scale: 2 }, { code: 'USD', scale: 2 }, rates), undefined)
  const f = conversionFactor({ code: 'JPY', scale: 0 }, { code: 'USD', scale: 9 }, rates)!
  const sent = floorTimes(1000n, f)
  assert.equal(sent, 6_600_660_066n)
  assert.equal(ceilDivide(sent, f), 1000n, 'what was sent never costs more than what was available')
  assert.equal(ceilDivide(1n, f), 1n)
  // Float arithmetic (the original's) gets this wrong: 0.1 + 0.2 style error at scale 9.
  assert.equal(floorTimes(3n, conversionFactor({ code: 'EUR', scale: 1 }, { code: 'USD', scale: 9 }, parseRates('EUR:USD=1.1'))!), 330_000_000n)
})

test('balanceAt: cap true and false, before start, after the last cycle, expiry, cancellation', () => {
  const base: PullAgreement = {
    id: 'x', amount: 100n, assetCode: 'USD', assetScale: 2, interval: 'P1D', cycles: 3, cap: true, start: at('2026-01-01T00:00:00Z'),
    createdAt: 0, updatedAt: 0, total: 0n, intervalPulled: 0n, intervalCycle: 0
  }
  const day = (n: number) => at('2026-01-01T00:00:00Z') + n * 86_400_000
  const view = (a: PullAgreement, t: number) => { const b = balanceAt(a, t); return [b.status, b.cycle, b.total, b.interval, b.available] }
  assert.deepEqual(view(base, day(-1)), ['pending', 0, 0n, 0n, 0n])
  assert.deepEqual(view(base, day(0)), ['active', 1, 0n, 0n, 100n])
  const pulled = { ...base, total: 130n, intervalPulled: 30n, intervalCycle: 2 }
  assert.deepEqual(view(pulled, day(1.5)), ['active', 2, 130n, 30n, 70n], 'cap: amount − this cycle')
  assert.deepEqual(view(pulled, day(2.5)), ['active', 3, 130n, 0n, 100n], 'a new cycle starts from zero')
  assert.deepEqual(view({ ...pulled, cap: false }, day(2.5)), ['active', 3, 130n, 0n, 170n], 'no cap: 3 × 100 − 130')
  assert.deepEqual(view({ ...pulled, cap: false }, day(3)), ['finished', 3, 130n, 0n, 0n], 'the leftover 170 is gone after the last cycle')
  assert.deepEqual(view({ ...pulled, expiry: day(2) }, day(2)), ['expired', 3, 130n, 0n, 0n])
  assert.deepEqual(view({ ...pulled, cancelledAt: day(1) }, day(1.5)), ['cancelled', 2, 130n, 30n, 0n])
  assert.deepEqual(view({ ...pulled, amount: 10n }, day(1.5)), ['active', 2, 130n, 30n, 0n], 'an amount lowered below what was pulled: 0, not negative')
})
