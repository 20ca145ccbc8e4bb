package content

import (
	"encoding/json"
	"fmt"
	"slices"
)

// CanonicalAliasWithout returns an m.room.canonical_alias content with
// alias taken out: out of "alias", and out of "alt_aliases" (dropped when
// nothing is left of it), every other member kept as it was. changed is
// false, and the content returned as given, when it named alias in
// neither. An alt_aliases that is not an array is left alone, as Synapse
// does when an alias is deleted.
// https://spec.matrix.org/v1.16/client-server-api/#mroomcanonical_alias
func CanonicalAliasWithout(raw []byte, alias string) (updated json.RawMessage, changed bool, err error) {
	m, err := objectFields(raw)
	if err != nil {
		return nil, false, fmt.Errorf("content: canonical alias: %w", err)
	}
	if fieldString(m, "alias") == alias {
		delete(m, "alias")
		changed = true
	}
	if rawAlt, ok := m["alt_aliases"]; ok {
		var alt []json.RawMessage
		if json.Unmarshal(rawAlt, &alt) == nil && alt != nil {
			before := len(alt)
			kept := slices.DeleteFunc(alt, func(e json.RawMessage) bool {
				var s string
				return len(e) > 0 && e[0] == '"' && json.Unmarshal(e, &s) == nil && s == alias
			})
			if len(kept) != before {
				changed = true
				if len(kept) == 0 {
					delete(m, "alt_aliases")
				} else if m["alt_aliases"], err = json.Marshal(kept); err != nil {
					return nil, false, fmt.Errorf("content: canonical alias: %w", err)
				}
			}
		}
	}
	if !changed {
		return json.RawMessage(raw), false, nil
	}
	if m == nil {
		m = map[string]json.RawMessage{}
	}
	out, err := json.Marshal(m)
	if err != nil {
		return nil, false, fmt.Errorf("content: canonical alias: %w", err)
	}
	return out, true, nil
}
