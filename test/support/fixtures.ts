// Directory fixtures as unified's own packages use them (remark-directive test/fixtures): each case is
// a folder with an input and the expected output; a missing output is written on first run, and
// UPDATE=1 rewrites them all.
import assert from 'node:assert/strict'
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { test } from 'node:test'

export function fixtureTests (dir: string, inputName: string, outputName: string, run: (input: string) => Promise<string>): void {
  for (const name of readdirSync(dir).sort()) {
    test(`fixture: ${name}`, async () => {
      const input = readFileSync(path.join(dir, name, inputName), 'utf8')
      const actual = await run(input)
      const expectedFile = path.join(dir, name, outputName)
      if (process.env.UPDATE === '1' || !existsSync(expectedFile)) writeFileSync(expectedFile, actual)
      assert.equal(actual, readFileSync(expectedFile, 'utf8'))
    })
  }
}
