#!/usr/bin/env node
// trickle-seal: seals a built site in place.
//   node plugins/rehype-trickle-seal/cli.ts public/ --companion https://pay.example.com [--price "1000 USD/9"] [--receiver ID]
// The seal secret comes from TRICKLE_SEAL_SECRET (base64, the companion's setting of the same name).
// Each page's sections are paid to its monetization pointer, which must be a proxy pointer of the
// companion; --receiver (a proxy id or pointer) pays every section to one receiver instead.
import { parseArgs } from 'node:util'
import { sealKeyFrom, type SectionPrice } from '@trickle/server/seal-crypto'
import { PlaintextLeakError, sealSite } from './lib/site.ts'

function fail (message: string): never {
  console.error(`trickle-seal: ${message}`)
  process.exit(2)
}

export function parsePrice (text: string): SectionPrice {
  const m = /^\s*(\d{1,20})\s+([A-Za-z0-9]{1,12})\/(\d{1,3})\s*$/.exec(text)
  if (!m || Number(m[3]) > 255) throw new Error(`price must look like "1000 USD/9" (amount, asset code, scale), got "${text}"`)
  return { amount: BigInt(m[1]!).toString(), assetCode: m[2]!, assetScale: Number(m[3]) }
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { companion: { type: 'string' }, price: { type: 'string' }, receiver: { type: 'string' } } })
  const dir = positionals[0] ?? fail('name the built site folder, e.g. trickle-seal public/ --companion https://pay.example.com')
  if (!values.companion) fail('--companion (the companion\'s base URL) is required')
  const secret = process.env.TRICKLE_SEAL_SECRET ?? fail('set TRICKLE_SEAL_SECRET (base64, the companion\'s setting of the same name)')
  const seed = Buffer.from(secret, 'base64')
  if (seed.length < 32) fail('TRICKLE_SEAL_SECRET must be at least 32 bytes, base64-encoded')
  let defaultPrice: SectionPrice | undefined
  try { defaultPrice = values.price ? parsePrice(values.price) : undefined } catch (err) { fail((err as Error).message) }
  try {
    const report = await sealSite(dir, { sealKey: sealKeyFrom(seed), companion: values.companion, defaultPrice, ...(values.receiver ? { receiver: values.receiver } : {}), onPage: (page, n) => console.log(`sealed ${n} section(s) of ${page}`) })
    console.log(`trickle-seal: ${report.sections.length} section(s) on ${report.pages} page(s) sealed; ${report.files} files checked, no plaintext left`)
  } catch (err) {
    if (err instanceof PlaintextLeakError) fail(err.message)
    fail((err as Error).message)
  }
}
