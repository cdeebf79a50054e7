// Paid video calls in the page ({{< call room="…" >}}): the room's rate from the companion, a join
// button that has the companion spend the first period from this reader's balance (credited from
// their Web Monetization payments, as for sealed sections and downloads), then the camera and
// microphone (asked only now), the companion's signalling, and a WebRTC connection to every other
// participant (a full mesh: the newcomer offers, the others answer). The companion spends each next
// period as it starts; when it cannot, it removes the reader and tells the others to drop them.
// The host opens the page with #host=<host token> and joins without paying. A Jitsi room is shown in
// a frame of this page, with the signalling socket kept open: that is how the companion bills it and
// takes the reader out when the payment stops.
import { formatAmount } from './amounts.ts'
import { readerBalance } from './balance.ts'
import { followCredits } from './credit.ts'
import { onPayment, type Payment } from './monetization.ts'

interface Strings {
  price: string; priceLoading: string; join: string; joinHost: string; waiting: string; needAgent: string; connecting: string
  joined: string; paid: string; removedPayment: string; removedHost: string; left: string; closed: string; disconnected: string
  full: string; notOpen: string; ended: string; unreachable: string; noCamera: string; you: string; host: string; remove: string; failed: string
}
interface Config { locale?: string, i18n: Strings }

interface RoomView {
  title: string
  rate: { amount: string, assetCode: string, assetScale: number }
  periodAmount: string
  asset: { assetCode: string, assetScale: number }
  periodSeconds: number
  status: 'open' | 'not_open_yet' | 'ended'
  startsAt?: string
  full: boolean
  mode: 'mesh' | 'jitsi'
}
interface Joined {
  ticket: string; attendee: string; role: 'host' | 'attendee'; charged: string; periodAmount: string; asset: { assetCode: string, assetScale: number }
  signal: string; iceServers: RTCIceServer[]; jitsi?: { domain: string, room: string, jwt: string }
}
interface Refusal { code?: string, message?: string, price?: string, balance?: string }
interface PeerInfo { id: string, name: string, role: 'host' | 'attendee' }

const fill = (s: string, v: Record<string, string>) => s.replace(/\{(\w+)\}/g, (_, k: string) => v[k] ?? '')
/** Agents ask for no more time than this to pay the first period before the block says none is coming. */
const NO_PAYMENT_MS = 12_000

