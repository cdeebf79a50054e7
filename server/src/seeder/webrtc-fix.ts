// The end-of-candidates fix for WebRTC in Node.
//
// webrtc-polyfill (node-datachannel), which simple-peer 10 uses in Node, never dispatches the final
// `icecandidate` event whose candidate is null. simple-peer runs with trickle:false under
// bittorrent-tracker, so it waits for that event before it sends an offer or answer, and falls back
// to its 5 s iceCompleteTimeout on each side: node<->node wires take 10 s, and browser<->node offers
// and answers cross and destroy each other (0 of 3 downloads succeeded; 6 of 6 with this fix).
//
// The fix: when a connection's ICE gathering state becomes `complete`, dispatch one icecandidate
// event with candidate null, as browsers do. Patched on the prototype, once, so every connection
// simple-peer creates has it, without touching node_modules.
const PATCHED = Symbol.for('trickle.endOfCandidates')

interface PeerConnectionLike extends EventTarget {
  readonly iceGatheringState: string
}

export interface PeerConnectionClass {
  prototype: PeerConnectionLike
}

/**
 * Patches a RTCPeerConnection class so that gathering `complete` is followed by the end-of-candidates
 * event `makeEvent()` builds. Returns false when it was patched already.
 */
export function addEndOfCandidates (PeerConnection: PeerConnectionClass, makeEvent: () => Event): boolean {
  const proto = PeerConnection.prototype as PeerConnectionLike & { [PATCHED]?: true }
  if (proto[PATCHED]) return false
  const original = proto.dispatchEvent
  const ended = new WeakSet<object>()
  proto.dispatchEvent = function (this: PeerConnectionLike, event: Event): boolean {
    // A polyfill that learns to send its own null candidate must not get a second one.
    if (event.type === 'icecandidate' && (event as Event & { candidate?: unknown }).candidate == null) ended.add(this)
    const result = original.call(this, event)
    if (event.type === 'icegatheringstatechange' && this.iceGatheringState === 'complete' && !ended.has(this)) {
      ended.add(this)
      original.call(this, makeEvent())
    }
    return result
  }
  Object.defineProperty(proto, PATCHED, { value: true })
  return true
}

/** Applies the fix to webrtc-polyfill's RTCPeerConnection (the one simple-peer imports in Node). */
export async function installEndOfCandidatesFix (): Promise<boolean> {
  const { RTCPeerConnection, RTCPeerConnectionIceEvent } = await import('webrtc-polyfill')
  // webrtc-polyfill's event takes the candidate as its only argument (lib/Events.js).
  const IceEvent = RTCPeerConnectionIceEvent as unknown as new (candidate: null) => Event
  return addEndOfCandidates(RTCPeerConnection as unknown as PeerConnectionClass, () => new IceEvent(null))
}
