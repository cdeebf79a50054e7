// The example site: Trickle on Eleventy in one line (the plugin), configured from the environment so
// the tests and `npx @11ty/eleventy --serve` can point it at a running companion.
import trickle from 'eleventy-plugin-trickle'

export default function (eleventyConfig) {
  eleventyConfig.addPlugin(trickle, {
    // The creator's wallet address: the companion's demo wallet during development.
    pointer: process.env.TRICKLE_POINTER ?? 'http://localhost:3000/wallet/demo',
    // Price of exclusive sections once sealed (front matter `price` sets a page's own): $0.0005.
    price: { amount: '500000', assetCode: 'USD', assetScale: 9 },
    devAgent: process.env.TRICKLE_BTP ? { btp: process.env.TRICKLE_BTP, intervalMs: 150 } : undefined,
    // Production builds are sealed: exclusive sections leave the build encrypted.
    seal: process.env.TRICKLE_COMPANION ? { companion: process.env.TRICKLE_COMPANION, site: process.env.TRICKLE_SITE_URL ?? 'http://localhost:8080/' } : null
  })
  eleventyConfig.addGlobalData('guestPointer', process.env.TRICKLE_GUEST_POINTER ?? 'http://localhost:3000/wallet/alice')
  // The magnet of a file the companion sells (npm start prints the example site's; the tests register their own).
  eleventyConfig.addGlobalData('downloadMagnet', process.env.TRICKLE_MAGNET ?? '')
  return { dir: { input: 'content', includes: '../_includes', output: process.env.TRICKLE_OUT ?? '_site' } }
}
