// Expected failures of key release for sealed sections, mapped to HTTP in one table.
export const SealError = {
  InvalidToken: 'invalid_token',
  TokenNotIssued: 'token_not_issued',
  InvalidSecret: 'invalid_balance_secret',
  UnknownReceiver: 'unknown_receiver',
  AssetMismatch: 'asset_mismatch',
  NoPayment: 'no_payment',
  PaymentRequired: 'payment_required'
} as const
export type SealError = typeof SealError[keyof typeof SealError]

export const sealErrorStatus: { [E in SealError]: number } = {
  invalid_token: 400,
  token_not_issued: 400,
  invalid_balance_secret: 400,
  unknown_receiver: 409,
  asset_mismatch: 409,
  no_payment: 402,
  payment_required: 402
}

export const sealErrorMessage: { [E in SealError]: string } = {
  invalid_token: 'the section token is malformed',
  token_not_issued: 'the section token is not one the sealing step issued with this companion\'s seal secret (altered or made up)',
  invalid_balance_secret: 'secret must be the balance\'s secret: 32 bytes, base64url (43 characters); the balance id is derived from it',
  unknown_receiver: 'the section\'s receiver (the page\'s monetization link) is not registered here (POST /proxies), or its wallet does not state its currency, so its price cannot be charged here',
  asset_mismatch: 'the section is priced in another currency than this server receives, and no rate converts it',
  no_payment: 'no payment has been credited to this balance yet',
  payment_required: 'the balance does not cover this section yet'
}

export function isSealError (value: unknown): value is SealError {
  return typeof value === 'string' && value in sealErrorStatus
}
