// Expected failures of key release for sealed sections, mapped to HTTP in one table.
export const SealError = {
  InvalidToken: 'invalid_token',
  InvalidBalanceId: 'invalid_balance_id',
  AssetMismatch: 'asset_mismatch',
  NoPayment: 'no_payment',
  PaymentRequired: 'payment_required'
} as const
export type SealError = typeof SealError[keyof typeof SealError]

export const sealErrorStatus: { [E in SealError]: number } = {
  invalid_token: 400,
  invalid_balance_id: 400,
  asset_mismatch: 409,
  no_payment: 402,
  payment_required: 402
}

export const sealErrorMessage: { [E in SealError]: string } = {
  invalid_token: 'the section token is not one this site issued',
  invalid_balance_id: 'balance ids are 1-128 characters of A-Z a-z 0-9 . _ ~ -',
  asset_mismatch: 'the section is priced in another currency than this server receives, and no rate converts it',
  no_payment: 'no payment has been credited to this balance yet',
  payment_required: 'the balance does not cover this section yet'
}

export function isSealError (value: unknown): value is SealError {
  return typeof value === 'string' && value in sealErrorStatus
}
