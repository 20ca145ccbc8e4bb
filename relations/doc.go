// Package relations owns the rules of relations between events: which edits
// are valid and which one is the latest, how reactions aggregate, how
// replies and thread messages (with their fallback) are formed, and who may
// redact whose events and when a received redaction is applied. It works on
// events already stored and never does I/O.
//
// It imports only the content package, the standard library and
// gomatrixserverlib/spec; nothing else of this module (no rooms, storage or
// federation).
//
// The spec sections it implements:
//   - Event replacements (m.replace): https://spec.matrix.org/latest/client-server-api/#event-replacements
//   - Event annotations and reactions: https://spec.matrix.org/latest/client-server-api/#event-annotations-and-reactions
//   - Threading: https://spec.matrix.org/latest/client-server-api/#threading
//   - Rich replies: https://spec.matrix.org/latest/client-server-api/#rich-replies
//   - Redactions: https://spec.matrix.org/latest/client-server-api/#redactions
//   - Redactions over federation (the domain match): https://spec.matrix.org/latest/rooms/v11/#handling-redactions
//
// Nothing here recurses on relations: walking a reply chain is bounded and
// stops at a cycle (see ReplyChain).
package relations
