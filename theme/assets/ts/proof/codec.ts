// Proof of payment that any peer checks by itself (no network call): the companion's tracker, once it
// has spent a download's price, signs a proof bound to the infohash, to a key the payer holds, and to an
// expiry. The key that verifies proofs is the license's `proofKey`, inside the hashed info dictionary,
// so an altered license is another torrent. On the wire (lt_trickle, gate.ts) a peer presents its proof
// and signs the other side's challenge with its own key, so a proof copied off the network is useless.
//
//   proof (125 bytes)
//   offset size
//     0     1   version, 1
//     1    20   infohash (SHA-1 of the bencoded info dictionary)
//    21    32   payer's Ed25519 public key
//    53     8   expiry, seconds since 1970-01-01 UTC, unsigned big-endian
//    61    64   Ed25519 signature by proofKey over "trickle-proof-v1" || bytes 0..60
//
//   challenge answer: Ed25519 signature by the payer's key over
//     "trickle-challenge-v1" || infohash (20) || nonce (32) || challenger's peer id (20) || prover's peer id (20)
//
// The peer ids bind the answer to one connection: a peer that relays a challenge to a paying reader
// gets an answer for its own peer id, which the real challenger refuses.
//
// Isomorphic: WebCrypto Ed25519 (Node 24, Chromium 137+, Firefox 129+, Safari 17+) and Uint8Array only.

export const PROOF_VERSION = 1
export const PROOF_LENGTH = 125
export const PROOF_SIGNED_LENGTH = 61
export const NONCE_LENGTH = 32
export const SIGNATURE_LENGTH = 64
export const PUBLIC_KEY_LENGTH = 32
const PROOF_DOMAIN = new TextEncoder().encode('trickle-proof-v1')
const CHALLENGE_DOMAIN = new TextEncoder().encode('trickle-challenge-v1')

export interface Proof {
  /** lowercase hex */
  infoHash: string
  payerKey: Uint8Array
  /** whole seconds since the epoch */
  expiresAt: number
  signature: Uint8Array
  /** the 125 bytes as received */
  bytes: Uint8Array
}

export const hexToBytes = (hex: string): Uint8Array => {
  if (!/^(?:[0-9a-fA-F]{2})*$/.test(hex)) throw new Error('not hex')
  const out = new Uint8Array(hex.length / 2)
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16)
  return out
}
export const bytesToHex = (bytes: Uint8Array): string => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')

const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
export function base64url (bytes: Uint8Array): string {
  let out = ''
  for (let i = 0; i < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0)
    out += B64URL[(n >> 18) & 63]! + B64URL[(n >> 12) & 63]!
    if (i + 1 < bytes.length) out += B64URL[(n >> 6) & 63]!
    if (i + 2 < bytes.length) out += B64URL[n & 63]!
  }
  return out
}
/** Strict: only the base64url alphabet, no padding, canonical trailing bits; undefined otherwise. */
export function fromBase64url (text: string): Uint8Array | undefined {
  if (typeof text !== 'string' || text.length % 4 === 1 || !/^[A-Za-z0-9_-]*$/.test(text)) return undefined
  const out = new Uint8Array(Math.floor(text.length * 3 / 4))
  let bits = 0
  let value = 0
  let j = 0
  for (const c of text) {
    value = (value << 6) | B64URL.indexOf(c)
    bits += 6
    if (bits >= 8) { bits -= 8; out[j++] = (value >> bits) & 255 }
  }
  if ((value & ((1 << bits) - 1)) !== 0) return undefined
  return out
}

function concat (...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let o = 0
  for (const p of parts) { out.set(p, o); o += p.length }
  return out
}

