// Expected failures of pull payments, returned as values by the service. Each maps to exactly one HTTP
// status and one message here; TypeScript insists that every case is mapped.
export const PullError = {
  InvalidBody: 'invalid_body',
  InvalidAmount: 'invalid_amount',
  InvalidAsset: 'invalid_asset',
  InvalidInterval: 'invalid_interval',
  InvalidCycles: 'invalid_cycles',
  InvalidCap: 'invalid_cap',
  InvalidStart: 'invalid_start',
  InvalidExpiry: 'invalid_expiry',
  InvalidWebhook: 'invalid_webhook',
  AgreementTooLong: 'agreement_too_long',
  UnknownField: 'unknown_field',
  NoExchangeRate: 'no_exchange_rate',
  AssetUpdateIncomplete: 'asset_update_incomplete',
  EmptyUpdate: 'empty_update',
  UnknownPointer: 'unknown_pointer',
  Cancelled: 'pull_cancelled',
  Expired: 'pull_expired',
  NotSpspRequest: 'not_spsp_request',
  TokenMalformed: 'token_malformed',
  TokenBadAlgorithm: 'token_bad_algorithm',
  TokenUnknownKey: 'token_unknown_key',
  TokenBadSignature: 'token_bad_signature',
  TokenExpired: 'token_expired',
  TokenNotYetValid: 'token_not_yet_valid'
} as const
export type PullError = typeof PullError[keyof typeof PullError]

export const pullErrorStatus: { [E in PullError]: number } = {
  invalid_body: 400,
  invalid_amount: 400,
  invalid_asset: 400,
  invalid_interval: 400,
  invalid_cycles: 400,
  invalid_cap: 400,
  invalid_start: 400,
  invalid_expiry: 400,
  invalid_webhook: 400,
  agreement_too_long: 400,
  unknown_field: 400,
  no_exchange_rate: 400,
  asset_update_incomplete: 400,
  empty_update: 400,
  unknown_pointer: 404,
  pull_cancelled: 410,
  pull_expired: 410,
  not_spsp_request: 406,
  token_malformed: 400,
  token_bad_algorithm: 400,
  token_unknown_key: 401,
  token_bad_signature: 401,
  token_expired: 401,
  token_not_yet_valid: 401
}

export const pullErrorMessage: { [E in PullError]: string } = {
  invalid_body: 'the body must be a JSON object',
  invalid_amount: 'amount must be a positive whole number of the smallest unit, as a decimal string, at most 2^64-1 (e.g. "1000")',
  invalid_asset: 'assetCode must be 1-16 letters or digits and assetScale a whole number from 0 to 255',
  invalid_interval: 'interval must be a positive ISO 8601 duration with whole numbers, such as P1M, P1W, PT1H or P0Y1M0DT0H0M0S',
  invalid_cycles: 'cycles must be a whole number from 1 to 1000000',
  invalid_cap: 'cap must be a JSON boolean (true or false), not a string',
  invalid_start: 'start must be an ISO 8601 date-time with a zone, such as 2026-01-31T00:00:00Z',
  invalid_expiry: 'expiry must be an ISO 8601 date-time with a zone, after start',
  invalid_webhook: 'webhook must be an http(s) URL without credentials',
  agreement_too_long: 'start + cycles × interval lies beyond the range of dates',
  unknown_field: 'unknown field: the terms are amount, assetCode, assetScale, interval, cycles, cap, start, expiry and webhook; an update takes amount, interval, cycles, cap, expiry, and assetCode with assetScale',
  no_exchange_rate: 'the agreement\'s asset differs from the server\'s and no exchange rate between them is set (TRICKLE_RATES)',
  asset_update_incomplete: 'assetCode and assetScale can only be updated together',
  empty_update: 'nothing to update: give at least one of amount, interval, cycles, cap, expiry, or assetCode with assetScale',
  unknown_pointer: 'Pointer does not exist.',
  pull_cancelled: 'this pull pointer was cancelled by the payer',
  pull_expired: 'this pull agreement has expired',
  not_spsp_request: 'SPSP queries must accept application/spsp4+json',
  token_malformed: 'the offline pull token is not a well-formed compact JWS with valid terms',
  token_bad_algorithm: 'the offline pull token must be signed with HS256; other algorithms (including none) are refused',
  token_unknown_key: 'the offline pull token was signed with a key this server does not have',
  token_bad_signature: 'the offline pull token\'s signature does not match: it was altered or signed with another key',
  token_expired: 'the offline pull token has expired (exp) and can no longer be registered',
  token_not_yet_valid: 'the offline pull token is not valid yet (nbf)'
}

export function isPullError (value: unknown): value is PullError {
  return typeof value === 'string' && value in pullErrorStatus
}
