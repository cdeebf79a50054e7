// The ports a start needs, checked before anything listens, and a port in use reported as one line
// that names the setting to change. A second `npm start` while one runs is the usual cause; what the
// newcomer needs to read is which port and how to move it, not a stack trace.
import { createServer } from 'node:net'
import type { Config } from './config.ts'

/** A port this process will listen on, and the setting that chooses it. */
export interface PortNeed { host: string, port: number, setting: string }

export class PortInUseError extends Error {
  readonly code = 'EADDRINUSE'
  readonly host: string
  readonly port: number
  readonly setting: string
  constructor (need: PortNeed, options?: { cause?: unknown }) {
    super(`port ${need.port} is already in use (${need.setting}); is another Trickle running? Stop it or set ${need.setting} to a free port.`, options)
    this.name = 'PortInUseError'
    this.host = need.host
    this.port = need.port
    this.setting = need.setting
  }
}

/** `err` as a PortInUseError for `need` when it is an EADDRINUSE from listening; otherwise `err` unchanged. */
export function asPortInUse (err: unknown, need: PortNeed): unknown {
  if (err instanceof PortInUseError) return err
  return (err as NodeJS.ErrnoException | undefined)?.code === 'EADDRINUSE' ? new PortInUseError(need, { cause: err }) : err
}

/** The companion's ports: the HTTP API, and the embedded BTP endpoint unless an uplink replaces it. */
export function companionPorts (config: Pick<Config, 'host' | 'port' | 'uplink' | 'btpHost' | 'btpPort'>): PortNeed[] {
  const needs: PortNeed[] = [{ host: config.host, port: config.port, setting: 'PORT' }]
  if (!config.uplink) needs.push({ host: config.btpHost, port: config.btpPort, setting: 'TRICKLE_BTP_PORT' })
  return needs
}

/** Listens on the port and closes again; rejects with PortInUseError when something else holds it. */
export function checkPortFree (need: PortNeed): Promise<void> {
  // Port 0 asks the system for any free port: nothing to check.
  if (need.port === 0) return Promise.resolve()
  return new Promise((resolve, reject) => {
    const probe = createServer()
    probe.once('error', (err) => reject(asPortInUse(err, need)))
    // exclusive: in a cluster worker, listening would otherwise share the primary's handle.
    probe.listen({ host: need.host || undefined, port: need.port, exclusive: true }, () => {
      probe.close(() => resolve())
    })
  })
}

/**
 * Checks the ports in order and rejects for the first one in use. This catches the common case before
 * any work is done; a port taken between the check and the real listen is reported the same way by
 * the code that listens (see asPortInUse).
 */
export async function checkPortsFree (needs: PortNeed[]): Promise<void> {
  for (const need of needs) await checkPortFree(need)
}

/** The one line to print when a start fails because a port is in use, else undefined. */
export function portInUseLine (err: unknown): string | undefined {
  return err instanceof PortInUseError ? `trickle: ${err.message}` : undefined
}
