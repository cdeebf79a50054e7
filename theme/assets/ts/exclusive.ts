// Exclusive sections: the call to action stays until payment starts, then the content and a thank-you
// note appear. Markup contract (shared with the remark plugins and the sealing step):
//   <section data-trickle-exclusive="ID"> [data-trickle-cta] [data-trickle-content hidden] [data-trickle-thanks hidden] </section>
// Hiding on the client is not protection: sealed sites ship only ciphertext in [data-trickle-content].

export function revealExclusive (announce: (message: string) => void, message: string, only?: HTMLElement): number {
  const sections = only ? [only] : Array.from(document.querySelectorAll<HTMLElement>('[data-trickle-exclusive]:not([data-trickle-open])'))
  let opened = 0
  for (const section of sections) {
    const cta = section.querySelector<HTMLElement>('[data-trickle-cta]')
    const content = section.querySelector<HTMLElement>('[data-trickle-content]')
    const thanks = section.querySelector<HTMLElement>('[data-trickle-thanks]')
    if (!content || content.hasAttribute('data-trickle-sealed')) continue
    const hadFocus = cta?.contains(document.activeElement) ?? false
    section.setAttribute('data-trickle-open', '')
    content.hidden = false
    if (thanks) thanks.hidden = false
    if (cta) cta.hidden = true
    // Keep keyboard users where they were: focus moves to the content only if it was in the CTA.
    if (hadFocus) content.focus()
    opened++
  }
  if (opened > 0) announce(message)
  return opened
}
