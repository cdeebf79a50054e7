// What the tracker keeps: registered torrents (the creator's word on each license) and the
// (balance, infohash) pairs already paid for, so a restart never charges a reader twice. Async methods
// over the companion's SQLite file; a PostgreSQL or Redis store implements the same interface.
import type { DatabaseSync } from 'node:sqlite'
import type { License } from '../torrent/license.ts'

export interface RegisteredTorrent {
  /** lowercase hex */
  infoHash: string
  name: string
  length: number
  /** The .torrent file as registered */
  torrent: Uint8Array
  license?: License
  /** What one download costs a balance, in the receiving wallet's units (the license price, converted). */
  spendAmount?: bigint
  /** A file on this machine the companion seeds the torrent from. */
  seedPath?: string
  createdAt: number
}

export interface TorrentPayment {
  balanceId: string
  infoHash: string
  amount: bigint
  paidAt: number
}

export interface TrackerStore {
  /** Inserts, or updates the seed path of the existing record (its license cannot differ: same infohash). */
  putTorrent (record: RegisteredTorrent): Promise<{ created: boolean, torrent: RegisteredTorrent }>
  getTorrent (infoHash: string): Promise<RegisteredTorrent | undefined>
  listTorrents (): Promise<RegisteredTorrent[]>
  deleteTorrent (infoHash: string): Promise<boolean>
  getPayment (balanceId: string, infoHash: string): Promise<TorrentPayment | undefined>
  /** false when this pair was already recorded */
  recordPayment (payment: TorrentPayment): Promise<boolean>
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS tracker_torrents (
  info_hash TEXT PRIMARY KEY, name TEXT NOT NULL, length INTEGER NOT NULL, torrent BLOB NOT NULL,
  license TEXT, spend_amount TEXT, seed_path TEXT, created_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tracker_payments (
  balance_id TEXT NOT NULL, info_hash TEXT NOT NULL, amount TEXT NOT NULL, paid_at INTEGER NOT NULL,
  PRIMARY KEY (balance_id, info_hash)
) WITHOUT ROWID;
`

interface Row { [key: string]: unknown }

export const toTorrent = (r: Row): RegisteredTorrent => ({
  infoHash: String(r.info_hash),
  name: String(r.name),
  length: Number(r.length),
  torrent: new Uint8Array(r.torrent as Uint8Array),
  ...(r.license == null ? {} : { license: JSON.parse(String(r.license)) as License }),
  ...(r.spend_amount == null ? {} : { spendAmount: BigInt(String(r.spend_amount)) }),
  ...(r.seed_path == null ? {} : { seedPath: String(r.seed_path) }),
  createdAt: Number(r.created_at)
})
export const toPayment = (r: Row): TorrentPayment => ({ balanceId: String(r.balance_id), infoHash: String(r.info_hash), amount: BigInt(String(r.amount)), paidAt: Number(r.paid_at) })

export function openSqliteTrackerStore (db: DatabaseSync): TrackerStore {
  db.exec(SCHEMA)
  const q = {
    torrentInsert: db.prepare('INSERT OR IGNORE INTO tracker_torrents (info_hash, name, length, torrent, license, spend_amount, seed_path, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)'),
    torrentSetPath: db.prepare('UPDATE tracker_torrents SET seed_path = ? WHERE info_hash = ?'),
    torrentGet: db.prepare('SELECT * FROM tracker_torrents WHERE info_hash = ?'),
    torrentList: db.prepare('SELECT * FROM tracker_torrents ORDER BY created_at, info_hash'),
    torrentDelete: db.prepare('DELETE FROM tracker_torrents WHERE info_hash = ?'),
    paymentGet: db.prepare('SELECT * FROM tracker_payments WHERE balance_id = ? AND info_hash = ?'),
    paymentInsert: db.prepare('INSERT OR IGNORE INTO tracker_payments (balance_id, info_hash, amount, paid_at) VALUES (?, ?, ?, ?)')
  }
  return {
    async putTorrent (t) {
      // node:sqlite is synchronous: these statements run back to back, no other call interleaves.
      const created = Number(q.torrentInsert.run(t.infoHash, t.name, t.length, t.torrent, t.license ? JSON.stringify(t.license) : null,
        t.spendAmount?.toString() ?? null, t.seedPath ?? null, t.createdAt).changes) === 1
      if (!created && t.seedPath !== undefined) q.torrentSetPath.run(t.seedPath, t.infoHash)
      return { created, torrent: toTorrent(q.torrentGet.get(t.infoHash) as Row) }
    },
    async getTorrent (infoHash) {
      const row = q.torrentGet.get(infoHash) as Row | undefined
      return row && toTorrent(row)
    },
    async listTorrents () {
      return (q.torrentList.all() as Row[]).map(toTorrent)
    },
    async deleteTorrent (infoHash) {
      return Number(q.torrentDelete.run(infoHash).changes) === 1
    },
    async getPayment (balanceId, infoHash) {
      const row = q.paymentGet.get(balanceId, infoHash) as Row | undefined
      return row && toPayment(row)
    },
    async recordPayment (p) {
      return Number(q.paymentInsert.run(p.balanceId, p.infoHash, p.amount.toString(), p.paidAt).changes) === 1
    }
  }
}
