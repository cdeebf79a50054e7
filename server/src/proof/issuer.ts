// The companion's side of proof of payment (the format is theme/assets/ts/proof/codec.ts): the
// Ed25519 key that signs proofs, whose public half every paid license names as `proofKey`, and the
// key its own seeder proves itself with to readers' clients (which gate too). Both are derived from
// the admin token, so every instance of one deployment signs and seeds alike, and a restart changes
// nothing; a new admin token means new keys, and licenses made before name the old one.
import { createHash, createPrivateKey, createPublicKey, sign, type KeyObject } from 'node:crypto'
import { base64url, encodeProof, proofSignedBytes } from '../../../theme/assets/ts/proof/codec.ts'

// PKCS #8 of an Ed25519 private key is this prefix and the 32-byte seed (RFC 8410, section 7).
const PKCS8_ED25519 = Buffer.from('302e020100300506032b657004220420', 'hex')

export const seedOf = (label: string, secret: string): Buffer => createHash('sha256').update(`${label}\n`).update(secret).digest()

function keyPair (seed: Buffer): { privateKey: KeyObject, publicKey: Uint8Array } {
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519, seed]), format: 'der', type: 'pkcs8' })
  // The raw key is the last 32 bytes of its SPKI DER.
  const publicKey = new Uint8Array(createPublicKey(privateKey).export({ format: 'der', type: 'spki' }).subarray(-32))
  return { privateKey, publicKey }
}

export interface ProofIssuer {
  /** base64url of the public key: a paid license's `proofKey` */
  readonly proofKey: string
  /** The companion seeder's peer key seed (secret; the seeder process signs challenges with it). */
  readonly seederSeed: Uint8Array
  /** The seeder's public peer key. */
  readonly seederKey: Uint8Array
  /** A 125-byte proof for `payerKey` on `infoHash` until `expiresAt` (whole seconds). */
  issue (infoHash: string, payerKey: Uint8Array, expiresAt: number): Uint8Array
}

export function createProofIssuer (adminToken: string): ProofIssuer {
  const signing = keyPair(seedOf('trickle-proof-key-v1', adminToken))
  const seederSeed = seedOf('trickle-seeder-peer-key-v1', adminToken)
  const seeder = keyPair(seederSeed)
  return {
    proofKey: base64url(signing.publicKey),
    seederSeed: new Uint8Array(seederSeed),
    seederKey: seeder.publicKey,
    issue (infoHash, payerKey, expiresAt) {
      const signature = sign(null, proofSignedBytes(infoHash, payerKey, expiresAt), signing.privateKey)
      return encodeProof(infoHash, payerKey, expiresAt, new Uint8Array(signature))
    }
  }
}
