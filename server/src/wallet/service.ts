// The creator wallet: named accounts on the local network, each reachable at a payment pointer over
// SPSP and receiving with one ilp-protocol-stream server. Incoming money is tied to an account by the
// sealed connection tag in its STREAM address.
import { createHash } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import { ACCOUNT_NAME } from '../config.ts'
import { createServer, type DataAndMoneyStream, type StreamServer } from '../ilp/stream.ts'
import type { IlpNetwork } from '../ilp/network.ts'
import type { Store, WalletAccount } from '../store/types.ts'
import { openConnectionTag, sealConnectionTag } from './connection-tag.ts'
import { WalletError } from './errors.ts'

const U64_MAX = '18446744073709551615'

export interface SpspDetails {
  destination_account: string
  shared_secret: string
  receipts_enabled: boolean
}

export interface AccountView {
  name: string
  paymentPointer: string
  spspEndpoint: string
  received: string
  assetCode: string
  assetScale: number
  createdAt: string
}

export interface WalletService {
  createAccount (name: string): Promise<AccountView | WalletError>
  ensureAccount (name: string): Promise<AccountView>
  getAccount (name: string): Promise<AccountView | WalletError>
  listAccounts (): Promise<AccountView[]>
  spsp (name: string, receipts?: { nonce: Buffer, secret: Buffer }): Promise<SpspDetails | WalletError>
  /** http(s) URL of an account's SPSP endpoint */
  pointerOf (name: string): string
  /** The asset this wallet receives in (from ILDCP): receipts and balances count in it */
  asset (): { code: string, scale: number }
  /** Where to pay Open Payments incoming payment `uuid` over STREAM (a fresh address and secret each time). */
  incomingPaymentMethod (uuid: string): { ilpAddress: string, sharedSecret: string }
  /** Who records money for incoming payments (the Open Payments resource server), set once at start. */
  receiveIncomingPayments (receiver: IncomingPaymentReceiver): void
  close (): Promise<void>
}

export interface IncomingPaymentReceiver {
  /** Records a packet's amount for incoming payment `uuid` and returns its account, or throws (rejected). */
  receive (uuid: string, amount: bigint): Promise<string>
  /** What the payment can still take (its incoming amount less what it received); 0 when it takes nothing. */
  room (uuid: string): Promise<bigint>
}

export interface WalletDeps {
  store: Store
  network: IlpNetwork
  publicUrl: string
  /** 32-byte key for sealing connection tags and the STREAM server secret */
  secret: Buffer
  log: FastifyBaseLogger
}

