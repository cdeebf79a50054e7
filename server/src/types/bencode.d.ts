// bencode 4 ships no typings; this is the part Trickle uses. Byte strings decode to Uint8Array,
// dictionary keys to strings, integers to numbers.
declare module 'bencode' {
  export type BencodeValue = number | Uint8Array | string | BencodeValue[] | { [key: string]: BencodeValue }
  const bencode: {
    encode (value: unknown): Uint8Array
    decode (data: Uint8Array, encoding?: string): unknown
    decode (data: Uint8Array, start?: number, end?: number, encoding?: string): unknown
    byteLength (value: unknown): number
    encodingLength (value: unknown): number
  }
  export default bencode
}
