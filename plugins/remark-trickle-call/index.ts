export { default } from './lib/index.ts'
export type { Labels, Options } from './lib/index.ts'
