// GET / : what a person finds at the companion's address. What runs here and where (the API and its
// docs, the Interledger network, the demo wallet address, the tracker), in a page a browser shows.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { facts, htmlPage } from './html.ts'

export interface LandingOptions { publicUrl: string, version: string }

const landingRoutes: FastifyPluginAsyncTypebox<LandingOptions> = async (app, opts) => {
  app.get('/', {
    schema: {
      tags: ['server'],
      summary: 'Front page: what runs here, with links to the API docs',
      response: { 200: Type.String({ description: 'text/html' }) }
    }
  }, async (_req, reply) => {
    const base = opts.publicUrl.replace(/\/+$/, '')
    const torrents = await app.tracker.list()
    const rows = [
      { label: 'HTTP API and its OpenAPI docs', value: `${base}/docs`, href: `${base}/docs` },
      { label: 'Interledger network', value: `${app.ilpNetwork.btpUrl} (${app.ilpNetwork.mode === 'embedded' ? 'embedded connector' : app.ilpNetwork.mode})` },
      ...(app.demo
        ? [
            { label: `Wallet address of "${app.demo.account}" (Open Payments; put it in config.toml)`, value: app.demo.paymentPointer },
            { label: 'Its proxy pointer (for agents that send STREAM receipts)', value: app.demo.proxyPointer }
          ]
        : []),
      { label: 'Tracker (paid downloads)', value: `${app.tracker.announceUrls.ws} · ${torrents.length} file(s) registered` },
      { label: 'Health', value: `${base}/health`, href: `${base}/health` }
    ]
    reply.type('text/html; charset=utf-8').header('cache-control', 'no-store')
    return htmlPage(`Trickle companion ${opts.version}`, `<p>This server makes Web Monetization payments verifiable for the sites that name it: it credits what readers pay, sells the keys of sealed sections and tickets for paid downloads, and runs a tracker and a seeder.</p>${facts(rows)}`)
  })
}

export default landingRoutes
