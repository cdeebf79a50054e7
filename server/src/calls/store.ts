// What the companion keeps of paid video calls: the rooms hosts created (the creator's word on each
// rate and receiver, converted into the receiver's units once, at creation). Who is in a room lives in
// memory on the instance holding its signalling (calls/service.ts): it is gone when they are.
import type { DatabaseSync } from 'node:sqlite'
import type pg from 'pg'

export interface Room {
  /** The public name in the page: lower-case letters, digits and dashes. */
  id: string
  title: string
  /** Who is paid: a wallet account's or Open Payments wallet address, or a proxy pointer of this companion. */
  pointer: string
  /** The receiver (proxy id) whose balances pay. */
  receiver: string
  /** The host's rate per minute, as the host gave it. */
  rate: { amount: string, assetCode: string, assetScale: number }
  /** What one period costs, in the receiver's units (the rate converted and rounded up). */
  periodAmount: bigint
  /** The receiver's asset, for what the page shows. */
  asset: { assetCode: string, assetScale: number }
  periodMs: number
  /** Participants at once, the host included. */
  maxParticipants: number
  startsAt?: number
  endsAt?: number
  /** Self-hosted Jitsi Meet instead of the companion's WebRTC mesh: the real room name, never in a page. */
  jitsiRoom?: string
  createdAt: number
}

export interface CallStore {
  /** false when a room of that id exists already (it is left as it was). */
  createRoom (room: Room): Promise<boolean>
  getRoom (id: string): Promise<Room | undefined>
  listRooms (): Promise<Room[]>
  deleteRoom (id: string): Promise<boolean>
}

const SQLITE_SCHEMA = `
CREATE TABLE IF NOT EXISTS call_rooms (
  id TEXT PRIMARY KEY, room TEXT NOT NULL, created_at INTEGER NOT NULL
) WITHOUT ROWID;
`
export const POSTGRES_SCHEMA = `
CREATE TABLE IF NOT EXISTS call_rooms (
  id TEXT PRIMARY KEY, room TEXT NOT NULL, created_at BIGINT NOT NULL
);
`

// One JSON column: rooms are few, read whole, and never queried by their fields.
const encode = (r: Room) => JSON.stringify({ ...r, periodAmount: r.periodAmount.toString() })
const decode = (text: unknown): Room => {
  const r = JSON.parse(String(text)) as Room & { periodAmount: string }
  return { ...r, periodAmount: BigInt(r.periodAmount) }
}

export function openSqliteCallStore (db: DatabaseSync): CallStore {
  db.exec(SQLITE_SCHEMA)
  const insert = db.prepare('INSERT INTO call_rooms (id, room, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING')
  const get = db.prepare('SELECT room FROM call_rooms WHERE id = ?')
  const list = db.prepare('SELECT room FROM call_rooms ORDER BY created_at, id')
  const del = db.prepare('DELETE FROM call_rooms WHERE id = ?')
  return {
    async createRoom (room) { return Number(insert.run(room.id, encode(room), room.createdAt).changes) === 1 },
    async getRoom (id) { const row = get.get(id) as { room: string } | undefined; return row && decode(row.room) },
    async listRooms () { return (list.all() as Array<{ room: string }>).map((r) => decode(r.room)) },
    async deleteRoom (id) { return Number(del.run(id).changes) === 1 }
  }
}

export function postgresCallStore (pool: pg.Pool): CallStore {
  return {
    async createRoom (room) {
      return (await pool.query('INSERT INTO call_rooms (id, room, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [room.id, encode(room), room.createdAt])).rowCount === 1
    },
    async getRoom (id) {
      const row = (await pool.query('SELECT room FROM call_rooms WHERE id = $1', [id])).rows[0] as { room: string } | undefined
      return row && decode(row.room)
    },
    async listRooms () {
      return ((await pool.query('SELECT room FROM call_rooms ORDER BY created_at, id')).rows as Array<{ room: string }>).map((r) => decode(r.room))
    },
    async deleteRoom (id) {
      return (await pool.query('DELETE FROM call_rooms WHERE id = $1', [id])).rowCount === 1
    }
  }
}
