export { default } from './lib/index.ts'
export type { Labels, Options, Price } from './lib/index.ts'