/** The bytes the companion signs: "trickle-proof-v1" || version || infohash || payer key || expiry. */
export function proofSignedBytes (infoHash: string, payerKey: Uint8Array, expiresAt: number): Uint8Array<ArrayBuffer> {
  if (!/^[0-9a-f]{40}$/.test(infoHash)) throw new Error('infoHash must be 40 lowercase hex digits')
  if (payerKey.length !== PUBLIC_KEY_LENGTH) throw new Error('the payer key must be 32 bytes')
  if (!Number.isSafeInteger(expiresAt) || expiresAt < 0) throw new Error('expiresAt must be whole seconds')
  const head = new Uint8Array(PROOF_SIGNED_LENGTH)
  head[0] = PROOF_VERSION
  head.set(hexToBytes(infoHash), 1)
  head.set(payerKey, 21)
  new DataView(head.buffer).setBigUint64(53, BigInt(expiresAt))
  return concat(PROOF_DOMAIN, head)
}

/** A proof from its parts and the companion's signature over proofSignedBytes. */
export function encodeProof (infoHash: string, payerKey: Uint8Array, expiresAt: number, signature: Uint8Array): Uint8Array {
  if (signature.length !== SIGNATURE_LENGTH) throw new Error('the signature must be 64 bytes')
  return concat(proofSignedBytes(infoHash, payerKey, expiresAt).subarray(PROOF_DOMAIN.length), signature)
}

/** The parts of a proof, or undefined when it is not 125 bytes of version 1. Checks no signature. */
export function decodeProof (bytes: Uint8Array): Proof | undefined {
  if (!(bytes instanceof Uint8Array) || bytes.length !== PROOF_LENGTH || bytes[0] !== PROOF_VERSION) return undefined
  const expiry = new DataView(bytes.buffer, bytes.byteOffset, bytes.length).getBigUint64(53)
  if (expiry > BigInt(Number.MAX_SAFE_INTEGER)) return undefined
  return {
    infoHash: bytesToHex(bytes.subarray(1, 21)),
    payerKey: bytes.slice(21, 53),
    expiresAt: Number(expiry),
    signature: bytes.slice(61, 125),
    bytes: bytes.slice()
  }
}

export function challengeSignedBytes (infoHash: string, nonce: Uint8Array, challengerPeerId: string, proverPeerId: string): Uint8Array<ArrayBuffer> {
  if (nonce.length !== NONCE_LENGTH) throw new Error('the nonce must be 32 bytes')
  return concat(CHALLENGE_DOMAIN, hexToBytes(infoHash), nonce, hexToBytes(challengerPeerId), hexToBytes(proverPeerId))
}

const subtle = () => globalThis.crypto.subtle
const ED25519 = { name: 'Ed25519' } as const
/** Verification keys by their bytes: a seeder checks every proof against one license key. */
const verifyKeys = new Map<string, Promise<CryptoKey | undefined>>()

function verifyKey (publicKey: Uint8Array): Promise<CryptoKey | undefined> {
  const id = base64url(publicKey)
  let key = verifyKeys.get(id)
  if (!key) {
    if (verifyKeys.size >= 1024) verifyKeys.delete(verifyKeys.keys().next().value!)
    key = subtle().importKey('raw', publicKey.slice(), ED25519, false, ['verify']).catch(() => undefined)
    verifyKeys.set(id, key)
  }
  return key
}

export async function verifyEd25519 (publicKey: Uint8Array, signature: Uint8Array, data: Uint8Array<ArrayBuffer>): Promise<boolean> {
  if (publicKey.length !== PUBLIC_KEY_LENGTH || signature.length !== SIGNATURE_LENGTH) return false
  const key = await verifyKey(publicKey)
  if (!key) return false
  try { return await subtle().verify(ED25519, key, signature.slice(), data) } catch { return false }
}

/** Is this proof signed by `proofKey`? (Its infohash and expiry are the caller's to check.) */
export function proofSignatureValid (proof: Proof, proofKey: Uint8Array): Promise<boolean> {
  return verifyEd25519(proofKey, proof.signature, proofSignedBytes(proof.infoHash, proof.payerKey, proof.expiresAt))
}

/** What a peer holds to present a proof: the proof and its key's signing function. */
export interface PeerCredentials {
  proof: Uint8Array
  sign (data: Uint8Array<ArrayBuffer>): Promise<Uint8Array>
}

