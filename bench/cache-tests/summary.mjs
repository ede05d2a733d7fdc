// Summarises a cache-tests results JSON: required tests passed, with dependencies honoured.
import fs from 'fs'
import tests from 'http-cache-tests/tests/index.mjs'
import surrogate from 'http-cache-tests/tests/surrogate-control.mjs'
import { determineTestResult } from 'http-cache-tests/lib/display.mjs'
tests.push(surrogate)
for (const f of process.argv.slice(2)) {
  const results = JSON.parse(fs.readFileSync(f))
  let req = 0, pass = 0, failed = []
  for (const s of tests) for (const t of s.tests) {
    if (t.kind !== undefined && t.kind !== 'required') continue
    if (results[t.id] === undefined) continue
    req++
    const r = determineTestResult(tests, t.id, results)
    if (r[2] === '✅') pass++; else failed.push(t.id)
  }
  console.log(`${f}: ${pass} of ${req} required tests pass; failing: ${failed.join(' ')}`)
}
