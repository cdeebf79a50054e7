// ISO 8601 durations and calendar arithmetic for pull agreement cycles, in UTC. Pure functions, no
// dependencies. The original pull server divided elapsed time by a `moment` duration and took the
// ceiling, so "P1M" was an average month and cycles drifted; here cycle n starts at
// start + n × interval, computed by calendar addition from `start` every time: P1M from 31 January is
// 28/29 February, then 31 March, never an accumulated drift.

export interface Duration {
  years: number
  months: number
  weeks: number
  days: number
  hours: number
  minutes: number
  seconds: number
}

const DAY_MS = 86_400_000
/** JavaScript dates end at ±8.64e15 ms (year 275760); nothing past it can be represented. */
const MAX_TIME = 8.64e15

// PnYnMnWnDTnHnMnS, every part optional but at least one present, whole numbers only. Weeks may be
// combined with other parts (ISO 8601-2 allows it; P1W is the common case). Fractions are refused:
// "half a month" has no calendar meaning.
const DURATION = /^P(?:(\d{1,9})Y)?(?:(\d{1,9})M)?(?:(\d{1,9})W)?(?:(\d{1,9})D)?(?:T(?:(\d{1,9})H)?(?:(\d{1,9})M)?(?:(\d{1,9})S)?)?$/

/** Parses an ISO 8601 duration such as P1M, P1W, PT1H or P0Y1M0DT0H0M0S; undefined when invalid or zero. */
export function parseDuration (text: string): Duration | undefined {
  const m = DURATION.exec(text)
  if (!m) return undefined
  // "P", "PT" and "P1DT" match the pattern but name no part (or an empty time part).
  if (text === 'P' || text.endsWith('T')) return undefined
  const n = (i: number) => (m[i] === undefined ? 0 : Number(m[i]))
  const d: Duration = { years: n(1), months: n(2), weeks: n(3), days: n(4), hours: n(5), minutes: n(6), seconds: n(7) }
  if (Object.values(d).every((v) => v === 0)) return undefined
  return d
}

function daysInMonth (year: number, month: number): number {
  // Day 0 of the next month is the last day of this one; setUTCFullYear avoids Date.UTC's 19xx mapping.
  const date = new Date(0)
  date.setUTCFullYear(year, month + 1, 0)
  return date.getUTCDate()
}

/**
 * start + n × d, by calendar addition in UTC: years and months first (clamping the day to the end of
 * the month), then days and weeks, then hours, minutes and seconds (in UTC a day is always 24 h).
 * NaN when the result is outside the range of dates.
 */
export function addDuration (start: number, d: Duration, n: number): number {
  const from = new Date(start)
  const totalMonths = from.getUTCMonth() + (d.years * 12 + d.months) * n
  const year = from.getUTCFullYear() + Math.floor(totalMonths / 12)
  const month = ((totalMonths % 12) + 12) % 12
  if (!Number.isSafeInteger(year) || Math.abs(year) > 300_000) return Number.NaN
  const date = new Date(0)
  date.setUTCFullYear(year, month, Math.min(from.getUTCDate(), daysInMonth(year, month)))
  date.setUTCHours(from.getUTCHours(), from.getUTCMinutes(), from.getUTCSeconds(), from.getUTCMilliseconds())
  const fixedMs = ((d.weeks * 7 + d.days) * DAY_MS + ((d.hours * 60 + d.minutes) * 60 + d.seconds) * 1000) * n
  const result = date.getTime() + fixedMs
  return Number.isFinite(result) && Math.abs(result) <= MAX_TIME ? result : Number.NaN
}

/**
 * The cycle `t` falls in: 0 before `start`, 1 during [start, start + d), n during
 * [start + (n-1)d, start + n·d), and `cycles + 1` from start + cycles·d on (the agreement has run out).
 * Exact: a binary search over calendar additions, each computed from `start`.
 */
export function cycleAt (start: number, d: Duration, cycles: number, t: number): number {
  if (t < start) return 0
  // Largest n in [0, cycles] with start + n·d <= t; boundaries rise strictly with n.
  let lo = 0
  let hi = cycles
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2)
    const boundary = addDuration(start, d, mid)
    if (!Number.isNaN(boundary) && boundary <= t) lo = mid
    else hi = mid - 1
  }
  return lo + 1
}

// RFC 0036 writes "2019-01-01T08:00Z"; seconds and fractions are optional, the zone is not: a
// date-time without one would be read in the server's local time.
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/

/** Parses an ISO 8601 date-time with a zone (Z or ±hh:mm) to epoch ms; undefined when invalid. */
export function parseDateTime (text: string): number | undefined {
  const m = DATE_TIME.exec(text)
  if (!m) return undefined
  const ms = Date.parse(text)
  if (Number.isNaN(ms)) return undefined
  // Date.parse rolls 31 February over to March; refuse dates that do not exist.
  const [month, day, hour, minute, second] = [m[2], m[3], m[4], m[5], m[6] ?? '0'].map(Number) as [number, number, number, number, number]
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(Number(m[1]), month - 1) || hour > 23 || minute > 59 || second > 59) return undefined
  return ms
}
