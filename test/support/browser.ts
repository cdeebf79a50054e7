// Debian's Chromium driven by playwright-core (no downloaded browsers). Flags as this machine needs
// them: without the background-networking switches Chromium keeps dialling Google's hosts, which this
// network refuses.
import { mkdirSync } from 'node:fs'
import { chromium, type Browser, type Page } from 'playwright-core'
import { repoRoot } from '../../scripts/hugo.ts'

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
export const ARTIFACTS = `${repoRoot}test-artifacts`

/** Fake camera and microphone, allowed without a prompt (the call tests). */
export const FAKE_MEDIA = ['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream']

export async function launchChromium (extraArgs: string[] = []): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage',
      // Host candidates as addresses, not mDNS names: two tabs of one test reach each other in a
      // network namespace with no multicast resolver.
      '--disable-features=WebRtcHideLocalIpsWithMdns', ...extraArgs]
  })
}

/** Collects console errors and uncaught exceptions of a page. */
export function watchErrors (page: Page): string[] {
  const errors: string[] = []
  page.on('console', (m) => { if (m.type() === 'error') errors.push(`console: ${m.text()}`) })
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`))
  return errors
}

export async function screenshot (page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true })
  const file = `${ARTIFACTS}/${name}.png`
  await page.screenshot({ path: file, fullPage: true })
  return file
}
