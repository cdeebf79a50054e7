// 5. Site: Hugo build time of the Trickle theme with 1,000 generated posts against Hugo's own theme
// skeleton (`hugo new theme`, generated at run time into a temporary folder) with the same posts; and
// the gzipped JavaScript a reader downloads on a plain post, an exclusive post and a download page of
// the example site (production build).
import { execFile } from 'node:child_process'
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { promisify } from 'node:util'
import { gzipSync } from 'node:zlib'
import { hugoBinary } from '../scripts/hugo.ts'
import type { Ctx } from './lib/context.ts'
import { row, type Row } from './lib/report.ts'
import { trickleRoot } from './lib/trickle.ts'
import { median, tempDir } from './lib/util.ts'

const run = promisify(execFile)
/**
 * Hugo builds with every core; a neighbour's burst on this shared 2-core machine only ever makes a
 * build slower, so the fastest of the alternating runs is the figure (every run is in the JSON).
 */
const best = (ms: number[]) => Math.min(...ms)
const POSTS = 1000

const WORDS = ('stream payment reader writer receipt ledger packet connector wallet pointer theme page gallery ' +
  'section exclusive supporter tracker seeder torrent license balance verifier nonce secret interval cycle ' +
  'market river mountain window garden kitchen letter winter summer signal bridge harbour lantern meadow').split(' ')

/** A deterministic pseudo-random generator, so every run and both themes get the very same posts. */
function rng (seed: number) {
  let s = seed >>> 0
  return () => { s = (s * 1664525 + 1013904223) >>> 0; return s / 2 ** 32 }
}

function post (i: number): string {
  const r = rng(i + 1)
  const pick = () => WORDS[Math.floor(r() * WORDS.length)]!
  const sentence = () => { const w = Array.from({ length: 8 + Math.floor(r() * 10) }, pick); w[0] = w[0]![0]!.toUpperCase() + w[0]!.slice(1); return `${w.join(' ')}.` }
  const paragraph = () => Array.from({ length: 4 + Math.floor(r() * 4) }, sentence).join(' ')
  const tags = [...new Set(Array.from({ length: 3 }, () => `tag-${Math.floor(r() * 50)}`))]
  const date = new Date(Date.UTC(2024, 0, 1) + i * 3_600_000 * 7).toISOString()
  const body = [
    paragraph(), paragraph(), `## ${sentence()}`, paragraph(), paragraph(),
    '```js\nconst total = receipts.reduce((sum, r) => sum + r.amount, 0n)\nconsole.log(total)\n```',
    paragraph(), `- ${sentence()}\n- ${sentence()}\n- ${sentence()}`, paragraph(), paragraph(), paragraph()
  ].join('\n\n')
  return `---\ntitle: "Post ${i}: ${sentence().slice(0, -1)}"\ndate: ${date}\ntags: ${JSON.stringify(tags)}\ncategories: ["category-${i % 10}"]\n---\n${body}\n`
}

function writePosts (site: string): void {
  const dir = path.join(site, 'content', 'posts')
  mkdirSync(dir, { recursive: true })
  for (let i = 0; i < POSTS; i++) writeFileSync(path.join(dir, `post-${String(i).padStart(4, '0')}.md`), post(i))
}

async function hugo (args: string[], cwd: string): Promise<string> {
  const { stdout, stderr } = await run(hugoBinary(), args, { cwd, maxBuffer: 16 << 20 })
  return stdout + stderr
}

/** A cold production build (no public/, no resources/ cache), timed from spawn to exit. */
async function timedBuild (site: string): Promise<{ ms: number, pages: number, htmlFiles: number }> {
  rmSync(path.join(site, 'public'), { recursive: true, force: true })
  rmSync(path.join(site, 'resources'), { recursive: true, force: true })
  const t = performance.now()
  const log = await hugo(['--source', site, '--destination', path.join(site, 'public'), '--environment', 'production', '--noBuildLock'], site)
  const ms = performance.now() - t
  const pages = Number(/Pages\s+\|\s+(\d+)/.exec(log)?.[1] ?? Number.NaN)
  const htmlFiles = readdirSync(path.join(site, 'public'), { recursive: true }).filter((f) => String(f).endsWith('.html')).length
  return { ms, pages, htmlFiles }
}

