// Package ids owns the grammar of Matrix identifiers: user IDs (current
// and historical), room IDs, event IDs, room aliases and server names,
// as the spec's appendices define them. Server names may carry a port or
// be an IPv4 or bracketed IPv6 literal, so nothing here (or in a caller)
// splits an ID on ':' by hand.
//
// ids is a leaf: it imports the standard library and gomatrixserverlib's
// spec package only, nothing of this module.
package ids
