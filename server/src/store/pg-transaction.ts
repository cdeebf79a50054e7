// One transaction on a pooled connection, for the PostgreSQL stores (postgres.ts, postgres-features.ts).
import type pg from 'pg'

/** Runs fn in one transaction, rolled back on any throw. */
export async function inPgTransaction<T> (pool: pg.Pool, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
  const c = await pool.connect()
  try {
    await c.query('BEGIN')
    const result = await fn(c)
    await c.query('COMMIT')
    return result
  } catch (err) {
    await c.query('ROLLBACK').catch(() => {})
    throw err
  } finally {
    c.release()
  }
}
