// The publishable packages as a stranger gets them: `npm pack` each (its prepack builds JavaScript
// and .d.ts), look inside the tarball, install the tarballs with unified from the registry into a
// fresh project outside this workspace, and run a whole pipeline from plain JavaScript on Node 20 and
// Node 24 (Markdown with an exclusive directive and a paid download, the monetization link, then the
// site sealed with the leak check), then compile a TypeScript consumer with `module: nodenext`.
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import { repoRoot } from '../scripts/hugo.ts'

const PACKAGES = ['packages/trickle-core', 'plugins/rehype-trickle-monetization', 'plugins/rehype-trickle-seal', 'plugins/remark-trickle-call', 'plugins/remark-trickle-download', 'plugins/remark-trickle-exclusive', 'packages/trickle-site', 'plugins/eleventy-plugin-trickle', 'plugins/astro-trickle']
const node24 = path.join(repoRoot, 'node_modules/.bin/node')
/** Debian's Node 20 (the machine's own), when it is there: the oldest Node the packages support. */
const node20 = ['/usr/bin/node', '/usr/local/bin/node'].find((p) => { try { return /^v20\./.test(execFileSync(p, ['--version'], { encoding: 'utf8' })) } catch { return false } })

const run = (cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}) =>
  execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_OPTIONS: '', ...env } })

test('trickle-core keeps one amounts module: the theme\'s browser copy is the same file', () => {
  // Hugo can bundle only what is under the theme's assets, so the theme carries the module itself.
  assert.equal(readFileSync(path.join(repoRoot, 'theme/assets/ts/amounts.ts'), 'utf8'), readFileSync(path.join(repoRoot, 'packages/trickle-core/src/amounts.ts'), 'utf8'))
})

