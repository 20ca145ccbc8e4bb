package powerlevels

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestSetRole(t *testing.T) {
	v10 := Room{Version: "10", Creators: []string{"@alice:a.test"}}
	v12 := Room{Version: "12", Creators: []string{"@alice:a.test"}}
	leader, err := NewMapping(map[Role]int64{"leader": 75})
	if err != nil {
		t.Fatal(err)
	}
	muted, err := NewMapping(map[Role]int64{"muted": -1})
	if err != nil {
		t.Fatal(err)
	}
	const content = `{"users": {"@alice:a.test": 100, "@mod:b.test": 60, "@muted:b.test": -5}, "users_default": 0,
		"events": {"m.room.power_levels": 100}}`
	tests := map[string]struct {
		m       *Mapping
		room    Room
		content string
		sender  string
		target  string
		role    Role
		users   map[string]int64 // the new content's users, when allowed
		err     error
		message string // a part of the error message
	}{
		"make a moderator": {nil, v10, content, "@alice:a.test", "@bob:c.test", RoleModerator,
			map[string]int64{"@alice:a.test": 100, "@mod:b.test": 60, "@muted:b.test": -5, "@bob:c.test": 50}, nil, ""},
		"make an owner": {nil, v10, content, "@alice:a.test", "@mod:b.test", RoleOwner,
			map[string]int64{"@alice:a.test": 100, "@mod:b.test": 100, "@muted:b.test": -5}, nil, ""},
		"demote to user removes the entry": {nil, v10, content, "@alice:a.test", "@mod:b.test", RoleUser,
			map[string]int64{"@alice:a.test": 100, "@muted:b.test": -5}, nil, ""},
		"unmute to user": {muted, v10, content, "@alice:a.test", "@muted:b.test", RoleUser,
			map[string]int64{"@alice:a.test": 100, "@mod:b.test": 60}, nil, ""},
		"unmute to user, no muted role": {nil, v10, content, "@alice:a.test", "@muted:b.test", RoleUser,
			map[string]int64{"@alice:a.test": 100, "@mod:b.test": 60}, nil, ""},
		"custom role": {leader, v10, content, "@alice:a.test", "@mod:b.test", "leader",
			map[string]int64{"@alice:a.test": 100, "@mod:b.test": 75, "@muted:b.test": -5}, nil, ""},
		"v12 creator makes an owner": {nil, v12, `{"users": {}, "events": {"m.room.power_levels": 100}}`, "@alice:a.test", "@bob:c.test", RoleOwner,
			map[string]int64{"@bob:c.test": 100}, nil, ""},
		"already in the role's band": {nil, v10, content, "@alice:a.test", "@mod:b.test", RoleModerator,
			nil, ErrUnchanged, "@mod:b.test is already moderator (level 60)"},
		"already a user by default": {nil, v10, content, "@alice:a.test", "@bob:c.test", RoleUser,
			nil, ErrUnchanged, ""},
		"unknown role": {nil, v10, content, "@alice:a.test", "@bob:c.test", "leader",
			nil, ErrUnknownRole, `"leader"`},
		"moderator cannot change roles": {nil, v10, content, "@mod:b.test", "@bob:c.test", RoleModerator,
			nil, ErrNotAllowed, "@mod:b.test has level 60, sending m.room.power_levels needs 100"},
		"no one above the sender": {leader, v10, `{"users": {"@mod:b.test": 60}, "events": {"m.room.power_levels": 50}}`, "@mod:b.test", "@bob:c.test", "leader",
			nil, ErrNotAllowed, "@mod:b.test has level 60 and cannot give level 75"},
		"no one at the sender's level": {nil, v10, `{"users": {"@mod:b.test": 60, "@mod2:c.test": 60}, "events": {"m.room.power_levels": 50}}`, "@mod:b.test", "@mod2:c.test", RoleUser,
			nil, ErrNotAllowed, "@mod:b.test has level 60 and cannot change @mod2:c.test, who has level 60"},
		"v12 creator is untouchable": {nil, v12, `{"users": {"@bob:c.test": 100}}`, "@bob:c.test", "@alice:a.test", RoleUser,
			nil, ErrCreator, "@alice:a.test created the room"},
		"v12 creator asked to be owner": {nil, v12, `{"users": {}}`, "@alice:a.test", "@alice:a.test", RoleOwner,
			nil, ErrCreator, ""},
		"bad target": {nil, v10, content, "@alice:a.test", "bob", RoleModerator,
			nil, ErrInvalidUserID, "target"},
		"bad sender": {nil, v10, content, "alice", "@bob:c.test", RoleModerator,
			nil, ErrInvalidUserID, "sender"},
		"no content": {nil, v10, "", "@alice:a.test", "@bob:c.test", RoleModerator,
			nil, ErrBadContent, "no m.room.power_levels content"},
		"bad content": {nil, v10, `{"users": {"@alice:a.test": "100"}}`, "@alice:a.test", "@bob:c.test", RoleModerator,
			nil, ErrBadContent, ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := tc.m.SetRole(tc.room, []byte(tc.content), tc.sender, tc.target, tc.role)
			if tc.err != nil {
				if !errors.Is(err, tc.err) || !strings.Contains(err.Error(), tc.message) {
					t.Fatalf("SetRole = %s, %v; want %v with %q", got, err, tc.err, tc.message)
				}
				if errors.Is(tc.err, ErrCreator) && !errors.Is(err, ErrNotAllowed) {
					t.Errorf("%v does not match ErrNotAllowed", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("SetRole: %v", err)
			}
			var c struct{ Users map[string]int64 }
			if err := json.Unmarshal(got, &c); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(c.Users, tc.users) {
				t.Errorf("users = %v, want %v", c.Users, tc.users)
			}
			// The host sees the change it asked for, unless the target was
			// below the lowest role, which maps to the lowest role.
			changes, err := tc.m.Diff(tc.room, []byte(tc.content), got, nil)
			if err != nil {
				t.Fatal(err)
			}
			before, err := Parse(tc.room, []byte(tc.content))
			if err != nil {
				t.Fatal(err)
			}
			if tc.m.RoleFor(before.UserLevel(tc.target)) == tc.role {
				if len(changes) != 0 {
					t.Errorf("Diff after SetRole = %+v, want no role change", changes)
				}
			} else if len(changes) != 1 || changes[0].UserID != tc.target || changes[0].NewRole != tc.role {
				t.Errorf("Diff after SetRole = %+v, want %s to become %s", changes, tc.target, tc.role)
			}
		})
	}
}

// SetLevel changes the target's entry and nothing else: unknown
// properties, other users' values as written, notifications and the
// characters JSON need not escape all survive.
func TestSetLevelKeepsTheRest(t *testing.T) {
	tests := map[string]struct {
		content string
		target  string
		level   int64
		want    string
	}{
		"unknown properties survive": {
			`{"users": {"@alice:a.test": 100}, "ban": 40, "notifications": {"room": 20, "x.y": 5},
			  "org.example.custom": {"list": [1, 2.5, "<&>"]}, "events": {"m.room.power_levels": 100}}`,
			"@bob:b.test", 50,
			`{"ban":40,"events":{"m.room.power_levels":100},"notifications":{"room":20,"x.y":5},"org.example.custom":{"list":[1,2.5,"<&>"]},"users":{"@alice:a.test":100,"@bob:b.test":50}}`},
		"no users property": {`{"users_default": 0, "events": {"m.room.power_levels": 0}}`, "@alice:a.test", -1,
			`{"events":{"m.room.power_levels":0},"users":{"@alice:a.test":-1},"users_default":0}`},
		"users null": {`{"users": null, "events": {"m.room.power_levels": 0}}`, "@alice:a.test", -1,
			`{"events":{"m.room.power_levels":0},"users":{"@alice:a.test":-1}}`},
		"back to users_default leaves users": {`{"users": {"@alice:a.test": 100, "@bob:b.test": 50}, "users_default": 10}`, "@bob:b.test", 10,
			`{"users":{"@alice:a.test":100},"users_default":10}`},
	}
	room := Room{Version: "10", Creators: []string{"@alice:a.test"}}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := SetLevel(room, []byte(tc.content), "@alice:a.test", tc.target, tc.level)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("SetLevel =\n %s\nwant\n %s", got, tc.want)
			}
		})
	}
}

