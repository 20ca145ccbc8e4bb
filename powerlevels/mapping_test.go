package powerlevels

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestNewMapping(t *testing.T) {
	tests := map[string]struct {
		levels map[Role]int64
		roles  []Role // ascending, when valid
		err    string // a part of the error, when invalid
	}{
		"nil is the default":    {nil, []Role{RoleUser, RoleModerator, RoleOwner}, ""},
		"add leader":            {map[Role]int64{"leader": 75}, []Role{RoleUser, RoleModerator, "leader", RoleOwner}, ""},
		"add below user":        {map[Role]int64{"muted": -1}, []Role{"muted", RoleUser, RoleModerator, RoleOwner}, ""},
		"add above owner":       {map[Role]int64{"admin": 1000}, []Role{RoleUser, RoleModerator, RoleOwner, "admin"}, ""},
		"override built-ins":    {map[Role]int64{RoleOwner: 1000, RoleModerator: 500, RoleUser: 10}, []Role{RoleUser, RoleModerator, RoleOwner}, ""},
		"unicode name":          {map[Role]int64{"Team Lead ★": 60}, []Role{RoleUser, RoleModerator, "Team Lead ★", RoleOwner}, ""},
		"extreme levels":        {map[Role]int64{"floor": MinLevel, "ceiling": MaxLevel}, []Role{"floor", RoleUser, RoleModerator, RoleOwner, "ceiling"}, ""},
		"same level as owner":   {map[Role]int64{"admin": 100}, nil, `share level 100`},
		"two custom same level": {map[Role]int64{"a": 75, "b": 75}, nil, `share level 75`},
		"owner below moderator": {map[Role]int64{RoleOwner: 40}, nil, "owner > moderator > user"},
		"user above moderator":  {map[Role]int64{RoleUser: 60}, nil, "owner > moderator > user"},
		"moderator equals user": {map[Role]int64{RoleModerator: 0}, nil, "owner > moderator > user"},
		"above max":             {map[Role]int64{"god": MaxLevel + 1}, nil, "outside"},
		"below min":             {map[Role]int64{"pit": MinLevel - 1}, nil, "outside"},
		"empty name":            {map[Role]int64{"": 10}, nil, "empty role name"},
		"space around name":     {map[Role]int64{" leader": 75}, nil, "starts or ends with a space"},
		"control char":          {map[Role]int64{"lead\ner": 75}, nil, "control character"},
		"not utf-8":             {map[Role]int64{"lead\xff": 75}, nil, "not UTF-8"},
		"long name":             {map[Role]int64{Role(strings.Repeat("x", 65)): 75}, nil, "longer than 64 bytes"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			m, err := NewMapping(tc.levels)
			if tc.err != "" {
				if !errors.Is(err, ErrInvalidMapping) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("NewMapping(%v) = %v, %v; want ErrInvalidMapping with %q", tc.levels, m, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("NewMapping(%v): %v", tc.levels, err)
			}
			if got := m.Roles(); !slices.Equal(got, tc.roles) {
				t.Errorf("Roles() = %v, want %v", got, tc.roles)
			}
			for r, want := range tc.levels {
				if got, ok := m.Level(r); !ok || got != want {
					t.Errorf("Level(%q) = %d, %v; want %d", r, got, ok, want)
				}
			}
		})
	}
}

func TestRoleFor(t *testing.T) {
	leader, err := NewMapping(map[Role]int64{"leader": 75})
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		m     *Mapping
		level int64
		want  Role
	}{
		"0 is user":                   {Default(), 0, RoleUser},
		"49 is user":                  {Default(), 49, RoleUser},
		"50 is moderator":             {Default(), 50, RoleModerator},
		"60 is moderator":             {Default(), 60, RoleModerator},
		"99 is moderator":             {Default(), 99, RoleModerator},
		"100 is owner":                {Default(), 100, RoleOwner},
		"9000 is owner":               {Default(), 9000, RoleOwner},
		"creator is owner":            {Default(), CreatorLevel, RoleOwner},
		"-5 is the lowest role":       {Default(), -5, RoleUser},
		"min level is the lowest":     {Default(), MinLevel, RoleUser},
		"nil mapping is default":      {nil, 75, RoleModerator},
		"74 with leader is moderator": {leader, 74, RoleModerator},
		"75 with leader is leader":    {leader, 75, "leader"},
		"99 with leader is leader":    {leader, 99, "leader"},
		"100 with leader is owner":    {leader, 100, RoleOwner},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := tc.m.RoleFor(tc.level); got != tc.want {
				t.Errorf("RoleFor(%d) = %q, want %q", tc.level, got, tc.want)
			}
		})
	}
}

func TestLevel(t *testing.T) {
	tests := map[string]struct {
		m    *Mapping
		role Role
		want int64
		ok   bool
	}{
		"owner":         {Default(), RoleOwner, 100, true},
		"moderator":     {Default(), RoleModerator, 50, true},
		"user":          {Default(), RoleUser, 0, true},
		"unknown":       {Default(), "leader", 0, false},
		"nil mapping":   {nil, RoleOwner, 100, true},
		"case matters":  {Default(), "Owner", 0, false},
		"empty unknown": {Default(), "", 0, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, ok := tc.m.Level(tc.role)
			if got != tc.want || ok != tc.ok {
				t.Errorf("Level(%q) = %d, %v; want %d, %v", tc.role, got, ok, tc.want, tc.ok)
			}
		})
	}
}

// Every level maps back to a role whose level it reaches, and a role's own
// level maps back to it.
func TestRoleForRoundTrip(t *testing.T) {
	m, err := NewMapping(map[Role]int64{"muted": -10, "leader": 75, "admin": 150})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range m.Roles() {
		l, _ := m.Level(r)
		if got := m.RoleFor(l); got != r {
			t.Errorf("RoleFor(Level(%q) = %d) = %q", r, l, got)
		}
	}
	for level := int64(-20); level <= 200; level++ {
		r := m.RoleFor(level)
		rl, _ := m.Level(r)
		if level >= -10 && rl > level {
			t.Errorf("RoleFor(%d) = %q at %d, above the level", level, r, rl)
		}
	}
}
