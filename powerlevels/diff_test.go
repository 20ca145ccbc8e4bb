package powerlevels

import (
	"errors"
	"reflect"
	"testing"
)

func TestDiff(t *testing.T) {
	v10 := Room{Version: "10", Creators: []string{"@alice:a.test"}}
	v12 := Room{Version: "12", Creators: []string{"@alice:a.test"}}
	leader, err := NewMapping(map[Role]int64{"leader": 75})
	if err != nil {
		t.Fatal(err)
	}
	const base = `{"users": {"@alice:a.test": 100, "@mod:b.test": 50, "@bob:b.test": 0}, "users_default": 0}`
	tests := map[string]struct {
		m        *Mapping
		room     Room
		old, new string
		members  []string
		want     []RoleChange
	}{
		"promotion": {nil, v10, base,
			`{"users": {"@alice:a.test": 100, "@mod:b.test": 50, "@bob:b.test": 50}}`, nil,
			[]RoleChange{{"@bob:b.test", 0, 50, RoleUser, RoleModerator}}},
		"threshold, not exact value": {nil, v10, base,
			`{"users": {"@alice:a.test": 99, "@mod:b.test": 50, "@bob:b.test": 60}}`, nil,
			[]RoleChange{
				{"@alice:a.test", 100, 99, RoleOwner, RoleModerator},
				{"@bob:b.test", 0, 60, RoleUser, RoleModerator},
			}},
		"level change inside a role is not reported": {nil, v10, base,
			`{"users": {"@alice:a.test": 150, "@mod:b.test": 70, "@bob:b.test": 10}}`, nil,
			nil},
		"removed from users falls back to users_default": {nil, v10, base,
			`{"users": {"@alice:a.test": 100}, "users_default": 0}`, nil,
			[]RoleChange{{"@mod:b.test", 50, 0, RoleModerator, RoleUser}}},
		"removed from users with a high users_default": {nil, v10, base,
			`{"users": {"@alice:a.test": 100, "@bob:b.test": 0}, "users_default": 50}`, nil,
			nil}, // @mod is still 50
		"users_default changes every unlisted member": {nil, v10, base,
			`{"users": {"@alice:a.test": 100, "@mod:b.test": 50, "@bob:b.test": 0}, "users_default": 50}`,
			[]string{"@alice:a.test", "@bob:b.test", "@carol:c.test", "@dan:[::1]:8448"},
			[]RoleChange{
				{"@carol:c.test", 0, 50, RoleUser, RoleModerator},
				{"@dan:[::1]:8448", 0, 50, RoleUser, RoleModerator},
			}},
		"users_default without members reaches only listed users": {nil, v10,
			`{"users": {"@alice:a.test": 100}}`,
			`{"users": {"@alice:a.test": 100}, "users_default": 50}`, nil,
			nil},
		"first power levels event": {nil, v10, "",
			`{"users": {"@alice:a.test": 100, "@bob:b.test": 50}}`, []string{"@alice:a.test", "@bob:b.test"},
			[]RoleChange{{"@bob:b.test", 0, 50, RoleUser, RoleModerator}}},
		"muted member": {nil, v10, base,
			`{"users": {"@alice:a.test": 100, "@mod:b.test": -1, "@bob:b.test": 0}}`, nil,
			[]RoleChange{{"@mod:b.test", 50, -1, RoleModerator, RoleUser}}},
		"custom role": {leader, v10, base,
			`{"users": {"@alice:a.test": 100, "@mod:b.test": 80, "@bob:b.test": 0}}`, nil,
			[]RoleChange{{"@mod:b.test", 50, 80, RoleModerator, "leader"}}},
		"v12 creators never change": {nil, v12,
			`{"users": {"@bob:b.test": 100}, "users_default": 0}`,
			`{"users": {}, "users_default": 100}`, []string{"@alice:a.test", "@bob:b.test", "@carol:c.test"},
			[]RoleChange{{"@carol:c.test", 0, 100, RoleUser, RoleOwner}}},
		"v9 string levels": {nil, Room{Version: "9", Creators: []string{"@alice:a.test"}},
			`{"users": {"@bob:b.test": "0"}}`, `{"users": {"@bob:b.test": "100"}}`, nil,
			[]RoleChange{{"@bob:b.test", 0, 100, RoleUser, RoleOwner}}},
		"nothing changed": {nil, v10, base, base, []string{"@alice:a.test", "@zed:z.test"}, nil},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := tc.m.Diff(tc.room, []byte(tc.old), []byte(tc.new), tc.members)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Diff =\n %+v\nwant\n %+v", got, tc.want)
			}
		})
	}
}

func TestDiffErrors(t *testing.T) {
	tests := map[string]struct {
		room     Room
		old, new string
		want     error
	}{
		"bad old":         {Room{Version: "10"}, `[]`, `{}`, ErrBadContent},
		"bad new":         {Room{Version: "10"}, `{}`, `{"users": {"@a:b.c": "x"}}`, ErrBadContent},
		"unknown version": {Room{Version: "0"}, `{}`, `{}`, ErrUnsupportedRoomVersion},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := Default().Diff(tc.room, []byte(tc.old), []byte(tc.new), nil); !errors.Is(err, tc.want) {
				t.Fatalf("Diff error = %v, want %v", err, tc.want)
			}
		})
	}
}