/**
 * The templates current Hugo writes with `hugo new theme` (since about v0.120: a page renders its
 * content and tags, lists and the home page link every page with its summary). Hugo 0.111, the
 * Debian one this machine has, writes the same files empty: its skeleton renders no HTML at all.
 */
const RENDERING_SKELETON: Record<string, string> = {
  'layouts/_default/baseof.html': `<!DOCTYPE html>
<html lang="{{ site.Language.Lang }}">
<head>
  {{ partial "head.html" . }}
</head>
<body>
  <header>
    {{ partial "header.html" . }}
  </header>
  <main>
    {{ block "main" . }}{{ end }}
  </main>
  <footer>
    {{ partial "footer.html" . }}
  </footer>
</body>
</html>
`,
  'layouts/index.html': `{{ define "main" }}
  {{ .Content }}
  {{ range site.RegularPages }}
    <h2><a href="{{ .RelPermalink }}">{{ .LinkTitle }}</a></h2>
    {{ .Summary }}
  {{ end }}
{{ end }}
`,
  'layouts/_default/list.html': `{{ define "main" }}
  <h1>{{ .Title }}</h1>
  {{ .Content }}
  {{ range .Pages }}
    <h2><a href="{{ .RelPermalink }}">{{ .LinkTitle }}</a></h2>
    {{ .Summary }}
  {{ end }}
{{ end }}
`,
  'layouts/_default/single.html': `{{ define "main" }}
  <h1>{{ .Title }}</h1>
  {{ $dateMachine := .Date | time.Format "2006-01-02T15:04:05-07:00" }}
  {{ $dateHuman := .Date | time.Format ":date_long" }}
  <time datetime="{{ $dateMachine }}">{{ $dateHuman }}</time>
  {{ .Content }}
  {{ partial "terms.html" (dict "taxonomy" "tags" "page" .) }}
{{ end }}
`,
  'layouts/partials/head.html': `<meta charset="utf-8">
<meta name="viewport" content="width=device-width">
<title>{{ if .IsHome }}{{ site.Title }}{{ else }}{{ printf "%s | %s" .Title site.Title }}{{ end }}</title>
{{ partialCached "head/css.html" . }}
{{ partialCached "head/js.html" . }}
`,
  'layouts/partials/head/css.html': `{{- with resources.Get "css/main.css" }}
  {{- with . | minify | fingerprint }}
    <link rel="stylesheet" href="{{ .RelPermalink }}" integrity="{{ .Data.Integrity }}" crossorigin="anonymous">
  {{- end }}
{{- end }}
`,
  'layouts/partials/head/js.html': `{{- with resources.Get "js/main.js" }}
  {{- with . | js.Build (dict "minify" true) | fingerprint }}
    <script src="{{ .RelPermalink }}" integrity="{{ .Data.Integrity }}" crossorigin="anonymous"></script>
  {{- end }}
{{- end }}
`,
  'layouts/partials/header.html': `<h1>{{ site.Title }}</h1>
{{ partial "menu.html" (dict "menuID" "main" "page" .) }}
`,
  'layouts/partials/menu.html': `{{- $page := .page }}
{{- with index site.Menus .menuID }}
  <nav><ul>
    {{- range . }}
      <li><a {{ if $page.IsMenuCurrent $.menuID . }}aria-current="page"{{ end }} href="{{ .URL }}">{{ .Name }}</a></li>
    {{- end }}
  </ul></nav>
{{- end }}
`,
  'layouts/partials/footer.html': `<p>Copyright {{ now.Year }}. All rights reserved.</p>
`,
  'layouts/partials/terms.html': `{{- $page := .page }}
{{- $taxonomy := .taxonomy }}
{{- with $page.GetTerms $taxonomy }}
  {{- $label := (index . 0).Parent.LinkTitle }}
  <div>
    <div>{{ $label }}:</div>
    <ul>
      {{- range . }}
        <li><a href="{{ .RelPermalink }}">{{ .LinkTitle }}</a></li>
      {{- end }}
    </ul>
  </div>
{{- end }}
`,
  'assets/css/main.css': `body { color: #222; font-family: sans-serif; line-height: 1.5; margin: 1rem; max-width: 768px; }
header { border-bottom: 1px solid #222; margin-bottom: 1rem; }
footer { border-top: 1px solid #222; margin-top: 1rem; }
a { color: #00e; text-decoration: none; }
`,
  'assets/js/main.js': `console.log('This site was generated by Hugo.');
`
}

