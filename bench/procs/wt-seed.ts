// The anchor's seeder: plain WebTorrent seeding a file as a free torrent over TCP, announcing to a plain
// bittorrent-tracker over HTTP, with the same loopback-only options as Trickle's seeder (no DHT, LSD,
// PEX, UPnP, uTP, web seeds) and the same piece length. Prints {"magnet":…} once it seeds.
// Usage: wt-seed.ts FILE ANNOUNCE_URL PIECE_LENGTH
import WebTorrent from 'webtorrent'
import { privateClientOptions } from '../../server/src/seeder/service.ts'

const [file, announce, pieceLength] = process.argv.slice(2)
const client = new WebTorrent(privateClientOptions(false)) as WebTorrent & {
  seed (input: string, opts: Record<string, unknown>, cb: (t: { magnetURI: string, infoHash: string }) => void): void
}
client.on('error', (err: Error) => { console.error(err); process.exit(1) })
client.seed(file!, { announce: [announce], pieceLength: Number(pieceLength), private: false }, (torrent) => {
  process.stdout.write(`${JSON.stringify({ magnet: torrent.magnetURI, infoHash: torrent.infoHash })}\n`)
})
process.on('SIGTERM', () => { client.destroy(() => process.exit(0)) })
