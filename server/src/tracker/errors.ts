// Expected failures of the tracker. Registration errors map to one HTTP status and message each;
// announce refusals become the bencoded (HTTP) or JSON (WebSocket) `failure reason` a BitTorrent
// client shows its user, in plain words, ending with the stable code in parentheses.
export const TrackerError = {
  InvalidTorrent: 'invalid_torrent',
  WrongTracker: 'wrong_tracker',
  WrongVerifier: 'wrong_verifier',
  UnknownPointer: 'unknown_payment_pointer',
  AssetMismatch: 'asset_mismatch',
  UnknownAsset: 'unknown_asset',
  UnpayablePrice: 'unpayable_price',
  WrongProofKey: 'wrong_proof_key',
  InvalidSeedPath: 'invalid_seed_path',
  UnknownTorrent: 'unknown_torrent'
} as const
export type TrackerError = typeof TrackerError[keyof typeof TrackerError]

export const trackerErrorStatus: { [E in TrackerError]: number } = {
  invalid_torrent: 400,
  wrong_tracker: 400,
  wrong_verifier: 400,
  unknown_payment_pointer: 400,
  asset_mismatch: 400,
  unknown_asset: 400,
  unpayable_price: 400,
  wrong_proof_key: 400,
  invalid_seed_path: 400,
  unknown_torrent: 404
}

export const trackerErrorMessage: { [E in TrackerError]: string } = {
  invalid_torrent: 'not a valid .torrent',
  wrong_tracker: 'a paid torrent must announce to this tracker only (ws(s)://<this server>/announce or http(s)://<this server>/announce)',
  wrong_verifier: "the license's verifier must be this server, which spends the price from the reader's balance",
  unknown_payment_pointer: "the license's paymentPointer must be a proxy pointer registered here (POST /proxies), so that its receipts are verifiable here",
  asset_mismatch: "the license's asset differs from the receiving wallet's, and Trickle does not convert currencies",
  unknown_asset: "the license's receiver is not a wallet account of this companion, so the asset its receipts count in is unknown here and the price cannot be charged in it",
  unpayable_price: "the license's price cannot be held by a balance (whole units at assetScale, at most 2^63-1 in the receiver's units)",
  wrong_proof_key: "the license's proofKey must be this companion's (GET /torrents/proof-key): peers check proofs of payment against it, and only this companion signs them",
  invalid_seed_path: 'path must be the absolute path of a readable file named like the torrent, with its length',
  unknown_torrent: 'no torrent with this infohash is registered'
}

/** A registration failure: the error, and what exactly was wrong when there is more to say. */
export interface TrackerFailure {
  error: TrackerError
  detail?: string
}

export function isTrackerFailure (value: unknown): value is TrackerFailure {
  return typeof value === 'object' && value !== null && 'error' in value && typeof (value as TrackerFailure).error === 'string' &&
    (value as TrackerFailure).error in trackerErrorStatus
}

/** Why an announce was refused. The code is appended to every failure reason. */
export const AnnounceRefusal = {
  PaymentRequired: 'payment_required',
  InvalidBalanceId: 'invalid_balance_id',
  UnknownBalance: 'unknown_balance',
  InsufficientBalance: 'insufficient_balance',
  NotRegistered: 'not_registered',
  BadSeederToken: 'bad_seeder_token',
  ClosedTracker: 'closed_tracker',
  NotAuthorized: 'not_authorized',
  TicketRequired: 'ticket_required',
  InvalidTicket: 'invalid_ticket'
} as const
export type AnnounceRefusal = typeof AnnounceRefusal[keyof typeof AnnounceRefusal]
