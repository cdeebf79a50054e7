// File sizes in one unit system wherever Trickle shows them (the page's download block, the CLI):
// decimal (SI) units, 1 MB = 1,000,000 bytes, as browsers and operating systems' file managers show
// downloads, in the reader's locale. Isomorphic: Intl only.

export function formatBytes (n: number, locale?: string): string {
  if (!Number.isFinite(n) || n < 0) return '–'
  const units = ['byte', 'kilobyte', 'megabyte', 'gigabyte', 'terabyte'] as const
  let i = 0
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i++ }
  return new Intl.NumberFormat(locale, { style: 'unit', unit: units[i], unitDisplay: i === 0 ? 'long' : 'short', maximumFractionDigits: i === 0 ? 0 : 1 }).format(n)
}
