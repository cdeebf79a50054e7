// A network namespace for browser WebRTC tests (Chromium does not use loopback): a veth pair whose
// two ends are the namespace's addresses, and a default route, since Chromium gathers ICE candidates
// only on the interface of the default route. Removed after the test. Nothing leaves the namespace.
import { execFileSync, spawn } from 'node:child_process'
import type { TestContext } from 'node:test'

const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' })

/** Why namespaces cannot be made here, or undefined. */
export function namespaceSkip (): string | undefined {
  if (process.getuid?.() !== 0) return 'network namespaces need root'
  try { execFileSync('ip', ['netns', 'list'], { stdio: 'pipe' }) } catch { return 'the ip command (iproute2) is missing' }
  return undefined
}

/** Makes the namespace (`10.253.{subnet}.1` and `.2`); `run` starts a script in it and resolves with its output. */
export function browserNamespace (t: TestContext, name: string, subnet: number) {
  const ns = `trickle-${name}-${process.pid}`
  const [a, b] = [`t${name.slice(0, 4)}0`, `t${name.slice(0, 4)}1`]
  ip('netns', 'add', ns)
  t.after(() => { try { ip('netns', 'delete', ns) } catch {} })
  ip('netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up')
  ip('netns', 'exec', ns, 'ip', 'link', 'add', a, 'type', 'veth', 'peer', 'name', b)
  ip('netns', 'exec', ns, 'ip', 'addr', 'add', `10.253.${subnet}.1/24`, 'dev', a)
  ip('netns', 'exec', ns, 'ip', 'addr', 'add', `10.253.${subnet}.2/24`, 'dev', b)
  ip('netns', 'exec', ns, 'ip', 'link', 'set', a, 'up')
  ip('netns', 'exec', ns, 'ip', 'link', 'set', b, 'up')
  ip('netns', 'exec', ns, 'ip', 'route', 'add', 'default', 'via', `10.253.${subnet}.2`, 'dev', a)
  return {
    /** Runs `script` with this Node in the namespace; resolves with stdout, and stderr when no RESULT line came. */
    run (script: string, timeoutMs: number): Promise<string> {
      return new Promise((resolve, reject) => {
        const child = spawn('ip', ['netns', 'exec', ns, process.execPath, script], { stdio: ['ignore', 'pipe', 'pipe'] })
        let out = ''
        let err = ''
        child.stdout.on('data', (d: Buffer) => { out += d.toString() })
        child.stderr.on('data', (d: Buffer) => { err += d.toString() })
        const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`${script} timed out\n${err}`)) }, timeoutMs)
        child.on('exit', () => { clearTimeout(timer); resolve(out + (out.includes('RESULT') ? '' : err)) })
      })
    }
  }
}
