// The proof-of-payment codec (theme/assets/ts/proof/codec.ts) against fixed vectors (Ed25519 is
// deterministic: the same keys and bytes always give the same signature), the README's worked example,
// and its refusals of every malformed input.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import {
  base64url, bytesToHex, challengeSignedBytes, decodeMessage, decodeProof, encodeMessage, fromBase64url, hexToBytes,
  payerKeyFromSeed, proofSignatureValid, verifyEd25519
} from '../../theme/assets/ts/proof/codec.ts'
import { createProofIssuer } from '../src/proof/issuer.ts'

// README, "Proof of payment": companion key from the seed 32 × 0x01, payer key from 32 × 0x02.
const VECTOR = {
  proofKey: 'iojj3XQJ8ZX9UtstPLpdcspnCb8dlBIb83SIAbQPb1w',
  payerKey: 'gTl3Dqh9F19Wo1Rmw0x-zMuNipG07jeiXfYPW4_Js5Q',
  infoHash: 'c12fe1c06bba254a9dc9f519b335aa7c1367a88a',
  expiresAt: 1798761600,
  proof: '01c12fe1c06bba254a9dc9f519b335aa7c1367a88a8139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b394000000006b36ec80bd8fa6f5b7f9fa47247e48fcda41ed1bbae942727efc6401465e943a5336edc8f514916c0909fc0dcc18abe0ba6a202e33dbd12ae30add20d1e3519e5550f201',
  // nonce 32 × 0x03, challenger peer id 20 × 0xaa, prover 20 × 0xbb
  answer: '2dac96f6bb1b8de26ae8f9edfe590301d443872b6c3c60765b638852a2f15f377e445940235572935bf1a0321f767878a565cabd47b0f644a51ce5463095560e'
}

test('the worked example: keys from seeds, the proof\'s fields and signature, the challenge answer', async () => {
  const companion = await payerKeyFromSeed(new Uint8Array(32).fill(1))
  const payer = await payerKeyFromSeed(new Uint8Array(32).fill(2))
  assert.equal(base64url(companion.publicKey), VECTOR.proofKey)
  assert.equal(base64url(payer.publicKey), VECTOR.payerKey)
  const proof = decodeProof(hexToBytes(VECTOR.proof))!
  assert.equal(proof.infoHash, VECTOR.infoHash)
  assert.equal(base64url(proof.payerKey), VECTOR.payerKey)
  assert.equal(proof.expiresAt, VECTOR.expiresAt)
  assert.equal(await proofSignatureValid(proof, companion.publicKey), true)
  assert.equal(await proofSignatureValid(proof, payer.publicKey), false, 'another key does not verify it')

  const signed = challengeSignedBytes(VECTOR.infoHash, new Uint8Array(32).fill(3), 'aa'.repeat(20), 'bb'.repeat(20))
  assert.equal(bytesToHex(await payer.sign(signed)), VECTOR.answer)
  assert.equal(await verifyEd25519(payer.publicKey, hexToBytes(VECTOR.answer), signed), true)
  // Bound to the connection: the same answer for other peer ids, or another nonce, does not verify.
  assert.equal(await verifyEd25519(payer.publicKey, hexToBytes(VECTOR.answer), challengeSignedBytes(VECTOR.infoHash, new Uint8Array(32).fill(3), 'cc'.repeat(20), 'bb'.repeat(20))), false)
  assert.equal(await verifyEd25519(payer.publicKey, hexToBytes(VECTOR.answer), challengeSignedBytes(VECTOR.infoHash, new Uint8Array(32).fill(4), 'aa'.repeat(20), 'bb'.repeat(20))), false)
})

test('every changed byte of a proof breaks its signature', async () => {
  const companion = await payerKeyFromSeed(new Uint8Array(32).fill(1))
  const bytes = hexToBytes(VECTOR.proof)
  for (const offset of [1, 20, 21, 52, 57, 60, 61, 124]) {
    const changed = bytes.slice()
    changed[offset]! ^= 1
    const proof = decodeProof(changed)
    assert.ok(proof, `offset ${offset} still decodes`)
    assert.equal(await proofSignatureValid(proof, companion.publicKey), false, `offset ${offset}`)
  }
})

test('the companion\'s issuer signs what the codec verifies, with one key per admin token', async () => {
  const issuer = createProofIssuer('an admin token')
  const payer = await payerKeyFromSeed(new Uint8Array(32).fill(9))
  const proof = decodeProof(issuer.issue(VECTOR.infoHash, payer.publicKey, VECTOR.expiresAt))!
  assert.equal(await proofSignatureValid(proof, fromBase64url(issuer.proofKey)!), true)
  assert.equal(createProofIssuer('an admin token').proofKey, issuer.proofKey, 'the same token, the same key (every instance)')
  assert.notEqual(createProofIssuer('another token').proofKey, issuer.proofKey)
  assert.equal(base64url((await payerKeyFromSeed(issuer.seederSeed)).publicKey), base64url(issuer.seederKey), 'the seeder\'s key is its seed\'s')
})

test('malformed proofs, messages and base64url are refused, not guessed at', () => {
  const bytes = hexToBytes(VECTOR.proof)
  assert.equal(decodeProof(bytes.subarray(0, 124)), undefined, 'short')
  assert.equal(decodeProof(new Uint8Array([...bytes, 0])), undefined, 'long')
  const v2 = bytes.slice(); v2[0] = 2
  assert.equal(decodeProof(v2), undefined, 'unknown version')
  const far = bytes.slice(); far.set([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], 53)
  assert.equal(decodeProof(far), undefined, 'an expiry past 2^53 seconds')

  assert.deepEqual(decodeMessage(encodeMessage({ type: 'challenge', nonce: new Uint8Array(32).fill(7) })), { type: 'challenge', nonce: new Uint8Array(32).fill(7) })
  assert.deepEqual(decodeMessage(encodeMessage({ type: 'refused', code: 4 })), { type: 'refused', code: 4 })
  for (const bad of [new Uint8Array(), new Uint8Array([0, 1, 2]), new Uint8Array([1, ...new Uint8Array(188)]), new Uint8Array([2, 0]), new Uint8Array([9])]) {
    assert.equal(decodeMessage(bad), undefined, bytesToHex(bad))
  }

  assert.deepEqual(fromBase64url(VECTOR.payerKey)?.length, 32)
  for (const bad of ['a', 'ab=', 'ab+/', 'gTl3Dqh9F19Wo1Rmw0x-zMuNipG07jeiXfYPW4_Js5R']) assert.equal(fromBase64url(bad), undefined, bad)
})
