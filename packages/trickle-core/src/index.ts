// trickle-core: one import for everything; each part is also its own entry (trickle-core/seal, …).
export * from './amounts.ts'
export * from './license.ts'
export * from './magnet.ts'
export * from './pointers.ts'
export * from './seal.ts'