func TestSetLevelRange(t *testing.T) {
	room := Room{Version: "12", Creators: []string{"@alice:a.test"}}
	content := []byte(`{"users": {}}`)
	tests := map[string]struct {
		level int64
		err   error
	}{
		"max":       {MaxLevel, nil},
		"min":       {MinLevel, nil},
		"above max": {MaxLevel + 1, ErrInvalidLevel},
		"below min": {MinLevel - 1, ErrInvalidLevel},
		"creator":   {CreatorLevel, ErrInvalidLevel},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := SetLevel(room, content, "@alice:a.test", "@bob:b.test", tc.level)
			if !errors.Is(err, tc.err) {
				t.Fatalf("SetLevel(%d) error = %v, want %v", tc.level, err, tc.err)
			}
		})
	}
}

// Whatever the content, SetLevel and Diff do not panic, and a content
// SetLevel returns parses and gives the target the level asked for.
func FuzzSetLevel(f *testing.F) {
	f.Add("10", `{"users": {"@a:x.y": 100}}`, "@a:x.y", "@b:x.y", int64(50))
	f.Add("12", `{"users": {"@b:x.y": 10}, "users_default": 5}`, "@c:x.y", "@b:x.y", int64(0))
	f.Add("9", `{"users": {"@a:x.y": "100"}, "events": {"m.room.power_levels": "1e2"}}`, "@a:x.y", "@b:x.y", int64(-3))
	f.Add("10", `{"users": null, "users_default": 100}`, "@a:x.y", "@a:x.y", int64(9007199254740991))
	f.Fuzz(func(t *testing.T, version, content, sender, target string, level int64) {
		room := Room{Version: version, Creators: []string{"@c:x.y"}}
		out, err := SetLevel(room, []byte(content), sender, target, level)
		if _, derr := Default().Diff(room, []byte(content), out, []string{sender, target}); err == nil && derr != nil {
			t.Fatalf("Diff of SetLevel's own output: %v", derr)
		}
		if err != nil {
			return
		}
		l, err := Parse(room, out)
		if err != nil {
			t.Fatalf("SetLevel returned %s, which does not parse: %v", out, err)
		}
		if got := l.UserLevel(target); got != level {
			t.Fatalf("SetLevel returned %s: %s has %d, want %d", out, target, got, level)
		}
	})
}
