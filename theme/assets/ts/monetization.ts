// Both event families a Web Monetization agent may fire, normalised to one Payment.
//  - Today's spec: `monetization` events on <link rel="monetization">, bubbling, with amountSent
//    {currency, value} and incomingPayment (the Open Payments incoming payment it pays, whose
//    receivedAmount at the creator's wallet is the proof), and deprecated amount/assetCode/assetScale/receipt.
//    amountSent is what the reader's wallet quoted, sent before it settles: counters may show it, only
//    the companion's reading of the incoming payment buys anything (credit.ts).
//  - The Coil-era API: document.monetization with monetizationstart/monetizationprogress, whose detail
//    has amount (smallest unit), assetCode, assetScale, receipt.
// An agent speaks one family. If one speaks both (Trickle's dev agent fires the link event first),
// legacy progress is ignored once a link event has been seen, so nothing is counted twice.

export interface Payment {
  paymentPointer: string
  /** whole number of the smallest unit */
  amount: bigint
  assetCode: string
  assetScale: number
  receipt?: string
  /** Open Payments: the incoming payment this payment pays (the Web Monetization extension's events) */
  incomingPayment?: string
}

interface LegacyDetail { paymentPointer: string, amount: string, assetCode: string, assetScale: number, receipt?: string | null }
interface LinkEvent extends Event {
  paymentPointer?: string
  amount?: string
  assetCode?: string
  assetScale?: number
  receipt?: string | null
  amountSent?: { currency: string, value: string }
  incomingPayment?: string
}

/** "0.0042", 9 -> 4200000n */
function fromDecimal (value: string, scale: number): bigint {
  const [whole = '0', fraction = ''] = value.split('.')
  return BigInt(whole + fraction.padEnd(scale, '0').slice(0, scale))
}

function fromLinkEvent (e: LinkEvent): Payment | undefined {
  const pointer = e.paymentPointer ?? (e.target instanceof HTMLLinkElement ? e.target.href : '')
  // Whichever amount it states, an incoming payment it names is what proves the money (credit.ts).
  const incoming = typeof e.incomingPayment === 'string' && /^https?:\/\//.test(e.incomingPayment) ? { incomingPayment: e.incomingPayment } : {}
  if (e.amount !== undefined && /^\d+$/.test(String(e.amount)) && e.assetCode && e.assetScale !== undefined) {
    return { paymentPointer: pointer, amount: BigInt(e.amount), assetCode: e.assetCode, assetScale: e.assetScale, ...(e.receipt ? { receipt: e.receipt } : {}), ...incoming }
  }
  if (e.amountSent && typeof e.amountSent.value === 'string' && /^\d{1,30}(\.\d{1,30})?$/.test(e.amountSent.value)) {
    // amountSent has no scale: keep the decimals it carries.
    const scale = (e.amountSent.value.split('.')[1] ?? '').length
    return { paymentPointer: pointer, amount: fromDecimal(e.amountSent.value, scale), assetCode: String(e.amountSent.currency), assetScale: scale, ...incoming }
  }
  return undefined
}

export function onPayment (handler: (p: Payment) => void, onStart: () => void): void {
  let linkEvents = false
  document.addEventListener('monetization', (e) => {
    linkEvents = true
    const payment = fromLinkEvent(e as LinkEvent)
    if (payment) { onStart(); handler(payment) }
  }, true)

  const attachLegacy = (target: EventTarget) => {
    target.addEventListener('monetizationstart', () => onStart())
    target.addEventListener('monetizationprogress', (e) => {
      if (linkEvents) return
      const d = (e as CustomEvent<LegacyDetail>).detail
      if (!d || !/^\d+$/.test(String(d.amount))) return
      onStart()
      handler({ paymentPointer: d.paymentPointer, amount: BigInt(d.amount), assetCode: d.assetCode, assetScale: Number(d.assetScale), receipt: d.receipt ?? undefined })
    })
  }
  if (document.monetization) attachLegacy(document.monetization)
  else {
    // An agent may install document.monetization after this script runs.
    let tries = 0
    const timer = setInterval(() => {
      if (document.monetization) { clearInterval(timer); attachLegacy(document.monetization) } else if (++tries > 50) clearInterval(timer)
    }, 100)
  }
}

declare global {
  interface Document { monetization?: EventTarget & { state?: string } }
}
