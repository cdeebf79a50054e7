// One balance per reader and site at the companion, kept across pages and reloads: receipts credited on
// one page pay for sealed sections and downloads on another, and grants make a reload free.
export function balanceId (): string {
  try {
    let id = localStorage.getItem('trickle-balance')
    if (!id) { id = crypto.randomUUID(); localStorage.setItem('trickle-balance', id) }
    return id
  } catch {
    return crypto.randomUUID()
  }
}
