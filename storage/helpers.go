package storage

import (
	"fmt"
	"sort"
)

// ParseStatus reads an EventStatus back from its String form, as stores
// write it.
func ParseStatus(s string) (EventStatus, error) {
	for _, st := range []EventStatus{StatusAccepted, StatusRejected, StatusSoftFailed, StatusParked} {
		if s == st.String() {
			return st, nil
		}
	}
	return 0, fmt.Errorf("storage: unknown event status %q", s)
}

// ApplyDelta returns the full state that base becomes under delta (later
// delta entries win; an empty EventID removes the key), sorted by (type,
// state_key). Stores use it to turn a chain of snapshot deltas into a full
// copy.
func ApplyDelta(base, delta []StateEntry) []StateEntry {
	full := make(map[[2]string]string, len(base)+len(delta))
	for _, e := range base {
		full[[2]string{e.Type, e.StateKey}] = e.EventID
	}
	for _, d := range delta {
		k := [2]string{d.Type, d.StateKey}
		if d.EventID == "" {
			delete(full, k)
		} else {
			full[k] = d.EventID
		}
	}
	out := make([]StateEntry, 0, len(full))
	for k, v := range full {
		out = append(out, StateEntry{Type: k[0], StateKey: k[1], EventID: v})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Type != out[j].Type {
			return out[i].Type < out[j].Type
		}
		return out[i].StateKey < out[j].StateKey
	})
	return out
}

// ValidateRoomWrite checks what WriteRoom must refuse in the relations and
// redactions of w, before a store writes anything: a Relation whose
// EventID or RoomID is neither empty nor the event's, or whose TargetID or
// RelType is empty; a Redaction with an empty RedactionID or TargetID; a
// Redact entry with an empty EventID or RedactedBy.
func ValidateRoomWrite(w RoomWrite) error {
	for i, u := range w.Events {
		r := u.Relation
		if r == nil {
			continue
		}
		e := u.Event
		switch {
		case r.EventID != "" && r.EventID != e.EventID:
			return fmt.Errorf("storage: event %d (%s): relation of another event %s", i, e.EventID, r.EventID)
		case r.RoomID != "" && r.RoomID != e.RoomID:
			return fmt.Errorf("storage: event %d (%s): relation in another room %s", i, e.EventID, r.RoomID)
		case r.TargetID == "":
			return fmt.Errorf("storage: event %d (%s): relation with an empty target", i, e.EventID)
		case r.RelType == "":
			return fmt.Errorf("storage: event %d (%s): relation with an empty rel_type", i, e.EventID)
		}
	}
	for i, r := range w.Redactions {
		if r.RedactionID == "" || r.TargetID == "" {
			return fmt.Errorf("storage: redaction %d (%q of %q): empty redaction or target ID", i, r.RedactionID, r.TargetID)
		}
	}
	for i, r := range w.Redact {
		if r.EventID == "" || r.RedactedBy == "" {
			return fmt.Errorf("storage: redact %d (%q by %q): empty event or redaction ID", i, r.EventID, r.RedactedBy)
		}
	}
	return nil
}

// IndexedRelation returns the relation row a store writes for u, with its
// EventID and RoomID filled from the event, and whether there is one to
// write: u has a Relation, and its event is accepted and not redacted.
// Call it with the event as it is written (a rewritten redacted event
// keeps its RedactedBy), after ValidateRoomWrite.
func IndexedRelation(u EventUpdate) (Relation, bool) {
	if u.Relation == nil || u.Event.Status != StatusAccepted || u.Event.RedactedBy != "" {
		return Relation{}, false
	}
	r := *u.Relation
	r.EventID, r.RoomID, r.StreamPos = u.Event.EventID, u.Event.RoomID, 0
	return r, true
}