test('each package packs to JavaScript with types, depends on nothing unpublished, and runs from its tarball on Node 20 and 24, from JavaScript and TypeScript', { timeout: 600_000 }, async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'trickle-packages-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const packs = path.join(dir, 'packs')
  mkdirSync(packs)
  const tarballs: string[] = []
  for (const pkg of PACKAGES) {
    const printed = run('npm', ['pack', '--json', '--pack-destination', packs], path.join(repoRoot, pkg))
    const out = JSON.parse(printed.slice(printed.indexOf('['))) as Array<{ filename: string, files: Array<{ path: string }> }>
    const files = out[0]!.files.map((f) => f.path)
    // Only what a consumer needs: built JavaScript, declarations, the manifest and the readme.
    // (The Eleventy plugin also ships its browser assets: the reader script, CSS, strings, agent, WebTorrent.)
    for (const f of files) assert.match(f, /^(dist\/.+\.(js|d\.ts)|assets\/[a-z.-]+\.(js|css|json)|package\.json|readme\.md|README\.md)$/i, `${pkg} ships ${f}`)
    assert.ok(files.includes('dist/index.js') && files.includes('dist/index.d.ts'), `${pkg}: ${files.join(' ')}`)
    const manifest = JSON.parse(readFileSync(path.join(repoRoot, pkg, 'package.json'), 'utf8')) as { private?: boolean, dependencies?: Record<string, string> }
    assert.equal(manifest.private, undefined, `${pkg} is publishable`)
    for (const dep of Object.keys(manifest.dependencies ?? {})) assert.doesNotMatch(dep, /^@trickle\//, `${pkg} depends on the unpublished ${dep}`)
    tarballs.push(path.join(packs, out[0]!.filename))
  }

  const project = path.join(dir, 'consumer')
  mkdirSync(project)
  writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module' }))
  run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', ...tarballs, 'unified@11.0.5', 'remark-parse@11.0.0', 'remark-directive@4.0.0', 'remark-rehype@11.1.2', 'rehype-stringify@10.0.1', 'typescript@5.9.3', '@types/node@24.19.2', '@11ty/eleventy@3.1.8'], project)

  const pointer = 'https://wallet.example/alice'
  const magnet = `magnet:?xt=urn:btih:${'ab'.repeat(20)}&dn=song.mp3&xl=1234567&tr=${encodeURIComponent('wss://pay.example/announce')}&pp=${encodeURIComponent(pointer)}&vr=${encodeURIComponent('https://pay.example')}&pa=250&pc=USD&ps=2&pk=${'A'.repeat(43)}`
  writeFileSync(path.join(project, 'consumer.mjs'), `
import { mkdirSync, writeFileSync, readFileSync } from 'node:fs'
import { unified } from 'unified'
import remarkParse from 'remark-parse'
import remarkDirective from 'remark-directive'
import remarkRehype from 'remark-rehype'
import rehypeStringify from 'rehype-stringify'
import remarkTrickleExclusive from 'remark-trickle-exclusive'
import remarkTrickleDownload from 'remark-trickle-download'
import rehypeTrickleMonetization from 'rehype-trickle-monetization'
import { sealSite } from 'rehype-trickle-seal/site'
import { sealKeyFrom, siteSealKey } from 'trickle-core/seal'
import { receiverIdOfPointer } from 'trickle-core/pointers'
import { formatAmount } from 'trickle-core'

const markdown = 'Public intro for everyone.\\n\\n:::exclusive\\nOnly the readers who pay can read this whole long paragraph here.\\n:::\\n\\n::download{magnet="${magnet}"}\\n'
const file = await unified().use(remarkParse).use(remarkDirective).use(remarkTrickleExclusive).use(remarkTrickleDownload)
  .use(remarkRehype).use(() => (tree) => { tree.children = [{ type: 'element', tagName: 'html', properties: {}, children: [{ type: 'element', tagName: 'head', properties: {}, children: [] }, { type: 'element', tagName: 'body', properties: {}, children: tree.children }] }] })
  .use(rehypeTrickleMonetization, { pointer: '${pointer}' }).use(rehypeStringify).process(markdown)
const html = String(file)
if (!html.includes('data-trickle-exclusive') || !html.includes('trickle-download') || !html.includes('rel="monetization"')) throw new Error('pipeline output: ' + html)
mkdirSync('site/posts/a', { recursive: true })
writeFileSync('site/posts/a/index.html', '<!doctype html>' + html.replace('data-trickle-exclusive=', 'data-trickle-price-amount="10" data-trickle-price-code="USD" data-trickle-price-scale="2" data-trickle-exclusive='))
const site = 'https://blog.example/'
const report = await sealSite('site', { sealKey: siteSealKey(sealKeyFrom(Buffer.alloc(32, 1)), site), site, companion: 'https://pay.example', checkPrices: false })
const sealed = readFileSync('site/posts/a/index.html', 'utf8')
if (report.sections.length !== 1 || sealed.includes('Only the readers who pay') || report.sections[0].receiver !== receiverIdOfPointer('${pointer}')) throw new Error('sealing: ' + JSON.stringify(report))
console.log('ok', process.version, formatAmount(250n, 'USD', 2, 'en'))
`)
  const versions = [node24, ...(node20 ? [node20] : [])]
  for (const bin of versions) {
    rmSync(path.join(project, 'site'), { recursive: true, force: true })
    const out = run(bin, ['consumer.mjs'], project)
    assert.match(out, /^ok v(20|24)\.\d+\.\d+ \$2\.50$/m, `${bin}: ${out}`)
  }
  t.diagnostic(`ran on ${versions.map((b) => run(b, ['--version'], project).trim()).join(' and ')}`)
  // The seal CLI as a bin, on the oldest Node too.
  const usage = (() => { try { return run(node20 ?? node24, [path.join(project, 'node_modules/.bin/trickle-seal')], project) } catch (err) { return String((err as { stderr?: string }).stderr) } })()
  assert.match(usage, /trickle-seal: name the built site folder/)

  // The Astro integration (Astro itself needs Node >= 22.12): it loads and is an integration.
  const astro = run(node24, ['--input-type=module', '-e', "import trickle from 'astro-trickle'; const i = trickle({ pointer: 'https://wallet.example/alice' }); console.log(i.name, Object.keys(i.hooks).sort().join(','))"], project)
  assert.equal(astro.trim(), 'astro-trickle astro:build:done,astro:config:setup,astro:server:setup')

  // Eleventy with the plugin in one line, from the tarballs, on each Node.
  mkdirSync(path.join(project, 'eleventy/content'), { recursive: true })
  writeFileSync(path.join(project, 'eleventy/eleventy.config.js'), "import trickle from 'eleventy-plugin-trickle'\nexport default (c) => { c.addPlugin(trickle, { pointer: 'https://wallet.example/alice' }); return { dir: { input: 'content' } } }\n")
  writeFileSync(path.join(project, 'eleventy/content/index.md'), '---\ntitle: T\n---\n<html><head><title>T</title></head><body>\n\nPublic.\n\n:::exclusive\nFor supporters.\n:::\n\n</body></html>\n')
  for (const bin of versions) {
    rmSync(path.join(project, 'eleventy/_site'), { recursive: true, force: true })
    run(bin, [path.join(project, 'node_modules/@11ty/eleventy/cmd.cjs')], path.join(project, 'eleventy'))
    const built = readFileSync(path.join(project, 'eleventy/_site/index.html'), 'utf8')
    assert.ok(built.includes('<link rel="monetization" href="https://wallet.example/alice">') && built.includes('data-trickle-exclusive="s0"') && built.includes('/trickle/trickle.js'), `${bin}: ${built}`)
  }

  writeFileSync(path.join(project, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', strict: true, noEmit: true, types: ['node'] }, include: ['consumer.ts'] }))
  writeFileSync(path.join(project, 'consumer.ts'), `
import { unified } from 'unified'
import remarkParse from 'remark-parse'
import remarkRehype from 'remark-rehype'
import rehypeStringify from 'rehype-stringify'
import remarkTrickleExclusive from 'remark-trickle-exclusive'
import remarkTrickleDownload from 'remark-trickle-download'
import rehypeTrickleMonetization from 'rehype-trickle-monetization'
import rehypeTrickleSeal from 'rehype-trickle-seal'
import { sealSite, type SealReport } from 'rehype-trickle-seal/site'
import { decodeMagnet, type Magnet } from 'trickle-core/magnet'
import trickle, { type Options as EleventyTrickleOptions } from 'eleventy-plugin-trickle'
const eleventyOptions: EleventyTrickleOptions = { pointer: 'https://wallet.example/alice', seal: { companion: 'https://pay.example', site: 'https://blog.example/' } }
void trickle
import { siteSealKey, sealKeyFrom } from 'trickle-core/seal'
const processor = unified().use(remarkParse).use(remarkTrickleExclusive).use(remarkTrickleDownload).use(remarkRehype)
  .use(rehypeTrickleMonetization, { pointer: 'https://wallet.example/alice' })
  .use(rehypeTrickleSeal, { sealKey: siteSealKey(sealKeyFrom(new Uint8Array(32)), 'https://blog.example/'), site: 'https://blog.example/', companion: 'https://pay.example' })
  .use(rehypeStringify)
const magnet: Magnet = decodeMagnet('magnet:?xt=urn:btih:${'ab'.repeat(20)}')
const report: Promise<SealReport> = sealSite('site', { sealKey: new Uint8Array(32), site: 'https://blog.example/', companion: 'https://pay.example' })
export { processor, magnet, report }
`)
  const tsc = (() => { try { return run(node24, [path.join(project, 'node_modules/typescript/bin/tsc'), '-p', '.'], project) } catch (err) { return `${(err as { stdout?: string }).stdout ?? ''}${(err as { stderr?: string }).stderr ?? ''}` } })()
  assert.equal(tsc.trim(), '', `tsc --noEmit, nodenext, strict: ${tsc}`)
})
