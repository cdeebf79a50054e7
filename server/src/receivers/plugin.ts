import fp from 'fastify-plugin'
import type { ExchangeRate } from '../prices/rates.ts'
import { createReceiverService, type ReceiverService } from './service.ts'
import { walletAddressAssets } from './wallet-address.ts'

declare module 'fastify' {
  interface FastifyInstance { receivers: ReceiverService }
}

export default fp(async function receiversPlugin (app, opts: { publicUrl: string, rates?: readonly ExchangeRate[] }) {
  app.decorate('receivers', createReceiverService({
    publicUrl: opts.publicUrl,
    verifier: app.verifier,
    ...(opts.rates ? { rates: opts.rates } : {}),
    walletAddressAsset: walletAddressAssets(),
    async walletAsset (name) {
      const account = await app.wallet.getAccount(name)
      return typeof account === 'string' ? undefined : { assetCode: account.assetCode, assetScale: account.assetScale }
    }
  }))
}, { name: 'receivers', fastify: '5.x', dependencies: ['verifier', 'wallet'] })
