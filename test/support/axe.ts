// axe-core (WCAG 2.x A and AA rules, and best practices) in a Playwright page.
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import type { Page } from 'playwright-core'

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8')

interface AxeResult { violations: Array<{ id: string, impact: string, help: string, nodes: Array<{ target: string[] }> }> }

/** The page's violations, one line each (rule, impact, what it asks, where). */
export async function axeViolations (page: Page): Promise<string[]> {
  await page.addScriptTag({ content: axeSource })
  const result = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run (ctx: Document, opts: unknown): Promise<AxeResult> } }).axe
    return await axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] } })
  }) as AxeResult
  return result.violations.map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`)
}
