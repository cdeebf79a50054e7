// Crediting a payment's proof to this reader's balance at a companion, whichever proof the agent gave:
// a STREAM receipt (legacy agents, Trickle's development agent), or the Open Payments incoming payment
// of today's Web Monetization extension, which the companion reads at the creator's wallet (and keeps
// reading until it settles: the event comes before the money). One module for sealed sections and
// downloads, so both count a payment the same way and once.
import type { Payment } from './monetization.ts'

/** What a payment proves with, to credit it once: its receipt, or its incoming payment. */
export const proofOf = (p: Payment): string | undefined => p.receipt ?? p.incomingPayment

export interface Credited {
  /** What the balance holds now for the receiver this payment reached */
  balance: bigint
  /** The receiver (proxy id), when the companion named it */
  receiver?: string
  /** The companion keeps reading the incoming payment: more may be credited without another event */
  pending: boolean
}

/** Credits `p` to balance `id` at `companion`; undefined when it carries no proof or was refused. */
export async function creditPayment (companion: string, id: string, p: Payment): Promise<Credited | undefined> {
  if (p.receipt) {
    const res = await fetch(`${companion}/balances/${id}:creditReceipt`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: p.receipt })
    return res.ok ? { balance: BigInt(await res.text()), pending: false } : undefined
  }
  if (p.incomingPayment) {
    const res = await fetch(`${companion}/balances/${id}:creditIncomingPayment`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ incomingPayment: p.incomingPayment, walletAddress: p.paymentPointer })
    })
    if (!res.ok) return undefined
    const body = await res.json() as { balance: string, receiver: string, polling: boolean }
    return { balance: BigInt(body.balance), receiver: body.receiver, pending: body.polling }
  }
  return undefined
}

export interface CreditFollower {
  /**
   * Credits a payment's proof. A receipt is credited once. An incoming payment is credited on every
   * event that names it (the extension pays one incoming payment for 10 minutes, one event per
   * payment), and read again while the companion says it is settling: each credit request makes the
   * companion read the payment at the wallet now, so a section opens as soon as the money is there.
   */
  submit (p: Payment): void
}

/** Reads of an incoming payment after its last event while it settles; then the next event starts again. */
const FOLLOW_MS = [250, 250, 500, 1000, 2000, 4000, 8000, 15_000]

export function followCredits (companion: string, balanceId: () => Promise<string>, onCredit: (c: Credited, p: Payment) => void, onUnreachable: () => void): CreditFollower {
  const receipts = new Set<string>()
  const incoming = new Map<string, { busy: boolean, again: boolean, attempt: number, timer?: ReturnType<typeof setTimeout>, last: Payment }>()

  async function credit (p: Payment): Promise<Credited | undefined> {
    try {
      const result = await creditPayment(companion, await balanceId(), p)
      if (result) onCredit(result, p)
      return result
    } catch {
      onUnreachable()
      return undefined
    }
  }

  async function read (url: string): Promise<void> {
    const s = incoming.get(url)!
    if (s.busy) return
    s.busy = true
    s.again = false
    clearTimeout(s.timer)
    const result = await credit(s.last)
    s.busy = false
    // Refused or unreachable: not read on a timer; the next event asks again.
    if (!result) return
    if (s.again) { void read(url); return }
    if (result.pending && s.attempt < FOLLOW_MS.length) s.timer = setTimeout(() => { void read(url) }, FOLLOW_MS[s.attempt++])
  }

  return {
    submit (p) {
      if (p.receipt) {
        if (receipts.has(p.receipt)) return
        receipts.add(p.receipt)
        void credit(p)
        return
      }
      if (!p.incomingPayment) return
      let s = incoming.get(p.incomingPayment)
      if (!s) { s = { busy: false, again: false, attempt: 0, last: p }; incoming.set(p.incomingPayment, s) }
      s.last = p
      s.attempt = 0
      if (s.busy) s.again = true
      else void read(p.incomingPayment)
    }
  }
}
