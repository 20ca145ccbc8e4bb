// Package stateres owns Matrix state resolution for the room versions this
// module speaks: state resolution v2 for room versions 10 and 11, and
// state resolution v2.1 (MSC4297) for room version 12, including v12's
// creator rules (domainless room IDs, the create event implied rather than
// listed in auth_events, and room creators with infinite power level).
//
// The algorithm is the one on the spec's room-version pages:
// https://spec.matrix.org/latest/rooms/v11/#state-resolution and
// https://spec.matrix.org/latest/rooms/v12/#state-resolution. Event
// parsing and the authorisation rules come from gomatrixserverlib
// (gomatrixserverlib.Allowed); everything else (conflicted and unconflicted
// state, auth difference, conflicted state subgraph, reverse topological
// power ordering, mainline ordering, iterative auth checks, final merge) is
// implemented here.
//
// Where implementations read the spec differently this package follows the
// spec text, with one exception that testdata/README.md explains: in the
// auth difference each state set's full auth chain counts the set's own
// state events, as Synapse does, so an unconflicted event is never in the
// auth difference (read literally, an event's auth chain excludes the
// event itself and an unconflicted event could be; we follow Synapse so
// as to resolve rooms as the servers we federate with do, and
// gomatrixserverlib's results agree). The differential tests name every
// way gomatrixserverlib's resolver departs from the spec (quirks_test.go),
// each with a testdata/gmsl_* case.
//
// Speed (BenchmarkResolve, BenchmarkSplit): only the conflicted events and
// their auth chains are loaded, and the unconflicted events (a big room's
// whole membership) only when the auth difference cannot be settled
// without them. Big sets are compared by where their strings live before
// any is compared by content (split.go: the package's one use of unsafe,
// for addresses it only compares, never follows).
//
// The package is a pure function of its inputs: Resolve takes the state
// sets and an Events source and returns the resolved state. It keeps no
// state between calls, prints nothing, and reports problems as errors,
// never panics. It must not import federation, storage or the root
// package; the rooms package adapts its store to the Events interface.
package stateres
