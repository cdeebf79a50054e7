import type { LoadCheck } from './util.ts'

/** What every measurement gets from run.ts. */
export interface Ctx {
  say (line: string): void
  /** shorter runs, for trying the bench out (numbers are rougher) */
  quick: boolean
  /** seconds of each measured load run */
  durationS: number
  /** waits for a quiet machine and returns the load it saw */
  checkLoad (label: string): Promise<LoadCheck>
}
