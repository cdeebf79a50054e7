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
