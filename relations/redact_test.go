package relations

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseRedactLevels(t *testing.T) {
	tests := map[string]struct {
		in   string
		want RedactLevels
	}{
		"no power levels event": {``, RedactLevels{Redact: 50}},
		"defaults":              {`{}`, RedactLevels{Redact: 50}},
		"full": {`{"redact":75,"users_default":10,"users":{"@mod:a.org":50,"@owner:a.org":100}}`,
			RedactLevels{Redact: 75, UsersDefault: 10, Users: map[string]int64{"@mod:a.org": 50, "@owner:a.org": 100}}},
		"redact 0":              {`{"redact":0}`, RedactLevels{Redact: 0}},
		"negative levels":       {`{"redact":-5,"users_default":-10}`, RedactLevels{Redact: -5, UsersDefault: -10}},
		"string redact ignored": {`{"redact":"0"}`, RedactLevels{Redact: 50}},
		"float redact ignored":  {`{"redact":0.5}`, RedactLevels{Redact: 50}},
		"bool ignored":          {`{"redact":true,"users_default":false}`, RedactLevels{Redact: 50}},
		"huge number ignored":   {`{"redact":1e400}`, RedactLevels{Redact: 50}},
		"bad user level ignored, others kept": {`{"users":{"@a:x":"100","@b:x":60,"@c:x":null}}`,
			RedactLevels{Redact: 50, Users: map[string]int64{"@b:x": 60}}},
		"users not an object: scalars still read": {`{"redact":20,"users":[1]}`, RedactLevels{Redact: 20}},
		"content an array":                        {`[{"redact":0}]`, RedactLevels{Redact: 50}},
		"content null":                            {`null`, RedactLevels{Redact: 50}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := ParseRedactLevels([]byte(tc.in), nil); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseRedactLevels(%s) = %+v, want %+v", tc.in, got, tc.want)
			}
		})
	}
	creators := []string{"@c:a.org"}
	if got := ParseRedactLevels([]byte(`{}`), creators); !reflect.DeepEqual(got.Creators, creators) {
		t.Errorf("creators = %v", got.Creators)
	}
}

func TestMayRedact(t *testing.T) {
	levels := ParseRedactLevels([]byte(`{"users":{"@mod:a.org":50,"@owner:a.org":100,"@helper:b.org":49}}`), nil)
	v12 := ParseRedactLevels([]byte(`{"users":{"@mod:a.org":50}}`), []string{"@creator:a.org"})
	strict := ParseRedactLevels([]byte(`{"redact":101,"users":{"@owner:a.org":100}}`), nil)
	tests := map[string]struct {
		levels           RedactLevels
		redacter, target string
		want             bool
	}{
		"own event":                         {levels, "@alice:a.org", "@alice:a.org", true},
		"own event even when redact is 101": {strict, "@alice:a.org", "@alice:a.org", true},
		"moderator, another's event":        {levels, "@mod:a.org", "@alice:a.org", true},
		"owner":                             {levels, "@owner:a.org", "@alice:a.org", true},
		"one below the level":               {levels, "@helper:b.org", "@alice:a.org", false},
		"user, another's event":             {levels, "@alice:a.org", "@bob:b.org", false},
		"same server is not enough here":    {levels, "@alice2:a.org", "@alice:a.org", false},
		"owner under a level of 101":        {strict, "@owner:a.org", "@alice:a.org", false},
		"v12 creator: infinite power":       {v12, "@creator:a.org", "@mod:a.org", true},
		"v12 moderator":                     {v12, "@mod:a.org", "@alice:a.org", true},
		"v12 user":                          {v12, "@alice:a.org", "@creator:a.org", false},
		"users_default reaches the level":   {ParseRedactLevels([]byte(`{"users_default":50}`), nil), "@anyone:z.org", "@alice:a.org", true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := MayRedact(tc.levels, tc.redacter, tc.target); got != tc.want {
				t.Errorf("MayRedact(%s, %s) = %v, want %v", tc.redacter, tc.target, got, tc.want)
			}
		})
	}
}

func TestCheckApplyRedaction(t *testing.T) {
	levels := ParseRedactLevels([]byte(`{"users":{"@mod:c.org":50}}`), nil)
	target := Event{EventID: "$t", RoomID: "!r:a.org", Type: TypeMessage, Sender: "@alice:a.org"}
	red := func(sender string, mod func(*Event)) Event {
		e := Event{EventID: "$red", RoomID: "!r:a.org", Type: TypeRedaction, Sender: sender, Redacts: "$t"}
		if mod != nil {
			mod(&e)
		}
		return e
	}
	tests := map[string]struct {
		redaction Event
		reason    string // "" when applied
	}{
		"own event":                                   {red("@alice:a.org", nil), ""},
		"same server, another user":                   {red("@admin:a.org", nil), ""},
		"moderator on a third server":                 {red("@mod:c.org", nil), ""},
		"remote user of a third server without power": {red("@mallory:c.org", nil), "not on the server"},
		"remote server's user without power":          {red("@bob:b.org", nil), "not on the server"},
		"other room":                                  {red("@alice:a.org", func(e *Event) { e.RoomID = "!other:a.org" }), "another room"},
		"names another event":                         {red("@alice:a.org", func(e *Event) { e.Redacts = "$else" }), "not $t"},
		"not a redaction":                             {red("@alice:a.org", func(e *Event) { e.Type = TypeMessage }), "not a redaction"},
		"invalid sender ID":                           {red("alice:a.org", nil), "not on the server"},
		"a port is part of the server": {func() Event {
			return red("@admin:a.org:8448", nil)
		}(), "not on the server"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := CheckApplyRedaction(levels, tc.redaction, target)
			if tc.reason == "" {
				if err != nil {
					t.Fatalf("CheckApplyRedaction = %v, want applied", err)
				}
				return
			}
			if !errors.Is(err, ErrRedactionNotApplied) || !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("CheckApplyRedaction = %v, want ErrRedactionNotApplied with %q", err, tc.reason)
			}
		})
	}
}

func TestSameServer(t *testing.T) {
	tests := map[string]struct {
		a, b string
		want bool
	}{
		"same":                               {"@a:example.org", "@b:example.org", true},
		"different":                          {"@a:example.org", "@a:example.com", false},
		"port differs":                       {"@a:example.org:8448", "@b:example.org", false},
		"same port":                          {"@a:example.org:8448", "@b:example.org:8448", true},
		"ipv6 literal":                       {"@a:[::1]:8448", "@b:[::1]:8448", true},
		"ipv6 port differs":                  {"@a:[::1]:8448", "@b:[::1]:8449", false},
		"ipv6 vs its last group":             {"@a:[::1]", "@b:1]", false},
		"ipv4":                               {"@a:1.2.3.4", "@b:1.2.3.4", true},
		"colon in localpart is not a server": {"@a:b:example.org", "@c:example.org", false},
		"not a user ID":                      {"example.org", "@b:example.org", false},
		"both invalid":                       {"", "", false},
		"bad server name":                    {"@a:exa mple.org", "@b:exa mple.org", false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := SameServer(tc.a, tc.b); got != tc.want {
				t.Errorf("SameServer(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
			}
		})
	}
}
