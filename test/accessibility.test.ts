// axe-core (WCAG 2.x A and AA rules) on every page of the example site, and on the states a reader
// sees: a sealed section locked, then bought and open; the download block before and after a try; the
// dark theme; a 390 px screen. Zero violations, each one named with its nodes when there is one.
import assert from 'node:assert/strict'
import { readFileSync, readdirSync } from 'node:fs'
import path from 'node:path'
import { after, before, test } from 'node:test'
import type { Browser, Page } from 'playwright-core'
import type { StaticSite } from '../scripts/static-server.ts'
import { axeViolations } from './support/axe.ts'
import { launchChromium } from './support/browser.ts'
import { sealedExampleSite, type ExampleSite } from './support/example-site.ts'

let example: ExampleSite
let dir: string
let site: StaticSite
let browser: Browser

const violations = axeViolations

function pages (root: string, prefix = ''): string[] {
  const out: string[] = []
  for (const e of readdirSync(path.join(root, prefix), { withFileTypes: true })) {
    const rel = path.posix.join(prefix, e.name)
    if (e.isDirectory()) out.push(...pages(root, rel))
    // Hugo's alias pages (page/1/ and the like) only redirect: nothing to read.
    else if (e.name === 'index.html' && !/http-equiv="?refresh/i.test(readFileSync(path.join(root, rel), 'utf8'))) out.push(`/${prefix ? `${prefix}/` : ''}`)
  }
  return out
}

before(async () => {
  example = await sealedExampleSite()
  site = example.site
  dir = example.dir
  browser = await launchChromium()
})

after(async () => {
  await browser?.close()
  await example?.close()
})

test('axe: no violations on any page of the example site, light and dark, wide and 390 px', async () => {
  const all = pages(path.join(dir, 'production'))
  assert.ok(all.length >= 10, `${all.length} pages`)
  const found: string[] = []
  for (const [scheme, width] of [['light', 1100], ['dark', 390]] as const) {
    const context = await browser.newContext({ colorScheme: scheme, viewport: { width, height: 800 } })
    const page = await context.newPage()
    for (const p of all) {
      await page.goto(`${site.url}/production${p}`)
      for (const v of await violations(page)) found.push(`${scheme} ${width}px ${p}: ${v}`)
    }
    await context.close()
  }
  assert.deepEqual(found, [])
})

test('axe: the states a reader sees, a section locked then bought, a download tried', async () => {
  const page = await browser.newPage()
  const found: string[] = []
  await page.goto(`${site.url}/development/posts/exclusive-marker/`)
  await page.waitForSelector('[data-trickle-cta] .trickle-exclusive__status')
  for (const v of await violations(page)) found.push(`locked: ${v}`)
  await page.waitForSelector('[data-trickle-content]:not([data-trickle-sealed])', { timeout: 30_000 })
  for (const v of await violations(page)) found.push(`bought: ${v}`)
  await page.evaluate(() => window.trickleDevAgent!.stop())
  await page.goto(`${site.url}/production/posts/download/`)
  const start = page.locator('[data-trickle-download-start]')
  if (await start.count() > 0) {
    await start.click()
    await page.waitForTimeout(500)
    for (const v of await violations(page)) found.push(`download tried: ${v}`)
  }
  assert.deepEqual(found, [])
  await page.close()
})
