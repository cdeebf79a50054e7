// Where a site's build gets its seal key (server/src/sealed/crypto.ts: bound to the site's base URL):
// TRICKLE_SITE_SEAL_KEY (what the companion's POST /sealed/sites returned, e.g. kept as a CI secret),
// else asked of the companion with its admin token (TRICKLE_ADMIN_TOKEN), else derived from the
// companion's own TRICKLE_SEAL_SECRET where that is at hand. The writer never reads the database.
import { sealKeyFrom, siteSealKey } from 'trickle-core/seal'

/** The seal key could not be had: the message says what to set. */
export class SealKeyError extends Error {}

/** The site's seal key, from wherever the writer has it (see the header). */
export async function siteKeyFor (site: string, companion: string, env: Record<string, string | undefined> = process.env): Promise<Buffer> {
  if (env.TRICKLE_SITE_SEAL_KEY) {
    const key = Buffer.from(env.TRICKLE_SITE_SEAL_KEY, 'base64')
    if (key.length !== 32) throw new SealKeyError('TRICKLE_SITE_SEAL_KEY must be 32 bytes, base64 (what POST /sealed/sites returns)')
    return key
  }
  if (env.TRICKLE_ADMIN_TOKEN) {
    let res: Response
    try {
      res = await fetch(`${companion}/sealed/sites`, { method: 'POST', headers: { authorization: `Bearer ${env.TRICKLE_ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ site }) })
    } catch (err) {
      throw new SealKeyError(`could not reach the companion at ${companion} (${(err as Error).message}); is it running, and is --companion its public URL?`)
    }
    const body = await res.json().catch(() => ({})) as { sealKey?: string, message?: string }
    if (res.status === 401) throw new SealKeyError(`the companion at ${companion} refused TRICKLE_ADMIN_TOKEN (401): use the admin token it printed at start`)
    if (!res.ok || !body.sealKey) throw new SealKeyError(`the companion at ${companion} gave no seal key (${res.status}${body.message ? `: ${body.message}` : ''})`)
    return Buffer.from(body.sealKey, 'base64')
  }
  if (env.TRICKLE_SEAL_SECRET) {
    const secret = Buffer.from(env.TRICKLE_SEAL_SECRET, 'base64')
    if (secret.length < 32) throw new SealKeyError('TRICKLE_SEAL_SECRET must be at least 32 bytes, base64-encoded')
    return siteSealKey(sealKeyFrom(secret), site)
  }
  throw new SealKeyError('no seal key: set TRICKLE_ADMIN_TOKEN (the companion\'s admin token: the key is asked of it), or TRICKLE_SITE_SEAL_KEY (what POST /sealed/sites returned), or TRICKLE_SEAL_SECRET (the companion\'s own secret)')
}

