// The events a Web Monetization agent fires, in both families the theme listens to.
//  - Today's spec (WICG/webmonetization, 2025): a `monetization` event on the <link>, bubbling, with
//    amountSent {currency, value}, paymentPointer, incomingPayment (and, in receipt mode only, the
//    deprecated amount, assetCode, assetScale, receipt; the extension sends receipt null and no others).
//  - The Coil-era API: `document.monetization` with state pending|started|stopped and
//    monetizationpending / monetizationstart / monetizationprogress / monetizationstop, whose progress
//    detail carries the STREAM receipt (RFC 0039: "A Web Monetization Sender MUST include each ILP Fulfill
//    packet's Receipt in the corresponding monetizationprogress event").

export interface Payment {
  paymentPointer: string
  requestId: string
  amount: string
  assetCode: string
  assetScale: number
  receipt: string | null
}

/** What one `monetization` event carries. */
export interface EventInit {
  paymentPointer: string
  amountSent: { currency: string, value: string }
  /** Today's agents: the Open Payments incoming payment this money pays */
  incomingPayment?: string
  /** Legacy (receipt mode): the deprecated fields, with the STREAM receipt */
  legacy?: Payment
}

export class DevMonetizationEvent extends Event {
  readonly amountSent: { currency: string, value: string }
  readonly paymentPointer: string
  readonly incomingPayment: string | null
  readonly amount?: string
  readonly assetCode?: string
  readonly assetScale?: number
  readonly receipt: string | null

  constructor (init: EventInit) {
    super('monetization', { bubbles: true })
    this.paymentPointer = init.paymentPointer
    this.amountSent = init.amountSent
    this.incomingPayment = init.incomingPayment ?? null
    this.receipt = init.legacy?.receipt ?? null
    if (init.legacy) {
      this.amount = init.legacy.amount
      this.assetCode = init.legacy.assetCode
      this.assetScale = init.legacy.assetScale
    }
  }

  static fromReceipt (p: Payment): DevMonetizationEvent {
    return new DevMonetizationEvent({ paymentPointer: p.paymentPointer, amountSent: { currency: p.assetCode, value: decimal(p.amount, p.assetScale) }, legacy: p })
  }
}

/** "1234", 3 -> "1.234" without floating point. */
export function decimal (amount: string, scale: number): string {
  if (scale === 0) return amount
  const padded = amount.padStart(scale + 1, '0')
  const whole = padded.slice(0, -scale)
  const fraction = padded.slice(-scale).replace(/0+$/, '')
  return fraction ? `${whole}.${fraction}` : whole
}

type State = 'pending' | 'started' | 'stopped'

/** The legacy `document.monetization` object, installed only when the browser has none. */
export class LegacyMonetization extends EventTarget {
  state: State = 'stopped'

  pending (paymentPointer: string, requestId: string) {
    this.state = 'pending'
    this.dispatchEvent(new CustomEvent('monetizationpending', { detail: { paymentPointer, requestId } }))
  }

  start (paymentPointer: string, requestId: string) {
    this.state = 'started'
    this.dispatchEvent(new CustomEvent('monetizationstart', { detail: { paymentPointer, requestId } }))
  }

  progress (p: Payment) {
    this.dispatchEvent(new CustomEvent('monetizationprogress', { detail: { ...p } }))
  }

  stop (paymentPointer: string, requestId: string, finalized: boolean) {
    this.state = 'stopped'
    this.dispatchEvent(new CustomEvent('monetizationstop', { detail: { paymentPointer, requestId, finalized } }))
  }
}
