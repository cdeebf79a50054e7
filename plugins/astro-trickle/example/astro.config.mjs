// The example site: Trickle on Astro in one line (the integration), configured from the environment
// so the tests and `npx astro dev` can point it at a running companion.
import { defineConfig } from 'astro/config'
import trickle from 'astro-trickle'

export default defineConfig({
  outDir: process.env.TRICKLE_OUT ?? './dist',
  integrations: [trickle({
    // The creator's wallet address: the companion's demo wallet during development.
    pointer: process.env.TRICKLE_POINTER ?? 'http://localhost:3000/wallet/demo',
    // Price of exclusive sections once sealed (front matter `price` sets a page's own): $0.0005.
    price: { amount: '500000', assetCode: 'USD', assetScale: 9 },
    devAgent: process.env.TRICKLE_BTP ? { btp: process.env.TRICKLE_BTP, intervalMs: 150 } : undefined,
    // Production builds are sealed: exclusive sections leave the build encrypted.
    seal: process.env.TRICKLE_COMPANION ? { companion: process.env.TRICKLE_COMPANION, site: process.env.TRICKLE_SITE_URL ?? 'http://localhost:4321/' } : null
  })]
})
