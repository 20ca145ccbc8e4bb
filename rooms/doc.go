// Package rooms owns the room DAG: it builds, signs and persists local
// events, checks inbound events (hashes, signatures, auth rules against
// their auth events and against the room's current state), keeps forward
// extremities and current state in the store, and answers the joins other
// servers make through us.
//
// rooms talks to storage through the narrow Store interface below and to
// keys through a gomatrixserverlib.JSONVerifier. It must not import
// federation, the root package, or anything that does HTTP.
package rooms
