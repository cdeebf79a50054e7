// The store: the embedded SQLite file by default, or PostgreSQL when TRICKLE_DATABASE is a
// postgres:// URL (several companions on one database). The core store (balances, receipts, wallet
// accounts, proxies) and the feature stores (tracker, pull payments, Open Payments) come from the same
// engine, and close with the app.
import fp from 'fastify-plugin'
import { createOpenPaymentsStore, type OpenPaymentsStore } from '../open-payments/store.ts'
import { openSqlitePullStore, type PullStore } from '../pull/store.ts'
import { parseDatabaseUrl, redactDatabaseUrl } from '../store/database-url.ts'
import { openPostgresStore } from '../store/postgres.ts'
import { postgresOpenPaymentsStore, postgresPullStore, postgresTrackerStore } from '../store/postgres-features.ts'
import { openSqliteStore } from '../store/sqlite.ts'
import type { Store } from '../store/types.ts'
import { openSqliteTrackerStore, type TrackerStore } from '../tracker/store.ts'
import { openSqliteCallStore, postgresCallStore, type CallStore } from '../calls/store.ts'

export interface FeatureStores {
  tracker (): TrackerStore
  pull (): PullStore
  openPayments (): OpenPaymentsStore
  calls (): CallStore
}

declare module 'fastify' {
  interface FastifyInstance {
    store: Store
    /** The feature stores, on the same engine as `store` */
    featureStores: FeatureStores
  }
}

export default fp(async function storePlugin (app, opts: { database: string }) {
  const postgres = parseDatabaseUrl(opts.database)
  if (postgres) {
    const store = await openPostgresStore(postgres)
    app.decorate('store', store)
    app.decorate('featureStores', { tracker: () => postgresTrackerStore(store.pool), pull: () => postgresPullStore(store.pool), openPayments: () => postgresOpenPaymentsStore(store.pool), calls: () => postgresCallStore(store.pool) })
    app.addHook('onClose', async () => { await store.close() })
    app.log.info({ store: store.kind, database: redactDatabaseUrl(opts.database) }, 'store opened')
    return
  }
  const store = openSqliteStore(opts.database)
  app.decorate('store', store)
  app.decorate('featureStores', { tracker: () => openSqliteTrackerStore(store.db), pull: () => openSqlitePullStore(store.db), openPayments: () => createOpenPaymentsStore(store.db), calls: () => openSqliteCallStore(store.db) })
  app.addHook('onClose', async () => { await store.close() })
  app.log.info({ store: store.kind, database: opts.database }, 'store opened')
}, { name: 'store', fastify: '5.x' })