function main () {
  const el = document.getElementById('trickle-call-config')
  if (!el?.textContent) return
  const config = JSON.parse(el.textContent) as Config
  const t = config.i18n
  const listeners = new Set<(p: Payment) => void>()
  onPayment((p) => { for (const l of listeners) l(p) }, () => {})
  const hostToken = /(?:^|&)host=([A-Za-z0-9_-]{43})(?:&|$)/.exec(location.hash.slice(1))?.[1]

  for (const block of document.querySelectorAll<HTMLElement>('[data-trickle-call]')) {
    const room = block.dataset.room ?? ''
    const companion = (block.dataset.companion ?? '').replace(/\/+$/, '')
    const q = <T extends HTMLElement>(sel: string) => block.querySelector<T>(sel)
    const join = q<HTMLButtonElement>('[data-trickle-call-join]')
    const leave = q<HTMLButtonElement>('[data-trickle-call-leave]')
    const status = q<HTMLElement>('[data-trickle-call-status]')
    const priceBox = q<HTMLElement>('[data-trickle-call-price]')
    const paidBox = q<HTMLElement>('[data-trickle-call-paid]')
    const videos = q<HTMLUListElement>('[data-trickle-call-videos]')
    if (!join || !leave || !status || !priceBox || !paidBox || !videos) continue
    const say = (text: string, state: string) => { status.textContent = text; block.dataset.state = state }
    if (hostToken) join.textContent = t.joinHost

    let view: RoomView | undefined
    const loadRoom = async () => {
      try {
        const res = await fetch(`${companion}/calls/rooms/${room}`)
        if (!res.ok) { say(fill(t.failed, { reason: ((await res.json()) as Refusal).message ?? `HTTP ${res.status}` }), 'failed'); join.disabled = true; return }
        view = await res.json() as RoomView
        priceBox.textContent = fill(t.price, { price: formatAmount(BigInt(view.rate.amount), view.rate.assetCode, view.rate.assetScale, config.locale) })
        if (view.status === 'not_open_yet') say(fill(t.notOpen, { time: new Date(view.startsAt!).toLocaleString(config.locale) }), 'not-open')
        else if (view.status === 'ended') { say(t.ended, 'ended'); join.disabled = true } else if (view.full) say(t.full, 'full')
      } catch {
        say(t.unreachable, 'unreachable')
      }
    }
    void loadRoom()

    const money = (units: bigint, asset: { assetCode: string, assetScale: number }) => formatAmount(units, asset.assetCode, asset.assetScale, config.locale)
    let socket: WebSocket | undefined
    let media: MediaStream | null = null
    const peers = new Map<string, { pc: RTCPeerConnection, item: HTMLLIElement, info: PeerInfo }>()
    let me: PeerInfo | undefined
    let ending: string | undefined

    const cleanup = () => {
      jitsiFrame?.remove()
      jitsiFrame = undefined
      for (const p of peers.values()) { p.pc.close(); p.item.remove() }
      peers.clear()
      for (const track of media?.getTracks() ?? []) track.stop()
      media = null
      videos.replaceChildren()
      leave.hidden = true
      join.hidden = false
      join.disabled = false
    }
    const end = (text: string, state: string) => {
      ending = state
      cleanup()
      say(text, state)
      socket?.close()
      socket = undefined
    }

    const videoItem = (label: string, stream: MediaStream | null, muted: boolean) => {
      const item = document.createElement('li')
      item.className = 'trickle-call__video'
      const figure = document.createElement('figure')
      const video = document.createElement('video')
      video.autoplay = true
      video.playsInline = true
      video.muted = muted
      video.setAttribute('aria-label', label)
      if (stream) video.srcObject = stream
      const caption = document.createElement('figcaption')
      caption.textContent = label
      figure.append(video, caption)
      item.append(figure)
      videos.append(item)
      return { item, video }
    }

    const send = (v: unknown) => { if (socket?.readyState === WebSocket.OPEN) socket.send(JSON.stringify(v)) }

    const addPeer = (info: PeerInfo, initiator: boolean, iceServers: RTCIceServer[]) => {
      const existing = peers.get(info.id)
      if (existing) return existing
      const pc = new RTCPeerConnection({ iceServers })
      const label = info.role === 'host' ? fill(t.host, { name: info.name }) : info.name
      const { item, video } = videoItem(label, null, false)
      item.dataset.peer = info.id
      if (me?.role === 'host' && info.role !== 'host') {
        const remove = document.createElement('button')
        remove.type = 'button'
        remove.className = 'trickle-call__remove'
        remove.textContent = fill(t.remove, { name: info.name })
        remove.addEventListener('click', () => send({ type: 'remove', id: info.id }))
        item.append(remove)
      }
      for (const track of media?.getTracks() ?? []) pc.addTrack(track, media!)
      // Receive even without a camera of our own.
      if (!media) { pc.addTransceiver('video', { direction: 'recvonly' }); pc.addTransceiver('audio', { direction: 'recvonly' }) }
      pc.ontrack = (e) => { video.srcObject = e.streams[0] ?? new MediaStream([e.track]) }
      pc.onicecandidate = (e) => { send({ type: 'signal', to: info.id, data: { candidate: e.candidate ? e.candidate.toJSON() : null } }) }
      const entry = { pc, item, info }
      peers.set(info.id, entry)
      if (initiator) {
        void pc.createOffer().then((o) => pc.setLocalDescription(o)).then(() => send({ type: 'signal', to: info.id, data: { type: 'offer', sdp: pc.localDescription!.sdp } }))
      }
      return entry
    }

    /** Where the call is shown: the mesh's videos, or the Jitsi room's frame. */
    let jitsiFrame: HTMLIFrameElement | undefined
    let attendee: string | undefined
    let resumes = 0

    const connect = (j: Joined) => {
      attendee = j.attendee
      say(t.connecting, 'connecting')
      ending = undefined
      join.hidden = true
      leave.hidden = false
      // The ticket is claimed at once (it is short-lived); the camera prompt may take its time after.
      const ws = new WebSocket(j.signal)
      socket = ws
      ws.onopen = () => { ws.send(JSON.stringify({ type: 'hello', ticket: j.ticket })) }
      let mediaAsked: Promise<void> | undefined
      const withMedia = () => mediaAsked ??= (async () => {
        if (j.jitsi) return
        if (!media) {
          try { media = await navigator.mediaDevices.getUserMedia({ video: true, audio: true }) } catch { media = null }
        }
        if (!videos.querySelector('[data-self]')) videoItem(t.you, media, true).item.dataset.self = ''
      })()
      // Messages are handled in order, each once the camera question is settled.
      let queue = Promise.resolve()
      ws.onmessage = (ev) => { queue = queue.then(withMedia).then(() => handle(JSON.parse(String(ev.data)) as Record<string, unknown>)).catch(() => {}) }
      const handle = (m: Record<string, unknown>) => {
        switch (m.type) {
          case 'welcome': {
            me = m.you as PeerInfo
            resumes = 0
            block.dataset.attendee = me.id
            say(media || j.jitsi ? t.joined : `${t.joined} ${t.noCamera}`, 'joined')
            if (j.role === 'attendee') { paidBox.hidden = false; paidBox.textContent = fill(t.paid, { paid: money(BigInt(String(m.paid)), j.asset) }) }
            if (j.jitsi && !jitsiFrame) {
              // A self-hosted Jitsi room: its name and the JWT came with the paid join, never with the page.
              // It stays in this page, so the companion's removal (below) takes the reader out of it.
              jitsiFrame = document.createElement('iframe')
              jitsiFrame.className = 'trickle-call__jitsi'
              jitsiFrame.title = block.querySelector('[data-trickle-call-title]')?.textContent ?? ''
              jitsiFrame.allow = 'camera; microphone; display-capture; autoplay'
              jitsiFrame.src = `https://${j.jitsi.domain}/${encodeURIComponent(j.jitsi.room)}?jwt=${encodeURIComponent(j.jitsi.jwt)}`
              videos.after(jitsiFrame)
            }
            for (const p of m.peers as PeerInfo[]) addPeer(p, true, j.iceServers)
            break
          }
          case 'peer-joined': addPeer(m.peer as PeerInfo, false, j.iceServers); break
          case 'peer-left': {
            const p = peers.get(String(m.id))
            if (p) { p.pc.close(); p.item.remove(); peers.delete(String(m.id)) }
            break
          }
          case 'signal': {
            const from = String(m.from)
            const data = m.data as { type?: 'offer' | 'answer', sdp?: string, candidate?: RTCIceCandidateInit | null }
            const p = peers.get(from)
            if (!p) break
            if (data.type === 'offer') {
              void p.pc.setRemoteDescription({ type: 'offer', sdp: data.sdp! }).then(() => p.pc.createAnswer()).then((a) => p.pc.setLocalDescription(a))
                .then(() => send({ type: 'signal', to: from, data: { type: 'answer', sdp: p.pc.localDescription!.sdp } }))
            } else if (data.type === 'answer') {
              void p.pc.setRemoteDescription({ type: 'answer', sdp: data.sdp! })
            } else if (data.candidate) {
              void p.pc.addIceCandidate(data.candidate).catch(() => {})
            }
            break
          }
          case 'billed': paidBox.textContent = fill(t.paid, { paid: money(BigInt(String(m.paid)), j.asset) }); break
          case 'removed': {
            const reason = String(m.reason)
            end(reason === 'payment_stopped' ? t.removedPayment : reason === 'removed_by_host' ? t.removedHost : t.closed, reason === 'payment_stopped' ? 'removed' : reason === 'removed_by_host' ? 'removed-by-host' : 'closed')
            break
          }
          case 'error': if (m.code !== 'unknown_peer' && m.code !== 'peer_busy') say(fill(t.failed, { reason: String(m.message) }), 'failed'); break
        }
      }
      ws.onclose = () => {
        if (socket !== ws || ending !== undefined) return
        // The connection dropped: the companion keeps this reader's place for a while; take it back
        // with a new ticket (nothing spent), a few times, before giving up.
        for (const p of peers.values()) { p.pc.close(); p.item.remove() }
        peers.clear()
        if (resumes++ < 3 && attendee) {
          say(t.connecting, 'connecting')
          setTimeout(() => { void resume(attendee!) }, 1000 * resumes)
        } else {
          end(t.disconnected, 'disconnected')
        }
      }
    }

    const resume = async (id: string) => {
      try {
        const { secret } = await readerBalance()
        const res = await fetch(hostToken ? `${companion}/calls/rooms/${room}/host` : `${companion}/calls/rooms/${room}/join`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...(hostToken ? { authorization: `Bearer ${hostToken}` } : {}) },
          body: JSON.stringify(hostToken ? { resume: id } : { secret, resume: id })
        })
        if (!res.ok) { end(t.disconnected, 'disconnected'); return }
        connect(await res.json() as Joined)
      } catch {
        end(t.disconnected, 'disconnected')
      }
    }

    /** One attempt to join; a refusal for want of payment waits for the next credit. */
    const attempt = async (): Promise<'joined' | 'waiting' | 'refused'> => {
      const { secret } = await readerBalance()
      const res = await fetch(hostToken ? `${companion}/calls/rooms/${room}/host` : `${companion}/calls/rooms/${room}/join`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(hostToken ? { authorization: `Bearer ${hostToken}` } : {}) },
        body: JSON.stringify(hostToken ? {} : { secret })
      })
      const body = await res.json() as Joined & Refusal
      if (res.ok) { connect(body); return 'joined' }
      if (res.status === 402 && view) {
        const price = BigInt(body.price ?? view.periodAmount)
        say(fill(t.waiting, { paid: money(BigInt(body.balance ?? 0), view.asset), price: money(price, view.asset), seconds: String(view.periodSeconds) }), 'waiting')
        return 'waiting'
      }
      join.disabled = false
      if (body.code === 'room_full') say(t.full, 'full')
      else if (body.code === 'room_not_open') say(fill(t.notOpen, { time: view?.startsAt ? new Date(view.startsAt).toLocaleString(config.locale) : '' }), 'not-open')
      else if (body.code === 'room_ended') { say(t.ended, 'ended'); join.disabled = true } else say(fill(t.failed, { reason: body.message ?? `HTTP ${res.status}` }), 'failed')
      return 'refused'
    }

    join.addEventListener('click', () => {
      join.disabled = true
      void (async () => {
        try {
          const first = await attempt()
          if (first !== 'waiting') return
          // Each credit of this reader's payments may cover the first period: try again then.
          const { id } = await readerBalance()
          let trying = false
          let done = false
          const follower = followCredits(companion, async () => id, () => {
            if (trying || done) return
            trying = true
            attempt().then((r) => { if (r !== 'waiting') { done = true; listeners.delete(listener) } }, () => say(t.unreachable, 'unreachable')).finally(() => { trying = false })
          }, () => say(t.unreachable, 'unreachable'))
          const listener = (p: Payment) => { follower.submit(p) }
          listeners.add(listener)
          setTimeout(() => { if (!done && block.dataset.state === 'waiting') say(t.needAgent, 'waiting') }, NO_PAYMENT_MS)
        } catch {
          join.disabled = false
          say(t.unreachable, 'unreachable')
        }
      })()
    })
    // Closing or leaving the page ends the call at once (else the companion keeps the place a while).
    addEventListener('pagehide', () => { if (socket) send({ type: 'leave' }) })
    leave.addEventListener('click', () => {
      send({ type: 'leave' })
      end(t.left, 'left')
    })
  }
}

main()
