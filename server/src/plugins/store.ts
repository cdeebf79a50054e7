import type { DatabaseSync } from 'node:sqlite'
import fp from 'fastify-plugin'
import { openSqliteStore } from '../store/sqlite.ts'
import type { Store } from '../store/types.ts'

declare module 'fastify' {
  interface FastifyInstance {
    store: Store
    /** The SQLite database behind `store`, for features that keep tables of their own (see store/sqlite.ts). */
    sqlite: DatabaseSync
  }
}

/** Opens the embedded SQLite store (the only store so far) and closes it with the app. */
export default fp(async function storePlugin (app, opts: { database: string }) {
  const store = openSqliteStore(opts.database)
  app.decorate('store', store)
  app.decorate('sqlite', store.db)
  app.addHook('onClose', async () => { await store.close() })
  app.log.info({ store: store.kind, database: opts.database }, 'store opened')
}, { name: 'store', fastify: '5.x' })