async function buildTimes (ctx: Ctx, dir: string) {
  // Top-level keys first: in TOML everything after a [table] header belongs to that table.
  const common = 'baseURL = "http://localhost:1313/"\nlanguageCode = "en-us"\ntitle = "Bench"\n'
  const markup = '[markup.goldmark.renderer]\n  unsafe = true\n'
  const sites = {
    trickle: path.join(dir, 'trickle'),
    skeleton: path.join(dir, 'skeleton'),
    rendering: path.join(dir, 'skeleton-rendering')
  }
  mkdirSync(sites.trickle, { recursive: true })
  writeFileSync(path.join(sites.trickle, 'config.toml'), `${common}themesDir = ${JSON.stringify(trickleRoot)}\ntheme = "theme"\n${markup}[params]\n  monetization = "$wallet.example/alice"\n  mainSections = ["posts"]\n`)
  for (const site of [sites.skeleton, sites.rendering]) {
    mkdirSync(site, { recursive: true })
    writeFileSync(path.join(site, 'config.toml'), `${common}theme = "skeleton"\n${markup}`)
    // Hugo's own minimal theme, as `hugo new theme` makes it with this very Hugo (never committed).
    await hugo(['new', 'theme', 'skeleton'], site)
  }
  for (const [file, text] of Object.entries(RENDERING_SKELETON)) {
    const target = path.join(sites.rendering, 'themes', 'skeleton', file)
    mkdirSync(path.dirname(target), { recursive: true })
    writeFileSync(target, text)
  }
  for (const site of Object.values(sites)) writePosts(site)

  const runs = ctx.quick ? 2 : 5
  const names = Object.keys(sites) as Array<keyof typeof sites>
  const times = Object.fromEntries(names.map((n) => [n, { ms: [] as number[], pages: 0, htmlFiles: 0 }])) as Record<keyof typeof sites, { ms: number[], pages: number, htmlFiles: number }>
  // One build each first: the OS file cache, not the theme, would otherwise decide the first figure.
  for (const n of names) await timedBuild(sites[n])
  for (let i = 0; i < runs; i++) {
    await ctx.checkLoad(`hugo builds ${i + 1}`)
    for (const n of names) {
      const b = await timedBuild(sites[n])
      times[n].ms.push(b.ms)
      times[n].pages = b.pages
      times[n].htmlFiles = b.htmlFiles
    }
  }
  for (const n of names) ctx.say(`  hugo, ${POSTS} posts, ${n}: best ${Math.round(Math.min(...times[n].ms))} ms, median ${Math.round(median(times[n].ms))} ms (${times[n].pages} pages, ${times[n].htmlFiles} HTML files)`)
  return times
}

interface PageJs { page: string, scripts: Array<{ src: string, bytes: number, gzip: number }>, gzip: number, lazyGzip: number }

/** The scripts a page loads (src files and inline code; JSON data blocks are not code), gzipped -9. */
function pageJs (publicDir: string, page: string): PageJs {
  const html = readFileSync(path.join(publicDir, page, 'index.html'), 'utf8')
  const scripts: PageJs['scripts'] = []
  for (const m of html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)) {
    const attrs = m[1]!
    if (/type="?application\/(ld\+)?json/.test(attrs)) continue
    const src = /\bsrc="?([^"\s>]+)/.exec(attrs)?.[1]
    const code = src ? readFileSync(path.join(publicDir, src.split('?')[0]!)) : Buffer.from(m[2]!)
    if (code.length === 0) continue
    scripts.push({ src: src ?? '(inline)', bytes: code.length, gzip: gzipSync(code, { level: 9 }).length })
  }
  // The download page fetches WebTorrent's browser build only when the reader clicks the button.
  let lazyGzip = 0
  const lazy = /"webtorrent":"([^"]+)"/.exec(html)?.[1]
  if (lazy) lazyGzip = gzipSync(readFileSync(path.join(publicDir, lazy)), { level: 9 }).length
  return { page, scripts, gzip: scripts.reduce((s, x) => s + x.gzip, 0), lazyGzip }
}

