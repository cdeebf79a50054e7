// Small HTML pages for people who open the companion's URLs in a browser: its front page, and the
// explanation a payment pointer or wallet address gives instead of an SPSP or JSON document (agents ask
// for those; a browser asks for text/html first). Text only, every value escaped, no script.

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }
export const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => ESCAPES[c]!)

/** A browser navigating here: it asks for HTML before anything else, which no payment agent does. */
export function wantsHtml (accept: string | undefined): boolean {
  return typeof accept === 'string' && /^\s*text\/html/i.test(accept)
}

/** One page: a title, paragraphs or lists given as HTML (their values escaped by the caller). */
export function htmlPage (title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:44rem;margin:2rem auto;padding:0 1rem;color:#1b1b1f;background:#fff}code{font-size:.92em;overflow-wrap:anywhere}dt{font-weight:600;margin-top:.75rem}dd{margin:0}a{color:#1d4ed8}@media (prefers-color-scheme:dark){body{color:#e8e8ec;background:#15151a}a{color:#93b4ff}}</style>
</head><body><main>
<h1>${escapeHtml(title)}</h1>
${body}
</main></body></html>
`
}

/** A definition list of label → value (values escaped; links where given). */
export function facts (rows: Array<{ label: string, value: string, href?: string }>): string {
  return `<dl>${rows.map((r) => `<dt>${escapeHtml(r.label)}</dt><dd>${r.href ? `<a href="${escapeHtml(r.href)}">` : ''}<code>${escapeHtml(r.value)}</code>${r.href ? '</a>' : ''}</dd>`).join('')}</dl>`
}
