import fp from 'fastify-plugin'
import { openSqliteStore } from '../store/sqlite.ts'
import type { Store } from '../store/types.ts'

declare module 'fastify' {
  interface FastifyInstance { store: Store }
}

/** Opens the embedded SQLite store (the only store so far) and closes it with the app. */
export default fp(async function storePlugin (app, opts: { database: string }) {
  const store = openSqliteStore(opts.database)
  app.decorate('store', store)
  app.addHook('onClose', async () => { await store.close() })
  app.log.info({ store: store.kind, database: opts.database }, 'store opened')
}, { name: 'store', fastify: '5.x' })
