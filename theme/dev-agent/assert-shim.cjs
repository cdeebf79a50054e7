// The few `assert` calls in the ILP packages (`const assert = require('assert')`, then `assert(x)`,
// `assert.strictEqual(a, b)`, …), without the 30 KB assert polyfill. CommonJS on purpose: callers use
// the module itself as a function.
'use strict'
function fail (message) {
  throw message instanceof Error ? message : new Error(message || 'assertion failed')
}
function assert (value, message) { if (!value) fail(message) }
assert.ok = assert
assert.equal = (a, b, m) => { if (a != b) fail(m || `${a} == ${b}`) } // eslint-disable-line eqeqeq
assert.strictEqual = (a, b, m) => { if (a !== b) fail(m || `${a} === ${b}`) }
assert.notEqual = (a, b, m) => { if (a == b) fail(m) } // eslint-disable-line eqeqeq
assert.notStrictEqual = (a, b, m) => { if (a === b) fail(m) }
assert.deepEqual = (a, b, m) => { if (JSON.stringify(a) !== JSON.stringify(b)) fail(m) }
assert.deepStrictEqual = assert.deepEqual
assert.fail = fail
assert.AssertionError = Error
module.exports = assert
