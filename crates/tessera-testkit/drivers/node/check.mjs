// Checks shared by the node driver programs: each prints what it expected
// and what it got, and exits non-zero, on the first check that fails.
import assert from 'node:assert/strict'

// Makes driver values comparable: Dates as ISO text, Buffers as hex,
// non-finite numbers as text, objects as plain data.
function norm(v) {
  if (v === null || v === undefined) return v
  if (Buffer.isBuffer(v)) return 'hex:' + v.toString('hex')
  if (v instanceof Date) return isNaN(v.getTime()) ? 'invalid date' : 'date:' + v.toISOString()
  if (Array.isArray(v)) return v.map(norm)
  if (typeof v === 'number' && !Number.isFinite(v)) return 'number:' + String(v)
  if (typeof v === 'object') {
    const out = {}
    for (const k of Object.keys(v)) out[k] = norm(v[k])
    return out
  }
  return v
}

export function check(what, got, expected) {
  try {
    assert.deepStrictEqual(norm(got), norm(expected))
  } catch {
    console.error(`FAIL ${what}\n  expected: ${JSON.stringify(norm(expected))}\n  got:      ${JSON.stringify(norm(got))}`)
    process.exit(1)
  }
}

export async function expectError(what, promise, code) {
  try {
    await promise
  } catch (e) {
    check(`${what}: SQLSTATE (message ${e.message})`, e.code, code)
    return e
  }
  console.error(`FAIL ${what}: expected an error with SQLSTATE ${code}, the query succeeded`)
  process.exit(1)
}
