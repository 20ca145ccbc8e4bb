// Package federation is the wire: inbound routes of the server-server API,
// X-Matrix request authentication, the key server and notary, the outbound
// client and transport, and the persistent send queue.
//
// It turns HTTP into calls on the rooms package and room changes back into
// HTTP. It does not decide what an event means: hashes, signatures and auth
// rules are checked in rooms; federation only checks who is talking and
// that what they sent is well-formed.
//
// federation imports rooms and storage; it must not import the root
// package, invites, powerlevels or ephemeral.
package federation
