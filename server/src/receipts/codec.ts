// STREAM receipts, RFC 0039 (interledger/rfcs deprecated/0039-stream-receipts):
//
//   version UInt8 (= 1) | nonce 16 bytes | streamId UInt8 | totalReceived UInt64 BE | HMAC-SHA256(secret, bytes 0..25)
//
// 58 bytes, 80 characters of base64. Pure functions, no I/O: the verifier service decides what a valid
// receipt is worth. Secrets are derived as @coil/receipt-verifier does (src/util/crypto.ts):
// secret = HMAC(HMAC(seed, "receipt_secret"), nonce), so a verifier needs to store no secret per nonce.
import { createHmac, timingSafeEqual } from 'node:crypto'

export const RECEIPT_VERSION = 1
export const RECEIPT_LENGTH = 58
export const RECEIPT_LENGTH_BASE64 = 80
export const NONCE_LENGTH = 16
export const SECRET_LENGTH = 32
const SIGNED_LENGTH = 26
export const U64_MAX = (1n << 64n) - 1n

export interface Receipt {
  version: number
  nonce: Buffer
  streamId: number
  totalReceived: bigint
  hmac: Buffer
}

export type ReceiptProblem =
  | 'not_base64'
  | 'bad_length'
  | 'bad_version'
  | 'bad_hmac'

export class ReceiptError extends Error {
  readonly problem: ReceiptProblem
  constructor (problem: ReceiptProblem, message: string) {
    super(message)
    this.name = 'ReceiptError'
    this.problem = problem
  }
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/

/** Decodes base64 text (standard or URL-safe alphabet) strictly: Node's decoder would skip junk silently. */
export function receiptFromBase64 (text: string): Buffer {
  const normalized = text.trim().replace(/-/g, '+').replace(/_/g, '/')
  if (normalized.length === 0 || normalized.length % 4 === 1 || !BASE64.test(normalized)) {
    throw new ReceiptError('not_base64', 'receipt is not base64')
  }
  return Buffer.from(normalized, 'base64')
}

/** Splits a receipt into its fields; checks length and version, not the HMAC. */
export function decodeReceipt (buf: Uint8Array): Receipt {
  if (buf.length !== RECEIPT_LENGTH) {
    throw new ReceiptError('bad_length', `receipt must be ${RECEIPT_LENGTH} bytes, got ${buf.length}`)
  }
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength)
  const version = b.readUInt8(0)
  if (version !== RECEIPT_VERSION) {
    throw new ReceiptError('bad_version', `unsupported receipt version ${version} (expected ${RECEIPT_VERSION})`)
  }
  return {
    version,
    nonce: Buffer.from(b.subarray(1, 17)),
    streamId: b.readUInt8(17),
    totalReceived: b.readBigUInt64BE(18),
    hmac: Buffer.from(b.subarray(26, 58))
  }
}

export interface ReceiptFields {
  nonce: Uint8Array
  streamId: number
  totalReceived: bigint
  secret: Uint8Array
}

/** Builds a signed receipt, exactly as a STREAM receiver does. */
export function encodeReceipt ({ nonce, streamId, totalReceived, secret }: ReceiptFields): Buffer {
  if (nonce.length !== NONCE_LENGTH) throw new RangeError(`nonce must be ${NONCE_LENGTH} bytes`)
  if (!Number.isInteger(streamId) || streamId < 0 || streamId > 255) throw new RangeError('streamId must fit in a UInt8')
  if (totalReceived < 0n || totalReceived > U64_MAX) throw new RangeError('totalReceived must fit in a UInt64')
  const out = Buffer.alloc(RECEIPT_LENGTH)
  out.writeUInt8(RECEIPT_VERSION, 0)
  out.set(nonce, 1)
  out.writeUInt8(streamId, 17)
  out.writeBigUInt64BE(totalReceived, 18)
  out.set(hmacOf(secret, out.subarray(0, SIGNED_LENGTH)), SIGNED_LENGTH)
  return out
}

/** Decodes and checks the HMAC in constant time; throws ReceiptError naming what is wrong. */
export function verifyReceipt (buf: Uint8Array, secret: Uint8Array): Receipt {
  const receipt = decodeReceipt(buf)
  const expected = hmacOf(secret, buf.subarray(0, SIGNED_LENGTH))
  if (!timingSafeEqual(expected, receipt.hmac)) {
    throw new ReceiptError('bad_hmac', 'receipt HMAC does not match: not issued for a nonce of this verifier, or altered')
  }
  return receipt
}

function hmacOf (key: Uint8Array, data: Uint8Array): Buffer {
  return createHmac('sha256', key).update(data).digest()
}

/** The key from which every receipt secret of one seed is derived. Compute once, reuse. */
export function receiptKeyFromSeed (seed: Uint8Array): Buffer {
  return hmacOf(seed, Buffer.from('receipt_secret'))
}

/** secret = HMAC(HMAC(seed, "receipt_secret"), nonce) */
export function receiptSecret (receiptKey: Uint8Array, nonce: Uint8Array): Buffer {
  return hmacOf(receiptKey, nonce)
}
