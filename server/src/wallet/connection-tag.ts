// Connection tags tie a STREAM connection to a wallet account (seed 004 uses
// @interledger/connection-tag-utils, which is not on the registry). ilp-protocol-stream 2.x already
// encrypts the whole address token, but a tag sealed with a key of our own keeps accounts private and
// unforgeable whatever the receiver library does with it. AES-256-GCM, base64url: ILP addresses allow
// only [A-Za-z0-9_~-] in a segment, and the library carries the tag as ASCII.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'

const IV_LENGTH = 12
const TAG_LENGTH = 16

export function sealConnectionTag (key: Uint8Array, account: string): string {
  const iv = randomBytes(IV_LENGTH)
  const cipher = createCipheriv('aes-256-gcm', key, iv)
  const body = Buffer.concat([cipher.update(account, 'utf8'), cipher.final()])
  return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url')
}

/** Returns the account, or undefined when the tag was not sealed with this key or was altered. */
export function openConnectionTag (key: Uint8Array, tag: string | undefined): string | undefined {
  if (!tag) return undefined
  const raw = Buffer.from(tag, 'base64url')
  if (raw.length <= IV_LENGTH + TAG_LENGTH) return undefined
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, IV_LENGTH))
    decipher.setAuthTag(raw.subarray(IV_LENGTH, IV_LENGTH + TAG_LENGTH))
    return Buffer.concat([decipher.update(raw.subarray(IV_LENGTH + TAG_LENGTH)), decipher.final()]).toString('utf8')
  } catch {
    return undefined
  }
}
