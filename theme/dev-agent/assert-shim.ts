// The few `assert` calls in the ILP packages, without the 30 KB assert polyfill.
function fail (message?: string | Error): never {
  throw message instanceof Error ? message : new Error(message ?? 'assertion failed')
}
function assert (value: unknown, message?: string | Error): asserts value {
  if (!value) fail(message)
}
assert.ok = assert
assert.equal = (a: unknown, b: unknown, m?: string) => { if (a != b) fail(m ?? `${String(a)} == ${String(b)}`) } // eslint-disable-line eqeqeq
assert.strictEqual = (a: unknown, b: unknown, m?: string) => { if (a !== b) fail(m ?? `${String(a)} === ${String(b)}`) }
assert.notEqual = (a: unknown, b: unknown, m?: string) => { if (a == b) fail(m) } // eslint-disable-line eqeqeq
assert.deepEqual = (a: unknown, b: unknown, m?: string) => { if (JSON.stringify(a) !== JSON.stringify(b)) fail(m) }
assert.fail = fail
export default assert
export { assert as ok, fail }
