// Expected failures of the embedded Open Payments servers, as GNAP (auth server) and Open Payments
// (resource server) name them: one HTTP status per code, and the reply `{error: {code, description}}`.
// https://datatracker.ietf.org/doc/html/draft-ietf-gnap-core-protocol#section-3.6
export const OpenPaymentsError = {
  InvalidRequest: 'invalid_request',
  InvalidClient: 'invalid_client',
  InvalidSignature: 'invalid_signature',
  InvalidToken: 'invalid_token',
  InsufficientScope: 'insufficient_scope',
  InvalidContinuation: 'invalid_continuation',
  UnknownWalletAddress: 'unknown_wallet_address',
  UnknownIncomingPayment: 'unknown_incoming_payment',
  RequestDenied: 'request_denied'
} as const
export type OpenPaymentsError = typeof OpenPaymentsError[keyof typeof OpenPaymentsError]

export const openPaymentsErrorStatus: { [E in OpenPaymentsError]: number } = {
  invalid_request: 400,
  invalid_client: 401,
  invalid_signature: 401,
  invalid_token: 401,
  insufficient_scope: 403,
  invalid_continuation: 401,
  unknown_wallet_address: 404,
  unknown_incoming_payment: 404,
  request_denied: 400
}

export interface OpenPaymentsFailure {
  error: OpenPaymentsError
  description: string
}

export const opFail = (error: OpenPaymentsError, description: string): OpenPaymentsFailure => ({ error, description })
export const isOpFailure = (v: unknown): v is OpenPaymentsFailure =>
  typeof v === 'object' && v !== null && 'error' in v && 'description' in v && typeof (v as OpenPaymentsFailure).error === 'string'
