// TRICKLE_SEED and TRICKLE_SEED_PRICE, read into seed entries (config.ts turns a problem into a
// ConfigError naming the setting).
import path from 'node:path'
import { parsePrice, type Price } from '../torrent/license.ts'
import type { SeedEntry } from './plugin.ts'

export interface SeedSettingProblem {
  setting: 'TRICKLE_SEED' | 'TRICKLE_SEED_PRICE'
  problem: string
}

function price (text: string, where: string): Price | 'free' {
  return text === 'free' ? 'free' : parsePrice(text, where)
}

/** `list`: comma-separated `PATH` or `PATH=PRICE`; `defaultPrice`: `AMOUNT CODE/SCALE`, `free` or ''. */
export function parseSeedSettings (list: string, defaultPrice: string, cwd: string): SeedEntry[] | SeedSettingProblem {
  let fallback: Price | 'free' | undefined
  try {
    fallback = defaultPrice === '' ? undefined : price(defaultPrice, 'price')
  } catch (err) {
    return { setting: 'TRICKLE_SEED_PRICE', problem: (err as Error).message }
  }
  const entries: SeedEntry[] = []
  for (const raw of list.split(',').map((s) => s.trim()).filter(Boolean)) {
    const eq = raw.lastIndexOf('=')
    const file = (eq === -1 ? raw : raw.slice(0, eq)).trim()
    let p = fallback
    if (eq !== -1) {
      try {
        p = price(raw.slice(eq + 1).trim(), `price of ${file}`)
      } catch (err) {
        return { setting: 'TRICKLE_SEED', problem: (err as Error).message }
      }
    }
    if (file === '') return { setting: 'TRICKLE_SEED', problem: `"${raw}" names no file` }
    if (!p) return { setting: 'TRICKLE_SEED', problem: `${file} has no price: write ${file}=100 USD/2 (or =free), or set TRICKLE_SEED_PRICE` }
    entries.push({ path: path.resolve(cwd, file), price: p })
  }
  return entries
}
