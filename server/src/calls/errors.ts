// Expected failures of paid calls, as values: the service returns them, routes and the signalling
// socket map them to a status (or a close code) and a message in one table each.
export const CallError = {
  InvalidRoom: 'invalid_room',
  RoomExists: 'room_exists',
  UnknownRoom: 'unknown_room',
  UnknownPointer: 'unknown_pointer',
  UnchargeableRate: 'unchargeable_rate',
  InvalidRate: 'invalid_rate',
  InvalidSize: 'invalid_size',
  InvalidTimes: 'invalid_times',
  JitsiNotConfigured: 'jitsi_not_configured',
  InvalidHostToken: 'invalid_host_token',
  InvalidSecret: 'invalid_balance_secret',
  InvalidName: 'invalid_name',
  NotOpenYet: 'room_not_open',
  Ended: 'room_ended',
  Full: 'room_full',
  NoPayment: 'no_payment',
  PaymentRequired: 'payment_required',
  UnknownAttendee: 'unknown_attendee',
  RemovedByHost: 'removed_by_host',
  UnknownResume: 'unknown_resume'
} as const
export type CallError = typeof CallError[keyof typeof CallError]

export const callErrorStatus: { [E in CallError]: number } = {
  invalid_room: 400,
  room_exists: 409,
  unknown_room: 404,
  unknown_pointer: 400,
  unchargeable_rate: 400,
  invalid_rate: 400,
  invalid_size: 400,
  invalid_times: 400,
  jitsi_not_configured: 400,
  invalid_host_token: 403,
  invalid_balance_secret: 400,
  invalid_name: 400,
  room_not_open: 409,
  room_ended: 410,
  room_full: 409,
  no_payment: 402,
  payment_required: 402,
  unknown_attendee: 404,
  removed_by_host: 403,
  unknown_resume: 409
}

export const callErrorMessage: { [E in CallError]: string } = {
  invalid_room: 'a room id is 1-64 lower-case letters, digits and dashes',
  room_exists: 'a room with this id exists already',
  unknown_room: 'no room has this id',
  unknown_pointer: 'the receiver is not a wallet address or payment pointer this companion can take payments for',
  unchargeable_rate: 'the rate cannot be charged in the receiver\'s asset',
  invalid_rate: 'rate must be {amount, assetCode, assetScale}: a positive whole amount per minute at that scale',
  invalid_size: 'maxParticipants must be a whole number from 2 to the companion\'s mesh limit (more needs a Jitsi room)',
  invalid_times: 'startsAt and endsAt must be ISO dates, with startsAt before endsAt',
  jitsi_not_configured: 'Jitsi rooms need TRICKLE_JITSI_DOMAIN, TRICKLE_JITSI_APP_ID and TRICKLE_JITSI_SECRET',
  invalid_host_token: 'this host token is not this room\'s',
  invalid_balance_secret: 'secret must be the balance secret this reader keeps (43 base64url characters)',
  invalid_name: 'name must be 1-40 characters of text',
  room_not_open: 'the call has not started yet',
  room_ended: 'the call has ended',
  room_full: 'the room is full',
  no_payment: 'no payment to this room\'s receiver has been credited to this balance yet',
  payment_required: 'the balance does not cover the first period yet',
  unknown_attendee: 'nobody in this room has this id',
  removed_by_host: 'the host removed this balance\'s reader from this room',
  unknown_resume: 'nobody of this balance is waiting to reconnect in this room: join again'
}
