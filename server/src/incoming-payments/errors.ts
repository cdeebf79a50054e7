// Expected failures of crediting an incoming payment: one stable code and HTTP status each.
export const IncomingPaymentError = {
  InvalidUrl: 'invalid_incoming_payment',
  UnknownReceiver: 'unknown_receiver',
  NotThisWallet: 'not_this_wallet',
  AssetMismatch: 'asset_mismatch',
  Unreachable: 'wallet_unreachable',
  Claimed: 'incoming_payment_claimed',
  BalanceOverflow: 'balance_overflow'
} as const
export type IncomingPaymentError = typeof IncomingPaymentError[keyof typeof IncomingPaymentError]

export const incomingPaymentErrorStatus: { [E in IncomingPaymentError]: number } = {
  invalid_incoming_payment: 400, unknown_receiver: 404, not_this_wallet: 403, asset_mismatch: 409, wallet_unreachable: 502, incoming_payment_claimed: 409, balance_overflow: 409
}
