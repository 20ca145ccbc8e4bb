// Package receipts owns the ephemeral EDUs a chat host cares about:
// m.receipt (read receipts) and m.typing. It is pure logic: the EDUs'
// wire shapes (encode, decode with bounds), the checks an inbound EDU must
// pass, the outbound coalescer that turns bursts of read receipts into one
// EDU per (room, destination), the typing tracker with its expiry and
// refresh timers, and the "who has read this message" model.
//
// It does no I/O of its own: callers hand it a RoomView for the checks
// and callbacks that queue EDUs or tell the host. Time comes from a Clock,
// so tests drive the timers by hand.
//
// It may import storage and gomatrixserverlib/spec; it must not import
// federation, rooms or the root package.
//
// Spec: https://spec.matrix.org/v1.16/server-server-api/#receipts and
// https://spec.matrix.org/v1.16/server-server-api/#typing-notifications
package receipts