async function exampleJs (ctx: Ctx, dir: string) {
  const out = path.join(dir, 'example')
  const overlay = path.join(dir, 'example.toml')
  // Kept out of site-example/ (cache), and a magnet for its download page as `npm start` writes one.
  writeFileSync(overlay, `resourceDir = ${JSON.stringify(path.join(dir, 'example-resources'))}\n[params.downloads]\n  "trickle-field-guide" = "magnet:?xt=urn:btih:${'ab'.repeat(20)}&dn=trickle-field-guide.txt&xl=626&tr=ws%3A%2F%2Flocalhost%3A3000%2Fannounce&pp=http%3A%2F%2Flocalhost%3A3000%2Fp%2F9bf70fe0534e85c1d51a76c44a013a89&vr=http%3A%2F%2Flocalhost%3A3000&pa=100&pc=USD&ps=2"\n`)
  const source = path.join(trickleRoot, 'site-example')
  await hugo(['--source', source, '--destination', out, '--config', `config.toml,${overlay}`, '--environment', 'production', '--noBuildLock'], source)
  const pages = {
    plain: pageJs(out, 'posts/hello'),
    exclusive: pageJs(out, 'posts/exclusive-marker'),
    download: pageJs(out, 'posts/download')
  }
  ctx.say(`  reader JavaScript, gzipped: plain post ${pages.plain.gzip} B, exclusive post ${pages.exclusive.gzip} B, download page ${pages.download.gzip} B (+${pages.download.lazyGzip} B WebTorrent on click)`)
  return pages
}

export async function benchSite (ctx: Ctx): Promise<{ rows: Row[], details: Record<string, unknown> }> {
  const dir = tempDir('site')
  const times = await buildTimes(ctx, dir)
  const js = await exampleJs(ctx, dir)
  const skel = 'hugo new theme skeleton'
  const rows = [
    row({ id: 'site.build', metric: `site: hugo build, ${POSTS} posts (cold, best run)`, unit: 'ms', trickle: best(times.trickle.ms), anchor: best(times.rendering.ms), anchorName: 'hugo new theme skeleton, rendering every page', goal: { on: 'ratio', op: '<=', target: 1.3, text: '≤ 1.3x' } }),
    row({ id: 'site.build.empty-skeleton', metric: `site: hugo build, ${POSTS} posts, vs Hugo 0.111's empty skeleton`, unit: 'ms', trickle: best(times.trickle.ms), anchor: best(times.skeleton.ms), anchorName: `${skel} (writes no HTML)` }),
    row({ id: 'site.js.plain', metric: 'site: gzipped JS on a plain post', unit: 'B', trickle: js.plain.gzip, anchor: Number.NaN, anchorName: '', goal: { on: 'value', op: '<=', target: 5120, text: '≤ 5 KB' } }),
    row({ id: 'site.js.exclusive', metric: 'site: gzipped JS on an exclusive post', unit: 'B', trickle: js.exclusive.gzip, anchor: Number.NaN, anchorName: '' }),
    row({ id: 'site.js.download', metric: 'site: gzipped JS on a download page (before click)', unit: 'B', trickle: js.download.gzip, anchor: Number.NaN, anchorName: '' }),
    row({ id: 'site.js.download.click', metric: 'site: gzipped JS on a download page (after click)', unit: 'B', trickle: js.download.gzip + js.download.lazyGzip, anchor: Number.NaN, anchorName: '' })
  ]
  return { rows, details: { posts: POSTS, hugo: times, js } }
}