/** A payer key pair: the private key cannot leave WebCrypto; the public key goes to POST …/access. */
export interface PayerKey {
  publicKey: Uint8Array
  sign (data: Uint8Array<ArrayBuffer>): Promise<Uint8Array>
}

function payerKeyOf (pair: CryptoKeyPair, publicKey: Uint8Array): PayerKey {
  return { publicKey, sign: async (data) => new Uint8Array(await subtle().sign(ED25519, pair.privateKey, data)) }
}

export async function newPayerKey (): Promise<PayerKey> {
  const pair = await subtle().generateKey(ED25519, false, ['sign', 'verify']) as CryptoKeyPair
  return payerKeyOf(pair, new Uint8Array(await subtle().exportKey('raw', pair.publicKey)))
}

// PKCS #8 of an Ed25519 private key is this prefix and the 32-byte seed (RFC 8410, section 7).
const PKCS8_ED25519 = hexToBytes('302e020100300506032b657004220420')

/** The key pair of a 32-byte seed (the companion's seeder, test vectors). */
export async function payerKeyFromSeed (seed: Uint8Array): Promise<PayerKey> {
  if (seed.length !== 32) throw new Error('an Ed25519 seed is 32 bytes')
  const privateKey = await subtle().importKey('pkcs8', concat(PKCS8_ED25519, seed), ED25519, true, ['sign'])
  // The public key: from the private key's JWK (x), which WebCrypto computes.
  const jwk = await subtle().exportKey('jwk', privateKey)
  const publicKey = fromBase64url(jwk.x!)!
  return { publicKey, sign: async (data) => new Uint8Array(await subtle().sign(ED25519, privateKey, data)) }
}

// ---------------------------------------------------------------------------------------------------
// lt_trickle messages: one type byte, then the payload (binary, not bencoded: nothing to parse).

export const MessageType = { Challenge: 0, Proof: 1, Accepted: 2, Refused: 3 } as const

/** Why a gate refused a peer; the byte after the Refused type. */
export const Refusal = {
  Malformed: 1,
  OtherTorrent: 2,
  Expired: 3,
  Forged: 4,
  BadAnswer: 5,
  NoExtension: 6,
  Timeout: 7,
  NoLicenseKey: 8,
  /** The peer claims this client's own peer id, or presents this client's own key: a reflection */
  Reflection: 9,
  TooLarge: 10
} as const
export type RefusalCode = typeof Refusal[keyof typeof Refusal]
export const refusalName = (code: number): string => Object.entries(Refusal).find(([, v]) => v === code)?.[0] ?? `code ${code}`

export type GateMessage =
  | { type: 'challenge', nonce: Uint8Array }
  | { type: 'proof', proof: Uint8Array, answer: Uint8Array }
  | { type: 'accepted' }
  | { type: 'refused', code: number }

export function encodeMessage (m: GateMessage): Uint8Array {
  switch (m.type) {
    case 'challenge': return concat(new Uint8Array([MessageType.Challenge]), m.nonce)
    case 'proof': return concat(new Uint8Array([MessageType.Proof]), m.proof, m.answer)
    case 'accepted': return new Uint8Array([MessageType.Accepted])
    case 'refused': return new Uint8Array([MessageType.Refused, m.code])
  }
}

/** Undefined for anything but the four messages at their exact lengths. */
export function decodeMessage (buf: Uint8Array): GateMessage | undefined {
  if (!(buf instanceof Uint8Array) || buf.length === 0) return undefined
  switch (buf[0]) {
    case MessageType.Challenge: return buf.length === 1 + NONCE_LENGTH ? { type: 'challenge', nonce: buf.slice(1) } : undefined
    case MessageType.Proof: return buf.length === 1 + PROOF_LENGTH + SIGNATURE_LENGTH ? { type: 'proof', proof: buf.slice(1, 1 + PROOF_LENGTH), answer: buf.slice(1 + PROOF_LENGTH) } : undefined
    case MessageType.Accepted: return buf.length === 1 ? { type: 'accepted' } : undefined
    case MessageType.Refused: return buf.length === 2 ? { type: 'refused', code: buf[1]! } : undefined
    default: return undefined
  }
}
