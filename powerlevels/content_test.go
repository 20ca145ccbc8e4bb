package powerlevels

import (
	"errors"
	"testing"
)

func TestDefaultContent(t *testing.T) {
	leader, err := NewMapping(map[Role]int64{"leader": 75, RoleOwner: 200, RoleUser: 5})
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		m    *Mapping
		room Room
		want string
	}{
		"v10 lists the creator as owner": {Default(), Room{Version: "10", Creators: []string{"@alice:a.test"}},
			`{"ban":50,"events":{"m.room.encryption":100,"m.room.history_visibility":100,"m.room.name":50,"m.room.power_levels":100,"m.room.server_acl":100,"m.room.tombstone":100,"m.room.topic":50},"events_default":0,"invite":50,"kick":50,"notifications":{"room":50},"redact":50,"state_default":50,"users":{"@alice:a.test":100},"users_default":0}`},
		"v11 lists both owners of a DM": {Default(), Room{Version: "11", Creators: []string{"@alice:a.test", "@bob:b.test"}},
			`{"ban":50,"events":{"m.room.encryption":100,"m.room.history_visibility":100,"m.room.name":50,"m.room.power_levels":100,"m.room.server_acl":100,"m.room.tombstone":100,"m.room.topic":50},"events_default":0,"invite":50,"kick":50,"notifications":{"room":50},"redact":50,"state_default":50,"users":{"@alice:a.test":100,"@bob:b.test":100},"users_default":0}`},
		"v12 lists no creator": {Default(), Room{Version: "12", Creators: []string{"@alice:a.test", "@bob:b.test"}},
			`{"ban":50,"events":{"m.room.encryption":100,"m.room.history_visibility":100,"m.room.name":50,"m.room.power_levels":100,"m.room.server_acl":100,"m.room.tombstone":100,"m.room.topic":50},"events_default":0,"invite":50,"kick":50,"notifications":{"room":50},"redact":50,"state_default":50,"users":{},"users_default":0}`},
		"custom levels": {leader, Room{Version: "10", Creators: []string{"@alice:[::1]:8448"}},
			`{"ban":50,"events":{"m.room.encryption":200,"m.room.history_visibility":200,"m.room.name":50,"m.room.power_levels":200,"m.room.server_acl":200,"m.room.tombstone":200,"m.room.topic":50},"events_default":5,"invite":50,"kick":50,"notifications":{"room":50},"redact":50,"state_default":50,"users":{"@alice:[::1]:8448":200},"users_default":5}`},
		"nil mapping is the default": {nil, Room{Version: "12", Creators: []string{"@alice:a.test"}},
			`{"ban":50,"events":{"m.room.encryption":100,"m.room.history_visibility":100,"m.room.name":50,"m.room.power_levels":100,"m.room.server_acl":100,"m.room.tombstone":100,"m.room.topic":50},"events_default":0,"invite":50,"kick":50,"notifications":{"room":50},"redact":50,"state_default":50,"users":{},"users_default":0}`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := tc.m.DefaultContent(tc.room)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("DefaultContent =\n %s\nwant\n %s", got, tc.want)
			}
			// It parses back to the levels it promises.
			l, err := Parse(tc.room, got)
			if err != nil {
				t.Fatal(err)
			}
			owner, _ := tc.m.Level(RoleOwner)
			for _, c := range tc.room.Creators {
				if got := l.UserLevel(c); got < owner {
					t.Errorf("creator %s has level %d, below owner", c, got)
				}
			}
		})
	}
}

func TestDefaultContentErrors(t *testing.T) {
	tests := map[string]struct {
		room Room
		want error
	}{
		"no creator":       {Room{Version: "10"}, ErrInvalidUserID},
		"bad creator":      {Room{Version: "10", Creators: []string{"alice"}}, ErrInvalidUserID},
		"creator, no host": {Room{Version: "12", Creators: []string{"@alice:"}}, ErrInvalidUserID},
		"unknown version":  {Room{Version: "99", Creators: []string{"@alice:a.test"}}, ErrUnsupportedRoomVersion},
		"empty version":    {Room{Creators: []string{"@alice:a.test"}}, ErrUnsupportedRoomVersion},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := Default().DefaultContent(tc.room)
			if !errors.Is(err, tc.want) {
				t.Fatalf("DefaultContent(%+v) = %s, %v; want %v", tc.room, got, err, tc.want)
			}
		})
	}
}

func TestParse(t *testing.T) {
	v10 := Room{Version: "10", Creators: []string{"@alice:a.test"}}
	v12 := Room{Version: "12", Creators: []string{"@alice:a.test", "@bob:b.test"}}
	tests := map[string]struct {
		room    Room
		content string
		levels  map[string]int64 // user -> expected level
		state   int64            // expected state_default
	}{
		"no event: the creator has 100": {v10, "",
			map[string]int64{"@alice:a.test": 100, "@carol:c.test": 0}, 50},
		"no event in v12: creators are infinite": {v12, "",
			map[string]int64{"@alice:a.test": CreatorLevel, "@bob:b.test": CreatorLevel, "@carol:c.test": 0}, 50},
		"event without users: everyone has users_default": {v10, `{"users_default": 7}`,
			map[string]int64{"@alice:a.test": 7, "@carol:c.test": 7}, 50},
		"v12 creators stay infinite": {v12, `{"users": {"@carol:c.test": 100}, "users_default": 5, "state_default": 20}`,
			map[string]int64{"@alice:a.test": CreatorLevel, "@bob:b.test": CreatorLevel, "@carol:c.test": 100, "@dan:d.test": 5}, 20},
		"v9 string levels": {Room{Version: "9", Creators: []string{"@alice:a.test"}}, `{"users": {"@carol:c.test": "60"}, "users_default": " 3 "}`,
			map[string]int64{"@carol:c.test": 60, "@dan:d.test": 3}, 50},
		"users null": {v10, `{"users": null}`,
			map[string]int64{"@alice:a.test": 0}, 50},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			l, err := Parse(tc.room, []byte(tc.content))
			if err != nil {
				t.Fatal(err)
			}
			for u, want := range tc.levels {
				if got := l.UserLevel(u); got != want {
					t.Errorf("UserLevel(%s) = %d, want %d", u, got, want)
				}
			}
			if l.Content.StateDefault != tc.state {
				t.Errorf("state_default = %d, want %d", l.Content.StateDefault, tc.state)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := map[string]struct {
		room    Room
		content string
		want    error
	}{
		"v10 string level": {Room{Version: "10"}, `{"users": {"@a:b.c": "50"}}`, ErrBadContent},
		"v11 float level":  {Room{Version: "11"}, `{"ban": 50.5}`, ErrBadContent},
		"array":            {Room{Version: "10"}, `[]`, ErrBadContent},
		"null":             {Room{Version: "10"}, `null`, ErrBadContent},
		"string":           {Room{Version: "10"}, `"x"`, ErrBadContent},
		"truncated":        {Room{Version: "10"}, `{"users": {`, ErrBadContent},
		"users not object": {Room{Version: "12"}, `{"users": [1]}`, ErrBadContent},
		"unknown version":  {Room{Version: "v10"}, `{}`, ErrUnsupportedRoomVersion},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := Parse(tc.room, []byte(tc.content)); !errors.Is(err, tc.want) {
				t.Fatalf("Parse(%s) error = %v, want %v", tc.content, err, tc.want)
			}
		})
	}
}
