// Section tokens as a site's sealing step writes them: bound to a site, MACed with that site's key
// (derived from a companion's seal key, as POST /sealed/sites hands it out).
import { encodeSealToken, sectionKey, siteSealKey, type SealToken } from '../../packages/trickle-core/src/seal.ts'

export const SITE = 'https://site.test/'

/** A token for `site` (default SITE), as that site's build issues it for a companion with `sealKey`. */
export function siteToken (sealKey: Uint8Array, t: Omit<SealToken, 'v' | 'site'> & { site?: string }): string {
  const site = t.site ?? SITE
  return encodeSealToken(siteSealKey(sealKey, site), { ...t, site })
}

/** The key the companion releases for a token of `site`. */
export const siteSectionKey = (sealKey: Uint8Array, token: string, site = SITE) => sectionKey(siteSealKey(sealKey, site), token)

/** sealSite's key options for `site`. */
export const siteSeal = (sealKey: Uint8Array, site = SITE) => ({ sealKey: siteSealKey(sealKey, site), site })
