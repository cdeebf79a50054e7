export { default } from './lib/index.ts'
export type { Options } from './lib/index.ts'
