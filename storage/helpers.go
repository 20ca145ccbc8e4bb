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
