// Package interop proves the library against a real, independent Matrix
// homeserver: Dendrite v0.15.2, built from the module in dendritebuild/ and
// run as a separate process on 127.0.0.1. The tests drive our side through
// the library's Go API on a real HTTPS listener in the test process, and
// Dendrite's users through its client-server API.
//
// Run ./run.sh (it builds Dendrite once into a cache directory, then runs
// go test with INTEROP_REQUIRED=1). Without a Dendrite binary the tests
// skip, unless INTEROP_REQUIRED=1, when they fail.
//
// This is a module of its own so that the library's go.mod never depends
// on Dendrite; it uses the library's pinned versions through a replace.
package interop
