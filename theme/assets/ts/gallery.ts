// Per-image pointers (seed 000, gallery): when an image is at least 75% in view, the page's monetization
// link switches to that image's creator; when none is, it returns to the page's own pointer.

export function watchGallery (link: HTMLLinkElement | null, pagePointer: string | undefined): void {
  const figures = Array.from(document.querySelectorAll<HTMLElement>('[data-trickle-creator]'))
  if (figures.length === 0 || !('IntersectionObserver' in window)) return
  const visible = new Set<HTMLElement>()
  const apply = () => {
    // The topmost visible image wins, so the choice is stable while scrolling.
    const current = figures.find((f) => visible.has(f))
    const target = current?.dataset.trickleCreator ?? pagePointer
    for (const f of figures) f.toggleAttribute('data-trickle-paying', f === current)
    if (!target) { link?.remove(); return }
    if (!link) {
      link = document.createElement('link')
      link.rel = 'monetization'
      document.head.append(link)
    }
    if (link.getAttribute('href') !== target) link.setAttribute('href', target)
  }
  const observer = new IntersectionObserver((entries) => {
    for (const e of entries) {
      if (e.intersectionRatio >= 0.75) visible.add(e.target as HTMLElement)
      else visible.delete(e.target as HTMLElement)
    }
    apply()
  }, { threshold: [0, 0.75, 1] })
  for (const f of figures) observer.observe(f)
}
