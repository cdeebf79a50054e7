import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import fp from 'fastify-plugin'

/** OpenAPI 3.1 description built from the route schemas, at /openapi.json, with Swagger UI at /docs. */
export default fp(async function openapiPlugin (app, opts: { publicUrl: string, version: string }) {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Trickle companion server',
        version: opts.version,
        description: 'Local Interledger wallet (SPSP), STREAM receipt verifier with proxy payment pointers and balances, sealed-section keys, a paid-torrent tracker and SPSP pull payments.'
      },
      servers: [{ url: opts.publicUrl }],
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'TRICKLE_ADMIN_TOKEN, or TRICKLE_SPEND_TOKEN for spend' } } },
      tags: [
        { name: 'wallet', description: 'Creator wallet on the local Interledger network' },
        { name: 'verifier', description: 'STREAM receipt verifier (RFC 0039)' },
        { name: 'sealed', description: 'Keys of sealed exclusive sections, released after payment' },
        { name: 'tracker', description: 'Torrent tracker that releases peers of paid torrents only after spending their price' },
        { name: 'calls', description: 'Paid video calls: rooms only paying attendees join, and leave when their payment stops' },
        { name: 'pull', description: 'SPSP pull payments (RFC 0036): agreements a payer authorizes and a payee pulls' },
        { name: 'server', description: 'About this server' }
      ]
    },
    // Routes like /balances/:id(regex)::spend carry a regex and an escaped colon for the router;
    // OpenAPI wants /balances/{id}:spend.
    transform: ({ schema, url }) => ({ schema, url: url.replace(/\([^)]*\)/g, '').replace(/::/g, ':') })
  })
  await app.register(swaggerUi, { routePrefix: '/docs' })
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger())
}, { name: 'openapi', fastify: '5.x' })
