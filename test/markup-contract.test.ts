// One contract for Trickle's markup: the Hugo theme and the unified plugins turn the same fixtures
// (test/fixtures/contract/<case>/input.md, and input.hugo.md where Hugo's syntax differs) into the
// same elements and attributes, so the reader script, the download script and the sealing step work on
// either. Text is compared for the exclusive content only (renderers differ in typography).
import assert from 'node:assert/strict'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import type { Element, Root } from 'hast'
import rehypeParse from 'rehype-parse'
import { unified } from 'unified'
import { trickleProcessor } from '../plugins/example/build.ts'
import { hugoBuild, repoRoot } from '../scripts/hugo.ts'

const fixtures = path.join(repoRoot, 'test/fixtures/contract')
const cases = readdirSync(fixtures)

interface Shape { tag: string, attributes: Record<string, string>, text?: string, children: Shape[] }

const TRICKLE_ATTRIBUTE = /^(data-trickle|data-magnet|data-bytes|data-amount|data-asset|data-room|data-companion|class$|hidden$|tabindex$|role$|aria-|type$)/

/** The Trickle elements of a page, as a comparable tree: tags and the attributes of the contract. */
function shapes (html: string): Shape[] {
  const tree = unified().use(rehypeParse, { fragment: true }).parse(html) as Root
  const found: Shape[] = []
  const text = (e: Element): string => e.children.map((c) => c.type === 'text' ? c.value : c.type === 'element' ? text(c) : '').join('')
  const shape = (e: Element): Shape => {
    const attributes: Record<string, string> = {}
    for (const [key, value] of Object.entries(e.properties)) {
      const name = key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`).replace(/^class-name$/, 'class')
      if (!TRICKLE_ATTRIBUTE.test(name)) continue
      attributes[name] = Array.isArray(value) ? value.join(' ') : String(value)
    }
    // Elements of the contract carry a class or data attribute; others (figcaption, p) are seen through.
    const marked = (c: Element) => Object.keys(c.properties).some((k) => k.startsWith('data') || k === 'className')
    const contractChildren = (parent: Element): Element[] => parent.children.flatMap((c) =>
      c.type !== 'element' ? [] : marked(c) ? [c] : 'dataTrickleContent' in e.properties ? [] : contractChildren(c))
    const s: Shape = { tag: e.tagName, attributes, children: contractChildren(e).map(shape) }
    if ('dataTrickleContent' in e.properties) s.text = text(e).replace(/[\u2018\u2019]/g, "'").replace(/\s+/g, ' ').trim()
    return s
  }
  const walk = (node: Root | Element) => {
    for (const c of node.children) {
      if (c.type !== 'element') continue
      if ('dataTrickleExclusive' in c.properties || 'dataTrickleDownload' in c.properties || 'dataTrickleCall' in c.properties) found.push(shape(c))
      else walk(c)
    }
  }
  walk(tree)
  return found
}

test('the Hugo theme and the unified plugins emit the same markup for every contract fixture', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'trickle-contract-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(path.join(dir, 'config.toml'), `baseURL = "https://blog.example/"\ntitle = "Contract"\nthemesDir = ${JSON.stringify(repoRoot)}\ntheme = "theme"\n[markup.goldmark.renderer]\n  unsafe = true\n`)
  mkdirSync(path.join(dir, 'content/posts'), { recursive: true })
  for (const name of cases) {
    const hugoInput = path.join(fixtures, name, 'input.hugo.md')
    const body = readFileSync(existsSync(hugoInput) ? hugoInput : path.join(fixtures, name, 'input.md'), 'utf8')
    writeFileSync(path.join(dir, 'content/posts', `${name}.md`), `---\ntitle: "${name}"\n---\n${body}`)
  }
  await hugoBuild({ source: dir, destination: path.join(dir, 'public') })

  for (const name of cases) {
    const hugoHtml = readFileSync(path.join(dir, 'public/posts', name, 'index.html'), 'utf8')
    const hugoArticle = hugoHtml.slice(hugoHtml.indexOf('<div class="post__content">'), hugoHtml.indexOf('</article>'))
    const unifiedHtml = String(await trickleProcessor().process(readFileSync(path.join(fixtures, name, 'input.md'))))
    const fromHugo = shapes(hugoArticle)
    const fromUnified = shapes(unifiedHtml)
    assert.ok(fromHugo.length > 0, `${name}: Hugo produced Trickle markup`)
    assert.deepEqual(fromUnified, fromHugo, `${name}: same elements and attributes`)
    if (process.env.SHOW_SHAPES) console.log(name, JSON.stringify(fromHugo, null, 1))
  }
})
