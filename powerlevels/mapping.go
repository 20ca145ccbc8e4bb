package powerlevels

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Role is the name of a host role, such as "owner" or "leader".
type Role string

// The roles every Mapping has. DefaultContent uses them: moderators may
// moderate and edit the room's name and topic, owners may change power
// levels and the room's security settings, users may talk.
const (
	RoleOwner     Role = "owner"
	RoleModerator Role = "moderator"
	RoleUser      Role = "user"
)

// Levels of the built-in roles in Default. They are those Matrix clients
// show as Admin, Moderator and Default.
const (
	DefaultOwnerLevel     int64 = 100
	DefaultModeratorLevel int64 = 50
	DefaultUserLevel      int64 = 0
)

// MaxLevel and MinLevel bound the levels a power_levels event can hold:
// "The allowed range for power level values is [-(2**53)+1, (2**53)-1], as
// required by the Canonical JSON specification" (m.room.power_levels).
const (
	MaxLevel int64 = 1<<53 - 1
	MinLevel int64 = -MaxLevel
)

// CreatorLevel is the level this package gives the creators of a room
// whose version gives them infinite power (version 12: "Room creators have
// infinitely high power level"). It is above MaxLevel, so it compares as
// infinity against any level a power_levels event can hold, and it equals
// gomatrixserverlib.CreatorPowerLevel.
const CreatorLevel int64 = 1 << 53

// maxRoleName is the longest role name NewMapping accepts, in bytes.
const maxRoleName = 64

// ErrInvalidMapping is matched by every error NewMapping returns.
var ErrInvalidMapping = errors.New("powerlevels: invalid role mapping")

// Mapping is a set of host roles, each with a distinct power level. It is
// immutable and safe for concurrent use. A nil *Mapping behaves as
// Default().
type Mapping struct {
	roles []roleLevel // ascending by level
}

type roleLevel struct {
	role  Role
	level int64
}

var defaultMapping = &Mapping{roles: []roleLevel{
	{RoleUser, DefaultUserLevel},
	{RoleModerator, DefaultModeratorLevel},
	{RoleOwner, DefaultOwnerLevel},
}}

// Default returns the default mapping: owner 100, moderator 50, user 0.
func Default() *Mapping { return defaultMapping }

// NewMapping returns a mapping of the given roles to levels. The built-in
// roles (owner, moderator, user) keep their default levels unless levels
// names them, so NewMapping(map[Role]int64{"leader": 75}) adds a leader
// between moderator and owner.
//
// It refuses (ErrInvalidMapping) a role name that is empty, longer than 64
// bytes, not UTF-8, has a control character or starts or ends with a
// space; a level outside MinLevel..MaxLevel; two roles at the same level
// (a level must map back to one role); and levels that do not keep
// owner > moderator > user.
func NewMapping(levels map[Role]int64) (*Mapping, error) {
	all := map[Role]int64{
		RoleOwner:     DefaultOwnerLevel,
		RoleModerator: DefaultModeratorLevel,
		RoleUser:      DefaultUserLevel,
	}
	for r, l := range levels {
		if err := checkRoleName(r); err != nil {
			return nil, err
		}
		if l < MinLevel || l > MaxLevel {
			return nil, fmt.Errorf("%w: role %q: level %d is outside %d..%d", ErrInvalidMapping, r, l, MinLevel, MaxLevel)
		}
		all[r] = l
	}
	if !(all[RoleOwner] > all[RoleModerator] && all[RoleModerator] > all[RoleUser]) {
		return nil, fmt.Errorf("%w: need owner > moderator > user, have %d, %d, %d",
			ErrInvalidMapping, all[RoleOwner], all[RoleModerator], all[RoleUser])
	}
	m := &Mapping{}
	for r, l := range all {
		m.roles = append(m.roles, roleLevel{r, l})
	}
	slices.SortFunc(m.roles, func(a, b roleLevel) int {
		if a.level != b.level {
			if a.level < b.level {
				return -1
			}
			return 1
		}
		return strings.Compare(string(a.role), string(b.role))
	})
	for i := 1; i < len(m.roles); i++ {
		if a, b := m.roles[i-1], m.roles[i]; a.level == b.level {
			return nil, fmt.Errorf("%w: roles %q and %q share level %d", ErrInvalidMapping, a.role, b.role, a.level)
		}
	}
	return m, nil
}

func checkRoleName(r Role) error {
	s := string(r)
	switch {
	case s == "":
		return fmt.Errorf("%w: empty role name", ErrInvalidMapping)
	case len(s) > maxRoleName:
		return fmt.Errorf("%w: role name %.20q... is longer than %d bytes", ErrInvalidMapping, s, maxRoleName)
	case !utf8.ValidString(s):
		return fmt.Errorf("%w: role name %q is not UTF-8", ErrInvalidMapping, s)
	case strings.TrimSpace(s) != s:
		return fmt.Errorf("%w: role name %q starts or ends with a space", ErrInvalidMapping, s)
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return fmt.Errorf("%w: role name %q has a control character", ErrInvalidMapping, s)
	}
	return nil
}

func (m *Mapping) get() *Mapping {
	if m == nil {
		return defaultMapping
	}
	return m
}

// Level returns the power level of a role, and false if the mapping has no
// such role.
func (m *Mapping) Level(r Role) (int64, bool) {
	for _, rl := range m.get().roles {
		if rl.role == r {
			return rl.level, true
		}
	}
	return 0, false
}

// RoleFor maps a power level back to a role by threshold: the role with
// the highest level at or below it. With the default mapping, 100 and
// above is owner, 50-99 moderator, 0-49 user.
//
// A level below every role's (-5 with the defaults: a member pushed below
// the default, usually to mute them) maps to the lowest role: the member
// is still a member, and the host's role model has nothing lower. So with
// the defaults Diff does not report muting and unmuting; a host that wants
// to see it adds a role for it, e.g. NewMapping(map[Role]int64{"muted":
// -1}). A room creator's infinite power (CreatorLevel) maps to the highest
// role.
func (m *Mapping) RoleFor(level int64) Role {
	roles := m.get().roles
	i, found := slices.BinarySearchFunc(roles, level, func(rl roleLevel, l int64) int {
		switch {
		case rl.level < l:
			return -1
		case rl.level > l:
			return 1
		}
		return 0
	})
	switch {
	case found:
		return roles[i].role
	case i == 0:
		return roles[0].role
	}
	return roles[i-1].role
}

// Roles returns the mapping's roles, from the lowest level to the highest.
func (m *Mapping) Roles() []Role {
	roles := m.get().roles
	out := make([]Role, len(roles))
	for i, rl := range roles {
		out[i] = rl.role
	}
	return out
}
