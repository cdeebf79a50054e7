import fp from 'fastify-plugin'
import { startNetwork, type IlpNetwork, type NetworkOptions } from '../ilp/network.ts'

declare module 'fastify' {
  interface FastifyInstance { ilpNetwork: IlpNetwork }
}

/** Starts the embedded connector (or joins the uplink) before the app is ready; shuts it down last. */
export default fp(async function ilpNetworkPlugin (app, opts: NetworkOptions) {
  // Resolves only once the BTP endpoint listens (a port in use rejects, failing the app's build), so
  // the line below is never logged for a connector that is not there.
  const network = await startNetwork({ log: app.log.child({ component: 'connector' }), ...opts })
  app.decorate('ilpNetwork', network)
  app.addHook('onClose', async () => { await network.close() })
  if (network.mode === 'embedded') {
    app.log.info({ btp: network.btpUrl, ilpAddress: opts.ilpAddress, asset: `${opts.assetCode}/${opts.assetScale}`, maxPacketAmount: opts.maxPacketAmount ?? 'none', rateLimitPerMinute: opts.rateLimitPerMinute || 'off' }, 'embedded Interledger connector listening')
  } else {
    app.log.info({ uplink: network.btpUrl }, 'joining the Interledger network through the uplink; no local connector')
  }
}, { name: 'ilp-network', fastify: '5.x' })
