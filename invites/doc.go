// Package invites owns the invite lifecycle (pending -> accepted | rejected
// | revoked) in both directions, and parses the host's /federation dm
// command. User ID grammar lives in package ids. invites must not import
// federation, rooms or the root package.
package invites
