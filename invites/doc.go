// Package invites owns the invite lifecycle (pending -> accepted | rejected | revoked) in both directions, and parses federated user IDs and the host's /federation dm command.
package invites
