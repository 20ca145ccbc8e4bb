package content

import (
	"encoding/json"
	"reflect"
	"testing"
)

// https://spec.matrix.org/v1.16/client-server-api/#mroomcanonical_alias
func TestCanonicalAliasWithout(t *testing.T) {
	const gone = "#old:hs.test"
	tests := map[string]struct {
		in      string
		want    string // "" when unchanged
		changed bool
	}{
		"the alias":                 {`{"alias":"#old:hs.test"}`, `{}`, true},
		"the alias, alts kept":      {`{"alias":"#old:hs.test","alt_aliases":["#b:hs.test"]}`, `{"alt_aliases":["#b:hs.test"]}`, true},
		"an alt alias":              {`{"alias":"#a:hs.test","alt_aliases":["#b:hs.test","#old:hs.test"]}`, `{"alias":"#a:hs.test","alt_aliases":["#b:hs.test"]}`, true},
		"the last alt alias":        {`{"alias":"#a:hs.test","alt_aliases":["#old:hs.test"]}`, `{"alias":"#a:hs.test"}`, true},
		"both, other keys kept":     {`{"alias":"#old:hs.test","alt_aliases":["#old:hs.test",7],"x.custom":{"k":1}}`, `{"alt_aliases":[7],"x.custom":{"k":1}}`, true},
		"named nowhere":             {`{"alias":"#a:hs.test","alt_aliases":["#b:hs.test"]}`, "", false},
		"empty content":             {`{}`, "", false},
		"alt_aliases not an array":  {`{"alias":"#a:hs.test","alt_aliases":"#old:hs.test"}`, "", false},
		"alias not a string":        {`{"alias":["#old:hs.test"]}`, "", false},
		"another alias of a prefix": {`{"alias":"#old:hs.test.evil"}`, "", false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, changed, err := CanonicalAliasWithout([]byte(tc.in), gone)
			if err != nil {
				t.Fatal(err)
			}
			if changed != tc.changed {
				t.Fatalf("changed = %v, want %v (%s)", changed, tc.changed, got)
			}
			want := tc.want
			if want == "" {
				want = tc.in
			}
			var g, w any
			if json.Unmarshal(got, &g) != nil || json.Unmarshal([]byte(want), &w) != nil || !reflect.DeepEqual(g, w) {
				t.Errorf("got %s, want %s", got, want)
			}
		})
	}
	if _, _, err := CanonicalAliasWithout([]byte(`[1]`), gone); err == nil {
		t.Error("a content that is not an object was accepted")
	}
}
