// The tracker on the companion's port: BitTorrent HTTP announce and scrape, the WebTorrent WebSocket
// tracker on the same /announce URL, and the creator's torrent registrations.
import { clientAddress } from '../client-address.ts'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply } from 'fastify'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { Type } from 'typebox'
import { sendError } from '../http-errors.ts'
import { Amount, bearer, errorRef } from '../schemas/common.ts'
import { isSeederFailure } from '../seeder/service.ts'
import { formatPrice, TorrentError, torrentFromBase64 } from '../torrent/license.ts'
import { isTrackerFailure, TrackerError, trackerErrorMessage, trackerErrorStatus, type TrackerFailure } from './errors.ts'
import type { Registered } from './service.ts'
import { base64url, fromBase64url } from '../../../theme/assets/ts/proof/codec.ts'

const fail = (reply: FastifyReply, f: TrackerFailure) =>
  sendError(reply, trackerErrorStatus[f.error], f.error, f.detail ? `${trackerErrorMessage[f.error]}: ${f.detail}` : trackerErrorMessage[f.error])

const InfoHash = Type.String({ pattern: '^[0-9a-f]{40}$', description: 'SHA-1 of the bencoded info dictionary, lowercase hex' })
const License = Type.Object({
  paymentPointer: Type.String({ description: 'Proxy pointer readers pay' }),
  verifier: Type.String({ description: 'Verifier base URL: credit receipts at {verifier}/balances/{id}:creditReceipt' }),
  amount: Amount,
  assetCode: Type.String(),
  assetScale: Type.Integer({ minimum: 0, maximum: 255 }),
  proofKey: Type.String({ description: 'Ed25519 key (base64url) that signs this torrent\'s proofs of payment: peers admit only who presents one (README, "Proof of payment")' })
}, { description: 'The license inside the info dictionary (the infohash commits to it)' })
const torrentFields = {
  infoHash: InfoHash,
  name: Type.String(),
  length: Type.Integer({ description: 'Bytes' }),
  private: Type.Boolean(),
  magnet: Type.String({ description: 'xt, dn, xl, tr, and for paid torrents pp, vr, pa (amount), pc (asset code), ps (asset scale), pk (proof key)' }),
  announce: Type.Array(Type.String(), { description: 'Tracker URLs in the .torrent' }),
  license: Type.Optional(License),
  price: Type.Optional(Type.String({ description: 'The price in words, e.g. "1.00 USD"', examples: ['1.00 USD'] })),
  spendAmount: Type.Optional(Type.String({ pattern: '^[0-9]{1,20}$', description: 'What the tracker spends from a balance, in receipt units (the receiving wallet\'s asset and scale): credit at least this much' })),
  receiver: Type.Optional(Type.String({ description: 'Proxy id the license pays (the id in its pointer /p/{id}): only credits of payments to it buy this torrent' })),
  createdAt: Type.String({ format: 'date-time' })
}
const TorrentView = Type.Object(torrentFields)
const Registration = Type.Object({
  ...torrentFields,
  seederToken: Type.String({ description: 'Announce param `seeder_token`: lets the creator\'s own seeders into the paid swarm without paying' }),
  seeding: Type.Boolean({ description: 'Whether the companion seeds it (with `path`)' }),
  seedError: Type.Optional(Type.String({ description: 'Why the companion could not seed it' }))
})
const PublicKey = Type.String({ pattern: '^[A-Za-z0-9_-]{43}$', description: 'An Ed25519 public key, 32 bytes in base64url' })
const bencodedReply = (description: string) => ({ description, content: { 'text/plain': { schema: { type: 'string' as const, description: 'bencoded dictionary' } } } })

function sendBencoded (res: ServerResponse, body: Buffer) {
  if (res.destroyed) return
  res.writeHead(200, { 'content-type': 'text/plain; charset=binary', 'content-length': body.length })
  res.end(body)
}

const trackerRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const admin = app.requireToken('admin')
  const tracker = app.tracker
  const view = (r: Registered) => ({
    infoHash: r.record.infoHash,
    name: r.record.name,
    length: r.record.length,
    private: r.parsed.private,
    magnet: tracker.magnet(r),
    announce: r.parsed.announce,
    ...(r.record.license ? { license: r.record.license, price: formatPrice(r.record.license) } : {}),
    ...(r.record.spendAmount !== undefined ? { spendAmount: r.record.spendAmount.toString() } : {}),
    ...(r.receiver !== undefined ? { receiver: r.receiver } : {}),
    createdAt: new Date(r.record.createdAt).toISOString()
  })

  // The WebTorrent tracker: WebSocket upgrades of /announce, on the companion's own HTTP server.
  app.onUpgrade('/announce', (req, socket, head) => { tracker.protocol.upgrade(req, socket, head, clientAddress(req, app.config.trustProxy)) })
  // Before the HTTP server closes: it waits for every open connection, and upgraded ones never end
  // by themselves.
  app.addHook('preClose', async () => { tracker.close() })

  // Announce and scrape read their own query from the raw URL (info_hash and peer_id are bytes, not
  // text: a UTF-8 decoded copy would lose them) and answer bencoded, as BitTorrent clients expect (a
  // `failure reason`, not a JSON 400). A listening server answers them straight from node:http
  // (app.rawGet: they are most of a tracker's requests); the Fastify routes below document them and
  // serve `inject`.
  const remoteIp = (req: IncomingMessage) => (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '')
  const announce = (req: IncomingMessage, res: ServerResponse) => {
    const body = tracker.protocol.announce(req.url ?? '', remoteIp(req))
    if (body instanceof Promise) void body.then((b) => { sendBencoded(res, b) })
    else sendBencoded(res, body)
  }
  const scrape = (req: IncomingMessage, res: ServerResponse) => { sendBencoded(res, tracker.protocol.scrape(req.url ?? '')) }
  app.rawGet('/announce', announce)
  app.rawGet('/scrape', scrape)

  app.route({
    method: 'GET',
    url: '/announce',
    schema: {
      tags: ['tracker'],
      summary: 'BitTorrent announce (HTTP) and the WebTorrent tracker (WebSocket upgrade on the same URL)',
      description: 'HTTP: BEP 3/23 announce; the reply is a bencoded dictionary, with `failure reason` when refused. WebSocket: the WebTorrent tracker protocol (JSON announces with WebRTC offers and answers). ' +
        'For a paid torrent an announce needs a `ticket` for its infohash and peer_id (POST /torrents/{infoHash}/access, which spends the price once per purchase) or the creator\'s `seeder_token`; without it there are no peers and no offer or answer is relayed. See the README, "Paid downloads".',
      querystring: Type.Object({
        ticket: Type.Optional(Type.String({ description: 'Paid torrents: a ticket for this infohash and peer_id from POST /torrents/{infoHash}/access' })),
        balance: Type.Optional(Type.String({ description: 'Refused (`ticket_required`): a balance id is public and pays nothing alone' })),
        seeder_token: Type.Optional(Type.String({ description: 'The creator\'s seeder token for this infohash (POST /torrents returns it)' })),
        info_hash: Type.String({ description: '20 bytes, percent-encoded' }),
        peer_id: Type.String({ description: '20 bytes, percent-encoded' }),
        port: Type.Integer({ minimum: 1, maximum: 65535 }),
        left: Type.Optional(Type.Integer({ minimum: 0, description: 'Bytes still missing; 0 for a seeder' })),
        event: Type.Optional(Type.Union([Type.Literal('started'), Type.Literal('stopped'), Type.Literal('completed'), Type.Literal('update'), Type.Literal('paused'), Type.Literal('empty')])),
        numwant: Type.Optional(Type.Integer({ minimum: 0, maximum: 82, default: 50 })),
        compact: Type.Optional(Type.Union([Type.Literal(0), Type.Literal(1)], { description: '1: peers as 6-byte strings (BEP 23), IPv6 ones in peers6 (BEP 7)' }))
      }, { additionalProperties: true }),
      response: { 200: bencodedReply('Peers, or a failure reason') }
    },
    // The schema documents the parameters; the handler reads them from the raw URL itself, once.
    validatorCompiler: () => () => true,
    handler: (req, reply) => {
      reply.hijack()
      announce(req.raw, reply.raw)
    }
  })

  app.get('/scrape', {
    schema: {
      tags: ['tracker'],
      summary: 'BitTorrent scrape: seeders and leechers per infohash',
      querystring: Type.Object({}, { additionalProperties: true }),
      response: { 200: bencodedReply('files: {infohash: {complete, incomplete, downloaded}}') }
    }
  }, (req, reply) => {
    reply.hijack()
    scrape(req.raw, reply.raw)
  })

  app.post('/torrents', {
    preHandler: admin,
    // A .torrent of a few GB is about 40 KB (1,000-2,000 SHA-1 hashes); base64 adds a third.
    bodyLimit: 2 * 1024 * 1024,
    schema: {
      tags: ['tracker'],
      summary: 'Register a torrent (paid ones: the license inside its info dictionary)',
      description: 'The infohash is recomputed here from the info dictionary and the license is read from inside it; only registered paid torrents can be paid for and downloaded. ' +
        'A paid torrent must be private, announce only to this tracker, name this server as verifier and a proxy pointer registered here as paymentPointer. ' +
        'With `path` (a file on this machine, named like the torrent) the companion also seeds it, now and after restarts. Idempotent (200 when already registered).',
      security: bearer,
      body: Type.Object({
        torrent: Type.String({ minLength: 4, maxLength: 2 * 1024 * 1024, description: 'The .torrent file, base64' }),
        path: Type.Optional(Type.String({ minLength: 1, maxLength: 4096, description: 'Absolute path of the file on the companion\'s machine, to seed it from' }))
      }, { additionalProperties: false }),
      response: { 200: Registration, 201: Registration, 400: errorRef, 401: errorRef, 413: errorRef }
    }
  }, async (req, reply) => {
    let bytes: Uint8Array
    try {
      bytes = torrentFromBase64(req.body.torrent)
    } catch (err) {
      if (!(err instanceof TorrentError)) throw err
      return fail(reply, { error: TrackerError.InvalidTorrent, detail: err.message })
    }
    const seedPath = req.body.path
    if (seedPath !== undefined) {
      // Check the file before registering, so a wrong path registers nothing.
      const problem = await app.seeder.checkFile(seedPath, bytes)
      if (problem && problem.error === 'invalid_torrent') return fail(reply, { error: TrackerError.InvalidTorrent, detail: problem.message })
      if (problem) return fail(reply, { error: TrackerError.InvalidSeedPath, detail: problem.message })
    }
    const result = await tracker.register(bytes, seedPath !== undefined ? { seedPath } : {})
    if (isTrackerFailure(result)) return fail(reply, result)
    const seederToken = tracker.seederToken(result.record.infoHash)
    let seeding = app.seeder.list().some((s) => s.infoHash === result.record.infoHash)
    let seedError: string | undefined
    if (seedPath !== undefined && !seeding) {
      const seeded = await app.seeder.seed({ torrent: bytes, file: seedPath, seederToken, verified: true })
      if (isSeederFailure(seeded)) seedError = seeded.message
      else seeding = true
    }
    return reply.code(result.created ? 201 : 200).send({ ...view(result), seederToken, seeding, ...(seedError ? { seedError } : {}) })
  })

  app.get('/torrents', {
    schema: {
      tags: ['tracker'],
      summary: 'Registered torrents: name, size, license, price and magnet',
      description: 'Public: a magnet or license reveals nothing that can be downloaded without paying.',
      response: { 200: Type.Array(TorrentView) }
    }
  }, async () => (await tracker.list()).map(view))

  app.get('/torrents/proof-key', {
    schema: {
      tags: ['tracker'],
      summary: 'The key that signs this companion\'s proofs of payment',
      description: 'A paid license registered here must name it as `proofKey` (`wrong_proof_key` otherwise). Derived from the admin token: every instance of one deployment has the same.',
      response: { 200: Type.Object({ proofKey: PublicKey }) }
    }
  }, async () => ({ proofKey: tracker.proofs.proofKey }))

  app.post('/torrents/:infoHash/seeder-proof', {
    preHandler: admin,
    bodyLimit: 1024,
    schema: {
      tags: ['tracker'],
      summary: 'A proof of payment for the creator\'s own seeder',
      description: 'Readers\' clients gate paid torrents too, and admit only peers that prove: a seeder the creator runs elsewhere (`trickle seed`) presents this proof, bound to its own key, valid 7 days. Ask again before it ends.',
      security: bearer,
      params: Type.Object({ infoHash: InfoHash }),
      body: Type.Object({ key: PublicKey }, { additionalProperties: false }),
      response: {
        200: Type.Object({ proof: Type.String({ description: 'The 125-byte proof, base64url' }), expiresAt: Type.String({ format: 'date-time' }) }),
        400: errorRef, 401: errorRef, 404: errorRef
      }
    }
  }, async (req, reply) => {
    const r = await tracker.get(req.params.infoHash)
    if (isTrackerFailure(r)) return fail(reply, r)
    if (!r.record.license) return sendError(reply, 400, 'free_torrent', 'a free torrent needs no proof of payment')
    const key = fromBase64url(req.body.key)
    if (key?.length !== 32) return sendError(reply, 400, 'invalid_key', 'key must be 32 bytes in base64url')
    const { proof, expiresAt } = tracker.seederProof(req.params.infoHash, key)
    reply.header('cache-control', 'no-store')
    return { proof: base64url(proof), expiresAt: new Date(expiresAt).toISOString() }
  })

  app.get('/torrents/:infoHash', {
    schema: {
      tags: ['tracker'],
      summary: 'One registered torrent: what a reader pays for it, and its magnet',
      description: 'A client checks here, before paying, that the magnet\'s price is the registered one; `spendAmount` is what its balance must hold.',
      params: Type.Object({ infoHash: InfoHash }),
      response: { 200: TorrentView, 400: errorRef, 404: errorRef }
    }
  }, async (req, reply) => {
    const result = await tracker.get(req.params.infoHash)
    if (isTrackerFailure(result)) return fail(reply, result)
    return view(result)
  })

  app.post('/torrents/:infoHash/access', {
    bodyLimit: 1024,
    schema: {
      tags: ['tracker'],
      summary: 'Buy a download (once) and get a ticket for one peer id',
      description: 'Spends the registered price from what the reader\'s balance holds for the torrent\'s receiver, once per purchase (`TRICKLE_DOWNLOAD_GRANT_TTL`); until the purchase ends, new tickets are free (a reload, a new peer id). ' +
        'Only the holder of the balance\'s secret can buy or renew (README, "Who can spend what"). The ticket admits this peer id, and no other, to the swarm until `expiresAt`: announce with `ticket` (HTTP query or WebSocket field). ' +
        'A purchase is issued tickets for at most `TRICKLE_DOWNLOAD_MAX_PEERS` peer ids per ticket lifetime (429). Free torrents get a ticket without a secret.',
      params: Type.Object({ infoHash: InfoHash }),
      body: Type.Object({
        secret: Type.Optional(Type.String({ minLength: 43, maxLength: 43, description: 'The reader\'s balance secret (32 bytes, base64url)' })),
        peerId: Type.String({ pattern: '^[0-9a-f]{40}$', description: 'The peer id the client announces with, lowercase hex (WebTorrent: client.peerId)' }),
        payerKey: Type.Optional(Type.String({ maxLength: 64, description: 'Paid torrents: the reader\'s Ed25519 public key (32 bytes, base64url). The reply then carries a proof of payment bound to it, which peers ask for (lt_trickle); the private key never leaves the reader.' }))
      }, { additionalProperties: false }),
      response: {
        200: Type.Object({
          ticket: Type.String({ description: 'Announce param `ticket`' }),
          expiresAt: Type.String({ format: 'date-time', description: 'Ask for a new ticket before this' }),
          charged: Amount,
          balance: Type.Optional(Amount),
          grantExpiresAt: Type.Optional(Type.String({ format: 'date-time', description: 'End of the purchase: new tickets are free until then' })),
          proof: Type.Optional(Type.String({ description: 'With `payerKey`: the 125-byte proof of payment, base64url, expiring with the ticket (README, "Proof of payment")' }))
        }),
        400: errorRef,
        402: Type.Object({ statusCode: Type.Integer(), error: Type.String(), code: Type.String(), message: Type.String(), price: Amount, balance: Type.Optional(Amount) }),
        404: errorRef,
        429: errorRef
      }
    }
  }, async (req, reply) => {
    const result = await tracker.access(req.params.infoHash, req.body.secret, req.body.peerId, req.body.payerKey)
    if ('error' in result) {
      switch (result.error) {
        case 'unknown_torrent': return fail(reply, { error: TrackerError.UnknownTorrent })
        case 'invalid_balance_secret': return sendError(reply, 400, result.error, 'secret must be the balance\'s secret: 32 bytes, base64url (43 characters)')
        case 'invalid_peer_id': return sendError(reply, 400, result.error, 'peerId must be 40 lowercase hex digits')
        case 'invalid_payer_key': return sendError(reply, 400, result.error, 'payerKey must be an Ed25519 public key: 32 bytes, base64url (43 characters)')
        case 'too_many_peers': return sendError(reply, 429, result.error, `this purchase already has tickets for ${result.limit} peer ids; reuse one, or wait for one to expire`)
        default: return reply.code(402).send({
          statusCode: 402,
          error: 'Payment Required',
          code: result.error,
          message: result.error === 'unknown_balance'
            ? 'no payment to this torrent\'s receiver has been credited to this balance yet'
            : 'the balance does not hold the price for this torrent\'s receiver yet: pay the rest and credit the receipts',
          price: result.price.toString(),
          ...(result.balance !== undefined ? { balance: result.balance.toString() } : {})
        })
      }
    }
    reply.header('cache-control', 'no-store')
    return {
      ticket: result.ticket,
      expiresAt: new Date(result.expiresAt).toISOString(),
      charged: result.charged.toString(),
      ...(result.balance !== undefined ? { balance: result.balance.toString() } : {}),
      ...(result.grantExpiresAt !== undefined ? { grantExpiresAt: new Date(result.grantExpiresAt).toISOString() } : {}),
      ...(result.proof ? { proof: base64url(result.proof) } : {})
    }
  })

  app.delete('/torrents/:infoHash', {
    preHandler: admin,
    schema: {
      tags: ['tracker'],
      summary: 'Deregister a torrent and stop seeding it',
      description: 'Its swarm is dropped; paid (balance, infohash) pairs are kept, so registering it again charges nobody twice.',
      security: bearer,
      params: Type.Object({ infoHash: InfoHash }),
      response: { 204: Type.Null({ description: 'Removed' }), 400: errorRef, 401: errorRef, 404: errorRef }
    }
  }, async (req, reply) => {
    const result = await tracker.remove(req.params.infoHash)
    if (isTrackerFailure(result)) return fail(reply, result)
    await app.seeder.stop(req.params.infoHash)
    return reply.code(204).send(null)
  })
}

export default trackerRoutes