export async function createWalletService (deps: WalletDeps): Promise<WalletService> {
  const log = deps.log.child({ service: 'wallet' })
  const tagKey = createHash('sha256').update(deps.secret).update('connection-tag').digest()
  const serverSecret = createHash('sha256').update(deps.secret).update('stream-server').digest()
  const plugin = deps.network.createPlugin('trickle-wallet')
  // shouldFulfill runs for every packet, and opening a tag (AES-GCM) and reading the account cost as
  // much as a fifth of the wallet's time per packet. A connection's tag never changes and accounts are
  // never deleted, so a tag that opened to a known account is remembered (the oldest forgotten first).
  const knownTags = new Map<string, string>()
  const KNOWN_TAGS_MAX = 10_000
  // Incoming payments' tags are `ip:{uuid}`: each packet is recorded against the payment before it is
  // fulfilled, so a payment that is complete, expired or full refuses the money instead of keeping it.
  let incomingPayments: IncomingPaymentReceiver | undefined
  const server: StreamServer = await createServer({
    plugin,
    serverSecret,
    // Refuse money whose tag does not open to a known account before fulfilling it, so nothing is
    // received that no account would show.
    shouldFulfill: async (amount, _packetId, tag) => {
      if (tag !== undefined && knownTags.has(tag)) return
      const account = openConnectionTag(tagKey, tag)
      if (account?.startsWith('ip:')) {
        if (!incomingPayments) throw new Error('no incoming payments here')
        const owner = await incomingPayments.receive(account.slice(3), BigInt(amount.toString()))
        await deps.store.addReceived(owner, BigInt(amount.toString()))
        return
      }
      if (account === undefined || (await deps.store.getAccount(account)) === undefined) {
        throw new Error('unknown wallet account')
      }
      if (knownTags.size >= KNOWN_TAGS_MAX) knownTags.delete(knownTags.keys().next().value!)
      knownTags.set(tag!, account)
    }
  })
  log.info({ ilpAddress: (server as unknown as { serverAccount: string }).serverAccount, assetCode: server.assetCode, assetScale: server.assetScale }, 'wallet receiving on the Interledger network')

  server.on('connection', (connection) => {
    const account = openConnectionTag(tagKey, connection.connectionTag)
    if (account === undefined) return
    connection.on('stream', (stream: DataAndMoneyStream) => {
      if (account.startsWith('ip:')) {
        // STREAM flow control: the sender learns what the incoming payment can still take and sends no
        // more (the money itself is recorded as it is fulfilled, in shouldFulfill above).
        void incomingPayments?.room(account.slice(3)).then((room) => { stream.setReceiveMax(room > BigInt(U64_MAX) ? U64_MAX : room.toString()) }, () => {})
        return
      }
      stream.setReceiveMax(U64_MAX)
      stream.on('money', (amount: string) => {
        deps.store.addReceived(account, BigInt(amount)).then((total) => {
          log.debug({ account, amount, total: total.toString() }, 'money received')
        }, (err: unknown) => log.error({ err, account, amount }, 'could not record received money'))
      })
    })
    connection.on('error', (err: Error) => log.debug({ err: err.message, account }, 'STREAM connection error'))
  })

  const pointerOf = (name: string) => `${deps.publicUrl}/wallet/${encodeURIComponent(name)}`
  const view = (a: WalletAccount): AccountView => ({
    name: a.name,
    paymentPointer: pointerOf(a.name),
    spspEndpoint: pointerOf(a.name),
    received: a.received.toString(),
    assetCode: server.assetCode,
    assetScale: server.assetScale,
    createdAt: new Date(a.createdAt).toISOString()
  })

  return {
    async createAccount (name) {
      if (!ACCOUNT_NAME.test(name)) return WalletError.InvalidAccountName
      const { created, account } = await deps.store.createAccount(name, Date.now())
      if (!created) return WalletError.AccountExists
      log.info({ account: name, paymentPointer: pointerOf(name) }, 'wallet account created')
      return view(account)
    },
    async ensureAccount (name) {
      const { created, account } = await deps.store.createAccount(name, Date.now())
      if (created) log.info({ account: name, paymentPointer: pointerOf(name) }, 'wallet account created')
      return view(account)
    },
    async getAccount (name) {
      const account = await deps.store.getAccount(name)
      return account ? view(account) : WalletError.UnknownAccount
    },
    async listAccounts () {
      return (await deps.store.listAccounts()).map(view)
    },
    async spsp (name, receipts) {
      if ((await deps.store.getAccount(name)) === undefined) return WalletError.UnknownAccount
      const { destinationAccount, sharedSecret, receiptsEnabled } = server.generateAddressAndSecret({
        connectionTag: sealConnectionTag(tagKey, name),
        ...(receipts ? { receiptNonce: receipts.nonce, receiptSecret: receipts.secret } : {})
      })
      return { destination_account: destinationAccount, shared_secret: sharedSecret.toString('base64'), receipts_enabled: receiptsEnabled }
    },
    pointerOf,
    asset: () => ({ code: server.assetCode, scale: server.assetScale }),
    incomingPaymentMethod (uuid) {
      const { destinationAccount, sharedSecret } = server.generateAddressAndSecret({ connectionTag: sealConnectionTag(tagKey, `ip:${uuid}`) })
      return { ilpAddress: destinationAccount, sharedSecret: sharedSecret.toString('base64url') }
    },
    receiveIncomingPayments (receiver) { incomingPayments = receiver },
    async close () {
      // server.close() stalls for ~30 s when clients already left (seen with ilp-protocol-stream 2.7);
      // disconnecting the plugin ends every connection at once.
      await plugin.disconnect()
    }
  }
}
