// Result rows, the printed table and the JSON copy.

/** A goal on the ratio (Trickle / anchor) or on Trickle's own figure. */
export interface Goal {
  on: 'ratio' | 'value'
  op: '>=' | '<='
  target: number
  /** how the README and the table say it, e.g. "≥ 5x" */
  text: string
}

export interface Row {
  id: string
  metric: string
  unit: string
  trickle: number
  /** the anchor's figure measured in the same run (NaN when there is none) */
  anchor: number
  /** what the anchor is, e.g. "@coil/receipt-verifier 1.0.3" */
  anchorName: string
  /** trickle / anchor */
  ratio: number
  goal?: Goal
  /** undefined when the row has no goal */
  pass?: boolean
  note?: string
}

/**
 * Of runs measured in rounds, Trickle's and the anchor's run of one round side by side: the round
 * whose ratio is the median. Runs of one round ran minutes (or seconds) apart, so a drift in the
 * machine's speed moves both; a median taken of each target alone would pair a fast minute of one
 * with a slow minute of the other.
 */
export function medianPair (trickle: number[], anchor: number[]): { trickle: number, anchor: number } {
  const pairs = trickle.map((t, i) => [t, anchor[i]!] as const).sort((a, b) => a[0] / a[1] - b[0] / b[1])
  const [t, a] = pairs[Math.floor(pairs.length / 2)]!
  return { trickle: t, anchor: a }
}

export function row (r: Omit<Row, 'ratio' | 'pass'>): Row {
  const ratio = Number.isFinite(r.anchor) && r.anchor !== 0 ? r.trickle / r.anchor : Number.NaN
  let pass: boolean | undefined
  if (r.goal) {
    const v = r.goal.on === 'ratio' ? ratio : r.trickle
    pass = Number.isFinite(v) && (r.goal.op === '>=' ? v >= r.goal.target : v <= r.goal.target)
  }
  return { ...r, ratio, ...(pass === undefined ? {} : { pass }) }
}

function num (x: number, unit: string): string {
  if (!Number.isFinite(x)) return '–'
  if (unit === 'B') return `${Math.round(x).toLocaleString('en-US')} B`
  const abs = Math.abs(x)
  const digits = abs >= 100 ? 0 : abs >= 10 ? 1 : 2
  return `${x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })} ${unit}`.trim()
}

export function formatTable (rows: Row[]): string {
  const header = ['metric', 'Trickle', 'anchor', 'ratio', 'goal', 'result']
  const body = rows.map((r) => [
    r.metric,
    num(r.trickle, r.unit),
    Number.isFinite(r.anchor) ? `${num(r.anchor, r.unit)} (${r.anchorName})` : r.anchorName || '–',
    Number.isFinite(r.ratio) ? `${r.ratio.toFixed(2)}x` : '–',
    r.goal?.text ?? '–',
    r.pass === undefined ? '' : r.pass ? 'pass' : 'MISS'
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)))
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)].join('\n')
}
