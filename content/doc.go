// Package content owns the typed contents of Matrix events, parsed once:
// m.room.member, m.room.name, m.room.topic, m.room.create, the stripped
// room state of an invite, and the envelope fields (type, room_id, sender,
// state_key, content) of a raw event. Callers parse an event's JSON here
// and read Go fields; no other package reads raw content paths.
//
// Parsing is lenient the way clients of the spec must be: a field of the
// wrong JSON type reads as its zero value rather than failing the whole
// content, so a hostile or sloppy sender cannot hide the fields that are
// well-formed. Only input that is not a JSON object at all is an error.
//
// content is a leaf: it imports the standard library only, nothing of
// this module and no JSON path library.
package content
