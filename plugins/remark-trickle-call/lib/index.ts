// remark plugin: paid video call blocks, with the markup of Trickle's Hugo theme (its `call`
// shortcode), so the theme's call script joins, pays and connects on any unified site.
//
//   ::call{room="office-hours"}                                   the companion from the options
//   ::call{room="office-hours" companion="https://pay.example.com"}
//
// The block names only the room and the companion. Where the call's signalling is, and who is in
// it, the companion tells a reader after it spent their first period.
//
// Contract (theme/layouts/partials/trickle/call.html):
//   section.trickle-call[data-trickle-call][data-room][data-companion][aria-labelledby]
//     [data-trickle-call-title], [data-trickle-call-price],
//     button[data-trickle-call-join], button[data-trickle-call-leave][hidden],
//     [data-trickle-call-paid][hidden], [data-trickle-call-status][role=status][aria-live=polite],
//     ul[data-trickle-call-videos][aria-label]
import type { ElementContent } from 'hast'
import type { Root, RootContent } from 'mdast'
import type { LeafDirective } from 'mdast-util-directive'
// Brings the data.hName / hProperties / hChildren fields that remark-rehype honours into mdast's types.
import type {} from 'mdast-util-to-hast'
import { h } from 'hastscript'
import { visit, SKIP } from 'unist-util-visit'
import type { VFile } from 'vfile'

export interface Labels {
  /** The block's heading (default: 'Video call') */
  title: string
  /** Shown until the script has the room's rate (default: the theme's English) */
  priceLoading: string
  join: string
  leave: string
  /** The list of videos' accessible name */
  videos: string
}

export interface Options {
  /** The companion's URL, for blocks that do not name one (Hugo: params.trickle.companion). */
  companion?: string | null
  /** Visible strings; defaults are the theme's English ones. */
  labels?: Partial<Labels> | null
}

export const defaultLabels: Labels = {
  title: 'Video call',
  priceLoading: 'Price per minute: asking the site\'s payment server…',
  join: 'Pay and join the call',
  leave: 'Leave the call',
  videos: 'Participants in the call'
}
const emptyOptions: Options = {}
const ROOM = /^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/

export default function remarkTrickleCall (options?: Options | null) {
  const settings = options ?? emptyOptions
  const labels: Labels = { ...defaultLabels, ...(settings.labels ?? {}) }

  function block (room: string, companion: string, ordinal: number): LeafDirective {
    const id = `trickle-call-${ordinal}-title`
    const children: ElementContent[] = [
      h('p', { className: ['trickle-call__title'], id, dataTrickleCallTitle: '' }, labels.title),
      h('p', { className: ['trickle-call__price'], dataTrickleCallPrice: '' }, labels.priceLoading),
      h('div', { className: ['trickle-call__controls'] }, [
        h('button', { type: 'button', className: ['trickle-call__join'], dataTrickleCallJoin: '' }, labels.join),
        h('button', { type: 'button', className: ['trickle-call__leave'], dataTrickleCallLeave: '', hidden: true }, labels.leave)
      ]),
      h('p', { className: ['trickle-call__paid'], dataTrickleCallPaid: '', hidden: true }),
      h('p', { className: ['trickle-call__status'], role: 'status', ariaLive: 'polite', dataTrickleCallStatus: '' }),
      h('ul', { className: ['trickle-call__videos'], dataTrickleCallVideos: '', ariaLabel: labels.videos })
    ]
    return {
      type: 'leafDirective',
      name: 'trickle-call',
      attributes: {},
      children: [],
      data: { hName: 'section', hProperties: { className: ['trickle-call'], dataTrickleCall: '', dataRoom: room, dataCompanion: companion, ariaLabelledBy: [id] }, hChildren: children }
    }
  }

  return function transform (tree: Root, file: VFile): undefined {
    let ordinal = 0
    visit(tree, (node, index, parent) => {
      if (!parent || index === undefined) return undefined
      if ((node.type !== 'leafDirective' && node.type !== 'containerDirective' && node.type !== 'textDirective') || node.name !== 'call') return undefined
      const say = (reason: string, ruleId: string) => { file.message(reason, { place: node.position, ruleId, source: 'remark-trickle-call' }) }
      if (node.type !== 'leafDirective') { say('Use a leaf directive on its own line: `::call{room="…"}`', 'leaf'); return undefined }
      const room = node.attributes?.room ?? ''
      if (!ROOM.test(room)) { say(`\`::call\` needs room="…": 1-64 lower-case letters, digits and dashes (got ${JSON.stringify(room)})`, 'invalid-room'); return undefined }
      const companion = (node.attributes?.companion ?? settings.companion ?? '').replace(/\/+$/, '')
      if (!/^https?:\/\/[^\s/]+/.test(companion)) { say('`::call` needs the companion\'s URL: the `companion` option, or companion="https://…"', 'missing-companion'); return undefined }
      parent.children[index] = block(room, companion, ordinal++) as unknown as RootContent
      return SKIP
    })
  }
}
