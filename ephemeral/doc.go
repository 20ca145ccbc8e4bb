// Package ephemeral owns the ephemeral EDUs a chat host cares about:
// m.receipt (read receipts), m.typing and m.presence. It is pure logic:
// the EDUs' wire shapes (encode, decode with bounds), the checks an inbound
// EDU must pass, the outbound coalescers that turn bursts of receipts or
// presence changes into one EDU per destination (and room, for receipts),
// the typing tracker with its expiry and refresh timers, the presence
// tracker with its idle, timeout and ping timers, and the "who has read
// this message" model.
//
// It does no I/O of its own: callers hand it a RoomView (receipts, typing)
// or a SharesRoom callback (presence) for the checks, and callbacks that
// queue EDUs or tell the host. Time comes from a Clock, so tests drive the
// timers by hand. Typing and presence live in memory only.
//
// It may import storage and gomatrixserverlib/spec; it must not import
// federation, rooms or the root package.
//
// Spec: https://spec.matrix.org/v1.16/server-server-api/#receipts,
// https://spec.matrix.org/v1.16/server-server-api/#typing-notifications and
// https://spec.matrix.org/v1.16/server-server-api/#presence
package ephemeral
