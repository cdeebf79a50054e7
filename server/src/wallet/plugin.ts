import fp from 'fastify-plugin'
import { createWalletService, type WalletService } from './service.ts'

declare module 'fastify' {
  interface FastifyInstance { wallet: WalletService }
}

export default fp(async function walletPlugin (app, opts: { publicUrl: string }) {
  const wallet = await createWalletService({
    store: app.store,
    network: app.ilpNetwork,
    publicUrl: opts.publicUrl,
    secret: app.secrets.walletSecret,
    log: app.log
  })
  app.decorate('wallet', wallet)
  // Runs before ilp-network's onClose (hooks run in reverse order): leave the network, then stop it.
  app.addHook('onClose', async () => { await wallet.close() })
}, { name: 'wallet', fastify: '5.x', dependencies: ['store', 'secrets', 'ilp-network'] })
