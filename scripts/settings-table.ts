// Prints the README's settings table from server/src/config.ts (the single source of truth).
import { settingsTable } from '../server/src/config.ts'
console.log(settingsTable())
