#!/usr/bin/env node
// trickle-seal: seals a built site in place, once every check passed (nothing is written otherwise).
//   node plugins/rehype-trickle-seal/cli.ts public/ --companion https://pay.example.com --site https://blog.example/ [--price "1000 USD/9"] [--receiver ID] [--offline]
// The site's seal key comes from TRICKLE_SITE_SEAL_KEY (base64, what the companion's POST /sealed/sites
// returns), or is asked of the companion with TRICKLE_ADMIN_TOKEN, or is derived from
// TRICKLE_SEAL_SECRET (the companion's own secret). Each page's sections are paid to its monetization
// link (the creator's wallet address, registered at the companion, or a proxy pointer of it);
// --receiver (a receiver id, wallet address or pointer) pays every section to one receiver instead.
// Before writing, the companion is asked whether it can charge every price (--offline skips that).
import { realpathSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { siteOf, type SectionPrice } from 'trickle-core/seal'
import { siteKeyFor } from './lib/keys.ts'
import { sealSite } from './lib/site.ts'

function fail (message: string): never {
  console.error(`trickle-seal: ${message}`)
  process.exit(2)
}

export function parsePrice (text: string): SectionPrice {
  const m = /^\s*(\d{1,20})\s+([A-Za-z0-9]{1,12})\/(\d{1,3})\s*$/.exec(text)
  if (!m || Number(m[3]) > 255) throw new Error(`price must look like "1000 USD/9" (amount, asset code, scale), got "${text}"`)
  return { amount: BigInt(m[1]!).toString(), assetCode: m[2]!, assetScale: Number(m[3]) }
}

// Run as a program (a bin link or `node cli.js`), not imported: import.meta.main is Node 24's only.
const invoked = process.argv[1] !== undefined && (() => { try { return realpathSync(process.argv[1]!) === fileURLToPath(import.meta.url) } catch { return false } })()
if (invoked) {
  let parsed
  try {
    parsed = parseArgs({ allowPositionals: true, options: { companion: { type: 'string' }, site: { type: 'string' }, price: { type: 'string' }, receiver: { type: 'string' }, offline: { type: 'boolean' } } })
  } catch (err) { fail((err as Error).message) }
  const { values, positionals } = parsed
  const dir = positionals[0] ?? fail('name the built site folder, e.g. trickle-seal public/ --companion https://pay.example.com --site https://blog.example/')
  if (!values.companion) fail('--companion (the companion\'s base URL) is required')
  const companion = values.companion.replace(/\/+$/, '')
  const site = siteOf(values.site ?? process.env.TRICKLE_SITE_URL ?? '') ?? fail('--site (or TRICKLE_SITE_URL) must be the site\'s public base URL, e.g. https://blog.example/ (its seal key is bound to it)')
  let defaultPrice: SectionPrice | undefined
  try { defaultPrice = values.price ? parsePrice(values.price) : undefined } catch (err) { fail((err as Error).message) }
  try {
    const sealKey = await siteKeyFor(site, companion)
    const report = await sealSite(dir, { sealKey, site, companion, defaultPrice, ...(values.receiver ? { receiver: values.receiver } : {}), checkPrices: !values.offline, onPage: (page, n) => console.log(`sealed ${n} section(s) of ${page}`) })
    console.log(`trickle-seal: ${report.sections.length} section(s) on ${report.pages} page(s) sealed${report.alreadySealed ? ` (${report.alreadySealed} sealed before, checked again)` : ''}; ${report.files} files checked, no exclusive text outside them`)
  } catch (err) {
    fail((err as Error).message)
  }
}
