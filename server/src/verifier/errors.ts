// Expected failures of the verifier, returned as values by the service. Each maps to exactly one HTTP
// status and one message here; TypeScript insists that every case is mapped.
export const VerifierError = {
  InvalidPointer: 'invalid_payment_pointer',
  UnknownProxy: 'unknown_proxy',
  NotSpspRequest: 'not_spsp_request',
  ReceiverUnreachable: 'receiver_unreachable',
  ReceiverFailed: 'receiver_failed',
  ReceiptsNotEnabled: 'receipts_not_enabled',
  MissingReceipt: 'missing_receipt',
  ReceiptNotBase64: 'receipt_not_base64',
  ReceiptBadLength: 'receipt_bad_length',
  ReceiptBadVersion: 'receipt_bad_version',
  ReceiptBadHmac: 'receipt_bad_hmac',
  UnknownNonce: 'unknown_nonce',
  ExpiredNonce: 'expired_nonce',
  ReceiptNotNewer: 'receipt_not_newer',
  BalanceOverflow: 'balance_overflow',
  InvalidBalanceId: 'invalid_balance_id',
  InvalidAmount: 'invalid_amount',
  UnknownBalance: 'unknown_balance',
  InsufficientBalance: 'insufficient_balance',
  InvalidReceiver: 'invalid_receiver',
  InvalidIdempotencyKey: 'invalid_idempotency_key',
  ReceiverRequired: 'receiver_required'
} as const
export type VerifierError = typeof VerifierError[keyof typeof VerifierError]

export const verifierErrorStatus: { [E in VerifierError]: number } = {
  invalid_payment_pointer: 400,
  unknown_proxy: 404,
  not_spsp_request: 406,
  receiver_unreachable: 502,
  receiver_failed: 502,
  receipts_not_enabled: 409,
  missing_receipt: 400,
  receipt_not_base64: 400,
  receipt_bad_length: 400,
  receipt_bad_version: 400,
  receipt_bad_hmac: 400,
  unknown_nonce: 400,
  expired_nonce: 400,
  receipt_not_newer: 400,
  balance_overflow: 409,
  invalid_balance_id: 400,
  invalid_amount: 400,
  unknown_balance: 404,
  insufficient_balance: 409,
  invalid_receiver: 400,
  invalid_idempotency_key: 400,
  receiver_required: 409
}

export const verifierErrorMessage: { [E in VerifierError]: string } = {
  invalid_payment_pointer: 'paymentPointer must be a payment pointer ($host/path) or an http(s) URL without credentials or fragment',
  unknown_proxy: 'no proxy payment pointer has this id',
  not_spsp_request: 'SPSP queries must accept application/spsp4+json',
  receiver_unreachable: 'the receiver behind this proxy pointer did not answer',
  receiver_failed: 'the receiver behind this proxy pointer answered with an error or not with SPSP',
  receipts_not_enabled: 'the receiver behind this proxy pointer does not enable STREAM receipts',
  missing_receipt: 'the body must be a base64 STREAM receipt',
  receipt_not_base64: 'the receipt is not base64',
  receipt_bad_length: 'a STREAM receipt is exactly 58 bytes (80 base64 characters)',
  receipt_bad_version: 'unsupported receipt version (expected 1)',
  receipt_bad_hmac: 'receipt HMAC does not match: altered, or not issued for a nonce of this verifier',
  unknown_nonce: 'the receipt nonce was not issued by this verifier',
  expired_nonce: 'the receipt nonce is older than the receipt TTL; query the proxy pointer again',
  receipt_not_newer: 'the receipt adds nothing: its total is not above the last receipt seen for this nonce and stream',
  balance_overflow: 'crediting this receipt would take the balance above 2^63-1',
  invalid_balance_id: 'balance ids are 1-128 characters of A-Z a-z 0-9 . _ ~ -',
  invalid_amount: 'the amount must be a positive whole number in decimal, at most 2^64-1',
  unknown_balance: 'balance does not exist',
  insufficient_balance: 'insufficient balance',
  invalid_receiver: 'receiver must be a proxy id (32 hex digits), or empty for money whose receiver is unknown',
  invalid_idempotency_key: 'Idempotency-Key must be 1-128 letters, digits, "-", "_", "." or ":"',
  receiver_required: 'this balance holds money for several receivers: name the one to spend from with ?receiver={proxy id}'
}

export function isVerifierError (value: unknown): value is VerifierError {
  return typeof value === 'string' && value in verifierErrorStatus
}
