// Expected failures of the wallet, returned as values by the service and mapped to HTTP in one table.
export const WalletError = {
  UnknownAccount: 'unknown_account',
  AccountExists: 'account_exists',
  InvalidAccountName: 'invalid_account_name'
} as const
export type WalletError = typeof WalletError[keyof typeof WalletError]

export const walletErrorStatus: { [E in WalletError]: number } = {
  unknown_account: 404,
  account_exists: 409,
  invalid_account_name: 400
}

export const walletErrorMessage: { [E in WalletError]: string } = {
  unknown_account: 'no wallet account has this name',
  account_exists: 'a wallet account with this name exists already',
  invalid_account_name: 'account names are 1-64 letters, digits, "-" or "_"'
}

export function isWalletError (value: unknown): value is WalletError {
  return typeof value === 'string' && Object.values(WalletError).includes(value as WalletError)
}
